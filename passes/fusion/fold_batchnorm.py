"""fold-batchnorm: fold inference batch norms, and per-channel constant scales and shifts, into
the weights and bias of the conv / conv_transpose / matmul that produces their input.

    %c = nn.conv(%x, %w, %b)                     %y = nn.conv(%x, %w', %b')
    %y = nn.batch_norm(%c, %g, %be, %m, %v)  ->  w' = w * s (per output channel)
                                                 b' = b * s + t   (b = 0 when absent)
    with s = g / sqrt(v + eps) and t = be - m * s.

``ew.mul`` / ``ew.add`` / ``ew.sub`` by a per-channel constant fold the same way (Caffe2
exports put such a scale and shift after every BatchNorm).  A matmul folds along its last
axis when its weight is a constant matrix; its bias is the ``ew.add`` of a constant after it
(the form Gemm imports to), created when needed.  A fold happens only when the producer's
result has no other user.  With ``decompose-standalone`` a batch norm that follows nothing
foldable becomes ``ew.mul`` + ``ew.add`` by constant per-channel vectors, which computes
exactly what the batch norm's kernel computes.

Folding rounds the weights once more, so outputs drift by a few ulps of the accumulations:
the pass declares rtol 1e-3 / atol 1e-4.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from leptonc.ir.builder import Rewriter
from leptonc.ir.graph import Graph, Node, Value
from leptonc.passes.common import remove_unused_constants
from leptonc.passmgr import Pass, PassResult, register_pass
from leptonc.rewrite import Match, Op, RewriteRule, apply_rules, const, op, var

_CONVS = ("nn.conv", "nn.conv_transpose")
_MATMUL = "linalg.matmul"
_BN_PARAMS = ("gamma", "beta", "mean", "var")


def _producer(behind_bias: bool) -> Op:
    """The weighted op a scale/shift folds into, optionally behind its constant bias add."""
    target = op(_CONVS + (_MATMUL,), var("x"), const("w"), var("b", optional=True), bind="target")
    if not behind_bias:
        return target
    return op("ew.add", target, const("b0"), commutative=True, bind="bias_add")


@dataclass(frozen=True, slots=True)
class _Plan:
    """One fold: y = (target(x) + bias) * scale + shift, all vectors over output channels."""

    scale: np.ndarray
    shift: np.ndarray
    bias: np.ndarray
    has_bias: bool


class _FoldIntoWeights(RewriteRule):
    """Base of the folding rules; subclasses give the pattern and the per-channel affine."""

    def __init__(self, pattern: Op):
        self.pattern = pattern

    def affine(self, m: Match, axis: int, channels: int) -> tuple[np.ndarray, np.ndarray] | str:
        raise NotImplementedError

    def plan(self, m: Match) -> _Plan | str:
        target, w, b = m["target"], m["w"], m["b"]
        if w.type.quant is not None or not w.type.dtype.is_float:
            return "the weight is not a float constant"
        if b is not None and not b.is_constant:
            return "the bias is computed at run time"
        layout = _channel_layout(target)
        if isinstance(layout, str):
            return layout
        axis, channels = layout
        root_type = m.nodes[-1].output.type
        if root_type != target.output.type:
            return f"the result {root_type} differs from the {target.op} result {target.output.type}"
        bias = np.zeros(channels) if b is None else b.data.astype(np.float64).reshape(-1)
        if "b0" in m:
            b0 = _channel_vector(m["b0"].data, target.output.type.rank, axis, channels)
            if b0 is None:
                return "the bias add is not per output channel"
            bias = bias + b0
        if bias.shape != (channels,):
            return "the bias is not one value per output channel"
        affine = self.affine(m, axis, channels)
        if isinstance(affine, str):
            return affine
        return _Plan(affine[0], affine[1], bias, b is not None or "b0" in m)

    def check(self, m: Match) -> str | None:
        plan = self.plan(m)
        return plan if isinstance(plan, str) else None

    def rewrite(self, rw: Rewriter, m: Match) -> Value:
        plan = self.plan(m)
        assert not isinstance(plan, str)
        target, w = m["target"], m["w"]
        dtype = w.data.dtype
        weight = rw.const(_scale_weight(target, w.data, plan.scale).astype(dtype), _folded(w.name))
        bias = plan.bias * plan.scale + plan.shift
        hint = target.output.name
        if target.op == _MATMUL:
            y = rw.op(_MATMUL, [m["x"], weight], name=hint, source_name=target.source_name)
            if not plan.has_bias and not bias.any():
                return y
            where = m["bias_add"].source_name if "bias_add" in m else target.source_name
            return rw.op("ew.add", [y, rw.const(bias.astype(dtype), f"{hint}_bias")], name=hint,
                         source_name=where)
        bias_name = m["b"].name if m["b"] is not None else f"{w.name}_bias"
        return rw.op(target.op, [m["x"], weight, rw.const(bias.astype(dtype), _folded(bias_name))],
                     dict(target.attrs), name=hint, source_name=target.source_name)


class BatchNormIntoWeights(_FoldIntoWeights):
    name = "batchnorm-into-weights"

    def __init__(self, behind_bias: bool):
        super().__init__(op("nn.batch_norm", _producer(behind_bias),
                            *(const(p) for p in _BN_PARAMS), bind="affine"))

    def affine(self, m: Match, axis: int, channels: int) -> tuple[np.ndarray, np.ndarray] | str:
        if axis != 1:
            return "batch norm normalises axis 1, the matmul's channels are its last axis"
        if any(m[p].type.shape != (channels,) for p in _BN_PARAMS):
            return f"the batch-norm parameters are not {channels} per-channel values"
        return _bn_scale_shift(m, m["affine"].attr("epsilon"))


class ScaleShiftIntoWeights(_FoldIntoWeights):
    name = "scale-shift-into-weights"

    def __init__(self, behind_bias: bool):
        super().__init__(op(("ew.mul", "ew.add", "ew.sub"), _producer(behind_bias), const("c"),
                            commutative=True, bind="affine"))

    def affine(self, m: Match, axis: int, channels: int) -> tuple[np.ndarray, np.ndarray] | str:
        node, c = m["affine"], m["c"]
        if node.op == "ew.sub" and node.inputs[0] is c:
            return "constant - x is not a shift"
        if node.op == "ew.add" and m["target"].op == _MATMUL and "bias_add" not in m:
            return "an add after a matmul already is its bias"
        vector = _channel_vector(c.data, m["target"].output.type.rank, axis, channels)
        if vector is None:
            return "the constant is not one value per output channel"
        if node.op == "ew.mul":
            return vector, np.zeros(channels)
        return np.ones(channels), (-vector if node.op == "ew.sub" else vector)


class DecomposeBatchNorm(RewriteRule):
    """x * s + t with constant per-channel s and t: the batch norm's own arithmetic."""

    name = "decompose-batchnorm"
    pattern: ClassVar[Op] = op("nn.batch_norm", var("x"), *(const(p) for p in _BN_PARAMS),
                               bind="affine")

    def check(self, m: Match) -> str | None:
        x = m["x"]
        if not x.type.dtype.is_float or x.type.rank is None or x.type.rank < 2:
            return "the input is not a float tensor of known rank >= 2"
        return None

    def rewrite(self, rw: Rewriter, m: Match) -> Value:
        x, name = m["x"], m["affine"].output.name
        scale, shift = _bn_scale_shift(m, m["affine"].attr("epsilon"))
        shape = scale.shape + (1,) * (x.type.rank - 1 - scale.ndim)
        dtype = x.type.dtype.numpy
        y = rw.op("ew.mul", [x, rw.const(scale.reshape(shape).astype(dtype), f"{name}_scale")],
                  name=name)
        return rw.op("ew.add", [y, rw.const(shift.reshape(shape).astype(dtype), f"{name}_shift")],
                     name=name)


