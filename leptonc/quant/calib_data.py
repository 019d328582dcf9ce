"""Calibration data: batches of named inputs, read lazily so only one batch is in memory.

Sources:
- a folder: each ``.npz`` file is one batch (one array per input name); each ``.npy`` file
  is one batch of a single-input model; files are taken in name order;
- one ``.npz`` file whose arrays share a leading sample axis, split into ``batch_size`` rows;
- a Python iterable of ``{input name: array}`` (or bare arrays for a single-input model);
- seeded random data shaped like the graph's inputs (smoke tests only: it says nothing about
  the real activation ranges, so it warns).

Every batch is checked against the graph's input types before use; problems are one-line
``UsageError``s naming the file.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sized
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from leptonc.errors import InputError, UsageError
from leptonc.interp import check_input
from leptonc.ir.graph import Graph

Batch = dict[str, np.ndarray]

__all__ = ["Batch", "CalibrationData", "calibration_data", "from_iterable", "from_path",
           "random_batches"]


@dataclass(slots=True)
class CalibrationData:
    """Re-iterable batches; ``count`` is the number of batches when known up front."""

    make: Callable[[], Iterator[Batch]]
    count: int | None

    def __iter__(self) -> Iterator[Batch]:
        return self.make()


def calibration_data(graph: Graph, source: str | Path | Iterable[Any] | None, *,
                     batch_size: int | None = None, num_batches: int = 8, seed: int = 0
                     ) -> CalibrationData:
    """Batches from a path, an iterable, or (``source is None``) seeded random data."""
    if source is None:
        return random_batches(graph, num_batches, batch_size, seed)
    if isinstance(source, str | Path):
        return from_path(graph, source, batch_size)
    return from_iterable(graph, source)


def from_path(graph: Graph, path: str | Path, batch_size: int | None = None) -> CalibrationData:
    path = Path(path)
    if not path.exists():
        raise UsageError(f"calibration data '{path}' does not exist")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".npz", ".npy") and p.is_file())
        if not files:
            raise UsageError(f"calibration folder '{path}' has no .npz or .npy files")
        return CalibrationData(lambda: (_read_file(graph, f) for f in files), len(files))
    if path.suffix != ".npz":
        raise UsageError(f"calibration data '{path}' is neither a folder nor an .npz file")
    return _split_samples(graph, path, batch_size)


def from_iterable(graph: Graph, items: Iterable[Any]) -> CalibrationData:
    count = len(items) if isinstance(items, Sized) else None

    def batches() -> Iterator[Batch]:
        for n, item in enumerate(items):
            yield _checked(graph, _as_mapping(graph, item, f"item {n}"), f"item {n}")

    return CalibrationData(batches, count)


def random_batches(graph: Graph, num_batches: int = 8, batch_size: int | None = None,
                   seed: int = 0) -> CalibrationData:
    """N(0, 1) floats, zeros for integers (always valid indices), ones for bools; symbolic
    and unknown dims take ``batch_size`` (default 1)."""
    warnings.warn("calibrating on random data: the quantization ranges are only good for "
                  "smoke tests", stacklevel=2)
    size = batch_size or 1

    def batches() -> Iterator[Batch]:
        rng = np.random.default_rng(seed)
        for _ in range(num_batches):
            yield {v.name: _random(rng, v.type, size) for v in graph.inputs}

    return CalibrationData(batches, num_batches)


def _random(rng: np.random.Generator, type: Any, size: int) -> np.ndarray:
    shape = tuple(d if isinstance(d, int) else size for d in (type.shape or ()))
    dtype = type.dtype
    if dtype.is_float:
        return rng.standard_normal(shape).astype(dtype.numpy)
    if dtype.kind == "bool":
        return np.ones(shape, dtype.numpy)
    return np.zeros(shape, dtype.numpy)


def _read_file(graph: Graph, path: Path) -> Batch:
    try:
        if path.suffix == ".npy":
            item: Any = np.load(path, allow_pickle=False)
        else:
            with np.load(path, allow_pickle=False) as npz:
                item = {name: npz[name] for name in npz.files}
    except (OSError, ValueError) as e:
        raise UsageError(f"calibration file '{path}' cannot be read: {e}") from None
    return _checked(graph, _as_mapping(graph, item, f"file '{path}'"), f"file '{path}'")


def _split_samples(graph: Graph, path: Path, batch_size: int | None) -> CalibrationData:
    """One .npz of samples stacked on axis 0, cut into batches.  With a static batch dim an
    incomplete last batch could not run, so it is dropped (with a warning)."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {v.name: npz[v.name] for v in graph.inputs if v.name in npz.files}
        _require_all(graph, arrays, f"calibration file '{path}'")
    lengths = {name: a.shape[0] if a.ndim else 0 for name, a in arrays.items()}
    if len(set(lengths.values())) > 1 or 0 in lengths.values():
        raise UsageError(f"calibration file '{path}': arrays need one shared leading sample "
                         f"axis, got lengths {lengths}")
    total = next(iter(lengths.values()), 0)
    static = _static_batch(graph)
    size = batch_size or static or 1
    count = total // size if static else -(-total // size)
    if count * size < total:
        warnings.warn(f"calibration file '{path}': dropping the last {total - count * size} "
                      f"samples (the model's batch size is fixed at {static})", stacklevel=3)
    if count == 0:
        raise UsageError(f"calibration file '{path}' has {total} samples, fewer than one batch "
                         f"of {size}")

    def batches() -> Iterator[Batch]:
        for start in range(0, count * size, size):
            where = f"file '{path}' samples {start}..{start + size - 1}"
            yield _checked(graph, {n: a[start:start + size] for n, a in arrays.items()}, where)

    return CalibrationData(batches, count)


def _static_batch(graph: Graph) -> int | None:
    """The leading dim shared by the inputs when it is a fixed number."""
    first = graph.inputs[0].type.shape if graph.inputs else None
    return first[0] if first and isinstance(first[0], int) else None


def _as_mapping(graph: Graph, item: Any, where: str) -> Mapping[str, Any]:
    if isinstance(item, Mapping):
        return item
    if len(graph.inputs) == 1:
        return {graph.inputs[0].name: item}
    raise UsageError(f"calibration {where}: a bare array only works for a single-input model; "
                     f"give {{name: array}} for inputs {', '.join(v.name for v in graph.inputs)}")


def _require_all(graph: Graph, item: Mapping[str, Any], where: str) -> None:
    for v in graph.inputs:
        if v.name not in item:
            raise UsageError(f"{where} lacks input '{v.name}' (it has: "
                             f"{', '.join(sorted(item)) or 'nothing'})")


def _checked(graph: Graph, item: Mapping[str, Any], where: str) -> Batch:
    """The graph's inputs from ``item`` (extra arrays such as labels are ignored)."""
    _require_all(graph, item, f"calibration {where}")
    try:
        return {v.name: check_input(v, item[v.name]) for v in graph.inputs}
    except InputError as e:
        raise UsageError(f"calibration {where}: {e}") from None
