"""Reductions and normalising ops (``reduce.*``): sum/mean/max/min/prod/norms/log-sum(-exp),
arg-max/min, softmax, log-softmax and hardmax over one axis, cumulative sum/product and the
negative log-likelihood loss.

Axes are attributes when they are known at compile time (the frontend folds ONNX's constant
axes input); a reduction whose axes are computed at run time takes them as an optional
``axes`` input instead, and inference leaves the affected dims unknown.
"""

from __future__ import annotations

from collections.abc import Callable

import ml_dtypes
import numpy as np

from leptonc.errors import ShapeError
from leptonc.ir import dtypes
from leptonc.ir.graph import Value
from leptonc.ir.types import Shape, TensorType
from leptonc.ops.infer_utils import const_ints, normalize_axis
from leptonc.ops.registry import attr, defop

_LOW_PRECISION = (np.dtype(np.float16), np.dtype(ml_dtypes.bfloat16))


def reduced_shape(shape: tuple | None, axes: tuple, keepdims: bool) -> tuple | None:
    """Shape after reducing ``axes`` (empty axes: all of them)."""
    if shape is None:
        return None
    rank = len(shape)
    axes = {normalize_axis(a, rank) for a in axes} if axes else set(range(rank))
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def is_float(dtype: np.dtype) -> bool:
    """numpy floats and ml_dtypes' bfloat16 (whose numpy kind is 'V')."""
    return dtype.kind == "f" or dtype in _LOW_PRECISION


