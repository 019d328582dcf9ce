"""Numeric helpers shared by kernels of several op families."""

from __future__ import annotations

import numpy as np


def float_compute_dtype(*dtypes: np.dtype) -> np.dtype:
    """The float dtype to compute in: f64 when any operand is f64, else f32 (so f16/bf16
    math, which numpy does poorly or not at all, runs widened; results are cast back)."""
    return np.dtype(np.float64) if any(np.dtype(t) == np.float64 for t in dtypes) else np.dtype(
        np.float32)
