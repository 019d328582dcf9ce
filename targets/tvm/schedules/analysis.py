"""What kind of kernel a legalized PrimFunc is, and the roles of its anchor block's loops.

After LegalizeOps + FuseOps + FuseTIR a PrimFunc is a flat list of blocks under the root
block, each in its own perfect loop nest: optional injective producers (padding, reshape),
at most one "anchor" that reduces (conv, matmul, pool), and an injective epilogue (bias,
batch-norm arithmetic, relu, residual add).  Softmax and layer norm instead hold several
reductions over the same rows.  ``classify`` tells these apart; ``contraction_axes`` names,
for an anchor, the loop to vectorise and the loop to block in registers.

    kernel = classify(sch)
    kernel.kind          # "contraction" | "row_reduction" | "elementwise" | "opaque"
    kernel.anchor        # the reduction block (contraction only)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import tvm
from tvm import s_tir, tirx

from .tiles import static_extent

SPATIAL = tirx.IterVar.DataPar
REDUCE = tirx.IterVar.CommReduce
_get_realize = tvm.get_global_func("s_tir.schedule.GetSBlockRealize")


@dataclass(frozen=True, slots=True)
class KernelInfo:
    kind: str  # contraction | row_reduction | elementwise | opaque
    blocks: tuple[s_tir.schedule.SBlockRV, ...]  # every block under the root, in program order
    anchor: s_tir.schedule.SBlockRV | None = None
    reason: str = ""  # why a kernel is opaque: shown in the schedule report


@dataclass(frozen=True, slots=True)
class AnchorAxes:
    """Loop positions (indices into the anchor's loop nest) by role."""

    spatial: tuple[int, ...]
    reduction: tuple[int, ...]
    vector: int | None  # iterates the output's innermost non-unit dimension
    row: int | None  # blocked in registers: its operand is broadcast against the vector
    row_group: int | None  # the row tile must divide this (grouped conv: channels per group)
    row2: int | None  # a second blocked axis (a conv's output rows): more FMAs per load
    extents: tuple[int | None, ...]  # None: symbolic (never a tile axis)


def root_blocks(sch: s_tir.Schedule) -> list[s_tir.schedule.SBlockRV]:
    root = sch.get_sblock(sch.mod["main"].body.block.name_hint)
    return list(sch.get_child_blocks(root))


def _iter_types(sch: s_tir.Schedule, block: s_tir.schedule.SBlockRV) -> list[int]:
    return [int(iv.iter_type) for iv in sch.get(block).iter_vars]


def is_injective(sch: s_tir.Schedule, block: s_tir.schedule.SBlockRV) -> bool:
    return all(t == SPATIAL for t in _iter_types(sch, block))


def has_perfect_nest(sch: s_tir.Schedule, block: s_tir.schedule.SBlockRV) -> bool:
    """Each loop binds exactly one block iter, in order: the form the rules rewrite."""
    loops = sch.get_loops(block)
    values = _get_realize(sch, block).iter_values
    if len(loops) != len(values):
        return False
    return all(isinstance(v, tirx.Var) and v.same_as(sch.get(loop).loop_var)
               for v, loop in zip(values, loops, strict=True))


def _read_buffers(sch: s_tir.Schedule, block: s_tir.schedule.SBlockRV) -> set:
    return {r.source for r in sch.get(block).reads}


def classify(sch: s_tir.Schedule) -> KernelInfo:
    blocks = tuple(root_blocks(sch))
    if not blocks:
        return KernelInfo("opaque", blocks, reason="no blocks")
    reductions = [b for b in blocks if not is_injective(sch, b)]
    if any(t not in (SPATIAL, REDUCE) for b in blocks for t in _iter_types(sch, b)):
        return KernelInfo("opaque", blocks, reason="ordered or opaque block iterators")
    if not reductions:
        return KernelInfo("elementwise", blocks)
    if len(reductions) > 1:
        return KernelInfo("row_reduction", blocks)
    anchor = reductions[0]
    # Layer norm style: something after the reduction reads the reduction's own input again.
    position = blocks.index(anchor)
    anchor_inputs = _read_buffers(sch, anchor)
    produced_before = {w.source for b in blocks[:position] for w in sch.get(b).writes}
    if any(_read_buffers(sch, b) & (anchor_inputs - produced_before) for b in blocks[position + 1:]):
        return KernelInfo("row_reduction", blocks)
    if not has_perfect_nest(sch, anchor):
        return KernelInfo("opaque", blocks, anchor, reason="anchor loops are not a perfect nest")
    return KernelInfo("contraction", blocks, anchor)


def _var_dims(region) -> list[tirx.Var | None]:
    """For each dimension of an access region, the var that indexes it alone (or None)."""
    return [r.min if isinstance(r.min, tirx.Var) else None for r in region]


def _mentions(expr, var: tirx.Var) -> bool:
    return any(v.same_as(var) for v in tirx.analysis.undefined_vars(expr))


def _children(expr) -> list:
    names = ("a", "b", "value", "condition", "true_value", "false_value")
    return [getattr(expr, n) for n in names if hasattr(expr, n)] + list(getattr(expr, "args", []))


def _group_of(expr, var: tirx.Var) -> int | None:
    """How ``expr`` depends on ``var``: 0 not at all, G when only through ``var // G``, None otherwise.

    A grouped conv reads its input at channel ``ff // (C/groups) * (C/groups) + rc``: within
    a group of output channels the input is the same, so the output channel is still a
    broadcast (register-blocked) axis for tiles that divide the group.
    """
    if not _mentions(expr, var):
        return 0
    if isinstance(expr, tirx.FloorDiv) and expr.a.same_as(var) and isinstance(expr.b, tirx.IntImm):
        return int(expr.b.value)
    children = _children(expr)
    if not children:
        return None  # the var itself
    groups = [_group_of(c, var) for c in children]
    if any(g is None for g in groups):
        return None
    nonzero = {g for g in groups if g}
    return math.gcd(*nonzero) if nonzero else 0


def _region_group(region, var: tirx.Var) -> int | None:
    groups = [_group_of(r.min, var) for r in region]
    if any(g is None for g in groups):
        return None
    nonzero = [g for g in groups if g]
    return math.gcd(*nonzero) if nonzero else 0


def contraction_axes(sch: s_tir.Schedule, anchor: s_tir.schedule.SBlockRV) -> AnchorAxes:
    block = sch.get(anchor)
    iters = list(block.iter_vars)
    extents = tuple(static_extent(iv.dom.extent) for iv in iters)
    spatial = tuple(i for i, iv in enumerate(iters) if int(iv.iter_type) == SPATIAL)
    reduction = tuple(i for i, iv in enumerate(iters) if int(iv.iter_type) == REDUCE)
    position = {iv.var: i for i, iv in enumerate(iters)}
    out_dims = [position.get(v) if v is not None else None for v in _var_dims(block.writes[0].region)]
    candidates = [i for i in out_dims if i is not None and (extents[i] or 0) > 1]
    vector = candidates[-1] if candidates else None
    row, group = _row_axis(block, iters, extents, candidates, vector)
    rest = [i for i in candidates if i not in (vector, row)]
    row2 = rest[-1] if rest else None
    return AnchorAxes(spatial, reduction, vector, row, group, row2, extents)


# A grouped conv's output channels are worth blocking only with at least this many per group.
MIN_ROW_GROUP = 4


def _row_axis(block, iters, extents, candidates: list[int], vector: int | None
              ) -> tuple[int | None, int | None]:
    """The output axis to block in registers, and the group size its tile must divide.

    Best is an axis absent from the operand that streams along the vector axis (a conv's
    output channels, a matmul's rows): its operand is then one broadcast scalar per row,
    reused across the whole vector tile.  Depthwise convs and pools have no such axis; their
    next-inner output axis (output rows) still shares the weight across the tile.
    """
    others = [i for i in candidates if i != vector]
    if vector is None or not others:
        return None, None
    streaming = [r.region for r in block.reads if _mentions_region(r.region, iters[vector].var)]
    best: list[tuple[int, int, int | None]] = []
    for i in others:
        for region in streaming:
            group = _region_group(region, iters[i].var)
            if group == 0:
                best.append((extents[i], i, None))
            elif group is not None and group >= MIN_ROW_GROUP:
                best.append((group, i, group))
    if best:
        _size, axis, group = max(best)
        return axis, group
    return others[-1], None


def _mentions_region(region, var: tirx.Var) -> bool:
    return any(_mentions(r.min, var) for r in region)
