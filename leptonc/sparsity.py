"""Sparsity patterns of weight tensors: parsing, checking, measuring, compressed sizes.

Pure numpy functions shared by the sparsity passes (``leptonc.passes.sparsity``), their
tests and reporting (``leptonc info``: the smallest format of each weight, and the
targets that gain).  The patterns are those of ``leptonc.ir.types.SparseEncoding``:

* N:M (``check_nm``): at most ``n`` non-zeros in every group of ``m`` consecutive
  elements along one axis, every other index fixed.  When the axis length is not a
  multiple of ``m`` the trailing partial group counts as if padded with zeros, so it too
  holds at most ``n`` non-zeros (what a target that pads the reduction sees).
* block (``check_blocks``): the tensor is tiled by ``block`` (one entry per trailing dim;
  edge tiles are smaller); every tile is all-zero or holds no zero at all.

Compressed sizes (bytes, formulas in docs/sparsity.md) take the element width in bits,
which may differ from the numpy container (an i4 weight is stored in int8).
"""

from __future__ import annotations

import math
import re

import numpy as np

from leptonc.ir.types import SparseEncoding

INDEX_BYTES = 4  # CSR column indices and row pointers are 32-bit


# ----- options -------------------------------------------------------------------------------
def parse_nm(text: str) -> tuple[int, int]:
    """``"2:4"`` -> ``(2, 4)``; ValueError unless ``1 <= n < m``."""
    match = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*", text)
    if not match:
        raise ValueError(f"pattern '{text}' is not N:M (e.g. 2:4)")
    n, m = int(match.group(1)), int(match.group(2))
    if not 1 <= n < m:
        raise ValueError(f"pattern '{text}' needs 1 <= N < M (N non-zeros kept of every M)")
    return n, m


def parse_block(text: str) -> tuple[int, int]:
    """``"4x4"`` -> ``(4, 4)``: rows (output channels) x columns (reduction elements)."""
    match = re.fullmatch(r"\s*(\d+)\s*x\s*(\d+)\s*", text)
    if not match:
        raise ValueError(f"block '{text}' is not RxC (e.g. 4x4, 1x16)")
    rows, cols = int(match.group(1)), int(match.group(2))
    if rows < 1 or cols < 1:
        raise ValueError(f"block '{text}' needs positive sides")
    return rows, cols


# ----- measuring ------------------------------------------------------------------------------
def nonzeros(array: np.ndarray) -> int:
    return int(np.count_nonzero(array))


def density(array: np.ndarray) -> float:
    """Fraction of non-zero elements (1.0 for an empty tensor: nothing to skip)."""
    return nonzeros(array) / array.size if array.size else 1.0


def _bits(array: np.ndarray, bits: int | None) -> int:
    return bits if bits is not None else array.dtype.itemsize * 8


def dense_bytes(array: np.ndarray, bits: int | None = None) -> int:
    return (array.size * _bits(array, bits) + 7) // 8


def bitmask_bytes(array: np.ndarray, bits: int | None = None) -> int:
    """One bit per element saying whether it is stored, plus the non-zero values."""
    return (array.size + 7) // 8 + (nonzeros(array) * _bits(array, bits) + 7) // 8


def csr_bytes(array: np.ndarray, bits: int | None = None) -> int:
    """CSR over the tensor viewed as ``[shape[0], rest]``: values, a column index per value
    and ``rows + 1`` row pointers."""
    rows = array.shape[0] if array.ndim else 1
    nnz = nonzeros(array)
    return (nnz * _bits(array, bits) + 7) // 8 + nnz * INDEX_BYTES + (rows + 1) * INDEX_BYTES


