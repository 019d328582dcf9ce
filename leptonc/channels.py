"""Channel dependency analysis: which channels of which tensors must be pruned together.

A *channel space* is a set of channel indices that some op creates (a conv's or a matmul's
outputs).  Every activation that carries a space records it as ``(value, axis, offset,
block)``: channel ``c`` of the space is the slice ``offset + c*block ... + block - 1`` of
``value`` along ``axis`` (a concat places spaces side by side with offsets; a flatten of
``[N, C, H, W]`` to ``[N, C*H*W]`` gives block ``H*W``).  Elementwise ops with two
activations (residual adds) unite their operands' spaces, so one space (a *group*) may have
several producers.  Constants that must shrink with a group (conv weights along their output
or input axis, biases, batch-norm parameters, per-channel scales, the K rows of the next
matmul) are recorded as ``ParamSlice``s of the node input that reads them.

Grouped convolutions and channel shuffles make a space *periodic*: with period ``P`` the kept
set repeats in each of ``P`` equal contiguous parts (part ``q`` keeps ``q*size/P + S`` for one
set ``S``), so every conv group keeps the same channels and its weights still shrink with one
mask per axis.  A slice with ``period`` p shows only the first ``size/p`` channels (channel
``c`` sits at ``c mod size/p``): the input axis of a grouped conv's weights, and the channel
axis after a shuffle's split reshape ``[N, C] -> [N, g, C/g]`` (so the shuffle's
reshape-transpose-reshape maps the kept channels as whole blocks and needs no gather).
The same split carries attention's head split ``[B, S, D] -> [B, S, h, D/h]``: the head
dimension is pruned alike in every head, ``q @ k^T`` unites Q and K, ``p @ v`` carries V, and
the head merge ``[B, S, h, D/h] -> [B, S, D]`` unwraps the space for the output projection.
With ``whole_heads`` the head split instead makes the space *coarse*: it is pruned in whole
blocks of ``D/h`` channels (its ``granule``), the heads axis carries one index per block,
``q @ k^T`` and ``p @ v`` unite Q, K and V on that batch axis, and the head merge turns it
back into ``D`` single channels.

Couplings the analysis cannot express make a group unprunable with a recorded reason
instead of producing a wrong graph: conv groups that straddle channel segments, a period that
does not divide the channels, reshapes that split the channel axis otherwise, ops it does not
know, graph outputs.  Graph inputs
never carry a space, so they are never pruned.

    groups = channel_groups(graph)
    for g in groups: print(g.size, g.prunable, g.reasons)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from leptonc.ir.graph import Graph, Node, Value

IN, OUT, PARAM, BN_SCALE = "in", "out", "param", "bn-scale"  # ParamSlice roles
# The weight axis holding a producer's output channels (conv [M, C, *k]: 0; matmul [K, N]: 1).
_OUT_AXIS = {"nn.conv": 0, "linalg.matmul": 1}


@dataclass(slots=True)
class ParamSlice:
    """Channel ``c`` of the group is ``offset + c*block .. + block-1`` along ``axis`` of the
    constant read by ``node.inputs[index]``.  ``role``: ``out`` (a producer's weights),
    ``in`` (a consumer's weights), ``bn-scale`` (a batch norm's gamma) or ``param``.
    ``period``: the slice covers ``size / period`` channels, channel ``c`` at ``c mod
    size/period`` (a grouped conv's input weights, tensors after a shuffle)."""

    node: Node
    index: int
    axis: int
    offset: int
    block: int
    role: str
    period: int = 1


@dataclass(slots=True)
class TensorSlice:
    """An activation carrying the group's channels (the same layout as ``ParamSlice``);
    ``coarse`` > 1: index ``offset + i`` holds the ``coarse`` channels ``i*coarse ..``
    (a whole attention head)."""

    value: Value
    axis: int
    offset: int
    block: int
    period: int = 1
    coarse: int = 1


@dataclass(slots=True)
class ReshapeFix:
    """A reshape whose target-shape entry ``out_axis`` is ``in_dim * mult // div`` of its
    input's channel axis ``in_axis``: it must be rewritten when that axis shrinks."""

    node: Node
    in_axis: int
    out_axis: int
    mult: int
    div: int = 1


@dataclass
class ChannelGroup:
    """Channels that must be pruned together, with everything that shrinks with them."""

    size: int
    period: int = 1  # the kept set repeats in this many equal parts (grouped convs)
    granule: int = 1  # the kept set is made of whole blocks of this many channels (heads)
    tensors: list[TensorSlice] = field(default_factory=list)
    params: list[ParamSlice] = field(default_factory=list)
    producers: list[Node] = field(default_factory=list)
    reshapes: list[ReshapeFix] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)  # why it is unprunable; empty if it is

    @property
    def prunable(self) -> bool:
        return not self.reasons


@dataclass(slots=True)
class _Chan:
    """How a value carries channel spaces: the axis and its segments ``(space, block)``;
    ``wrap`` > 1: one segment showing ``size / wrap`` channels of a periodic space;
    ``coarse`` > 1: one segment, block 1, whose index ``i`` stands for the ``coarse`` channels
    ``i*coarse ..`` (the heads axis of an attention block)."""

    axis: int
    segs: tuple[tuple[int, int], ...]
    wrap: int = 1
    coarse: int = 1


def _dim(v: Value, axis: int) -> int | None:
    """The static size of ``v`` along ``axis``, else None."""
    shape = v.type.shape
    return shape[axis] if shape is not None and isinstance(shape[axis], int) else None


class _Analysis:
    def __init__(self, graph: Graph, whole_heads: bool):
        self.graph = graph
        self.whole_heads = whole_heads
        self.parent: list[int] = []
        self.sizes: list[int] = []
        self.periods: list[int] = []
        self.granules: list[int] = []
        self.groups: list[ChannelGroup] = []  # one per space; merged into roots at the end
        self.chan: dict[int, _Chan] = {}

    # ----- spaces --------------------------------------------------------------------------
    def new_space(self, size: int, producer: Node | None) -> int:
        self.parent.append(len(self.parent))
        self.sizes.append(size)
        self.periods.append(1)
        self.granules.append(1)
        self.groups.append(ChannelGroup(size, producers=[producer] if producer else []))
        return len(self.parent) - 1

    def find(self, s: int) -> int:
        while self.parent[s] != s:
            self.parent[s] = self.parent[self.parent[s]]
            s = self.parent[s]
        return s

    def union(self, a: int, b: int) -> None:
        a, b = self.find(a), self.find(b)
        if a != b:
            self.parent[b] = a

    def require_period(self, s: int, period: int) -> None:
        """Space ``s`` must keep the same channels in each of ``period`` equal parts."""
        self.periods[s] = math.lcm(self.periods[s], period)

    def require_granule(self, s: int, granule: int) -> None:
        """Space ``s`` must be pruned in whole contiguous blocks of ``granule`` channels."""
        self.granules[s] = math.lcm(self.granules[s], granule)

    def block_unprunable(self, v: Value, reason: str) -> None:
        for s, _ in self.chan[id(v)].segs if id(v) in self.chan else ():
            self.groups[s].reasons.append(reason)

    # ----- recording -------------------------------------------------------------------------
    def set_chan(self, v: Value, axis: int, segs: tuple[tuple[int, int], ...],
                 wrap: int = 1, coarse: int = 1) -> None:
        self.chan[id(v)] = _Chan(axis, segs, wrap, coarse)
        for s, block, offset in self.layout(segs, wrap, coarse):
            self.groups[s].tensors.append(TensorSlice(v, axis, offset, block, wrap, coarse))

    def flow(self, v: Value, axis: int, ch: _Chan) -> None:
        """``v`` carries ``ch``'s channels unchanged, on ``axis``."""
        self.set_chan(v, axis, ch.segs, ch.wrap, ch.coarse)

    def layout(self, segs: tuple[tuple[int, int], ...], wrap: int = 1, coarse: int = 1):
        offset = 0
        for s, block in segs:
            yield s, block, offset
            offset += self.sizes[s] // wrap // coarse * block

    def add_params(self, node: Node, index: int, axis: int, segs, role: str,
                   wrap: int = 1) -> None:
        for s, block, offset in self.layout(segs, wrap):
            self.groups[s].params.append(
                ParamSlice(node, index, axis, offset, block, role, wrap))

    def new_output(self, node: Node, axis: int, weight: int, bias: int | None) -> None:
        """``node`` creates a fresh space along ``axis`` of its output."""
        out = node.outputs[0]
        s = self.new_space(out.type.shape[axis], node)
        self.set_chan(out, axis, ((s, 1),))
        self.add_params(node, weight, _OUT_AXIS[node.op], ((s, 1),), OUT)
        if bias is not None and bias < len(node.inputs) and node.inputs[bias] is not None:
            self.add_params(node, bias, 0, ((s, 1),), PARAM)

    def unify(self, a: Value, b: Value, where: Node) -> bool:
        ca, cb = self.chan[id(a)], self.chan[id(b)]
        shapes_a = [(self.sizes[s], k, ca.wrap, ca.coarse) for s, k in ca.segs]
        if shapes_a != [(self.sizes[s], k, cb.wrap, cb.coarse) for s, k in cb.segs]:
            reason = f"{where.op} '{where.source_name}' mixes differently split channels"
            self.block_unprunable(a, reason)
            self.block_unprunable(b, reason)
            return False
        for (sa, _), (sb, _) in zip(ca.segs, cb.segs, strict=True):
            self.union(sa, sb)
        return True

    def unknown(self, node: Node, why: str = "") -> None:
        reason = why or f"read by {node.op} '{node.source_name}', which the analysis does not map"
        for v in node.inputs:
            if v is not None:
                self.block_unprunable(v, reason)

    # ----- the walk ----------------------------------------------------------------------------
    def run(self) -> list[ChannelGroup]:
        for node in self.graph:
            if any(v is not None and id(v) in self.chan for v in node.inputs):
                _RULES.get(node.op, _rule_for_family(node.op))(self, node)
            elif node.op in _CREATORS:
                _CREATORS[node.op](self, node)
        for v in self.graph.outputs:
            self.block_unprunable(v, f"reaches graph output %{v.name}")
        return self.collect()

    def collect(self) -> list[ChannelGroup]:
        roots: dict[int, ChannelGroup] = {}
        for s, group in enumerate(self.groups):
            merged = roots.setdefault(self.find(s), ChannelGroup(self.sizes[s]))
            merged.period = math.lcm(merged.period, self.periods[s])
            merged.granule = math.lcm(merged.granule, self.granules[s])
            merged.tensors += group.tensors
            merged.params += group.params
            merged.producers += group.producers
            merged.reasons += group.reasons
            merged.reshapes += group.reshapes
        for group in roots.values():
            if group.size % group.period:
                group.reasons.append(f"conv groups or shuffles need {group.period} equal parts "
                                     f"of {group.size} channels")
            elif group.size % (group.period * group.granule):
                group.reasons.append(f"{group.period} equal parts of {group.size} channels do "
                                     f"not hold whole heads of {group.granule}")
            group.reasons = list(dict.fromkeys(group.reasons))
        return list(roots.values())


def channel_groups(graph: Graph, whole_heads: bool = False) -> list[ChannelGroup]:
    """The groups of coupled channels of ``graph`` (canonical ops, static channel dims), in
    the order their first producer appears.  ``whole_heads``: attention head splits make
    their group prunable in whole heads only (``granule`` = the head dim) instead of
    pruning the same dims of every head."""
    return _Analysis(graph, whole_heads).run()


# ----- rules: one per op kind; each maps its tracked inputs' channels to its outputs ---------------
def _conv_kind(node: Node) -> str:
    """``dense``, ``depthwise`` (one weight row per input channel) or ``grouped``."""
    group = node.attr("group")
    w = node.inputs[1]
    if group == 1:
        return "dense"
    if w.type.shape is not None and group == w.type.shape[0] and w.type.shape[1] == 1:
        return "depthwise"
    return "grouped"


def _conv_creates(a: _Analysis, node: Node) -> None:
    w = node.inputs[1]
    if w is None or not w.is_constant or _dim(node.outputs[0], 1) is None:
        return
    kind = _conv_kind(node)
    if kind != "depthwise":
        a.new_output(node, 1, weight=1, bias=2)
    if kind == "grouped":  # every group keeps the same output channels: one mask on axis 0
        [(s, _)] = a.chan[id(node.outputs[0])].segs
        a.require_period(s, node.attr("group"))


def _conv(a: _Analysis, node: Node) -> None:
    x, w = node.inputs[0], node.inputs[1]
    kind = _conv_kind(node) if w is not None and w.is_constant else "weights not constant"
    ch = a.chan.get(id(x))
    why = ("not on axis 1" if ch is None or ch.axis != 1 else "whole heads" if ch.coarse > 1
           else _grouped_input_problem(a, node, ch))
    if kind not in ("dense", "depthwise", "grouped") or why:
        a.unknown(node, f"{node.op} '{node.source_name}': input channels {why or kind} "
                        f"(group={node.attr('group')})")
        _conv_creates(a, node)
        return
    if kind == "dense":
        a.add_params(node, 1, 1, ch.segs, IN, ch.wrap)
    if kind == "grouped":
        _grouped_input(a, node, ch)
    if kind != "depthwise":
        _conv_creates(a, node)
        return
    # depthwise: output channel c is input channel c, so the space flows through
    a.flow(node.outputs[0], 1, ch)
    a.add_params(node, 1, 0, ch.segs, OUT, ch.wrap)
    if len(node.inputs) > 2 and node.inputs[2] is not None:
        a.add_params(node, 2, 0, ch.segs, PARAM, ch.wrap)


def _grouped_input_problem(a: _Analysis, node: Node, ch: _Chan) -> str:
    """Why a grouped conv cannot read ``ch`` (empty if it can): each conv group must be a
    whole part of one space, so the weights' input axis is the same for every group."""
    if _conv_kind(node) != "grouped":
        return ""
    if len(ch.segs) != 1:
        return "span several channel segments"
    (s, _), group = ch.segs[0], node.attr("group")
    if (a.sizes[s] // ch.wrap) % group:
        return "split a conv group's channels unevenly"
    return ""


def _grouped_input(a: _Analysis, node: Node, ch: _Chan) -> None:
    """Group ``q`` reads channels ``q*n/g ..`` of the space; the weights' input axis holds
    ``n/g`` of them, the same for every group once the space has period ``g``."""
    [(s, block)] = ch.segs
    period = ch.wrap * node.attr("group")
    a.require_period(s, period)
    a.groups[s].params.append(ParamSlice(node, 1, 1, 0, block, IN, period))


def _matmul_creates(a: _Analysis, node: Node) -> None:
    b = node.inputs[1]
    out = node.outputs[0]
    if b.is_constant and b.type.rank == 2 and _dim(out, out.type.rank - 1) is not None:
        a.new_output(node, out.type.rank - 1, weight=1, bias=None)


def _matmul(a: _Analysis, node: Node) -> None:
    x, b = node.inputs
    if not b.is_constant:
        _matmul_activations(a, node)
        return
    ch = a.chan.get(id(x))
    if (ch is None or not b.is_constant or b.type.rank != 2 or x.type.rank < 2
            or ch.axis != x.type.rank - 1 or id(b) in a.chan or ch.coarse > 1):
        a.unknown(node, f"linalg.matmul '{node.source_name}': channels are not its reduced "
                        "axis against a constant [K, N] matrix")
        _matmul_creates(a, node)
        return
    a.add_params(node, 1, 0, ch.segs, IN, ch.wrap)
    _matmul_creates(a, node)


def _matmul_activations(a: _Analysis, node: Node) -> None:
    """``x @ y`` of two activations (attention's ``q @ k^T`` and ``p @ v``): channels on the
    reduced axis of both are united (the same ones go from both, so the product keeps its
    shape); channels on x's rows or y's columns flow to the output.  Channels on batch axes,
    or on the reduced axis of one operand only, block."""
    if _matmul_batch(a, node):
        return
    (x, y), out = node.inputs, node.outputs[0]
    cx, cy = a.chan.get(id(x)), a.chan.get(id(y))
    rx, ry, ro = x.type.rank, y.type.rank, out.type.rank
    kx = cx is not None and cx.axis == rx - 1
    ky = cy is not None and cy.axis == ry - 2
    rows = cx is not None and cx.axis == rx - 2
    cols = cy is not None and cy.axis == ry - 1
    mapped = (cx is None or kx or rows) and (cy is None or ky or cols) and not (rows and cols)
    if min(rx, ry) < 2 or not mapped or kx != ky or kx and not a.unify(x, y, node):
        a.unknown(node, f"linalg.matmul '{node.source_name}': channels of its activation "
                        "operands are on batch axes or on one operand's reduced axis only")
        return
    if rows:
        a.flow(out, ro - 2, cx)
    elif cols:
        a.flow(out, ro - 1, cy)


def _matmul_batch(a: _Analysis, node: Node) -> bool:
    """Channels on a batch axis of ``x @ y`` (attention heads in ``q @ k^T`` and ``p @ v``):
    each batch index is an independent product, so the tracked operands (aligned from the
    right, on the same axis) are united and the output carries their channels there; an
    untracked operand must broadcast along it.  False if the channels are not all on one
    batch axis."""
    (x, y), out = node.inputs, node.outputs[0]
    ro = out.type.rank
    tracked = [v for v in (x, y) if id(v) in a.chan]
    if any(a.chan[id(v)].axis >= v.type.rank - 2 for v in tracked):
        return False
    axes = {a.chan[id(v)].axis + ro - v.type.rank for v in tracked}
    if len(axes) != 1:
        return False
    axis = axes.pop()
    for v in (x, y):
        k = axis - (ro - v.type.rank)
        if id(v) not in a.chan and k >= 0 and _dim(v, k) != 1:
            return False
    if len(tracked) == 1 or a.unify(x, y, node):
        a.flow(out, axis, a.chan[id(tracked[0])])
    return True


def _batch_norm(a: _Analysis, node: Node) -> None:
    ch = a.chan[id(node.inputs[0])]
    if (ch.axis != 1 or ch.coarse > 1
            or not all(p is not None and p.is_constant for p in node.inputs[1:])):
        a.unknown(node, f"batch_norm '{node.source_name}': parameters not constant or "
                        "channels not single channels on axis 1")
        return
    for i in range(1, 5):
        a.add_params(node, i, 0, ch.segs, BN_SCALE if i == 1 else PARAM, ch.wrap)
    a.flow(node.outputs[0], 1, ch)


def _pool(a: _Analysis, node: Node) -> None:
    ch = a.chan[id(node.inputs[0])]
    if ch.axis != 1 or len(node.outputs) != 1:
        a.unknown(node)
        return
    a.flow(node.outputs[0], 1, ch)


def _elementwise(a: _Analysis, node: Node) -> None:
    """Broadcasting elementwise op: tracked operands (aligned from the right) must put their
    channels on the same output axis and are united; constants shrink along it."""
    out = node.outputs[0]
    rank = out.type.rank
    tracked = [v for v in node.inputs if v is not None and id(v) in a.chan]
    axes = {a.chan[id(v)].axis + rank - v.type.rank for v in tracked}
    size = _dim(out, axes.pop()) if len(axes) == 1 and len(node.outputs) == 1 else None
    if size is None or any(v is not None and v.type.shape is None for v in node.inputs):
        a.unknown(node, f"{node.op} '{node.source_name}': operands' channels do not line up")
        return
    axis = a.chan[id(tracked[0])].axis + rank - tracked[0].type.rank
    ref = max(tracked, key=lambda v: _dim(v, a.chan[id(v)].axis) or 0)
    for i, v in enumerate(node.inputs):
        k = axis - (rank - v.type.rank) if v is not None else -1
        if k < 0 or v.type.shape[k] == 1:
            continue  # broadcast along the channel axis
        if id(v) in a.chan:
            if v is not ref and not a.unify(ref, v, node):
                return
        elif v.is_constant and v.type.shape[k] == size and a.chan[id(ref)].coarse == 1:
            a.add_params(node, i, k, a.chan[id(ref)].segs, PARAM, a.chan[id(ref)].wrap)
        else:
            a.unknown(node, f"{node.op} '{node.source_name}': operand %{v.name} has the "
                            "channels but no channel group")
            return
    a.flow(out, axis, a.chan[id(ref)])


def _reshape(a: _Analysis, node: Node) -> None:
    """Reshapes that keep the dims before the channel axis and merge it with the dims after
    it (flatten) map channel c to a block; anything else (a channel shuffle) blocks."""
    x, out = node.inputs[0], node.outputs[0]
    ch, si, so = a.chan[id(x)], x.type.shape, out.type.shape
    fix = _merge_target(ch.axis, si, so) if si is not None and so is not None else None
    shape = node.inputs[1] if node.op == "shape.reshape" and len(node.inputs) > 1 else None
    if node.op == "shape.reshape" and (shape is None or not shape.is_constant):
        fix = None
    if fix is not None and shape is not None and int(shape.data[fix[0]]) == 0 and fix[0] != ch.axis:
        fix = None  # a 0 entry copies an input dim that is not the channel axis
    if fix is None:
        if not (_split_heads(a, node, ch, shape) or _split_groups(a, node, ch, shape)
                or _merge_parts(a, node, ch, shape)):
            a.unknown(node, f"{node.op} '{node.source_name}' splits or moves the channel axis "
                            f"{si} -> {so}")
        return
    j, mult = fix
    if ch.coarse == 1:
        a.set_chan(out, j, tuple((s, k * mult) for s, k in ch.segs), ch.wrap)
    elif mult % ch.coarse == 0:
        # Heads merged with what follows them (the head dim): head i becomes the contiguous
        # mult elements i*mult ..; the space is pruned in whole heads, so which of its
        # channels each block of mult/coarse elements is called does not matter.
        a.set_chan(out, j, ((ch.segs[0][0], mult // ch.coarse),))
    else:
        a.unknown(node, f"{node.op} '{node.source_name}' splits attention heads {si} -> {so}")
        return
    if shape is not None:
        for s, _ in ch.segs:
            a.groups[s].reshapes.append(ReshapeFix(node, ch.axis, j, mult))


def _split_groups(a: _Analysis, node: Node, ch: _Chan, shape: Value | None) -> bool:
    """A channel shuffle's first reshape ``[N, C, ...] -> [N, g, C/g, ...]``: the ``C/g``
    axis carries the space wrapped by ``g`` (every group keeps the same channels), so the
    transpose and merge that follow move whole kept channels.  False if it is not one."""
    x, out = node.inputs[0], node.outputs[0]
    si, so, axis = x.type.shape, out.type.shape, ch.axis
    if (shape is None or len(ch.segs) != 1 or ch.segs[0][1] != 1 or ch.coarse != 1
            or len(so) != len(si) + 1):
        return False
    groups = so[axis]
    s = ch.segs[0][0]
    if (so[:axis] != si[:axis] or so[axis + 2:] != si[axis + 1:] or not _static(so[axis:axis + 2])
            or groups * so[axis + 1] != si[axis] or (a.sizes[s] // ch.wrap) % groups
            or int(shape.data[axis + 1]) == 0):
        return False
    a.require_period(s, ch.wrap * groups)
    a.set_chan(out, axis + 1, ch.segs, ch.wrap * groups)
    a.groups[s].reshapes.append(ReshapeFix(node, axis, axis + 1, 1, groups))
    return True


def _split_heads(a: _Analysis, node: Node, ch: _Chan, shape: Value | None) -> bool:
    """With whole heads, attention's head split ``[.., D] -> [.., h, D/h]`` (the channels on
    the last axis): the heads axis carries the space coarsely, index ``i`` standing for the
    ``D/h`` channels of head ``i``, and the space is pruned in whole heads, so ``h`` is
    rewritten and ``D/h`` stays.  False if it is not one."""
    x, out = node.inputs[0], node.outputs[0]
    si, so, axis = x.type.shape, out.type.shape, ch.axis
    if (not a.whole_heads or shape is None or len(ch.segs) != 1 or ch.segs[0][1] != 1
            or ch.wrap != 1 or ch.coarse != 1 or axis != len(si) - 1 or len(so) != len(si) + 1
            or so[:axis] != si[:axis] or not _static(so[axis:]) or so[axis] < 2
            or so[axis] * so[axis + 1] != si[axis]
            or 0 in (int(shape.data[axis]), int(shape.data[axis + 1]))):
        return False
    s, dim = ch.segs[0][0], so[axis + 1]
    a.require_granule(s, dim)
    a.set_chan(out, axis, ch.segs, coarse=dim)
    a.groups[s].reshapes.append(ReshapeFix(node, axis, axis, 1, dim))
    return True


def _merge_parts(a: _Analysis, node: Node, ch: _Chan, shape: Value | None) -> bool:
    """The inverse of a split, ``[.., w, C/w] -> [.., C]`` (attention heads merged back):
    the wrapped channel axis is merged with the ``w`` parts before it.  Every part keeps the
    same channels, so position ``p*C/w + c`` holds channel ``c`` of part ``p`` whichever axis
    of size ``w`` the parts are on, and the result carries the whole space unwrapped.  False
    if it is not one."""
    x, out = node.inputs[0], node.outputs[0]
    si, so, axis = x.type.shape, out.type.shape, ch.axis
    if (shape is None or ch.wrap == 1 or len(ch.segs) != 1 or ch.segs[0][1] != 1 or axis == 0
            or len(so) != len(si) - 1 or si[axis - 1] != ch.wrap
            or so[:axis - 1] != si[:axis - 1] or so[axis:] != si[axis + 1:]
            or not _static(si[axis - 1:axis + 1]) or so[axis - 1] != si[axis - 1] * si[axis]
            or int(shape.data[axis - 1]) == 0):
        return False
    a.set_chan(out, axis - 1, ch.segs)
    s = ch.segs[0][0]
    a.groups[s].reshapes.append(ReshapeFix(node, axis, axis - 1, ch.wrap))
    return True


def _merge_target(axis: int, si: tuple, so: tuple) -> tuple[int, int] | None:
    """``(j, mult)``: output dim j is input dim ``axis`` times ``mult`` (the static dims after
    it that it merges) and the static dims after both hold equal numbers of elements, so the
    dims before them do too and every channel stays one contiguous block per leading index;
    None when no output dim is that."""
    for j in range(len(so)):
        for m in range(axis + 1, len(si) + 1):
            merged, rest_in, rest_out = si[axis:m], si[m:], so[j + 1:]
            if (_static(merged + rest_in + rest_out) and math.prod(merged) == so[j]
                    and math.prod(rest_in) == math.prod(rest_out)):
                return j, math.prod(si[axis + 1:m])
    return None


def _static(dims) -> bool:
    return all(isinstance(d, int) for d in dims)


def _transpose(a: _Analysis, node: Node) -> None:
    ch = a.chan[id(node.inputs[0])]
    perm = list(node.attr("perm")) or list(range(node.inputs[0].type.rank))[::-1]
    a.flow(node.outputs[0], perm.index(ch.axis), ch)


def _concat(a: _Analysis, node: Node) -> None:
    out = node.outputs[0]
    axis = node.attr("axis") % out.type.rank
    segs: list[tuple[int, int]] = []
    for v in node.inputs:
        ch = a.chan.get(id(v))
        if ch is not None and ch.axis == axis and ch.wrap == 1 and ch.coarse == 1:
            segs += ch.segs
        elif ch is None and _dim(v, axis) is not None:
            s = a.new_space(v.type.shape[axis], None)  # a fixed part of the joined channels
            a.groups[s].reasons.append(f"concat '{node.source_name}' operand %{v.name} has no "
                                       "channel group")
            segs.append((s, 1))
        else:
            a.unknown(node, f"concat '{node.source_name}' joins along a non-channel axis")
            return
    a.set_chan(out, axis, tuple(segs))


def _along_axis(a: _Analysis, node: Node) -> None:
    """Softmax-like ops working along one axis: fine unless it is the channel axis."""
    ch = a.chan[id(node.inputs[0])]
    if node.attr("axis") % node.inputs[0].type.rank == ch.axis:
        a.unknown(node, f"{node.op} '{node.source_name}' normalises across the channels")
        return
    a.flow(node.outputs[0], ch.axis, ch)


def _reduce(a: _Analysis, node: Node) -> None:
    x = node.inputs[0]
    ch = a.chan[id(x)]
    axes = node.attr("axes")
    if len(node.inputs) > 1 and node.inputs[1] is not None or not axes:
        a.unknown(node, f"{node.op} '{node.source_name}': reduced axes unknown or all")
        return
    axes = {d % x.type.rank for d in axes}
    if ch.axis in axes:
        a.unknown(node, f"{node.op} '{node.source_name}' reduces across the channels")
        return
    shift = 0 if node.attr("keepdims") else sum(d < ch.axis for d in axes)
    a.flow(node.outputs[0], ch.axis - shift, ch)


_POOLS = ("nn.max_pool", "nn.avg_pool", "nn.lp_pool", "nn.global_avg_pool",
          "nn.global_max_pool", "nn.global_lp_pool")
_RULES: dict[str, Callable[[_Analysis, Node], None]] = {
    "nn.conv": _conv, "linalg.matmul": _matmul, "nn.batch_norm": _batch_norm,
    "shape.reshape": _reshape, "shape.squeeze": _reshape, "shape.unsqueeze": _reshape,
    "shape.transpose": _transpose, "shape.concat": _concat,
    "reduce.softmax": _along_axis, "reduce.log_softmax": _along_axis,
    **{op: _pool for op in _POOLS},
}
_REDUCTIONS = ("reduce.sum", "reduce.mean", "reduce.max", "reduce.min", "reduce.l1", "reduce.l2",
               "reduce.sum_square", "reduce.prod", "reduce.log_sum", "reduce.log_sum_exp")
_RULES.update({op: _reduce for op in _REDUCTIONS})
_CREATORS = {"nn.conv": _conv_creates, "linalg.matmul": _matmul_creates}


def _rule_for_family(op: str) -> Callable[[_Analysis, Node], None]:
    return _elementwise if op.startswith("ew.") else _Analysis.unknown
