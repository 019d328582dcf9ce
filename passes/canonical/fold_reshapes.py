"""fold-reshapes: a chain of reshapes (squeezes, unsqueezes) becomes one reshape from the
chain's source to its final shape."""

from __future__ import annotations

import numpy as np

from leptonc.ir.builder import Rewriter
from leptonc.ir.graph import Graph, Node, Value
from leptonc.ir.types import TensorType
from leptonc.passes.common import erase_dead_chain, rewriter_at, same_type
from leptonc.passmgr import PassResult, graph_pass

# Ops that only change how the elements are grouped into dims, never their order.
_RESHAPE_LIKE = frozenset(("shape.reshape", "shape.squeeze", "shape.unsqueeze"))


def _chain_source(node: Node) -> tuple[Value, Node | None]:
    """The value the reshape-like chain ending at ``node`` starts from, and the link ``node``
    reads (None when it reads no reshape)."""
    source, link = node.inputs[0], None
    while source.producer is not None and source.producer.op in _RESHAPE_LIKE:
        link = link or source.producer
        source = source.producer.inputs[0]
    return source, link


def _target(t: TensorType) -> np.ndarray | None:
    """A reshape target giving shape ``t``: its static dims, with -1 for at most one dim
    known only at run time (it follows from the element count)."""
    if t.shape is None:
        return None
    runtime = [d for d in t.shape if not isinstance(d, int)]
    if len(runtime) > 1 or (runtime and 0 in t.shape):
        return None  # -1 cannot be inferred next to a zero dim
    return np.array([d if isinstance(d, int) else -1 for d in t.shape], dtype=np.int64)


def _target_value(rw: Rewriter, node: Node, target: np.ndarray) -> Value:
    """``node``'s own shape constant when it already says ``target``, else a new one."""
    if node.op == "shape.reshape":
        given = node.inputs[1]
        if given.is_constant and np.array_equal(np.asarray(given.data).reshape(-1), target):
            return given
    return rw.const(target, "shape")


def _folded_by_users(node: Node) -> bool:
    """Every reader of ``node`` is a reshape that will fold through it (so rewriting ``node``
    itself would only make a node that dies at once)."""
    out = node.output
    if not out.uses or out in node.graph.outputs:
        return False
    return all(u.op in _RESHAPE_LIKE and i == 0 and _target(u.output.type) is not None
               for u, i in out.uses)


@graph_pass("fold-reshapes", example="fold-reshapes")
def fold_reshapes(graph: Graph) -> PassResult:
    """reshape(reshape(x, s1), s2) -> reshape(x, s2), through squeezes and unsqueezes too,
    when the final shape is static (or has one run-time dim, written -1).  A chain that ends
    where it started disappears.  Intermediate results other nodes read are kept."""
    folded = 0
    for node in graph:  # links that only feed further links are left to the chain's end
        if node.op not in _RESHAPE_LIKE or _folded_by_users(node):
            continue
        source, link = _chain_source(node)
        out = node.output
        target = _target(out.type)
        if link is None or target is None:
            continue
        rw = rewriter_at(graph, node)
        if same_type(source.type, out.type):
            new = source
        else:
            # the declared type is kept: it may name symbolic dims that -1 cannot
            attrs = {"allowzero": True} if 0 in target else {}
            new = rw.node("shape.reshape", [source, _target_value(rw, node, target)], attrs,
                          types=[out.type]).output
        rw.replace_node(node, [new], keep_names=True)
        erase_dead_chain(rw, link)
        folded += 1
    return PassResult(bool(folded), {"reshapes-folded": folded})
