"""Linear algebra ops (``linalg.*``): matmul with numpy batching semantics, integer matmul
with zero points, einsum, determinant."""

from __future__ import annotations

import math
from collections import Counter

import ml_dtypes
import numpy as np

from leptonc.errors import ShapeError
from leptonc.ir import dtypes
from leptonc.ir.types import Shape, TensorType, dims_compatible
from leptonc.ops.infer_utils import broadcast_dim, broadcast_shapes, check_same_dtype
from leptonc.ops.registry import attr, defop

_LOW_PRECISION = (np.dtype(np.float16), np.dtype(ml_dtypes.bfloat16))


def _widened(x: np.ndarray) -> np.ndarray:
    """f16/bf16 operands are multiplied in f32: accumulating in 16 bits loses too much."""
    return x.astype(np.float32) if x.dtype in _LOW_PRECISION else x


def matmul_shape(a: Shape | None, b: Shape | None) -> Shape | None:
    """numpy matmul result shape: 1-D operands are promoted, leading (batch) dims broadcast."""
    if a is None or b is None:
        return None
    if not a or not b:
        raise ShapeError("matmul operands must have rank >= 1")
    sa = a if len(a) > 1 else (1, *a)
    sb = b if len(b) > 1 else (*b, 1)
    if not dims_compatible(sa[-1], sb[-2]):
        raise ShapeError(f"inner dims differ: {sa[-1]} and {sb[-2]}")
    batch = broadcast_shapes(sa[:-2], sb[:-2])
    return (*batch, *(sa[-2:-1] if len(a) > 1 else ()), *(sb[-1:] if len(b) > 1 else ()))


def _matmul_macs(ins, outs, attrs) -> int:
    a, y = ins[0].type, outs[0]
    if not (a.is_static and y.is_static):
        return 0
    return math.prod(y.shape) * a.shape[-1]


@defop("linalg.matmul", inputs="a, b",
       doc="numpy matmul: 1-D operands are promoted, leading dims broadcast")
class MatMul:
    def infer(ins, attrs):
        a, b = ins[0].type, ins[1].type
        check_same_dtype(a, b)
        return [TensorType(a.dtype, matmul_shape(a.shape, b.shape))]

    def kernel(xs, attrs):
        a, b = xs
        return np.matmul(_widened(a), _widened(b)).astype(a.dtype, copy=False)

    macs = _matmul_macs


# ----- integer matmul -------------------------------------------------------------------------
def _check_zero_point(zp, operand, what: str) -> None:
    if zp is None:
        return
    if zp.type.dtype != operand.dtype:
        raise ShapeError(f"{what} zero point is {zp.type.dtype}, the operand is {operand.dtype}")
    if zp.type.rank is not None and zp.type.rank > 1:
        raise ShapeError(f"{what} zero point must be a scalar or 1-D, got rank {zp.type.rank}")


def centred(q: np.ndarray, zero_point: np.ndarray | None, per_row: bool = False) -> np.ndarray:
    """``q - zero_point`` in i64; a 1-D zero point of the left operand applies per row."""
    out = q.astype(np.int64)
    if zero_point is None:
        return out
    zp = zero_point.astype(np.int64)
    if per_row and zp.ndim == 1 and zp.size > 1:
        zp = zp.reshape(-1, 1)
    return out - zp


@defop("linalg.matmul_integer", inputs="a, b, a_zero_point?, b_zero_point?",
       doc="(a - a_zero_point) @ (b - b_zero_point) with i32 result, accumulated exactly; "
           "1-D zero points are per row of a / per column of b")
class MatMulInteger:
    def infer(ins, attrs):
        a, b = ins[0].type, ins[1].type
        if not (a.dtype.is_integer and b.dtype.is_integer):
            raise ShapeError(f"operands must be integers, got {a.dtype} and {b.dtype}")
        _check_zero_point(ins[2] if len(ins) > 2 else None, a, "a")
        _check_zero_point(ins[3] if len(ins) > 3 else None, b, "b")
        return [TensorType(dtypes.i32, matmul_shape(a.shape, b.shape))]

    def kernel(xs, attrs):
        a, b, a_zp, b_zp = (list(xs) + [None, None])[:4]
        # i64 accumulation wrapped to i32 is exactly what an i32 accumulator computes
        return np.matmul(centred(a, a_zp, per_row=True), centred(b, b_zp)).astype(np.int32)

    macs = _matmul_macs


