"""prune-channels: structured pruning that removes whole channels, so weights, activations and
MACs shrink.

``leptonc.channels.channel_groups`` finds the channels that must go together (a conv's
outputs, its batch norm, the next layers' input weights, every operand of a residual add,
the slices of a concat, the K rows a flatten feeds).  Each prunable group is ranked by
importance, the least important ``ratio`` of it is dropped (the kept count rounded up to
``round-to``), and every member shrinks in one rewrite: constants are rebuilt with the kept
slices, reshape targets follow, and result types are re-inferred in graph order.

    prune-channels{ratio=0.5,importance=l1,round-to=8,scope=layer3}

* ``importance``: ``l1`` / ``l2`` norm of each channel's weights, summed over the group's
  producing and consuming weights; ``bn-scale``: |gamma| of its batch norms (run before
  fold-batchnorm; a group without a batch norm falls back to l1).
* ``global-ranking``: rank all groups' channels together (importances normalised by each
  group's mean) instead of dropping ``ratio`` of every group.
* ``scope``: a regular expression; only groups with a producer whose source name matches are
  pruned.
* ``heads``: ``whole`` drops whole attention heads (the same heads from Q, K, V and the rows
  of the output projection; the head dim and the softmax scale stay), ranked by the
  importance summed over each head's channels; ``dims`` keeps every head and drops the same
  dims of each.

Grouped convolutions (and the channel shuffles between them) make a group periodic: every
conv group keeps the same channels, ranked by their importance summed over the groups, so
the kept count is rounded up to a multiple of the period and ``group`` stays as it is.

Graph inputs and outputs keep their channels.  Pruning changes what the model computes (it
is meant to be followed by fine-tuning), so the pass only promises the output shapes: its
tolerance is unbounded.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from leptonc.channels import BN_SCALE, IN, OUT, ChannelGroup, channel_groups
from leptonc.errors import UsageError
from leptonc.ir.builder import Rewriter
from leptonc.ir.graph import Graph
from leptonc.passes.common import remove_unused_constants
from leptonc.passmgr import Pass, PassResult, register_pass

_IMPORTANCE = ("l1", "l2", "bn-scale")
_HEADS = ("whole", "dims")


@register_pass
@dataclass(frozen=True)
class PruneChannels(Pass):
    """Remove the least important channels of every prunable channel group."""

    name: ClassVar[str] = "prune-channels"
    requires: ClassVar[tuple[str, ...]] = ("canonical",)
    rtol: ClassVar[float] = 0.0
    atol: ClassVar[float] = 1e300  # the shapes must stay, the values may not (finite: numpy
    # warns on an infinite tolerance)
    example: ClassVar[str] = "prune-channels{ratio=0.5,importance=l1,round-to=8}"

    ratio: float = 0.5
    importance: str = "l1"
    round_to: int = 1
    scope: str = ""
    global_ranking: bool = False
    heads: str = "whole"

    def __post_init__(self):
        if not 0.0 <= self.ratio < 1.0:
            raise ValueError(f"ratio must be in [0, 1), got {self.ratio:g}")
        if self.importance not in _IMPORTANCE:
            raise ValueError(f"importance must be one of {', '.join(_IMPORTANCE)}, "
                             f"got '{self.importance}'")
        if self.heads not in _HEADS:
            raise ValueError(f"heads must be one of {', '.join(_HEADS)}, got '{self.heads}'")
        if self.round_to < 1:
            raise ValueError(f"round-to must be at least 1, got {self.round_to}")
        try:
            re.compile(self.scope)
        except re.error as e:
            raise ValueError(f"scope '{self.scope}' is not a regular expression: {e}") from None

    def run(self, graph: Graph) -> PassResult:
        groups = channel_groups(graph, whole_heads=self.heads == "whole")
        chosen = [g for g in groups if g.prunable and self._in_scope(g)]
        if self.scope and not chosen:
            raise UsageError(f"pass '{self.name}': scope '{self.scope}' matches no prunable "
                             "channel group")
        scores = [importance(g, self.importance) for g in chosen]
        counts = (self._global_counts(scores) if self.global_ranking
                  else [self._kept(len(s)) for s in scores])
        keeps = [_select(s, n, g.period, g.granule)
                 for g, s, n in zip(chosen, scores, counts, strict=True)]
        pruned = [(g, k) for g, k in zip(chosen, keeps, strict=True) if len(k) < g.size]
        if pruned:
            apply_pruning(graph, pruned)
        return PassResult(bool(pruned), {
            "groups": len(groups), "unprunable": sum(not g.prunable for g in groups),
            "groups-pruned": len(pruned),
            "channels-removed": sum(g.size - len(k) for g, k in pruned)})

    def _in_scope(self, group: ChannelGroup) -> bool:
        return not self.scope or any(re.search(self.scope, n.source_name or n.outputs[0].name)
                                     for n in group.producers)

    def _kept(self, size: int, wanted: float | None = None) -> int:
        """How many of ``size`` channels stay: (1 - ratio) of them, rounded up to round-to."""
        wanted = size * (1.0 - self.ratio) if wanted is None else wanted
        return min(size, max(1, math.ceil(wanted / self.round_to)) * self.round_to)

    def _global_counts(self, scores: list[np.ndarray]) -> list[int]:
        """How many channels each group keeps so that the best (1 - ratio) of all channels
        stay, each group's scores divided by its mean so wide and narrow layers compete
        fairly."""
        if not scores:
            return []
        normed = [s / (s.mean() or 1.0) for s in scores]
        total = sum(len(s) for s in normed)
        threshold = np.sort(np.concatenate(normed))[::-1][max(0, round(total * (1 - self.ratio)) - 1)]
        return [self._kept(len(s), float((s >= threshold).sum())) for s in normed]


def _select(score: np.ndarray, count: int, period: int, granule: int = 1) -> np.ndarray:
    """The sorted indices of the ``count`` most important channels (rounded up to a multiple
    of ``period * granule``): whole blocks of ``granule`` channels (attention heads, scored
    by their sum), the same blocks in each of the ``period`` equal parts."""
    units = score.reshape(-1, granule).sum(1)
    part = len(units) // period
    summed = units.reshape(period, part).sum(0)
    best = np.argsort(-summed, kind="stable")[:min(part, -(-count // (period * granule)))]
    kept = (np.arange(period)[:, None] * part + best).ravel()
    return np.sort((kept[:, None] * granule + np.arange(granule)).ravel())


def importance(group: ChannelGroup, kind: str) -> np.ndarray:
    """One score per channel of ``group``: the l1 or l2 norm of its weight slices (producing
    and consuming), or |gamma| of its batch norms for ``bn-scale``."""
    roles = (BN_SCALE,) if kind == "bn-scale" else (IN, OUT)
    members = [p for p in group.params if p.role in roles]
    if not members and kind == "bn-scale":
        return importance(group, "l1")
    score = np.zeros(group.size, dtype=np.float64)
    for p in members:
        data = np.moveaxis(np.asarray(p.node.inputs[p.index].data, np.float64), p.axis, 0)
        shown = group.size // p.period  # a periodic slice holds channel c at c mod shown
        rows = data[p.offset:p.offset + shown * p.block].reshape(shown, -1)
        per_row = np.abs(rows).sum(1) if kind != "l2" else (rows * rows).sum(1)
        score += np.tile(per_row / p.period, p.period)
    return np.sqrt(score) if kind == "l2" else score


def apply_pruning(graph: Graph, pruned: list[tuple[ChannelGroup, np.ndarray]]) -> None:
    """Shrink every member of each group to its kept channels, then re-infer the types."""
    masks: dict[tuple[int, int], tuple] = {}  # (node, input) -> (node, index, {axis: mask})
    fixes = {}
    for group, keep in pruned:
        drop = np.setdiff1d(np.arange(group.size), keep)
        for p in group.params:
            node, index, axes = masks.setdefault(
                (id(p.node), p.index), (p.node, p.index, {}))
            dim = p.node.inputs[p.index].type.shape[p.axis]
            mask = axes.setdefault(p.axis, np.ones(dim, dtype=bool))
            mask[_positions(drop[drop < group.size // p.period], p.offset, p.block)] = False
        fixes.update({id(f.node): f for f in group.reshapes})
    old, renames = [], []
    for node, index, axes in masks.values():
        const = node.inputs[index]
        data = np.asarray(const.data)
        for axis, mask in axes.items():
            data = np.compress(mask, data, axis=axis)
        old.append(const)
        node.set_input(index, graph.add_constant(np.ascontiguousarray(data), const.name))
        renames.append((node.inputs[index], const.name))
        if node.op == "nn.conv" and index == 1 and _depthwise(node, const.type.shape):
            node.attrs["group"] = data.shape[0]  # one group per channel; grouped convs keep
            # their group count (every group lost the same channels)
    rw = Rewriter(graph)
    for node in graph:
        fix = fixes.get(id(node))
        if fix is not None:
            _retarget_reshape(graph, fix)
        rw.reinfer(node)
    remove_unused_constants(graph, {id(v): v for v in old}.values())
    for new, name in renames:  # the rebuilt weights keep the names a reader knows
        if name not in graph.constants:
            graph.rename(new, name)


def _depthwise(conv, weight_shape: tuple) -> bool:
    return conv.attr("group") == weight_shape[0] > 1 and weight_shape[1] == 1


def _positions(channels: np.ndarray, offset: int, block: int) -> np.ndarray:
    return (offset + channels[:, None] * block + np.arange(block)).ravel()


def _retarget_reshape(graph: Graph, fix) -> None:
    """Set the reshape's target entry for the channel axis to the input's new size (times
    the merged dims); a -1 entry infers itself."""
    node = fix.node
    shape = np.array(node.inputs[1].data, dtype=np.int64)
    if shape[fix.out_axis] > 0:
        shape[fix.out_axis] = node.inputs[0].type.shape[fix.in_axis] * fix.mult // fix.div
        old = node.inputs[1]
        node.set_input(1, graph.add_constant(shape, old.name))
        if remove_unused_constants(graph, [old]):
            graph.rename(node.inputs[1], old.name)
