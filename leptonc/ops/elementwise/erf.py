"""The Gauss error function in float64 (numpy has none): a Taylor series near zero and a
continued fraction for erfc further out."""

from __future__ import annotations

import math

import numpy as np

_ERF_SERIES_LIMIT = 2.5  # below: Taylor series; above: continued fraction for erfc
_ERF_SERIES_TERMS = 60
_ERFC_FRACTION_DEPTH = 60


def erf(x: np.ndarray) -> np.ndarray:
    """The error function in float64, accurate to ~1e-14 (numpy has no erf)."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    small = np.abs(x) < _ERF_SERIES_LIMIT
    out[small] = _erf_series(x[small])
    large = ~small  # also NaN, which the fraction propagates
    out[large] = np.copysign(1.0 - _erfc_fraction(np.abs(x[large])), x[large])
    return out


def _erf_series(x: np.ndarray) -> np.ndarray:
    # erf(x) = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1)); terms shrink fast for |x| < 2.5
    minus_x2 = -x * x
    term, total = x.copy(), x.copy()
    for n in range(1, _ERF_SERIES_TERMS):
        term *= minus_x2 / n
        total += term / (2 * n + 1)
    return total * (2.0 / math.sqrt(math.pi))


def _erfc_fraction(x: np.ndarray) -> np.ndarray:
    # erfc(x) = exp(-x^2) / sqrt(pi) / (x + (1/2) / (x + 1 / (x + (3/2) / (x + ...)))), x > 0
    denom = x.copy()
    for k in range(_ERFC_FRACTION_DEPTH, 0, -1):
        denom = x + (k / 2) / denom
    return np.exp(-x * x) / (math.sqrt(math.pi) * denom)
