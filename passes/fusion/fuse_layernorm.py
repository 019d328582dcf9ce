"""fuse-layernorm: decomposed LayerNorm and RMSNorm -> ``nn.layer_norm`` / ``nn.rms_norm``.

Exporters that do not emit LayerNormalization spell it out, e.g.::

    mean = ReduceMean(x, axes)        d = x - mean       var = ReduceMean(d^2, axes)
    y = d / Sqrt(var + eps) * gamma + beta

with ``d^2`` as ``Pow(d, 2)`` or ``d * d`` and the division as ``d * Reciprocal(...)``.
``d`` is read twice, and the rule engine cannot fold a value with two readers into a match,
but it can bind it twice as a variable.  The core ``d / sqrt(mean(d^2) + eps)`` is RMSNorm of
``d``, so the fusion is four small rules that compose on the worklist:

1. ``rms-norm``   ``x / sqrt(mean(x^2) + eps)``        -> ``nn.rms_norm(x, ones)``
2. ``layer-norm`` ``nn.rms_norm(x - mean(x), s)``       -> ``nn.layer_norm(x, s)``
3. ``norm-scale`` ``nn.*_norm(x, ones) * gamma``        -> the norm with scale ``gamma``
4. ``norm-bias``  ``nn.layer_norm(x, s) + beta``        -> the norm with bias ``beta``

Both means must reduce the same trailing axes ``[k, rank)`` with keepdims (what ``axis=k``
means), epsilon must be a scalar added inside the square root, the exponent exactly 2, and
gamma/beta must have the normalised dims' shape.  Rule 3 and 4 also complete norms the
frontend produced without a scale or bias.
"""

from __future__ import annotations

import numpy as np

from leptonc.ir.builder import Rewriter
from leptonc.ir.graph import Graph, Node, Value
from leptonc.ir.types import Shape
from leptonc.ops.infer_utils import normalize_axis
from leptonc.passes.common import remove_unused_constants, scalar_value, trailing_axis
from leptonc.passmgr import PassResult, graph_pass
from leptonc.rewrite import Match, RewriteRule, apply_rules, const, op, var

NORMS = ("nn.rms_norm", "nn.layer_norm")


# ----- helpers ------------------------------------------------------------------------------------
def _normalised_dims(norm: Node) -> Shape | None:
    x = norm.inputs[0].type
    if x.shape is None:
        return None
    return x.shape[normalize_axis(norm.attr("axis"), len(x.shape)):]


def _fits_as_parameter(p: Value, norm: Node) -> str | None:
    """Why ``p`` cannot become the norm's scale or bias (it must cover the normalised dims)."""
    dims = _normalised_dims(norm)
    if p.type.dtype != norm.inputs[0].type.dtype:
        return f"%{p.name} is {p.type.dtype}, the norm's input {norm.inputs[0].type.dtype}"
    if dims is None or p.type.shape != dims or None in dims:
        return f"%{p.name} {list(p.type.shape or [])} is not shaped like the normalised dims"
    return None


# ----- rules --------------------------------------------------------------------------------------
def _rms_patterns() -> list:
    squares = (op("ew.pow", var("x"), const("two")), op("ew.mul", var("x"), var("x")))
    patterns = []
    for square in squares:
        mean = op("reduce.mean", square, bind="mean")
        root_mean_square = op("ew.sqrt", op("ew.add", mean, const("eps"), commutative=True))
        patterns.append(op("ew.div", var("x"), root_mean_square))
        patterns.append(op("ew.mul", var("x"), op("ew.reciprocal", root_mean_square),
                           commutative=True))
    return patterns


