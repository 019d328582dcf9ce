"""``nn.rotary_embedding``: rotary position embedding (RoPE) kept whole, so that fusion and
targets see it as a single kernel."""

from __future__ import annotations

import numpy as np

from leptonc.errors import ShapeError
from leptonc.ir.types import Dim, TensorType, dims_compatible
from leptonc.ops.infer_utils import input_at, padded
from leptonc.ops.numeric import float_compute_dtype
from leptonc.ops.registry import attr, defop
from leptonc.ops.transformer.common import per_head, same_float_types


def _rope_head_size(x: TensorType, num_heads: int) -> Dim:
    """Head size of x in either supported layout."""
    if x.shape is None:
        return None
    if len(x.shape) == 4:
        return x.shape[3]
    if len(x.shape) != 3:
        raise ShapeError(f"x must be [B, H, S, D] or [B, S, H*D], got {x}")
    if num_heads <= 0:
        raise ShapeError("a 3-D x needs num_heads")
    return per_head(x.shape[2], num_heads, "hidden size")


def _rope_infer(ins, attrs) -> list[TensorType]:
    x, cos, sin = (v.type for v in ins[:3])
    positions = input_at(ins, 3)
    same_float_types(ins[:3], "x, cos and sin")
    head_size = _rope_head_size(x, attrs["num_heads"])
    rotary = attrs["rotary_dim"] or head_size
    if isinstance(rotary, int):
        if rotary % 2 or (isinstance(head_size, int) and rotary > head_size):
            raise ShapeError(f"rotary_dim {rotary} must be even and at most head size {head_size}")
        want_rank = 2 if positions is not None else 3
        for name, t in (("cos", cos), ("sin", sin)):
            if t.shape is not None and (len(t.shape) != want_rank or not dims_compatible(
                    t.shape[-1], rotary // 2)):
                raise ShapeError(f"{name} must be rank {want_rank} with last dim {rotary // 2}, "
                                 f"got {t}")
    if positions is not None and not positions.type.dtype.is_integer:
        raise ShapeError(f"position_ids must be integers, got {positions.type.dtype}")
    return [TensorType(x.dtype, x.shape)]


def _rotate(x: np.ndarray, cos: np.ndarray, sin: np.ndarray, rotary: int,
            interleaved: bool) -> np.ndarray:
    """Rotate the first ``rotary`` features of x [B, S, H, D] by (cos, sin) [B, S, 1, rotary/2]."""
    out = x.copy()
    pairs = (slice(0, rotary, 2), slice(1, rotary, 2)) if interleaved else (
        slice(0, rotary // 2), slice(rotary // 2, rotary))
    x1, x2 = x[..., pairs[0]], x[..., pairs[1]]
    out[..., pairs[0]] = cos * x1 - sin * x2
    out[..., pairs[1]] = sin * x1 + cos * x2
    return out


def _rope_kernel(xs, attrs):
    x, cos, sin, positions = padded(xs, 4)
    ct = float_compute_dtype(x.dtype)
    if x.ndim == 4:  # [B, H, S, D] -> [B, S, H, D]
        x4 = x.astype(ct, copy=False).transpose(0, 2, 1, 3)
    else:
        x4 = x.astype(ct, copy=False).reshape(x.shape[0], x.shape[1], attrs["num_heads"], -1)
    rotary = attrs["rotary_dim"] or x4.shape[-1]
    if positions is not None:
        cos, sin = cos[positions], sin[positions]
    if cos.shape[-1] != rotary // 2 or sin.shape[-1] != rotary // 2:
        raise ShapeError(f"cos/sin have {cos.shape[-1]}/{sin.shape[-1]} features, rotary_dim "
                         f"{rotary} needs {rotary // 2}")
    out = _rotate(x4, cos.astype(ct)[:, :, None], sin.astype(ct)[:, :, None], rotary,
                  attrs["interleaved"])
    out = out.transpose(0, 2, 1, 3) if x.ndim == 4 else out.reshape(x.shape)
    return out.astype(x.dtype)


@defop("nn.rotary_embedding", inputs="x, cos, sin, position_ids?",
       attrs={"interleaved": attr("bool", False), "rotary_dim": attr("int", 0),
              "num_heads": attr("int", 0)},
       doc="rotary position embedding (RoPE) of x [B, H, S, D] or [B, S, H*D]")
class RotaryEmbedding:
    """ONNX RotaryEmbedding: rotates feature pairs of each head by position-dependent angles.

    ``x`` is [B, H, S, D], or [B, S, H*D] with ``num_heads``.  The first ``rotary_dim``
    features (0: all) are rotated, the rest pass through.  Pairs are (i, i + rotary_dim/2)
    or, with ``interleaved``, (2i, 2i + 1).  ``cos``/``sin`` are [max_position, rotary_dim/2]
    tables indexed by ``position_ids`` [B, S], or [B, S, rotary_dim/2] without them.
    """

    infer = _rope_infer
    kernel = _rope_kernel
