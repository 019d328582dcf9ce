"""fold-transposes: transpose(transpose(x, p1), p2) becomes one transpose with the composed
permutation, or x itself when the two cancel."""

from __future__ import annotations

from leptonc.ir.graph import Graph, Node
from leptonc.passes.common import erase_dead_chain, rewriter_at
from leptonc.passmgr import PassResult, graph_pass


def _perm(node: Node) -> tuple[int, ...] | None:
    """The node's permutation; the empty perm (reverse the axes) needs a known rank."""
    perm = node.attr("perm")
    if perm:
        return tuple(perm)
    rank = node.inputs[0].type.rank
    return None if rank is None else tuple(reversed(range(rank)))


@graph_pass("fold-transposes", example="fold-transposes")
def fold_transposes(graph: Graph) -> PassResult:
    """Output axis i of the outer transpose is axis p2[i] of the inner one's result, which is
    axis p1[p2[i]] of x.  The inner transpose stays if something else reads it."""
    folded = 0
    for node in graph:  # in order, so the inner transpose is already folded into its source
        inner = node.inputs[0].producer if node.op == "shape.transpose" else None
        if inner is None or inner.op != "shape.transpose":
            continue
        outer_perm, inner_perm = _perm(node), _perm(inner)
        if outer_perm is None or inner_perm is None:
            continue
        perm = tuple(inner_perm[i] for i in outer_perm)
        source = inner.inputs[0]
        rw = rewriter_at(graph, node)
        if perm == tuple(range(len(perm))):
            new = source
        else:
            new = rw.node("shape.transpose", [source], {"perm": perm},
                          types=[node.output.type]).output
        rw.replace_node(node, [new], keep_names=True)
        erase_dead_chain(rw, inner)
        folded += 1
    return PassResult(bool(folded), {"transposes-folded": folded})