def _bn_scale_shift(m: Match, epsilon: float) -> tuple[np.ndarray, np.ndarray]:
    gamma, beta, mean, var_ = (m[p].data.astype(np.float64) for p in _BN_PARAMS)
    scale = gamma / np.sqrt(var_ + epsilon)
    return scale, beta - mean * scale


def _channel_layout(target: Node) -> tuple[int, int] | str:
    """(axis of the output channels in the result, number of channels)."""
    w, rank = target.inputs[1].type.shape, target.output.type.rank
    if rank is None or rank < 2 or any(not isinstance(d, int) for d in w):
        return "the shapes are not static enough"
    if target.op == "nn.conv":
        return 1, w[0]
    if target.op == "nn.conv_transpose":
        return 1, w[1] * target.attr("group")
    if len(w) != 2:
        return "the matmul weight is not a matrix"
    return rank - 1, w[1]


def _channel_vector(c: np.ndarray, rank: int, axis: int, channels: int) -> np.ndarray | None:
    """``c`` as one value per channel when it broadcasts along ``axis`` only, else None."""
    if c.ndim > rank:
        return None
    shape = (1,) * (rank - c.ndim) + c.shape
    if any(d != 1 for i, d in enumerate(shape) if i != axis) or shape[axis] not in (1, channels):
        return None
    return np.broadcast_to(c.astype(np.float64).reshape(-1), (channels,))


