"""remove-noops: drop nodes that return their input unchanged (identity reshapes, transposes,
casts, pads, slices, expands, one-input concats, inference dropout, x * 1, x + 0)."""

from __future__ import annotations

from collections.abc import Callable

from leptonc.ir.graph import Graph, Node, Value
from leptonc.ops.infer_utils import input_at
from leptonc.ops.shape.common import known_param
from leptonc.passes.common import constant_equals, neutral_operand_reason, rewriter_at, same_type
from leptonc.passmgr import PassResult, graph_pass


def _data(node: Node) -> Value:
    return node.inputs[0]


def _same_shape_and_type(node: Node) -> Value | None:
    """Ops that can only move data around: equal in and out types mean nothing moved."""
    x = _data(node)
    return x if same_type(x.type, node.output.type) else None


def _transpose(node: Node) -> Value | None:
    x, perm = _data(node), node.attr("perm")
    rank = x.type.rank
    if rank is None or not same_type(x.type, node.output.type, shape=False):
        return None
    # the empty perm reverses the axes, which only leaves rank 0 and 1 alone
    identity = perm == tuple(range(rank)) if perm else rank <= 1
    return x if identity else None


def _cast(node: Node) -> Value | None:
    x = _data(node)
    return x if same_type(x.type, node.output.type, shape=False) else None


def _slice(node: Node) -> Value | None:
    """A slice with unit steps keeps every element exactly when it keeps the shape."""
    x = _data(node)
    steps = known_param(node.inputs, 4, {"steps": node.attr("steps")}, "steps")
    if steps is None or any(s != 1 for s in steps):
        return None
    return x if same_type(x.type, node.output.type) else None


def _pad(node: Node) -> Value | None:
    x = _data(node)
    pads = known_param(node.inputs, 1, {"pads": node.attr("pads")}, "pads")
    if not pads or any(pads) or not same_type(x.type, node.output.type, shape=False):
        return None
    return x


def _concat(node: Node) -> Value | None:
    if len(node.inputs) != 1:
        return None
    x = _data(node)
    return x if same_type(x.type, node.output.type, shape=False) else None


def _dropout(node: Node) -> Value | None:
    """Dropout is the identity unless training mode is on (or computed at run time) and the
    ratio is non-zero; with a mask output it stays (the mask is data)."""
    if node.attr("with_mask") or len(node.outputs) != 1:
        return None
    ratio, training = input_at(node.inputs, 1), input_at(node.inputs, 2)
    off = training is None or constant_equals(training, 0)
    no_drop = (node.attr("ratio") == 0) if ratio is None else constant_equals(ratio, 0)
    return _data(node) if off or no_drop else None


def _neutral(value: float, commutative: bool) -> Callable[[Node], Value | None]:
    """``x <op> c`` with ``c`` the op's neutral element, when broadcasting keeps x's shape."""

    def check(node: Node) -> Value | None:
        a, b = node.inputs
        for x, c in ((a, b), (b, a)) if commutative else ((a, b),):
            if neutral_operand_reason(x, c, node.output, value) is None:
                return x
        return None

    return check


# Each returns the value the node's single result equals, or None.
# (x + 0 turns -0.0 into +0.0; like other NN compilers we treat the sign of zero as noise.)
_NOOPS: dict[str, Callable[[Node], Value | None]] = {
    "shape.reshape": _same_shape_and_type,
    "shape.squeeze": _same_shape_and_type,
    "shape.expand": _same_shape_and_type,
    "shape.tile": _same_shape_and_type,
    "shape.transpose": _transpose,
    "ew.cast": _cast,
    "shape.slice": _slice,
    "shape.pad": _pad,
    "shape.concat": _concat,
    "nn.dropout": _dropout,
    "ew.mul": _neutral(1, commutative=True),
    "ew.add": _neutral(0, commutative=True),
    "ew.sub": _neutral(0, commutative=False),
    "ew.div": _neutral(1, commutative=False),
}


@graph_pass("remove-noops", example="remove-noops")
def remove_noops(graph: Graph) -> PassResult:
    """Identity-like nodes go; their users (and graph outputs, under their public names) read
    the input instead.  A node stays whenever it could change the shape, dtype,
    quantization or encoding, e.g. ``x + zeros`` that broadcasts x to a larger shape."""
    removed = 0
    for node in graph:
        check = _NOOPS.get(node.op)
        if check is None or len(node.outputs) != 1:
            continue
        source = check(node)
        if source is not None:
            rewriter_at(graph, node).replace_node(node, [source])
            removed += 1
    return PassResult(bool(removed), {"nodes-removed": removed})
