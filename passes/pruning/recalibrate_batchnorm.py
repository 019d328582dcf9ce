"""recalibrate-batchnorm: re-estimate every batch norm's mean and variance on calibration data.

Pruning channels (or sparsifying weights) changes what each layer computes, so the running
statistics a batch norm was trained with no longer describe its input and the network's
activations drift away from zero mean / unit variance.  Re-estimating them on a few hundred
real inputs recovers much of the lost accuracy without any training.

    recalibrate-batchnorm{data=calib.npz,batches=8}

* ``data``: an ``.npz`` archive with one array per graph input, named like the input.  An
  array with one more axis than the input is a stack of batches (axis 0 counts them); one
  with the input's rank is a single batch.
* ``batches``: use at most this many batches (0: all of them).

The interpreter runs each batch with an observer on every ``nn.batch_norm`` input that
merges the batch's per-channel mean and variance into running totals (Chan's parallel
update in float64, so only [C] vectors are kept, never activations).  While it runs, each
batch norm normalises with the current batch's own statistics (training mode), so layers
downstream see what they will see once every batch norm upstream has its new statistics;
a single pass over the data then calibrates a whole chain.  A batch with one element per
channel has no variance: it is normalised with the old statistics.  Afterwards each batch
norm's mean and variance constants are replaced by the population statistics of its input.

Run it after pruning and before ``fold-batchnorm`` (which removes the batch norms); it
requires nothing.  The API is ``recalibrate_batchnorm(graph, batches)``.  Only batch norms
with constant per-channel ``[C]`` statistics are recalibrated; others count as skipped.
The outputs change by design, so validate-each checks only shapes, dtypes and NaNs.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from leptonc.artifact_io import read_npz
from leptonc.errors import UsageError
from leptonc.interp import Interpreter
from leptonc.ir.graph import Graph, Node, Value
from leptonc.passes.common import remove_unused_constants
from leptonc.passmgr import Pass, PassResult, register_pass

_MEAN, _VAR = 3, 4  # nn.batch_norm input slots


@register_pass
@dataclass(frozen=True)
class RecalibrateBatchnorm(Pass):
    """Replace every batch norm's mean and variance by its input's statistics on the
    calibration data in ``data`` (an .npz archive, one array per graph input; an array with
    one more axis is a stack of batches, of which ``batches`` are used, 0: all).  Run it
    after prune-channels or sparsify and before fold-batchnorm."""

    name: ClassVar[str] = "recalibrate-batchnorm"
    rtol: ClassVar[float] = 0.0
    atol: ClassVar[float] = sys.float_info.max  # new statistics change the outputs by design
    example: ClassVar[str] = "recalibrate-batchnorm{data=calib.npz,batches=8}"

    data: str = ""
    batches: int = 0

    def __post_init__(self) -> None:
        if not self.data:
            raise ValueError("data=FILE.npz is required (the calibration inputs)")
        if self.batches < 0:
            raise ValueError(f"batches must be at least 0 (0: all), got {self.batches}")

    def run(self, graph: Graph) -> PassResult:
        batches = list(load_batches(graph, Path(self.data), self.batches))
        stats = recalibrate_batchnorm(graph, batches)
        return PassResult(stats["recalibrated"] > 0, stats)


def load_batches(graph: Graph, path: Path, limit: int = 0) -> Iterator[dict[str, np.ndarray]]:
    """The calibration batches in the archive at ``path`` (at most ``limit``; 0: all)."""
    if not path.is_file():
        raise UsageError(f"data file '{path}' does not exist")
    arrays = read_npz(path, f"recalibrate-batchnorm data {path}")
    ranks = {v.name: len(v.type.shape) for v in graph.inputs if v.type.shape is not None}
    stacked = {name: a if a.ndim == ranks.get(name, a.ndim) + 1 else a[None]
               for name, a in arrays.items()}
    count = min((len(a) for a in stacked.values()), default=0)
    for i in range(min(count, limit) if limit else count):
        yield {name: a[i] for name, a in stacked.items()}


def recalibrate_batchnorm(graph: Graph, batches: Iterable[dict[str, np.ndarray]]) -> dict[str, int]:
    """Set the mean/var of every batch norm in ``graph`` to the per-channel statistics of its
    input over ``batches`` (dicts of graph input name -> array); returns counts."""
    norms = [n for n in graph if n.op == "nn.batch_norm"]
    usable = [n for n in norms if _has_channel_stats(n)]
    watched = {id(n.inputs[0]): _ChannelStats() for n in usable}
    interp = _CalibratingInterpreter(graph, usable, watched)
    runs = 0
    for batch in batches:
        interp.run(batch)
        runs += 1
    if usable and not runs:
        raise UsageError("no calibration batches (the data holds none)")
    for node in usable:
        stats = watched[id(node.inputs[0])]
        _replace_constant(graph, node, _MEAN, stats.mean)
        _replace_constant(graph, node, _VAR, stats.var)
    return {"batch-norms": len(norms), "recalibrated": len(usable) if runs else 0,
            "skipped": len(norms) - len(usable), "batches": runs}


def _has_channel_stats(node: Node) -> bool:
    """Constant [C] mean and var over axis 1 of an input with at least two dims."""
    x = node.inputs[0].type.shape
    if x is None or len(x) < 2 or not isinstance(x[1], int):
        return False
    return all(node.inputs[i].data is not None and node.inputs[i].type.shape == (x[1],)
               for i in (_MEAN, _VAR))


@dataclass(slots=True)
class _ChannelStats:
    """Running per-channel count, mean and sum of squared deviations (float64)."""

    count: int = 0
    mean: np.ndarray | None = None
    m2: np.ndarray | None = None

    def add(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """Merge one batch [N, C, ...]; returns the batch's own mean, variance and count."""
        axes = (0, *range(2, x.ndim))
        n = x.size // x.shape[1]
        x64 = x.astype(np.float64)
        mean = x64.mean(axes)
        m2 = np.square(x64 - np.expand_dims(mean, [0, *range(2, x.ndim)])).sum(axes)
        if self.count == 0:
            self.count, self.mean, self.m2 = n, mean, m2
        else:  # Chan et al.: combine two partial (count, mean, M2) exactly
            total = self.count + n
            delta = mean - self.mean
            self.mean = self.mean + delta * (n / total)
            self.m2 = self.m2 + m2 + delta * delta * (self.count * n / total)
            self.count = total
        return mean, m2 / n, n

    @property
    def var(self) -> np.ndarray:
        return self.m2 / self.count


