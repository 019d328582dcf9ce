"""The register-blocked micro-kernel rule: conv2d, depthwise/grouped conv, (batch) matmul, pools.

One rule covers every "anchor" that reduces into an output through a perfect loop nest.  For
a conv2d NCHW with ``vector_tile=16, row_tile=8, row2_tile=2`` (ow, oc and oh tiles):

    parallel for n, oc.o:                      # fused, split across threads
      for oh.o, ow.o:
        acc[2, 8, 16] = 0                      # init, vectorised: 16 zmm accumulators
        for ic, kh, kw:                        # reduction, operands streamed from cache
          unrolled for oh.i in 2, oc.i in 8:   # 2 data vectors and 8 broadcast weights feed 16 FMAs
            vectorised for ow.i in 16:
              acc[oh.i, oc.i, ow.i] += x[ic, oh+kh, ow+kw] * w[oc, ic, kh, kw]
        out[...] = epilogue(acc)               # bias, batch-norm, relu, residual add: fused here

The vector axis is the output's innermost dimension (so the tile is stored contiguously and
the streaming operand is read contiguously for stride-1 convs and row-major matmuls); the row
axis is one whose operand is a broadcast scalar (``analysis.contraction_axes``).  Producers
such as padding are inlined or kept as a parallel copy (``inline_padding``); the elementwise
epilogue chain collapses into the accumulator's write-back, so it costs no extra pass over
memory.
"""

from __future__ import annotations

import math

from tvm import s_tir

from .analysis import AnchorAxes, contraction_axes, is_injective, root_blocks
from .config import ContractionConfig
from .elementwise import schedule_injective_block
from .tiles import LARGE_EXTENT, MIN_PARALLEL_MACS, pick_factor, pick_vector_tile, size_hint, volume

Block = s_tir.schedule.SBlockRV
Loop = s_tir.schedule.LoopRV


def schedule_contraction(sch: s_tir.Schedule, anchor: Block, config: ContractionConfig,
                         lanes: int, threads: int) -> None:
    """Rewrite ``sch`` in place: tile, vectorise and parallelise the anchor and fuse its neighbours."""
    blocks = root_blocks(sch)
    position = [sch.get(b).name_hint for b in blocks].index(sch.get(anchor).name_hint)
    _handle_producers(sch, blocks[:position], config, lanes, threads)
    epilogue = _collapse_epilogue(sch, blocks[position + 1:])

    axes = contraction_axes(sch, anchor)
    write_back = sch.cache_write(anchor, 0, "local")
    if epilogue is not None:
        try:
            sch.reverse_compute_inline(epilogue)
            epilogue = None
        except s_tir.ScheduleError:
            pass  # e.g. a reshape after the matmul: it stays a parallel elementwise pass below

    outer, reduce_loops, inner = _tile(sch, anchor, axes, config, lanes, threads)
    tile_root = outer[-1]
    depth = _depth(sch, anchor, tile_root)
    sch.reverse_compute_at(write_back, tile_root, preserve_unit_loops=True)
    _vectorise_tile(sch, write_back, depth)
    # Vectorise before splitting off the init: the update alone is no longer a reduction block,
    # and the vectorize primitive refuses loops over it.
    for role, loop in inner.items():
        if role == "vector":
            sch.vectorize(loop)
        else:
            sch.unroll(loop)
    if reduce_loops:
        innermost = axes.extents[axes.reduction[-1]] or LARGE_EXTENT
        if config.unroll_reduction and innermost <= config.unroll_reduction:
            sch.unroll(reduce_loops[-1])
        init = sch.decompose_reduction(anchor, reduce_loops[0])
        _vectorise_tile(sch, init, depth)
    if epilogue is not None:
        schedule_injective_block(sch, epilogue, lanes, threads, config.vector_tile)


