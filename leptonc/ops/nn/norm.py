"""Normalisation: batch (inference and training), instance, layer, group and RMS norm,
local response normalisation, Lp normalisation and mean-variance normalisation."""

from __future__ import annotations

import numpy as np

from leptonc.errors import ShapeError
from leptonc.ir import dtypes
from leptonc.ir.types import TensorType
from leptonc.ops.infer_utils import normalize_axis, padded
from leptonc.ops.nn.common import channel_param, check_float, check_rank, static_len
from leptonc.ops.numeric import float_compute_dtype
from leptonc.ops.reduce import once_rounded_dtype
from leptonc.ops.registry import attr, defop


def _norm_infer(ins, op: str, params: int) -> list[TensorType]:
    x = ins[0].type
    check_float(x, op)
    for v in ins[1:1 + params]:
        if v is not None and not v.type.dtype.is_float:
            raise ShapeError(f"{op} parameters must be floating point, got {v.type.dtype}")
    return [TensorType(x.dtype, x.shape)]


def _standardize(x: np.ndarray, axes: tuple, epsilon: float, acc: np.dtype):
    """((x - mean) * inv_std, mean, inv_std) over ``axes`` (keepdims), computed in ``acc``."""
    xa = x.astype(acc, copy=False)
    mean = xa.mean(axis=axes, keepdims=True)
    centered = xa - mean
    var = np.mean(np.square(centered), axis=axes, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + epsilon)
    centered *= inv_std
    return centered, mean, inv_std


def _scale_shift(y: np.ndarray, scale: np.ndarray, bias: np.ndarray, dtype: np.dtype
                 ) -> np.ndarray:
    """y * scale + bias with per-channel parameters, in y's (accumulation) dtype, cast to
    ``dtype``; y is updated in place."""
    y *= channel_param(scale, y.ndim, y.dtype)
    y += channel_param(bias, y.ndim, y.dtype)
    return y.astype(dtype, copy=False)


def _stash(attrs: dict, x: np.ndarray) -> np.dtype:
    """Computation dtype: the stash type, widened to x's when x is wider (f64)."""
    return np.promote_types(attrs["stash_type"].numpy, x.dtype)


def _layer_norm_dtype(attrs: dict, x: np.ndarray) -> np.dtype:
    """The stash type, except that f32 LayerNorm computes in f64 (see
    reduce.once_rounded_dtype): one rounding at the end, so a compiled kernel summing in
    another order gives the same f32 bits.  f16/bf16 inputs keep their stash type."""
    stash = _stash(attrs, x)
    return once_rounded_dtype(stash) if x.dtype == np.float32 else stash


# ----- batch normalisation ---------------------------------------------------------------------
@defop("nn.batch_norm", inputs="x, scale, bias, mean, var", attrs={"epsilon": attr("float", 1e-5)},
       doc="inference batch normalisation: (x - mean) / sqrt(var + eps) * scale + bias, per "
           "channel (parameters of shape [C], or [C, *spatial] for opset-7 spatial=0)")
class BatchNorm:
    def infer(ins, attrs):
        return _norm_infer(ins, "batch_norm", 4)

    def kernel(xs, attrs):
        x, scale, bias, mean, var = xs
        # fold into one multiply and one add per element; parameters in f64 (they are tiny)
        mul = scale.astype(np.float64) / np.sqrt(var.astype(np.float64) + attrs["epsilon"])
        add = bias.astype(np.float64) - mean.astype(np.float64) * mul
        acc = float_compute_dtype(x.dtype)
        y = np.multiply(x, channel_param(mul, x.ndim, acc), dtype=acc)
        y += channel_param(add, x.ndim, acc)
        return y.astype(x.dtype, copy=False)


@defop("nn.batch_norm_training", inputs="x, scale, bias, mean, var",
       outputs="y, running_mean, running_var",
       attrs={"epsilon": attr("float", 1e-5), "momentum": attr("float", 0.9)},
       doc="training-mode batch normalisation (ONNX training_mode=1): normalises with the "
           "batch statistics and returns the updated running mean and variance")
