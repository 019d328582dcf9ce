"""Helpers shared by the nn ops: static input lengths, operand checks, and the dtype kernels
accumulate in (f16/bf16 and integer math runs in f32, f64 stays f64)."""

from __future__ import annotations

import numpy as np

from leptonc.errors import ShapeError
from leptonc.ir.graph import Value
from leptonc.ir.types import TensorType
from leptonc.ops.numeric import float_compute_dtype


# ----- inputs and checks -----------------------------------------------------------------------
def static_len(v: Value | None) -> int | None:
    """The length of 1-D ``v`` when it is static (e.g. the rank a shape input stands for)."""
    if v is None or v.type.shape is None or len(v.type.shape) != 1:
        return None
    d = v.type.shape[0]
    return d if isinstance(d, int) else None


def check_rank(t: TensorType, what: str, min_rank: int = 3) -> None:
    if t.rank is not None and t.rank < min_rank:
        raise ShapeError(f"{what} needs an input of rank >= {min_rank} ([N, C, *spatial]), got {t}")


def check_float(t: TensorType, op: str) -> None:
    if not t.dtype.is_float:
        raise ShapeError(f"{op} takes floating-point tensors, got {t.dtype}")


# ----- computation dtypes ----------------------------------------------------------------------

def accumulate(*arrays: np.ndarray | None) -> list[np.ndarray | None]:
    """The arrays in their accumulation dtype (f16/bf16 math runs in f32; f32 stays as is)."""
    return [None if a is None else a.astype(float_compute_dtype(a.dtype), copy=False) for a in arrays]


def channel_param(p: np.ndarray, rank: int, dtype: np.dtype) -> np.ndarray:
    """A per-channel parameter [C, ...] shaped to broadcast against [N, C, *spatial]."""
    p = np.asarray(p, dtype=dtype)
    return p.reshape(p.shape + (1,) * (rank - 1 - p.ndim))

