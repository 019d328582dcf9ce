"""Streaming observers: they see activations one batch at a time and turn what they saw into
quantization parameters, holding only running statistics (min/max or a histogram).

Every observer is per-tensor, or per-channel along ``axis`` (statistics are kept for each
index of that axis).  ``qparams(dtype, symmetric, per_channel_axis)`` maps the chosen real
range onto any integer type of 2 to 16 bits: ``real = scale * (q - zero_point)``.
Histograms start on the first batch's range and double their bin width (merging bins
exactly) whenever later data falls outside, so their resolution stays within a small factor
of ``range / bins`` without storing the data.
"""

from __future__ import annotations

import math

import numpy as np

from leptonc.errors import ShapeError, UsageError
from leptonc.ir.dtypes import DType

__all__ = ["MSE", "Entropy", "Histogram", "MinMax", "MovingAverageMinMax", "Observer",
           "Percentile", "range_qparams"]


class Observer:
    """Base class: ``observe`` batches, then ask for ``qparams``."""

    def __init__(self, axis: int | None = None):
        self.axis = axis

    def observe(self, array: np.ndarray) -> None:
        rows = self._rows(np.asarray(array, dtype=np.float64))
        self._update(rows)

    def qparams(self, dtype: DType, symmetric: bool = True, per_channel_axis: int | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
        """``(scale, zero_point)``: 0-d arrays per tensor, shape ``(channels,)`` per channel."""
        if per_channel_axis != self.axis:
            got = "per-tensor" if self.axis is None else f"per-channel (axis {self.axis})"
            raise UsageError(f"this observer collected {got} statistics; it cannot give "
                             f"parameters for per_channel_axis={per_channel_axis}")
        _check_dtype(dtype)
        lo, hi = self._range(dtype, symmetric)
        scale, zero_point = range_qparams(lo, hi, dtype, symmetric)
        if self.axis is None:
            return scale.reshape(()), zero_point.reshape(())
        return scale, zero_point

    def _rows(self, array: np.ndarray) -> np.ndarray:
        """The data as ``(channels, elements)``: one row per tensor, or per channel."""
        if self.axis is None:
            return array.reshape(1, -1)
        if not -array.ndim <= self.axis < array.ndim:
            raise ShapeError(f"per-channel axis {self.axis} is out of range for an array of "
                             f"rank {array.ndim}")
        return np.moveaxis(array, self.axis, 0).reshape(array.shape[self.axis], -1)

    def _update(self, rows: np.ndarray) -> None:
        raise NotImplementedError

    def _range(self, dtype: DType, symmetric: bool) -> tuple[np.ndarray, np.ndarray]:
        """The real range ``(lo, hi)`` per row to quantize."""
        raise NotImplementedError


class MinMax(Observer):
    """The exact running minimum and maximum."""

    def __init__(self, axis: int | None = None):
        super().__init__(axis)
        self.min: np.ndarray | None = None
        self.max: np.ndarray | None = None

    def _update(self, rows: np.ndarray) -> None:
        if rows.shape[1] == 0:
            return
        lo, hi = rows.min(axis=1), rows.max(axis=1)
        if self.min is None:
            self.min, self.max = lo, hi
            return
        _check_channels(self.min, lo)
        self.min, self.max = self._combine(self.min, lo), self._combine_max(self.max, hi)

    def _combine(self, old: np.ndarray, new: np.ndarray) -> np.ndarray:
        return np.minimum(old, new)

    def _combine_max(self, old: np.ndarray, new: np.ndarray) -> np.ndarray:
        return np.maximum(old, new)

    def _range(self, dtype: DType, symmetric: bool) -> tuple[np.ndarray, np.ndarray]:
        if self.min is None:
            raise UsageError("the observer has seen no data")
        return self.min, self.max


class MovingAverageMinMax(MinMax):
    """Exponential moving averages of each batch's min and max, which damps rare outlier
    batches: ``running = momentum * running + (1 - momentum) * batch``."""

    def __init__(self, momentum: float = 0.9, axis: int | None = None):
        if not 0.0 <= momentum < 1.0:
            raise UsageError(f"momentum must be in [0, 1), got {momentum}")
        super().__init__(axis)
        self.momentum = momentum

    def _combine(self, old: np.ndarray, new: np.ndarray) -> np.ndarray:
        return self.momentum * old + (1.0 - self.momentum) * new

    _combine_max = _combine


class Histogram:
    """A fixed number of equal bins over a range that grows by exact bin merging."""

    def __init__(self, bins: int):
        self.bins = bins
        self.counts = np.zeros(bins, np.float64)
        self.lo = self.hi = math.nan
        self.min, self.max = math.inf, -math.inf

    @property
    def width(self) -> float:
        return (self.hi - self.lo) / self.bins

    @property
    def edges(self) -> np.ndarray:
        return np.linspace(self.lo, self.hi, self.bins + 1)

    def add(self, x: np.ndarray) -> None:
        x = x[np.isfinite(x)]
        if x.size == 0:
            return
        dmin, dmax = float(x.min()), float(x.max())
        if math.isnan(self.lo):
            # A constant first batch still needs a non-empty range to grow from.
            self.lo, self.hi = dmin, max(dmax, dmin + max(abs(dmin), 1.0) * 1e-6)
        elif dmin < self.lo or dmax > self.hi:
            self._grow(dmin, dmax)
        self.min, self.max = min(self.min, dmin), max(self.max, dmax)
        self.counts += np.histogram(x, self.bins, range=(self.lo, self.hi))[0]

    def _grow(self, dmin: float, dmax: float) -> None:
        """Widen bins by 2**k and shift by whole new bins, so old bins merge exactly."""
        old_width, factor = self.width, 2
        while True:
            width = old_width * factor
            shift = math.ceil((self.lo - dmin) / width) if dmin < self.lo else 0
            lo = self.lo - shift * width
            if lo + width * self.bins >= dmax:
                break
            factor *= 2
        target = shift + np.arange(self.bins) // factor
        self.counts = np.bincount(target, weights=self.counts, minlength=self.bins)[:self.bins]
        self.lo, self.hi = lo, lo + width * self.bins

    def quantile(self, q: float) -> float:
        """The value below which a fraction ``q`` of the data lies (linear within a bin)."""
        cdf = np.cumsum(self.counts)
        target = q * cdf[-1]
        i = min(int(np.searchsorted(cdf, target)), self.bins - 1)
        before = cdf[i - 1] if i else 0.0
        frac = (target - before) / self.counts[i] if self.counts[i] else 0.0
        return float(np.clip(self.lo + (i + frac) * self.width, self.min, self.max))


class _HistogramObserver(Observer):
    """Keeps one histogram per row (of |x| when ``magnitude``), plus the exact min/max."""

    magnitude = False

    def __init__(self, bins: int = 2048, axis: int | None = None):
        if bins < 16:
            raise UsageError(f"an observer histogram needs at least 16 bins, got {bins}")
        super().__init__(axis)
        self.bins = bins
        self.histograms: list[Histogram] = []
        self._minmax = MinMax()

    def _update(self, rows: np.ndarray) -> None:
        if not self.histograms:
            self.histograms = [Histogram(self.bins) for _ in range(rows.shape[0])]
            if self.magnitude:
                for h in self.histograms:
                    h.lo, h.hi = 0.0, 1e-6  # |x| histograms grow rightwards from zero
        if len(self.histograms) != rows.shape[0]:
            raise ShapeError(f"observer saw {len(self.histograms)} channels before, now "
                             f"{rows.shape[0]}")
        self._minmax._update(rows)
        for h, row in zip(self.histograms, rows, strict=True):
            h.add(_nonzero_magnitudes(row) if self.magnitude else row)

    def _range(self, dtype: DType, symmetric: bool) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self._minmax._range(dtype, symmetric)
        pairs = [self._row_range(h, float(a), float(b), dtype, symmetric)
                 for h, a, b in zip(self.histograms, lo, hi, strict=True)]
        return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])

    def _row_range(self, h: Histogram, lo: float, hi: float, dtype: DType, symmetric: bool
                   ) -> tuple[float, float]:
        raise NotImplementedError


