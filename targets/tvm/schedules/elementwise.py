"""Injective kernels: activations, residual adds, padding, transposes, concatenation, reshapes.

    for n, c, h, w:                          parallel for nch in range(N*C*H):
        out[n, c, h, w] = f(x[n, c, h, w])  ->      vectorised for w in range(W):
                                                        out[nch, w] = f(x[nch, w])

Producers that only reshape or broadcast are inlined into the last block first, so a chain
of injective ops is one pass over memory.
"""

from __future__ import annotations

from tvm import s_tir

from .analysis import root_blocks
from .tiles import MIN_PARALLEL_ELEMENTS, pick_factor, size_hint, static_extent

Block = s_tir.schedule.SBlockRV
Loop = s_tir.schedule.LoopRV

# Rows up to this long are vectorised whole (LLVM splits them into registers plus a remainder).
WHOLE_ROW = 256


def _inner_vector_loop(sch: s_tir.Schedule, loops: list[Loop], vector_tile: int, lanes: int
                       ) -> tuple[list[Loop], Loop | None]:
    """Split off the vectorised part of the innermost loop; return (outer loops, vector loop).

    The innermost loop is never fused with the ones above it: a fused index needs a division
    and a modulo per lane to address a padded or transposed tensor, which costs more than the
    copy itself.  A row that is a multiple of the vector width is split into register-sized
    vectors; another short row (up to ``WHOLE_ROW`` elements) is vectorised whole, LLVM splits
    it into registers and a remainder (exp or erf over a 128-wide vector would spill).
    """
    inner = loops[-1]
    extent = static_extent(sch.get(inner).extent)
    if extent is None or extent < 2:
        return loops[:-1], None
    if extent <= vector_tile or (extent <= WHOLE_ROW and extent % lanes):
        return loops[:-1], inner
    factor = pick_factor(extent, vector_tile, lanes)
    if factor < 2:
        return loops, None
    outer, vec = sch.split(inner, [None, factor])
    return [*loops[:-1], outer], vec


def schedule_injective_block(sch: s_tir.Schedule, block: Block, lanes: int, threads: int,
                             vector_tile: int) -> None:
    """Vectorise the innermost loop, fuse the outer ones into one parallel loop."""
    loops = sch.get_loops(block)
    if not loops:
        return
    total = 1
    for loop in loops:
        total *= size_hint(sch.get(loop).extent)
    outer, vec = _inner_vector_loop(sch, list(loops), vector_tile, lanes)
    if vec is not None:
        sch.vectorize(vec)
    if outer and threads > 1 and total >= MIN_PARALLEL_ELEMENTS:
        fused = sch.fuse(*outer) if len(outer) > 1 else outer[0]
        if size_hint(sch.get(fused).extent) > 1:
            sch.parallel(fused)


def schedule_elementwise(sch: s_tir.Schedule, lanes: int, threads: int, vector_tile: int) -> None:
    """Inline every block it can into its consumer, then schedule the blocks that remain."""
    for block in root_blocks(sch)[:-1]:
        try:
            sch.compute_inline(block)
        except s_tir.ScheduleError:
            pass  # e.g. a block whose result is read twice: it keeps its own loop nest
    for block in root_blocks(sch):
        schedule_injective_block(sch, block, lanes, threads, vector_tile)