def nm_bytes(array: np.ndarray, n: int, m: int, axis: int, bits: int | None = None) -> int:
    """N:M storage: ``n`` value slots per group (zeros fill unused slots) and a
    ``ceil(log2 m)``-bit position for each slot (2 bits per value for 2:4)."""
    length = array.shape[axis]
    groups = (array.size // length if length else 0) * math.ceil(length / m)
    slots = groups * n
    return (slots * _bits(array, bits) + 7) // 8 + (slots * max(1, math.ceil(math.log2(m))) + 7) // 8


def block_bytes(array: np.ndarray, block: tuple[int, ...], bits: int | None = None) -> int:
    """Block storage: one bit per tile, and every element of every kept tile."""
    kept, sizes = _tile_stats(array, block)
    return (kept.size + 7) // 8 + (int(sizes[kept].sum()) * _bits(array, bits) + 7) // 8


# ----- N:M ------------------------------------------------------------------------------------
def nm_groups(array: np.ndarray, m: int, axis: int, fill: float = 0) -> np.ndarray:
    """``array`` with ``axis`` moved last, padded with ``fill`` to a multiple of ``m`` and split
    into groups: shape ``[..., groups, m]`` (a copy only where padding needs one)."""
    moved = np.moveaxis(array, axis, -1)
    pad = -moved.shape[-1] % m
    if pad:
        widths = [(0, 0)] * (moved.ndim - 1) + [(0, pad)]
        moved = np.pad(moved, widths, constant_values=fill)
    return moved.reshape(*moved.shape[:-1], moved.shape[-1] // m, m)


def nm_from_groups(groups: np.ndarray, shape: tuple[int, ...], axis: int) -> np.ndarray:
    """Inverse of ``nm_groups``: drop the padding and move the axis back."""
    length = shape[axis]
    flat = groups.reshape(*groups.shape[:-2], -1)[..., :length]
    return np.moveaxis(flat, -1, axis)


def check_nm(array: np.ndarray, n: int, m: int, axis: int) -> bool:
    """No group of ``m`` consecutive elements along ``axis`` holds more than ``n`` non-zeros."""
    if array.size == 0:
        return True
    counts = np.count_nonzero(nm_groups(array, m, axis), axis=-1)
    return bool(counts.max() <= n)


def nm_max_density(shape: tuple[int, ...], n: int, m: int, axis: int) -> float:
    """The density N:M allows at most: ``n / m``, adjusted for a trailing partial group."""
    length = shape[axis]
    if not length or not math.prod(shape):
        return 1.0
    full, rest = divmod(length, m)
    return (full * n + min(n, rest)) / length


# ----- blocks ---------------------------------------------------------------------------------
def full_block(block: tuple[int, ...], rank: int) -> tuple[int, ...]:
    """A block for the trailing dims, extended with 1s over the leading ones."""
    if len(block) > rank:
        raise ValueError(f"block {list(block)} has more dims than the tensor's {rank}")
    return (1,) * (rank - len(block)) + tuple(block)


def block_tiles(array: np.ndarray, block: tuple[int, ...]) -> np.ndarray:
    """``array`` padded with zeros to whole tiles, shaped ``[*tile grid, *block]``."""
    block = full_block(block, array.ndim)
    pads = [(0, -d % b) for d, b in zip(array.shape, block, strict=True)]
    padded = np.pad(array, pads) if any(p for _, p in pads) else array
    split = [x for d, b in zip(padded.shape, block, strict=True) for x in (d // b, b)]
    rank = array.ndim
    order = list(range(0, 2 * rank, 2)) + list(range(1, 2 * rank, 2))
    return padded.reshape(split).transpose(order)


def _tile_stats(array: np.ndarray, block: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Per tile: whether it holds a non-zero, and how many real (unpadded) elements it has."""
    inner = tuple(range(array.ndim, 2 * array.ndim))
    kept = np.any(block_tiles(array, block) != 0, axis=inner)
    sizes = np.sum(block_tiles(np.ones(array.shape, np.int64), block), axis=inner)
    return kept, sizes


def check_blocks(array: np.ndarray, block: tuple[int, ...]) -> bool:
    """Every tile (``block`` over the trailing dims, smaller at the edges) is all-zero or
    holds no zero: the non-zeros form whole tiles."""
    if array.size == 0:
        return True
    tiles = block_tiles(array != 0, block)
    inner = tuple(range(array.ndim, 2 * array.ndim))
    padding = block_tiles(np.ones(array.shape, bool), block)
    nonzero = np.sum(tiles, axis=inner)
    return bool(np.all((nonzero == 0) | (nonzero == np.sum(padding, axis=inner))))


def block_density(array: np.ndarray, block: tuple[int, ...]) -> float:
    """Fraction of the elements that lie in tiles holding a non-zero (what a target stores)."""
    if array.size == 0:
        return 1.0
    kept, sizes = _tile_stats(array, block)
    return float(sizes[kept].sum()) / array.size


# ----- reporting ------------------------------------------------------------------------------
def format_bytes(array: np.ndarray, encoding: SparseEncoding | None,
                 bits: int | None = None) -> dict[str, int]:
    """Bytes of every storage format that can hold ``array`` under ``encoding``: dense,
    bitmask and CSR always; N:M or block only where the encoding guarantees the pattern."""
    sizes = {"dense": dense_bytes(array, bits)}
    if encoding is None:
        return sizes
    sizes["bitmask"] = bitmask_bytes(array, bits)
    sizes["csr"] = csr_bytes(array, bits)
    if encoding.kind == "nm":
        sizes["nm"] = nm_bytes(array, encoding.n, encoding.m, encoding.axis, bits)
    elif encoding.kind == "block":
        sizes["block"] = block_bytes(array, encoding.block, bits)
    return sizes


def smallest_format(array: np.ndarray, encoding: SparseEncoding | None,
                    bits: int | None = None) -> tuple[str, int]:
    """The cheapest format for ``array`` and its bytes (dense wins ties: no decoding)."""
    sizes = format_bytes(array, encoding, bits)
    best = min(sizes, key=lambda name: sizes[name])  # dicts keep order: dense is first
    return best, sizes[best]


# Which targets gain from each encoding kind today (docs/sparsity.md, "Which targets benefit").
_NO_SPEEDUP = "no speedup on cpu, gpu or llvm (dense kernels multiply the zeros)"
_NM_GPU = "N:M only on gpu sparse tensor cores (not implemented yet)"
_ACCELERATORS = "fpga and asic/npu will skip zeros (planned)"


def target_note(kinds: set[str]) -> str:
    """One line naming the targets that benefit from weights of these encoding kinds;
    empty when there are none."""
    if not kinds:
        return ""
    clauses = [_NO_SPEEDUP, *([_NM_GPU] if "nm" in kinds else []), _ACCELERATORS]
    return f"{', '.join(sorted(kinds))} sparsity: " + "; ".join(clauses)