def _nonzero_magnitudes(row: np.ndarray) -> np.ndarray:
    """|x| without exact zeros: every range holds 0 exactly (it is the zero point), so zeros
    carry no quantization error, while ReLU outputs' spike of them in the first bin would
    dominate the KL divergence and pull the threshold far below the useful range."""
    return np.abs(row[row != 0])


class Percentile(_HistogramObserver):
    """Clips to the ``percentile``-th and ``(100 - percentile)``-th percentiles."""

    def __init__(self, percentile: float = 99.99, bins: int = 2048, axis: int | None = None):
        if not 50.0 < percentile <= 100.0:
            raise UsageError(f"percentile must be in (50, 100], got {percentile}")
        super().__init__(bins, axis)
        self.percentile = percentile

    def _row_range(self, h, lo, hi, dtype, symmetric):
        return h.quantile(1.0 - self.percentile / 100.0), h.quantile(self.percentile / 100.0)


class Entropy(_HistogramObserver):
    """The |x| threshold whose quantized distribution is closest to the observed one in
    KL divergence (the TensorRT calibration search); asymmetric ranges clip [min, max] to it.

    Types with at least as many half-range levels as bins have nothing to search: they keep
    the full range.
    """

    magnitude = True

    def _row_range(self, h, lo, hi, dtype, symmetric):
        t = kl_threshold(h, (dtype.max - dtype.min + 1) // 2)
        return (-t, t) if symmetric else (max(lo, -t), min(hi, t))


class MSE(_HistogramObserver):
    """The clipping range (a shrunk [min, max]) with the least expected squared error:
    clipping error outside the range plus ``scale**2 / 12`` rounding noise inside."""

    def __init__(self, bins: int = 2048, steps: int = 100, axis: int | None = None):
        super().__init__(bins, axis)
        self.steps = steps

    def _row_range(self, h, lo, hi, dtype, symmetric):
        fractions = np.arange(1, self.steps + 1) / self.steps
        if symmetric:
            t = max(-lo, hi) * fractions
            lows, highs = -t, t
        else:
            lows, highs = min(lo, 0.0) * fractions, max(hi, 0.0) * fractions
        scale, zero = range_qparams(lows, highs, dtype, symmetric)
        scale, zero = scale.astype(np.float64)[:, None], zero.astype(np.float64)[:, None]
        low, high = scale * (dtype.min - zero), scale * (dtype.max - zero)
        centers = (h.edges[:-1] + h.edges[1:])[None, :] / 2
        err = np.where(centers < low, (centers - low) ** 2,
                       np.where(centers > high, (centers - high) ** 2, scale ** 2 / 12))
        best = int(np.argmin(err @ h.counts))
        return float(lows[best]), float(highs[best])


def kl_threshold(h: Histogram, levels: int) -> float:
    """The |x| clip threshold minimizing KL(P || Q) over candidate bin counts ``i``: P is the
    histogram's first ``i`` bins with the clipped tail folded into the last, Q the same bins
    merged into ``levels`` groups and spread back evenly over P's non-empty bins."""
    if levels >= h.bins or not h.counts.any():
        return float(h.max if h.max > 0 else 0.0)
    tails = np.append(h.counts[::-1].cumsum()[::-1], 0.0)  # tails[i] = sum(counts[i:])

    def divergence(i: int) -> float:
        p = h.counts[:i].copy()
        p[-1] += tails[i]
        return _kl(p, h.counts[:i], levels)

    # Coarse-to-fine: about 256 evenly spaced candidates, then every bin around the best.
    # The search is O(bins) per candidate, so this keeps per-channel entropy affordable.
    stride = max(1, (h.bins - levels) // 256)
    coarse = range(levels, h.bins + 1, stride)
    best = min(coarse, key=divergence)
    fine = range(max(levels, best - stride + 1), min(h.bins, best + stride - 1) + 1)
    best = min(fine, key=divergence)
    return float(min(h.lo + best * h.width, h.max))


def _kl(p: np.ndarray, sliced: np.ndarray, levels: int) -> float:
    starts = np.linspace(0, len(p), levels + 1).astype(np.int64)[:-1]
    lengths = np.diff(np.append(starts, len(p)))
    nonzero = (p > 0).astype(np.float64)
    per_bin = np.add.reduceat(sliced, starts) / np.maximum(np.add.reduceat(nonzero, starts), 1)
    q = np.repeat(per_bin, lengths) * nonzero
    mask = p > 0
    if not mask.any():
        return math.inf
    p, q = p[mask] / p.sum(), q[mask]
    if q.sum() == 0:
        return math.inf
    # Where Q lost all mass of a P bin, a tiny floor keeps the divergence finite but large.
    q = np.maximum(q / q.sum(), 1e-12)
    return float(np.sum(p * np.log(p / q)))


def _check_dtype(dtype: DType) -> None:
    if not dtype.is_integer or not 2 <= dtype.bits <= 16:
        raise UsageError(f"quantization needs an integer type of 2 to 16 bits, got {dtype}")


def _check_channels(old: np.ndarray, new: np.ndarray) -> None:
    if old.shape != new.shape:
        raise ShapeError(f"observer saw {old.shape[0]} channels before, now {new.shape[0]}")


def range_qparams(lo: np.ndarray, hi: np.ndarray, dtype: DType, symmetric: bool
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Scale and zero point mapping real ``[lo, hi]`` (widened to include 0) onto ``dtype``.

    Symmetric: zero point 0 for signed types (the mid-point for unsigned ones) and
    ``scale = max|x| / steps``, so -128 stays unused in int8 and the grid is sign-symmetric.
    Asymmetric: ``[lo, hi]`` spans the whole integer range with an integer zero point, so
    real 0 is exactly representable (padding and ReLU outputs rely on it).
    """
    _check_dtype(dtype)
    lo = np.minimum(np.asarray(lo, np.float64), 0.0)
    hi = np.maximum(np.asarray(hi, np.float64), 0.0)
    qmin, qmax = dtype.min, dtype.max
    if symmetric:
        zero = 0 if dtype.is_signed else (qmax + 1) // 2
        scale = np.maximum(-lo, hi) / (qmax - zero)
        zero_point = np.full(scale.shape, zero)
    else:
        scale = (hi - lo) / (qmax - qmin)
        safe = np.where(scale > 0, scale, 1.0)
        zero_point = np.clip(np.round(qmin - lo / safe), qmin, qmax)
    # An all-zero tensor quantizes exactly with any scale; 1 avoids dividing by zero later.
    scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
    return scale, zero_point.astype(dtype.numpy)