# ----- einsum ---------------------------------------------------------------------------------
def _term_labels(term: str, rank: int | None, what: str) -> list[str] | None:
    """One label per dim; the dims an ellipsis covers are labelled by distance from the end
    (``...0`` is the last), so that they broadcast right-aligned like numpy's."""
    if term.count("...") > 1 or "." in term.replace("...", ""):
        raise ShapeError(f"einsum {what} '{term}' has a malformed ellipsis")
    head, ellipsis, tail = term.partition("...")
    letters = head + tail
    if not all(c.isascii() and c.isalpha() for c in letters):
        raise ShapeError(f"einsum {what} '{term}' must use ASCII letters")
    if not ellipsis:
        if rank is not None and rank != len(letters):
            raise ShapeError(f"einsum {what} '{term}' has {len(letters)} labels for rank {rank}")
        return list(letters)
    if rank is None:
        return None
    covered = rank - len(letters)
    if covered < 0:
        raise ShapeError(f"einsum {what} '{term}' has more labels than rank {rank}")
    return list(head) + [f"...{covered - 1 - j}" for j in range(covered)] + list(tail)


def parse_einsum(equation: str, ranks: list[int | None]) -> tuple[list[list[str] | None], list[str] | None]:
    """Labels of every operand's dims and of the result's (None where a rank is unknown)."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ranks):
        raise ShapeError(f"einsum '{equation}' has {len(terms)} operand terms for "
                         f"{len(ranks)} inputs")
    inputs = [_term_labels(t, r, "term") for t, r in zip(terms, ranks, strict=True)]
    if any(labels is None for labels in inputs):
        return inputs, None
    n_ellipsis = max((sum(x.startswith("...") for x in labels) for labels in inputs), default=0)
    if arrow:
        letters = len(rhs.replace("...", ""))
        out = _term_labels(rhs, letters + (n_ellipsis if "..." in rhs else 0), "result")
        if len(set(out)) != len(out):
            raise ShapeError(f"einsum result '{rhs}' repeats a label")
    else:
        counts = Counter(c for labels in inputs for c in labels if not c.startswith("..."))
        out = [f"...{n_ellipsis - 1 - j}" for j in range(n_ellipsis)] + sorted(
            c for c, n in counts.items() if n == 1)
    known = {x for labels in inputs for x in labels}
    missing = [x for x in out if x not in known]
    if missing:
        raise ShapeError(f"einsum result label '{missing[0]}' appears in no operand")
    return inputs, out


def _label_dims(inputs: list[list[str]], shapes: list[Shape]) -> dict[str, object]:
    dims: dict[str, object] = {}
    for labels, shape in zip(inputs, shapes, strict=True):
        for label, d in zip(labels, shape, strict=True):
            try:
                dims[label] = broadcast_dim(dims.get(label, 1), d)
            except ShapeError:
                raise ShapeError(f"einsum label '{label}' has dims {dims[label]} and {d}") from None
    return dims


@defop("linalg.einsum", inputs="*operands", attrs={"equation": attr("str")},
       doc="Einstein summation (numpy/ONNX equation syntax, ellipsis broadcasting)")
class Einsum:
    def infer(ins, attrs):
        types = [v.type for v in ins]
        if not types:
            raise ShapeError("einsum needs at least one operand")
        if any(t.dtype != types[0].dtype for t in types):
            raise ShapeError(f"operand dtypes differ: {', '.join(str(t.dtype) for t in types)}")
        inputs, out = parse_einsum(attrs["equation"], [t.rank for t in types])
        if out is None:
            return [TensorType(types[0].dtype, None)]
        dims = _label_dims(inputs, [t.shape for t in types])
        return [TensorType(types[0].dtype, tuple(dims[x] for x in out))]

    def kernel(xs, attrs):
        out = np.einsum(attrs["equation"].replace(" ", ""), *(_widened(x) for x in xs),
                        optimize=True)
        return np.asarray(out).astype(xs[0].dtype, copy=False)

    def macs(ins, outs, attrs):
        # the naive contraction cost: one multiply-add per point of the full label space
        types = [v.type for v in ins]
        if not all(t.is_static for t in types):
            return 0
        inputs, _ = parse_einsum(attrs["equation"], [t.rank for t in types])
        return math.prod(_label_dims(inputs, [t.shape for t in types]).values())


# ----- determinant ----------------------------------------------------------------------------
@defop("linalg.det", inputs="x", doc="determinant of the square matrices in the last two dims")
class Det:
    def infer(ins, attrs):
        t = ins[0].type
        if not t.dtype.is_float:
            raise ShapeError(f"det needs a float input, got {t.dtype}")
        if t.shape is None:
            return [TensorType(t.dtype, None)]
        if len(t.shape) < 2 or not dims_compatible(t.shape[-1], t.shape[-2]):
            raise ShapeError(f"det needs [..., M, M], got {t}")
        return [TensorType(t.dtype, t.shape[:-2])]

    def kernel(xs, attrs):
        x = xs[0]
        return np.asarray(np.linalg.det(_widened(x))).astype(x.dtype, copy=False)