def compute_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype to accumulate in: f16/bf16 sums lose too much precision in their own type."""
    return np.dtype(np.float32) if dtype in _LOW_PRECISION else dtype


# ----- reductions over a set of axes ----------------------------------------------------------
def _runtime_reduced_shape(shape: Shape | None, axes_input: Value, keepdims: bool,
                           noop: bool) -> Shape | None:
    """Result shape when the axes are only known at run time: which dims go is unknown."""
    count = axes_input.type.shape[0] if axes_input.type.shape else None
    if shape is None:
        return None
    if count == 0:
        return shape if noop else reduced_shape(shape, (), keepdims)
    if keepdims:
        return tuple(1 if d == 1 else None for d in shape)
    return (None,) * (len(shape) - count) if isinstance(count, int) else None


def _infer_reduction(ins: list[Value | None], attrs: dict) -> list[TensorType]:
    t = ins[0].type
    axes_input = ins[1] if len(ins) > 1 else None
    keepdims, noop = attrs["keepdims"], attrs["noop_with_empty_axes"]
    if axes_input is None:
        return [TensorType(t.dtype, reduced_shape(t.shape, attrs["axes"], keepdims))]
    if attrs["axes"]:
        raise ShapeError("axes given both as attribute and as input")
    axes = const_ints(axes_input)
    if axes is None:
        return [TensorType(t.dtype, _runtime_reduced_shape(t.shape, axes_input, keepdims, noop))]
    if not axes and noop:
        return [TensorType(t.dtype, t.shape)]
    return [TensorType(t.dtype, reduced_shape(t.shape, tuple(axes), keepdims))]


def _kernel_axes(xs: list[np.ndarray | None], attrs: dict) -> tuple[int, ...] | None:
    """The axes to reduce (None: all), or ``()`` when an empty axes input means no-op."""
    x = xs[0]
    given = xs[1] if len(xs) > 1 and xs[1] is not None else None
    axes = tuple(int(a) for a in np.asarray(given).reshape(-1)) if given is not None else tuple(
        attrs["axes"])
    if not axes:
        return () if given is not None and attrs["noop_with_empty_axes"] else None
    return tuple(normalize_axis(a, x.ndim) for a in axes)


def _lowest(dtype: np.dtype):
    if dtype.kind == "b":
        return False
    return -np.inf if is_float(dtype) else np.iinfo(dtype).min


def _highest(dtype: np.dtype):
    if dtype.kind == "b":
        return True
    return np.inf if is_float(dtype) else np.iinfo(dtype).max


def _float_of(x: np.ndarray) -> np.ndarray:
    """x as a float array precise enough to reduce (integers go through f64)."""
    if x.dtype.kind in "iub":
        return x.astype(np.float64)
    return x.astype(compute_dtype(x.dtype), copy=False)


def _log_sum_exp(x: np.ndarray, axis, keepdims: bool) -> np.ndarray:
    x = _float_of(x)
    peak = np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    # all -inf (or an empty set) has no finite peak to shift by; log(sum(exp)) is then -inf
    peak = np.where(np.isfinite(peak), peak, 0)
    out = np.log(np.sum(np.exp(x - peak), axis=axis, keepdims=True)) + peak
    return out if keepdims else np.squeeze(out, axis=axis)


def _l2(x, axis, keepdims):
    # f32 in f64 (see once_rounded_dtype): the norm then rounds once, so a compiled kernel
    # summing in another order gives the same f32 (MiniLM's output normalisation).
    wide = x.astype(np.float64) if x.dtype == np.float32 else _float_of(x)
    return np.sqrt(np.sum(np.square(wide), axis=axis, keepdims=keepdims))


def _sum(x, axis, keepdims):
    return np.sum(x.astype(compute_dtype(x.dtype), copy=False), axis=axis, keepdims=keepdims)


_REDUCTIONS: dict[str, tuple[Callable, str]] = {
    "sum": (_sum, "sum"),
    "mean": (lambda x, axis, keepdims: np.mean(_float_of(x), axis=axis, keepdims=keepdims),
             "arithmetic mean"),
    "max": (lambda x, axis, keepdims: np.max(x, axis=axis, keepdims=keepdims,
                                             initial=_lowest(x.dtype)),
            "maximum (the type's lowest value, -inf for floats, over an empty set)"),
    "min": (lambda x, axis, keepdims: np.min(x, axis=axis, keepdims=keepdims,
                                             initial=_highest(x.dtype)),
            "minimum (the type's highest value, +inf for floats, over an empty set)"),
    "prod": (lambda x, axis, keepdims: np.prod(x.astype(compute_dtype(x.dtype), copy=False),
                                               axis=axis, keepdims=keepdims), "product"),
    "l1": (lambda x, axis, keepdims: _sum(np.abs(x), axis, keepdims), "sum of |x|"),
    "l2": (_l2, "sqrt(sum(x^2))"),
    "log_sum": (lambda x, axis, keepdims: np.log(np.sum(_float_of(x), axis=axis,
                                                         keepdims=keepdims)), "log(sum(x))"),
    "log_sum_exp": (_log_sum_exp, "log(sum(exp(x))), computed stably"),
    "sum_square": (lambda x, axis, keepdims: _sum(np.square(x), axis, keepdims), "sum of x^2"),
}


def _register_reduction(name: str, fn: Callable, doc: str) -> None:
    @defop(f"reduce.{name}", inputs="x, axes?",
           attrs={"axes": attr("ints", ()), "keepdims": attr("bool", True),
                  "noop_with_empty_axes": attr("bool", False)},
           doc=f"{doc} over `axes` (all axes when empty; an empty run-time axes input is a "
               "no-op when noop_with_empty_axes)")
    class _Reduction:
        def infer(ins, attrs):
            return _infer_reduction(ins, attrs)

        def kernel(xs, attrs):
            x = xs[0]
            axes = _kernel_axes(xs, attrs)
            if axes == ():
                return x
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                out = fn(x, axes, attrs["keepdims"])
            return np.asarray(out).astype(x.dtype, copy=False)


for _name, (_fn, _doc) in _REDUCTIONS.items():
    _register_reduction(_name, _fn, _doc)


# ----- arg-max / arg-min ----------------------------------------------------------------------
def _register_arg(name: str, fn: Callable) -> None:
    @defop(f"reduce.{name}", inputs="x",
           attrs={"axis": attr("int", 0), "keepdims": attr("bool", True),
                  "select_last_index": attr("bool", False)},
           doc=f"i64 index of the {name[3:]}imum along `axis` (the first one, or the last one "
               "with select_last_index)")
    class _Arg:
        def infer(ins, attrs):
            t = ins[0].type
            if t.shape is not None:
                normalize_axis(attrs["axis"], len(t.shape))
            return [TensorType(dtypes.i64, reduced_shape(t.shape, (attrs["axis"],),
                                                         attrs["keepdims"]))]

        def kernel(xs, attrs):
            x, axis = xs[0], normalize_axis(attrs["axis"], xs[0].ndim)
            if attrs["select_last_index"]:
                flipped = fn(np.flip(x, axis), axis=axis, keepdims=True)
                index = x.shape[axis] - 1 - flipped
            else:
                index = fn(x, axis=axis, keepdims=True)
            if not attrs["keepdims"]:
                index = np.squeeze(index, axis=axis)
            return index.astype(np.int64, copy=False)


_register_arg("argmax", np.argmax)
_register_arg("argmin", np.argmin)


# ----- softmax family (one axis) --------------------------------------------------------------
def once_rounded_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype f32 softmax / log-softmax (and LayerNorm) compute in: f64, so the one rounding
    to f32 at the end hides the order of the exps' sum.

    An f32 sum rounds differently in every summation order, so a compiled kernel (vectorised,
    split over threads) differs from numpy's pairwise sum by f32 ulps; in an int8 model those
    ulps flip values at quantization boundaries.  Summed in f64, both orders agree to ~1e-16
    relative and round to the same f32 except on near-ties.  The TVM lowering
    (targets/tvm/lower_nn.py) widens the same way.  f16/bf16 keep their f32 accumulation.
    """
    return np.dtype(np.float64) if dtype == np.float32 else compute_dtype(dtype)


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    shifted = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=axis, keepdims=True)