def _scale_weight(target: Node, w: np.ndarray, scale: np.ndarray) -> np.ndarray:
    w = w.astype(np.float64)
    if target.op == _MATMUL:
        return w * scale
    if target.op == "nn.conv":
        return w * scale.reshape((-1,) + (1,) * (w.ndim - 1))
    # conv_transpose: w is [C, M/group, *k]; output channel g * M/group + j is w[group g, :, j]
    group = target.attr("group")
    grouped = w.reshape((group, w.shape[0] // group) + w.shape[1:])
    per_channel = scale.reshape((group, 1, w.shape[1]) + (1,) * (w.ndim - 2))
    return (grouped * per_channel).reshape(w.shape)


def _folded(name: str) -> str:
    """Name hint for a folded constant: one ``_folded`` suffix however often it is refolded."""
    base = name.split("_folded")[0]
    return f"{base}_folded"


@register_pass
@dataclass(frozen=True)
class FoldBatchnorm(Pass):
    """Fold batch norms and per-channel constant scales/shifts into conv, conv_transpose and
    matmul weights; decompose the remaining batch norms into a multiply and an add."""

    name = "fold-batchnorm"
    ensures = ("bn-folded",)
    rtol = 1e-3
    atol = 1e-4
    example = "fold-batchnorm{decompose-standalone=false}"
    rules: ClassVar[tuple[RewriteRule, ...]] = (
        BatchNormIntoWeights(False), BatchNormIntoWeights(True),
        ScaleShiftIntoWeights(False), ScaleShiftIntoWeights(True), DecomposeBatchNorm())
    decompose_standalone: bool = True

    def run(self, graph: Graph) -> PassResult:
        rules = [rule for rule in self.rules
                 if self.decompose_standalone or rule.name != "decompose-batchnorm"]
        unused_before = {id(v) for v in graph.constants.values() if not v.uses}
        fired = apply_rules(graph, rules)
        # the constants this pass left unused (old weights, batch-norm parameters)
        removed = remove_unused_constants(
            graph, [v for v in graph.constants.values() if id(v) not in unused_before])
        folded = fired["batchnorm-into-weights"] + fired["scale-shift-into-weights"]
        stats = {"folded": folded, "decomposed": fired["decompose-batchnorm"],
                 "constants-removed": removed}
        return PassResult(bool(fired), stats)