class BatchNormTraining:
    def infer(ins, attrs):
        y = _norm_infer(ins, "batch_norm_training", 4)[0]
        return [y, ins[3].type, ins[4].type]

    def kernel(xs, attrs):
        x, scale, bias, mean, var = xs
        axes = (0,) + tuple(range(2, x.ndim))
        xa = x.astype(float_compute_dtype(x.dtype), copy=False)
        batch_mean = xa.mean(axis=axes)
        batch_var = xa.var(axis=axes)
        y = BatchNorm.kernel([x, scale, bias, batch_mean, batch_var], attrs)
        m = attrs["momentum"]
        running_mean = mean * m + batch_mean * (1 - m)
        running_var = var * m + batch_var * (1 - m)
        return y, running_mean.astype(mean.dtype), running_var.astype(var.dtype)


# ----- instance, layer, group and RMS normalisation --------------------------------------------
@defop("nn.instance_norm", inputs="x, scale, bias", attrs={"epsilon": attr("float", 1e-5)},
       doc="instance normalisation: standardise each (n, c) plane, then per-channel scale+bias")
class InstanceNorm:
    def infer(ins, attrs):
        check_rank(ins[0].type, "instance_norm")
        return _norm_infer(ins, "instance_norm", 2)

    def kernel(xs, attrs):
        x, scale, bias = xs
        acc = float_compute_dtype(x.dtype)
        y, _, _ = _standardize(x, tuple(range(2, x.ndim)), attrs["epsilon"], acc)
        return _scale_shift(y, scale, bias, x.dtype)


@defop("nn.layer_norm", inputs="x, scale, bias?", outputs="*outs",
       attrs={"axis": attr("int", -1), "epsilon": attr("float", 1e-5),
              "stash_type": attr("dtype", dtypes.f32), "with_stats": attr("bool", False)},
       doc="layer normalisation over axes [axis, rank): (x - mean) * inv_std * scale + bias, "
           "computed in stash_type; with_stats adds the mean and inv_std_dev outputs")
class LayerNorm:
    def infer(ins, attrs):
        y = _norm_infer(ins, "layer_norm", 2)[0]
        if not attrs["with_stats"]:
            return [y]
        if y.shape is None:
            stats = TensorType(attrs["stash_type"], None)
        else:
            axis = normalize_axis(attrs["axis"], len(y.shape))
            stats = TensorType(attrs["stash_type"], y.shape[:axis] + (1,) * (len(y.shape) - axis))
        return [y, stats, stats]

    def kernel(xs, attrs):
        x, scale, bias = padded(xs, 3)
        acc = _layer_norm_dtype(attrs, x)
        axis = normalize_axis(attrs["axis"], x.ndim)
        y, mean, inv_std = _standardize(x, tuple(range(axis, x.ndim)), attrs["epsilon"], acc)
        y *= scale.astype(acc, copy=False)
        if bias is not None:
            y += bias.astype(acc, copy=False)
        y = y.astype(x.dtype, copy=False)
        if not attrs["with_stats"]:
            return y
        stash = attrs["stash_type"].numpy
        return y, mean.astype(stash, copy=False), inv_std.astype(stash, copy=False)


@defop("nn.group_norm", inputs="x, scale, bias",
       attrs={"num_groups": attr("int"), "epsilon": attr("float", 1e-5),
              "stash_type": attr("dtype", dtypes.f32)},
       doc="group normalisation: standardise each group of C/num_groups channels; scale and "
           "bias have one entry per channel (opset 21) or per group (opset 18)")