def _log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def _hardmax(x: np.ndarray, axis: int) -> np.ndarray:
    first_max = np.expand_dims(np.argmax(x, axis=axis), axis)
    positions = np.arange(x.shape[axis]).reshape([-1 if i == axis else 1 for i in range(x.ndim)])
    return (positions == first_max).astype(x.dtype)


def _register_normaliser(name: str, fn: Callable, doc: str, widen: Callable = compute_dtype) -> None:
    @defop(f"reduce.{name}", inputs="x", attrs={"axis": attr("int", -1)}, doc=doc)
    class _Normaliser:
        def infer(ins, attrs):
            t = ins[0].type
            if t.shape is not None:
                normalize_axis(attrs["axis"], len(t.shape))
            return [TensorType(t.dtype, t.shape)]

        def kernel(xs, attrs):
            x = xs[0]
            axis = normalize_axis(attrs["axis"], x.ndim)
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                out = fn(x.astype(widen(x.dtype), copy=False), axis)
            return out.astype(x.dtype, copy=False)


_register_normaliser("softmax", _softmax, "exp(x) / sum(exp(x)) along one axis (computed stably)",
                     once_rounded_dtype)
_register_normaliser("log_softmax", _log_softmax, "x - log(sum(exp(x))) along one axis",
                     once_rounded_dtype)
_register_normaliser("hardmax", _hardmax, "1 at the first maximum along one axis, 0 elsewhere")


# ----- cumulative sum / product ---------------------------------------------------------------
def _scan(x: np.ndarray, axis: int, exclusive: bool, reverse: bool, fn: Callable,
          identity: int) -> np.ndarray:
    if reverse:
        x = np.flip(x, axis)
    if exclusive and x.shape[axis]:
        # shift by one along the axis, so element i sees only the inputs before it
        head_shape = list(x.shape)
        head_shape[axis] = 1
        all_but_last = [slice(None)] * x.ndim
        all_but_last[axis] = slice(0, -1)
        x = np.concatenate([np.full(head_shape, identity, x.dtype), x[tuple(all_but_last)]],
                           axis=axis)
    out = fn(x, axis=axis, dtype=compute_dtype(x.dtype) if is_float(x.dtype) else None)
    return np.flip(out, axis) if reverse else out


