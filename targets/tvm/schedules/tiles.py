"""Tile arithmetic shared by the rules."""

from __future__ import annotations

from tvm import tirx

# Waking the worker threads costs microseconds when idle and whole scheduler time slices when
# the machine is busy: kernels below these sizes run on the calling thread alone.
MIN_PARALLEL_ELEMENTS = 1 << 15  # elementwise: elements written
MIN_PARALLEL_MACS = 1 << 20  # contractions: multiply-accumulates (iterations of the anchor)

# Stand-in for a symbolic extent (a batch dimension named N) where only "large" matters.
LARGE_EXTENT = 1 << 20


def static_extent(extent) -> int | None:
    """A loop or iterator extent as an int, or None when it is symbolic."""
    return int(extent.value) if isinstance(extent, tirx.IntImm) else None


def size_hint(extent) -> int:
    """The extent, or LARGE_EXTENT when symbolic: for decisions like "worth parallelising"."""
    value = static_extent(extent)
    return LARGE_EXTENT if value is None else value


def pick_factor(extent: int, target: int, multiple_of: int = 1) -> int:
    """The largest divisor of ``extent`` <= ``target``, preferring multiples of ``multiple_of``.

    Dividing tiles keep bounds checks out of the micro-kernel; a multiple of the vector
    width keeps every vector full, half a vector is the next best (16 lanes: 112 -> 16,
    1000 -> 8, 55 -> 11).
    """
    divisors = [d for d in range(1, min(extent, max(target, 1)) + 1) if extent % d == 0]
    for unit in (multiple_of, multiple_of // 2):
        full = [d for d in divisors if unit > 1 and d % unit == 0]
        if full:
            return max(full)
    return max(divisors)


def volume(extents) -> int:
    """The product of extents (ints, or None for symbolic ones, counted as large)."""
    total = 1
    for e in extents:
        total *= LARGE_EXTENT if e is None else e
    return total


def pick_vector_tile(extent: int, target: int, lanes: int) -> int:
    """The vector tile for an axis of ``extent``: whole registers, or one partly filled register.

    A divisor of ``extent`` up to ``target`` that is a multiple of the register or fits in
    one, with the fewest empty lanes counted in half registers, then the longest.  Half
    registers count as full because 512-bit operations issue as two 256-bit halves on the
    AVX-512 CPU measured (Zen 4): 56 -> 8 ran 25% faster than 14.  Vectors that end in a
    partial register (28 or 56 f32) ran five to ten times slower: they are never chosen.
    """
    unit = max(lanes // 2, 1)

    def empty_lanes(d: int) -> float:
        return 1.0 - d / (-(-d // unit) * unit)

    fitting = [d for d in range(1, min(extent, max(target, 1)) + 1)
               if extent % d == 0 and (d % lanes == 0 or d <= lanes)]
    return min(fitting, key=lambda d: (empty_lanes(d), -d))
