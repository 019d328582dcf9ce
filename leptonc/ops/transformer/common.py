"""Helpers the transformer ops share: compute dtypes, dim and dtype checks, head splits."""

from __future__ import annotations

from leptonc.errors import ShapeError
from leptonc.ir.types import Dim, Shape, TensorType, dims_compatible
from leptonc.ops.infer_utils import divide_dim


def check_dim(a: Dim, b: Dim, what: str) -> None:
    if not dims_compatible(a, b):
        raise ShapeError(f"{what}: {a} != {b}")


def shapes_compatible(a: Shape | None, b: Shape | None) -> bool:
    """Could two shapes be equal at run time?"""
    if a is None or b is None:
        return True
    return len(a) == len(b) and all(dims_compatible(x, y) for x, y in zip(a, b, strict=True))


def same_float_types(ins, names: str) -> TensorType:
    """The first given input's type, once all given inputs are checked to share a float dtype."""
    types = [v.type for v in ins if v is not None]
    first = types[0]
    if not first.dtype.is_float or any(t.dtype != first.dtype for t in types):
        raise ShapeError(f"{names} must share a float dtype, got "
                         f"{', '.join(str(t.dtype) for t in types)}")
    return first


def per_head(width: Dim, heads: int, what: str) -> Dim:
    """The per-head size of a packed [..., heads * size] ``width`` (None when not static)."""
    return divide_dim(width, heads, what + " {d} is not a multiple of {divisor} heads")


def check_grouped_heads(q_heads: Dim, kv_heads: Dim) -> None:
    """Grouped-query attention: every key/value head serves the same number of query heads."""
    if isinstance(q_heads, int) and isinstance(kv_heads, int) and (
            kv_heads == 0 or q_heads % kv_heads):
        raise ShapeError(f"{q_heads} query heads are not a multiple of {kv_heads} key/value heads")