class _CalibratingInterpreter(Interpreter):
    """Observes batch-norm inputs and runs those batch norms with the batch's statistics."""

    def __init__(self, graph: Graph, norms: list[Node], watched: dict[int, _ChannelStats]):
        super().__init__(graph, observers=[self._observe_input])
        self._norms = {id(n) for n in norms}
        self._watched = watched
        self._batch: dict[int, tuple[np.ndarray, np.ndarray, int]] = {}

    def _observe_input(self, value: Value, array: np.ndarray) -> None:
        stats = self._watched.get(id(value))
        if stats is not None:
            self._batch[id(value)] = stats.add(array)

    def run_node(self, node: Node, kernel: Callable, args: list[np.ndarray | None],
                 attrs: dict[str, Any]) -> list[np.ndarray]:
        if id(node) in self._norms:
            mean, var, n = self._batch[id(node.inputs[0])]
            if n > 1:  # one element per channel has no variance: keep the old statistics
                dtype = args[_MEAN].dtype
                args = [*args[:_MEAN], mean.astype(dtype), var.astype(dtype)]
        return super().run_node(node, kernel, args, attrs)


def _replace_constant(graph: Graph, node: Node, index: int, data: np.ndarray) -> None:
    """A new constant for this batch norm alone (the old one may be shared), same name."""
    old = node.inputs[index]
    node.set_input(index, graph.add_constant(data.astype(old.data.dtype), old.name))
    if remove_unused_constants(graph, [old]):
        graph.rename(node.inputs[index], old.name)
