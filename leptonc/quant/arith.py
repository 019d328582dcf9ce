"""leptonc's integer requantization arithmetic: the contract every integer target meets.

docs/quantization.md states it in words; this module is its executable form and the only
place the interpreter's integer ops take it from.

A real multiplier ``M > 0`` (e.g. ``s_in * s_w / s_out``) is stored as a 32-bit integer
``multiplier`` and a ``shift`` with ``M ~= multiplier * 2**(shift - 31)``:
``M = q * 2**e`` with ``q`` in [0.5, 1) (frexp), ``multiplier = round_half_away(q * 2**31)``
(``2**31`` after rounding becomes ``2**30`` with ``e + 1``), ``shift = e``.
``M == 0``, or ``M < 2**-32`` (below half a step for any 32-bit input), gives ``(0, 0)``.
``M >= 2**30`` is refused: no sensible scale ratio is that large.

Requantizing an integer ``x`` is one rounding, done in 64-bit integers:

    t = 31 - shift                                   # 1 <= t <= 62
    y = ((x - input_zero_point) * multiplier + 2**(t - 1)) >> t   # arithmetic shift
    y = clamp(y + output_zero_point, qmin, qmax)

so the result rounds half toward +infinity.  ``x - input_zero_point`` must lie in
[-2**31, 2**31]; the lowering guarantees it (it checks each accumulator's worst case).
"""

from __future__ import annotations

import math

import numpy as np

from leptonc.errors import UsageError

MULTIPLIER_BITS = 31
_MAX_SHIFT = 30  # M < 2**30
_MIN_SHIFT = -32  # smaller multipliers round every 32-bit input to 0


def _round_half_away(x: float) -> int:
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """``(multiplier, shift)`` for one non-negative real multiplier (see the module doc)."""
    real = float(real)
    if not math.isfinite(real) or real < 0:
        raise UsageError(f"requantization multiplier must be finite and >= 0, got {real}")
    if real == 0.0:
        return 0, 0
    q, e = math.frexp(real)
    m = _round_half_away(q * (1 << MULTIPLIER_BITS))
    if m == 1 << MULTIPLIER_BITS:
        m, e = m // 2, e + 1
    if e < _MIN_SHIFT + 1:
        return 0, 0
    if e > _MAX_SHIFT:
        raise UsageError(f"requantization multiplier {real:g} is too large (limit 2**30)")
    return m, e


def quantize_multipliers(real: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel ``(multiplier, shift)`` arrays (int32) for an array of real multipliers."""
    pairs = [quantize_multiplier(r) for r in np.asarray(real, np.float64).reshape(-1)]
    shape = np.shape(real)
    multiplier = np.array([m for m, _ in pairs], np.int32).reshape(shape)
    shift = np.array([s for _, s in pairs], np.int32).reshape(shape)
    return multiplier, shift


def requantize(x: np.ndarray, multiplier: np.ndarray | int, shift: np.ndarray | int, *,
               input_zero_point: int = 0, output_zero_point: int = 0,
               qmin: int, qmax: int) -> np.ndarray:
    """The pinned requantization, elementwise in int64 (result still int64, in [qmin, qmax]).

    ``multiplier`` and ``shift`` broadcast against ``x`` (the caller shapes per-channel
    arrays along the channel axis).
    """
    centred = np.asarray(x, np.int64) - np.int64(input_zero_point)
    m = np.asarray(multiplier, np.int64)
    t = np.int64(MULTIPLIER_BITS) - np.asarray(shift, np.int64)
    rounding = np.left_shift(np.int64(1), t - 1)
    y = np.right_shift(centred * m + rounding, t)
    return np.clip(y + np.int64(output_zero_point), qmin, qmax)


def real_multiplier(multiplier: np.ndarray | int, shift: np.ndarray | int) -> np.ndarray:
    """The real number a stored ``(multiplier, shift)`` pair stands for (for reports/tests)."""
    return np.asarray(multiplier, np.float64) * np.exp2(np.asarray(shift, np.float64) - 31)