class GroupNorm:
    def infer(ins, attrs):
        x = ins[0].type
        check_rank(x, "group_norm", 2)
        g = attrs["num_groups"]
        c = x.shape[1] if x.shape else None
        if g < 1 or (isinstance(c, int) and c % g):
            raise ShapeError(f"{c} channels do not split into {g} groups")
        for v in ins[1:]:
            n = static_len(v)
            if isinstance(c, int) and n is not None and n not in (c, g):
                raise ShapeError(f"group_norm parameters need {c} (per channel) or {g} (per "
                                 f"group) entries, got {n}")
        return _norm_infer(ins, "group_norm", 2)

    def kernel(xs, attrs):
        x, scale, bias = xs
        g, (n, c) = attrs["num_groups"], x.shape[:2]
        grouped = x.reshape(n, g, -1)
        y, _, _ = _standardize(grouped, (2,), attrs["epsilon"], _stash(attrs, x))
        y = y.reshape(x.shape)
        if scale.size == g and g != c:  # opset 18: one parameter per group
            scale, bias = np.repeat(scale, c // g), np.repeat(bias, c // g)
        return _scale_shift(y, scale, bias, x.dtype)


@defop("nn.rms_norm", inputs="x, scale",
       attrs={"axis": attr("int", -1), "epsilon": attr("float", 1e-5),
              "stash_type": attr("dtype", dtypes.f32)},
       doc="RMS normalisation over axes [axis, rank): x / sqrt(mean(x^2) + eps) * scale")
class RmsNorm:
    def infer(ins, attrs):
        return _norm_infer(ins, "rms_norm", 1)

    def kernel(xs, attrs):
        x, scale = xs
        acc = _stash(attrs, x)
        axes = tuple(range(normalize_axis(attrs["axis"], x.ndim), x.ndim))
        xa = x.astype(acc, copy=False)
        inv_rms = 1.0 / np.sqrt(np.mean(np.square(xa), axis=axes, keepdims=True) + attrs["epsilon"])
        y = xa * inv_rms
        y *= scale.astype(acc, copy=False)
        return y.astype(x.dtype, copy=False)


# ----- other normalisations --------------------------------------------------------------------
@defop("nn.lrn", inputs="x",
       attrs={"size": attr("int"), "alpha": attr("float", 1e-4), "beta": attr("float", 0.75),
              "bias": attr("float", 1.0)},
       doc="local response normalisation across channels: "
           "x / (bias + alpha/size * sum of x^2 over `size` neighbouring channels)^beta")
class Lrn:
    def infer(ins, attrs):
        check_rank(ins[0].type, "lrn", 2)
        return _norm_infer(ins, "lrn", 0)

    def kernel(xs, attrs):
        x, size = xs[0], attrs["size"]
        acc = float_compute_dtype(x.dtype)
        sq = np.square(x.astype(acc, copy=False))
        before = (size - 1) // 2
        padded_sq = np.zeros((sq.shape[0], sq.shape[1] + size - 1) + sq.shape[2:], dtype=acc)
        padded_sq[:, before:before + sq.shape[1]] = sq
        total = padded_sq[:, :sq.shape[1]].copy()
        for k in range(1, size):  # a sliding sum over `size` channels, one shift at a time
            total += padded_sq[:, k:k + sq.shape[1]]
        denom = (attrs["bias"] + (attrs["alpha"] / size) * total) ** attrs["beta"]
        return (x / denom).astype(x.dtype, copy=False)


@defop("nn.lp_normalize", inputs="x", attrs={"axis": attr("int", -1), "p": attr("int", 2)},
       doc="x divided by its L1 or L2 norm along `axis` (a zero norm gives 0)")
class LpNormalize:
    def infer(ins, attrs):
        if attrs["p"] not in (1, 2):
            raise ShapeError(f"lp_normalize supports p=1 and p=2, got p={attrs['p']}")
        return _norm_infer(ins, "lp_normalize", 0)

    def kernel(xs, attrs):
        x = xs[0]
        axis = normalize_axis(attrs["axis"], x.ndim)
        if attrs["p"] == 1:
            norm = np.abs(x).sum(axis=axis, keepdims=True)
        else:
            norm = np.sqrt(np.square(x).sum(axis=axis, keepdims=True))
        with np.errstate(invalid="ignore", divide="ignore"):
            y = np.where(norm == 0, 0, x / norm)
        return y.astype(x.dtype, copy=False)


@defop("nn.mean_variance_norm", inputs="x", attrs={"axes": attr("ints", (0, 2, 3))},
       doc="(x - mean) / (std + 1e-9) over `axes` (ONNX MeanVarianceNormalization)")
class MeanVarianceNorm:
    def infer(ins, attrs):
        t = ins[0].type
        if t.rank is not None:
            for a in attrs["axes"]:
                normalize_axis(a, t.rank)
        return _norm_infer(ins, "mean_variance_norm", 0)

    def kernel(xs, attrs):
        x = xs[0]
        axes = tuple(normalize_axis(a, x.ndim) for a in attrs["axes"])
        xa = x.astype(float_compute_dtype(x.dtype), copy=False)
        centered = xa - xa.mean(axis=axes, keepdims=True)
        std = np.sqrt(np.mean(np.square(centered), axis=axes, keepdims=True))
        return (centered / (std + 1e-9)).astype(x.dtype, copy=False)
