"""fuse-softmax: a softmax written out -> ``reduce.softmax``.

    e = Exp(x - ReduceMax(x, axis))   (or Exp(x) without the shift)
    y = e / ReduceSum(e, axis)         (or e * Reciprocal(ReduceSum(e, axis)))

``e`` is read twice, so the rule binds it as a variable at the root and checks its producer
chain in ``check``; the rewrite absorbs the exp (and the shift, when it is the max over the
same axis) into the match (``Match.absorb``) so the engine erases them.  Both reductions must
keep dims and cover the same single axis.  Dropping the shift is exact in real arithmetic
(softmax is shift-invariant), and ``reduce.softmax`` always computes stably, so an unshifted
softmax that would overflow to inf/NaN gives the finite answer instead.
"""

from __future__ import annotations

from leptonc.ir.builder import Rewriter
from leptonc.ir.graph import Graph, Node, Value
from leptonc.passes.common import read_once, reduction_axes
from leptonc.passmgr import PassResult, graph_pass
from leptonc.rewrite import Match, Op, RewriteRule, apply_rules, op, var


def _single_axis(node: Node, rank: int | None) -> int | None:
    axes = reduction_axes(node, rank)
    return axes[0] if axes is not None and len(axes) == 1 and node.attr("keepdims") else None


class Softmax(RewriteRule):
    name = "softmax"

    def __init__(self, pattern: Op) -> None:
        self.pattern = pattern

    def check(self, m: Match) -> str | None:
        e, total = m["e"], m["sum"]
        exp = e.producer
        if exp is None or exp.op != "ew.exp":
            return f"%{e.name} is not an exp"
        if not e.type.dtype.is_float or m.nodes[-1].outputs[0].type != e.type:
            return "the result is not a float tensor shaped like the exponentials"
        if e in exp.graph.outputs or len(e.uses) != 2:
            return f"%{e.name} has readers besides the sum and the normalisation"
        if _single_axis(total, e.type.rank) is None:
            return "the sum does not reduce a single axis with keepdims"
        return None

    def rewrite(self, rw: Rewriter, m: Match) -> Value:
        exp = m["e"].producer
        axis = _single_axis(m["sum"], m["e"].type.rank)
        x = exp.inputs[0]
        shift = _max_shift(x, axis)
        if shift is not None:  # exp(x - max(x)): softmax reads x itself
            m.absorb(*shift)
            x = shift[1].inputs[0]
        m.absorb(exp)
        return rw.op("reduce.softmax", [x], {"axis": axis - x.type.rank})


def _max_shift(v: Value, axis: int) -> list[Node] | None:
    """``[max, sub]`` when ``v = x - ReduceMax(x, axis)`` and only the exp reads it."""
    sub = v.producer
    if sub is None or sub.op != "ew.sub" or not read_once(v):
        return None
    x, peak = sub.inputs
    top = peak.producer
    if top is None or top.op != "reduce.max" or top.inputs[0] is not x or not read_once(peak):
        return None
    if x.type != v.type or _single_axis(top, x.type.rank) != axis:
        return None
    return [top, sub]


def softmax_rules() -> list[Softmax]:
    total = op("reduce.sum", var("e"), bind="sum")
    return [Softmax(op("ew.div", var("e"), total)),
            Softmax(op("ew.mul", var("e"), op("ew.reciprocal", total), commutative=True))]


@graph_pass("fuse-softmax", ensures=("softmax-fused",), example="fuse-softmax")
def fuse_softmax(graph: Graph) -> PassResult:
    """Fuse exp(x - max) / sum(exp(x - max)) (and the unshifted form) into reduce.softmax."""
    fired = apply_rules(graph, softmax_rules())
    return PassResult(bool(fired["softmax"]), {"softmaxes": fired["softmax"]})


fuse_softmax.rules = tuple(softmax_rules())  # for --debug-rules and the pass reference
