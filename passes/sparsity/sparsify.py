"""sparsify: structured sparsity, N:M (``pattern=2:4``) or blocks (``block=4x4``).

N:M keeps, in every group of M consecutive elements along a weight's reduction axis (one
kernel tap at a time for convolutions), the N of largest magnitude: the choice that keeps
the most magnitude.  A trailing partial group keeps at most N too.  Weights whose reduction
axis holds no more than N elements (depthwise convs, for 2:4) cannot be thinned and stay
dense ("skipped").

Blocks are ``rows x cols`` tiles of the weight's (output channel, reduction) matrix, each
kernel tap on its own; the tiles of least total magnitude are zeroed until the next one
would take the weight past ``sparsity`` (so the density is within one tile of
``1 - sparsity``).  The type records the tile in tensor dims, e.g. ``block=[4, 4, 1, 1]``
for a conv weight and ``[16, 1]`` for ``1x16`` on a matmul weight ``[K, N]``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from leptonc import sparsity
from leptonc.ir.graph import Graph
from leptonc.ir.types import SparseEncoding
from leptonc.passes.sparsity.weights import (
    Weight,
    keep_constant_order,
    replace_weight,
    scores,
    select,
)
from leptonc.passmgr import Pass, PassResult, register_pass

_DEFAULT_SPARSITY = 0.5


@register_pass
@dataclass(frozen=True)
class Sparsify(Pass):
    """Give every prunable weight whose reader matches ``scope`` an N:M (``pattern=N:M``) or
    block (``block=RxC``, zeroing the ``sparsity`` share of it) sparsity pattern."""

    name = "sparsify"
    ensures = ("sparsified",)
    # Lossy by design, like prune-magnitude: validate-each accepts any finite drift.
    rtol = 0.0
    atol = sys.float_info.max
    example = "sparsify{pattern=2:4}"

    pattern: str = ""
    block: str = ""
    sparsity: float = _DEFAULT_SPARSITY
    scope: str = "*"

    def __post_init__(self) -> None:
        if bool(self.pattern) == bool(self.block):
            raise ValueError("give exactly one of pattern=N:M or block=RxC")
        if self.pattern:
            sparsity.parse_nm(self.pattern)
            if self.sparsity != _DEFAULT_SPARSITY:
                raise ValueError("sparsity applies to block=RxC only (N:M keeps N of every M)")
        else:
            sparsity.parse_block(self.block)
        if not 0 <= self.sparsity < 1:
            raise ValueError(f"sparsity must be in [0, 1), got {self.sparsity}")
        if not self.scope.strip():
            raise ValueError("scope must not be empty (use * for every weight)")

    def run(self, graph: Graph) -> PassResult:
        weights = select(graph, self.name, self.scope)
        order = list(graph.constants)
        done = skipped = zeroed = 0
        for weight in weights:
            data = weight.value.data
            if self.pattern:
                n, m = sparsity.parse_nm(self.pattern)
                if data.shape[weight.red_axis] <= n:
                    skipped += 1
                    continue
                keep = _nm_mask(weight, n, m)
                encoding = SparseEncoding("nm", 0.0, n=n, m=m, axis=weight.red_axis)
            else:
                tile = _tensor_block(weight, sparsity.parse_block(self.block))
                keep = _block_mask(weight, tile, self.sparsity)
                encoding = SparseEncoding("block", 0.0, block=tile)
            pruned = np.where(keep, data, 0)
            zeroed += sparsity.nonzeros(data) - sparsity.nonzeros(pruned)
            density = sparsity.density(pruned)
            replace_weight(graph, weight, pruned, _with_density(encoding, density))
            done += 1
        keep_constant_order(graph, order)
        return PassResult(done > 0, {"weights": done, "skipped": skipped, "zeroed": zeroed})


def _with_density(e: SparseEncoding, density: float) -> SparseEncoding:
    return SparseEncoding(e.kind, density, e.n, e.m, e.axis, e.block)


def _nm_mask(weight: Weight, n: int, m: int) -> np.ndarray:
    """Keep the ``n`` largest magnitudes of each group (padding scores -1: never kept)."""
    groups = sparsity.nm_groups(scores(weight), m, weight.red_axis, fill=-1.0)
    order = np.argsort(-groups, axis=-1, kind="stable")
    keep = np.zeros(groups.shape, bool)
    np.put_along_axis(keep, order[..., :n], True, axis=-1)
    return sparsity.nm_from_groups(keep & (groups >= 0), weight.value.data.shape, weight.red_axis)


def _tensor_block(weight: Weight, rows_cols: tuple[int, int]) -> tuple[int, ...]:
    """The ``rows x cols`` tile over (output, reduction) as one extent per tensor dim."""
    tile = [1] * weight.value.data.ndim
    tile[weight.out_axis], tile[weight.red_axis] = rows_cols
    return tuple(tile)


def _block_mask(weight: Weight, tile: tuple[int, ...], share: float) -> np.ndarray:
    """Zero the tiles of least total magnitude while the zeroed elements stay within
    ``share`` of the weight (edge tiles are smaller, so sizes are counted, not tiles)."""
    magnitude = scores(weight)
    inner = tuple(range(magnitude.ndim, 2 * magnitude.ndim))
    tile_sums = sparsity.block_tiles(magnitude, tile).sum(axis=inner)
    tile_sizes = sparsity.block_tiles(np.ones(magnitude.shape, np.int64), tile).sum(axis=inner)
    order = np.argsort(tile_sums.ravel(), kind="stable")
    fits = np.cumsum(tile_sizes.ravel()[order]) <= round(share * magnitude.size)
    kept = np.ones(tile_sums.size, bool)
    kept[order[fits]] = False
    mask = kept.reshape(tile_sums.shape)
    for axis, extent in enumerate(tile):
        mask = np.repeat(mask, extent, axis=axis)
    return mask[tuple(slice(0, d) for d in magnitude.shape)]