def _tile(sch: s_tir.Schedule, anchor: Block, axes: AnchorAxes, config: ContractionConfig, lanes: int,
          threads: int) -> tuple[list[Loop], list[Loop], dict[str, Loop]]:
    """Split the tile axes, order loops as outer / reduction / tile, parallelise the outer ones.

    Returns (outer loops, reduction loops, tile loops by role: "row2", "row", "vector").
    """
    loops = sch.get_loops(anchor)
    targets = {"row2": (axes.row2, config.row2_tile), "row": (axes.row, config.row_tile),
               "vector": (axes.vector, config.vector_tile)}
    split: dict[int, tuple[Loop, Loop]] = {}
    tiles: dict[int, int] = {}
    inner: dict[str, Loop] = {}
    for role, (axis, target) in targets.items():
        if axis is None:
            continue
        extent = axes.extents[axis]
        if role == "row" and axes.row_group:
            extent = math.gcd(extent, axes.row_group)
        if role == "vector":
            tiles[axis] = pick_vector_tile(extent, target, lanes)
        else:
            tiles[axis] = pick_factor(extent, target)
        if tiles[axis] > 1:
            split[axis] = tuple(sch.split(loops[axis], [None, tiles[axis]]))
            inner[role] = split[axis][1]
    outer = [split[i][0] if i in split else loops[i] for i in axes.spatial]
    reduce_loops = [loops[i] for i in axes.reduction]
    sch.reorder(*outer, *reduce_loops, *inner.values())
    sizes = [(axes.extents[i] or LARGE_EXTENT) // tiles.get(i, 1) for i in axes.spatial]
    if volume(axes.extents) >= MIN_PARALLEL_MACS:
        outer = _parallelise(sch, outer, sizes, threads)
    return outer, reduce_loops, inner


def _handle_producers(sch: s_tir.Schedule, producers: list[Block], config: ContractionConfig,
                      lanes: int, threads: int) -> None:
    """Inline reshapes and (optionally) padding into the anchor; give the rest their own loop."""
    for block in producers:
        if not is_injective(sch, block):
            raise s_tir.ScheduleError(f"reduction {sch.get(block).name_hint} before the anchor")
        if config.inline_padding or not _is_padding(sch, block):
            try:
                sch.compute_inline(block)
                continue
            except s_tir.ScheduleError:
                pass  # not inlinable (e.g. it feeds two blocks): schedule it on its own
        schedule_injective_block(sch, block, lanes, threads, config.vector_tile)


def _is_padding(sch: s_tir.Schedule, block: Block) -> bool:
    """A copy of one tensor into a larger one of the same rank, with a fill value at the border."""
    stmt = sch.get(block)
    if len(stmt.reads) != 1 or len(stmt.writes) != 1:
        return False
    same_rank = len(stmt.reads[0].source.shape) == len(stmt.writes[0].source.shape)
    return same_rank and "if_then_else" in str(stmt.body)


def _collapse_epilogue(sch: s_tir.Schedule, consumers: list[Block]) -> Block | None:
    """Inline every elementwise step of the epilogue into the next; return the last one."""
    for block in consumers[:-1]:
        try:
            sch.compute_inline(block)
        except s_tir.ScheduleError as err:
            raise s_tir.ScheduleError(f"epilogue step {sch.get(block).name_hint} is not inlinable") from err
    return consumers[-1] if consumers else None


def _parallelise(sch: s_tir.Schedule, outer: list[Loop], extents: list[int], threads: int) -> list[Loop]:
    """Fuse leading outer loops until each thread has a few chunks of work, then parallelise.

    Returns the outer loops as they are afterwards (the fused loop replaces those it took).
    """
    if threads <= 1 or not outer:
        return outer
    count, taken = 1, 0
    for extent in extents:
        count *= extent
        taken += 1
        if count >= 4 * threads:
            break
    if count < 2:
        return outer
    fused = sch.fuse(*outer[:taken]) if taken > 1 else outer[0]
    sch.parallel(fused)
    return [fused, *outer[taken:]]


def _depth(sch: s_tir.Schedule, block: Block, loop: Loop) -> int:
    """How many of ``block``'s loops enclose ``loop``, itself included."""
    target = sch.get(loop)
    loops = [sch.get(x) for x in sch.get_loops(block)]
    return next(i for i, x in enumerate(loops, start=1) if x.same_as(target))


def _vectorise_tile(sch: s_tir.Schedule, block: Block, depth: int) -> None:
    """Unroll the loops of a tile-sized block (init, write-back) below ``depth``; vectorise the last."""
    tile = [loop for loop in sch.get_loops(block)[depth:] if _extent(sch, loop) > 1]
    for loop in tile[:-1]:
        sch.unroll(loop)
    if tile:
        sch.vectorize(tile[-1])


def _extent(sch: s_tir.Schedule, loop: Loop) -> int:
    return size_hint(sch.get(loop).extent)