def _register_scan(name: str, fn: Callable, identity: int, doc: str) -> None:
    @defop(f"reduce.{name}", inputs="x, axis?",
           attrs={"axis": attr("int", 0), "exclusive": attr("bool", False),
                  "reverse": attr("bool", False)},
           doc=f"{doc} along `axis` (a run-time scalar `axis` input overrides the attribute)")
    class _Scan:
        def infer(ins, attrs):
            t = ins[0].type
            if t.shape is not None and (len(ins) < 2 or ins[1] is None):
                normalize_axis(attrs["axis"], len(t.shape))
            return [TensorType(t.dtype, t.shape)]

        def kernel(xs, attrs):
            x = xs[0]
            axis = attrs["axis"] if len(xs) < 2 or xs[1] is None else int(np.asarray(xs[1]))
            out = _scan(x, normalize_axis(axis, x.ndim), attrs["exclusive"], attrs["reverse"],
                        fn, identity)
            return out.astype(x.dtype, copy=False)


_register_scan("cumsum", np.cumsum, 0, "running sum")
_register_scan("cumprod", np.cumprod, 1, "running product")


# ----- negative log-likelihood loss -----------------------------------------------------------
_LOSS_REDUCTIONS = ("none", "sum", "mean")


@defop("reduce.nll_loss", inputs="x, target, weight?",
       attrs={"reduction": attr("str", "mean"), "ignore_index": attr("int", None)},
       doc="-x[n, target[n, ...], ...] * weight[target]; x is [N, C, d...] log-probabilities; "
           "targets equal to ignore_index count zero; mean divides by the summed weights")
class NllLoss:
    def infer(ins, attrs):
        x, target = ins[0].type, ins[1].type
        if attrs["reduction"] not in _LOSS_REDUCTIONS:
            raise ShapeError(f"reduction must be one of {', '.join(_LOSS_REDUCTIONS)}, "
                             f"got '{attrs['reduction']}'")
        if not target.dtype.is_integer:
            raise ShapeError(f"target must be an integer tensor, got {target.dtype}")
        if x.rank is not None and target.rank is not None and target.rank != x.rank - 1:
            raise ShapeError(f"target rank {target.rank} should be input rank {x.rank} - 1")
        if attrs["reduction"] != "none":
            return [TensorType(x.dtype, ())]
        shape = target.shape if target.shape is not None else (
            None if x.shape is None else (x.shape[0], *x.shape[2:]))
        return [TensorType(x.dtype, shape)]

    def kernel(xs, attrs):
        x, target = xs[:2]
        weight = xs[2] if len(xs) > 2 else None
        t = target.astype(np.int64)
        ignored = np.zeros(t.shape, bool) if attrs["ignore_index"] is None else (
            t == attrs["ignore_index"])
        safe_t = np.where(ignored, 0, t)  # ignored targets may be out of range: never index them
        work = compute_dtype(x.dtype)
        picked = np.take_along_axis(x.astype(work), np.expand_dims(safe_t, 1), axis=1)[:, 0]
        w = np.ones(t.shape, work) if weight is None else weight.astype(work)[safe_t]
        w = np.where(ignored, 0, w).astype(work)
        loss = -picked * w
        if attrs["reduction"] == "sum":
            loss = np.sum(loss)
        elif attrs["reduction"] == "mean":
            with np.errstate(divide="ignore", invalid="ignore"):
                loss = np.sum(loss) / np.sum(w)
        return np.asarray(loss).astype(x.dtype)
