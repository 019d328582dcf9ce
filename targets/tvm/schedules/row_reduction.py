"""Softmax, layer norm and similar kernels: several reductions and maps over the same rows.

    softmax over [B, H, S, S]:                parallel for row in range(B*H*S):
      max[r]  = max_k x[r, k]                     max   = max_k x[row, k]
      e[r, k] = exp(x[r, k] - max[r])    ->       vectorised e[row, :] = exp(x[row, :] - max)
      sum[r]  = sum_k e[r, k]                     sum   = sum_k e[row, k]
      y[r, k] = e[r, k] / sum[r]                  vectorised y[row, :] = e[row, :] / sum

Every block moves under one parallel loop over the rows they share, so a row is read from
cache by all of them; the maps are vectorised, the reductions stay sequential loops (a
float reduction reassociated across lanes would change the result's rounding).
"""

from __future__ import annotations

from tvm import s_tir

from .analysis import REDUCE, root_blocks
from .config import RowReductionConfig
from .tiles import MIN_PARALLEL_ELEMENTS, pick_factor, size_hint, static_extent, volume

Block = s_tir.schedule.SBlockRV


def _leading_spatial(sch: s_tir.Schedule, block: Block) -> int:
    count = 0
    for iv in sch.get(block).iter_vars:
        if int(iv.iter_type) == REDUCE:
            break
        count += 1
    return count


def schedule_row_reduction(sch: s_tir.Schedule, config: RowReductionConfig, lanes: int,
                           threads: int) -> None:
    for block in root_blocks(sch)[:-1]:
        if _leading_spatial(sch, block) == len(sch.get(block).iter_vars):
            try:
                sch.compute_inline(block)  # e.g. mean = sum / n: recomputed per use, one division
            except s_tir.ScheduleError:
                pass  # read by several blocks with other indices: it keeps its own loop
    blocks = root_blocks(sch)
    rows = min(_leading_spatial(sch, b) for b in blocks)
    if rows == 0:
        raise s_tir.ScheduleError("row reduction without a shared leading row axis")
    last = blocks[-1]
    row_loops = sch.get_loops(last)[:rows]
    row = sch.fuse(*row_loops) if rows > 1 else row_loops[0]
    elements = volume(static_extent(sch.get(loop).extent) for loop in sch.get_loops(last))
    if threads > 1 and size_hint(sch.get(row).extent) > 1 and elements >= MIN_PARALLEL_ELEMENTS:
        sch.parallel(row)
    for block in reversed(blocks[:-1]):
        sch.compute_at(block, row, preserve_unit_loops=True)
    for block in root_blocks(sch):
        _vectorise_innermost(sch, block, row, config.vector_tile, lanes)


def _vectorise_innermost(sch: s_tir.Schedule, block: Block, row: s_tir.schedule.LoopRV,
                         vector_tile: int, lanes: int) -> None:
    """Vectorise the map over one row's elements; reductions keep their sequential order."""
    iters = sch.get(block).iter_vars
    if any(int(iv.iter_type) == REDUCE for iv in iters):
        return
    loops = sch.get_loops(block)
    inner = loops[-1]
    extent = static_extent(sch.get(inner).extent)
    if sch.get(inner).same_as(sch.get(row)) or extent is None or extent < 2:
        return
    factor = pick_factor(extent, vector_tile, lanes if extent % lanes == 0 else 1)
    if factor > 1:
        _, vec = sch.split(inner, [None, factor])
        sch.vectorize(vec)
