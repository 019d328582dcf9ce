"""Calibration: run the reference interpreter over batches and stream every selected value
into its observer.  Activations are never stored: each array is seen once, reduced to the
observer's statistics and freed by the interpreter after its last use.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping, Sequence, Sized
from typing import TextIO

import numpy as np

from leptonc.errors import UsageError
from leptonc.interp import Interpreter
from leptonc.ir.graph import Graph, Value
from leptonc.quant.observers import Observer

ObserverFactory = Callable[[Value], Observer | None]

# Fewer batches than this finish before a progress bar would tell anyone anything.
PROGRESS_MIN_BATCHES = 4

__all__ = ["ObserverFactory", "collect"]


def collect(graph: Graph, batches: Iterable[Mapping[str, np.ndarray]],
            observer_factory: ObserverFactory, values: Sequence[str] | None = None,
            progress: bool = True) -> dict[str, Observer]:
    """Observers keyed by value name, after seeing every batch.

    ``values`` names the values to observe (default: every float input and node output;
    weights are constants and are observed directly by whoever quantizes them).  The
    factory may return ``None`` to skip a value, e.g. one it leaves in float.
    """
    observers = {v.name: obs for v in _selected(graph, values)
                 if (obs := observer_factory(v)) is not None}
    by_id = {id(v): observers[v.name] for v in _all_values(graph) if v.name in observers}

    def feed(v: Value, array: np.ndarray) -> None:
        obs = by_id.get(id(v))
        if obs is not None:
            obs.observe(array)

    interpreter = Interpreter(graph, [feed])
    total = len(batches) if isinstance(batches, Sized) else getattr(batches, "count", None)
    bar = _Progress(total, sys.stderr) if progress else None
    seen = 0
    for batch in batches:
        interpreter.run(batch)
        seen += 1
        if bar:
            bar.update(seen)
    if bar:
        bar.close(seen)
    if seen == 0:
        raise UsageError("calibration got no batches")
    return observers


def _all_values(graph: Graph) -> list[Value]:
    return [*graph.inputs, *(v for node in graph for v in node.outputs)]


def _selected(graph: Graph, names: Sequence[str] | None) -> list[Value]:
    values = _all_values(graph)
    if names is None:
        return [v for v in values if v.type.dtype.is_float]
    by_name = {v.name: v for v in values}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise UsageError(f"cannot observe unknown value(s): {', '.join(unknown)}")
    return [by_name[n] for n in names]


class _Progress:
    """``[#####.....] 12/40 batches`` redrawn in place; a plain counter when the total is
    unknown.  Silent until a few batches have gone by."""

    width = 30

    def __init__(self, total: int | None, stream: TextIO):
        self.total, self.stream, self.shown = total, stream, False

    def update(self, done: int) -> None:
        if done < PROGRESS_MIN_BATCHES and not self.shown:
            return
        if self.total is not None and self.total < PROGRESS_MIN_BATCHES:
            return
        self.shown = True
        if self.total:
            filled = self.width * done // self.total
            line = f"[{'#' * filled}{'.' * (self.width - filled)}] {done}/{self.total} batches"
        else:
            line = f"calibrating: {done} batches"
        self.stream.write(f"\r{line}")
        self.stream.flush()

    def close(self, done: int) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()