class RmsNorm(RewriteRule):
    """``x / sqrt(mean(x^2) + eps)`` -> ``nn.rms_norm(x, ones)``; one instance per spelling."""

    name = "rms-norm"

    def __init__(self, pattern, ones: dict) -> None:
        self.pattern = pattern
        self.ones = ones  # (dims, dtype) -> the shared all-ones scale constant

    def check(self, m: Match) -> str | None:
        x, out = m["x"], m.nodes[-1].outputs[0]
        if not x.type.dtype.is_float:
            return "x is not floating point"
        if out.type != x.type:
            return "a constant broadcasts the result beyond x's shape"
        if "two" in m and scalar_value(m["two"]) != 2.0:
            return "the exponent is not 2"
        eps = scalar_value(m["eps"])
        if eps is None or not eps >= 0:
            return "epsilon is not a non-negative scalar constant"
        axis = trailing_axis(m["mean"], x.type.rank)
        if axis is None:
            return "the mean does not reduce the trailing axes with keepdims"
        if not all(isinstance(d, int) for d in x.type.shape[axis:]):
            return "the normalised dims are not static"
        return None

    def rewrite(self, rw: Rewriter, m: Match) -> Value:
        x = m["x"]
        axis = trailing_axis(m["mean"], x.type.rank)
        dims = x.type.shape[axis:]
        key = (dims, x.type.dtype)
        if key not in self.ones:
            self.ones[key] = rw.const(np.ones(dims, x.type.dtype.numpy), "ones")
        attrs = {"axis": axis - x.type.rank, "epsilon": scalar_value(m["eps"])}
        return rw.op("nn.rms_norm", [x, self.ones[key]], attrs)


class LayerNorm(RewriteRule):
    name = "layer-norm"
    pattern = op("nn.rms_norm", op("ew.sub", var("x"), op("reduce.mean", var("x"), bind="mean")),
                 var("scale"), bind="rms")

    def check(self, m: Match) -> str | None:
        rms, rank = m["rms"], m["x"].type.rank
        if m["x"].type != rms.inputs[0].type:
            return "the mean broadcasts x - mean beyond x's shape"
        axis = trailing_axis(m["mean"], rank)
        if axis is None or axis != normalize_axis(rms.attr("axis"), rank):
            return "the centring mean does not reduce the axes the variance reduces"
        return None

    def rewrite(self, rw: Rewriter, m: Match) -> Value:
        rms = m["rms"]
        return rw.op("nn.layer_norm", [m["x"], m["scale"]], dict(rms.attrs))


class NormScale(RewriteRule):
    name = "norm-scale"
    pattern = op("ew.mul", op(NORMS, var("x"), const("ones"), var("bias", optional=True),
                              bind="norm"), var("gamma"), commutative=True)

    def check(self, m: Match) -> str | None:
        norm = m["norm"]
        if norm.attrs.get("with_stats") or m["bias"] is not None:
            return "the norm already has a bias (or statistics outputs)"
        if not np.all(np.asarray(m["ones"].data) == 1):
            return "the norm already has a scale"
        return _fits_as_parameter(m["gamma"], norm)

    def rewrite(self, rw: Rewriter, m: Match) -> Value:
        norm = m["norm"]
        return rw.op(norm.op, [m["x"], m["gamma"]], dict(norm.attrs))


class NormBias(RewriteRule):
    name = "norm-bias"
    pattern = op("ew.add", op("nn.layer_norm", var("x"), var("scale"), bind="norm"), var("beta"),
                 commutative=True)

    def check(self, m: Match) -> str | None:
        if m["norm"].attrs.get("with_stats"):
            return "the norm has statistics outputs"
        return _fits_as_parameter(m["beta"], m["norm"])

    def rewrite(self, rw: Rewriter, m: Match) -> Value:
        norm = m["norm"]
        return rw.op("nn.layer_norm", [m["x"], m["scale"], m["beta"]], dict(norm.attrs))


def layernorm_rules(ones: dict[tuple, Value]) -> list[RewriteRule]:
    """The rules of one run; its RmsNorm rules share ``ones``, the scales they create."""
    return [*(RmsNorm(p, ones) for p in _rms_patterns()), LayerNorm(), NormScale(), NormBias()]


@graph_pass("fuse-layernorm", ensures=("layernorm-fused",), example="fuse-layernorm")
def fuse_layernorm(graph: Graph) -> PassResult:
    """Fuse decomposed LayerNorm and RMSNorm (gamma and beta included) into
    nn.layer_norm / nn.rms_norm."""
    ones: dict[tuple, Value] = {}
    fired = apply_rules(graph, layernorm_rules(ones))
    remove_unused_constants(graph, ones.values())  # the scales of ones gammas replaced
    stats = {"layer-norms": fired["layer-norm"],
             "rms-norms": fired["rms-norm"] - fired["layer-norm"],
             "scales-absorbed": fired["norm-scale"], "biases-absorbed": fired["norm-bias"]}
    return PassResult(bool(sum(fired.values())), stats)


# For --debug-rules and the pass reference (each run builds its own, sharing its scales).
fuse_layernorm.rules = tuple(layernorm_rules({}))
