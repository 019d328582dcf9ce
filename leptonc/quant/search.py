"""Accuracy-aware quantization: keep the most sensitive layers in float until the accuracy
drop fits a budget.

    evaluate = labelled_evaluator("eval.npz")              # top-1 accuracy in %
    result = quantize_with_accuracy_budget(graph, calib, scheme_config("w4a8"), evaluate,
                                           max_drop=0.5, out_path="model.q.onnx")
    print(result.format())

Steps: score the float graph; quantize every layer and score that; if the drop exceeds
``max_drop``, rank the layers by sensitivity (``leptonc.quant.sensitivity``, each layer
quantized alone) and keep the top ``k`` in float, for growing ``k``.  Two strategies find
``k``: ``linear`` tries k = 1, 2, ... and stops at the first that fits (k evaluations);
``bisect`` assumes the drop shrinks as k grows and halves [1, max] (about log2(max) + 1
evaluations).  Budgets that one or two float layers meet, the common case, favour
``linear``, which is the default; ``bisect`` pays off when many layers must stay float.

Every configuration tried is kept with its score.  The result's model is the best one
found: the fewest float layers among those within budget (ties: the smaller drop), or,
when none is, the smallest drop (ties: fewer float layers).  It is saved when ``out_path``
is given, whether or not the budget was met, and ``met`` says which it was.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from leptonc.artifact_io import read_npz
from leptonc.errors import InputError, UsageError
from leptonc.interp import Interpreter
from leptonc.ir.graph import Graph
from leptonc.quant.config import QuantConfig
from leptonc.quant.sensitivity import (
    Layer,
    SensitivityTable,
    quantizable_layers,
    quantized_copy,
    sensitivity,
)

Evaluate = Callable[[Graph], float]
STRATEGIES = ("linear", "bisect")
LABELS = "labels"

__all__ = ["STRATEGIES", "Evaluate", "SearchResult", "Trial", "labelled_evaluator",
           "quantize_with_accuracy_budget", "quantized_nodes", "save_graph"]


@dataclass(slots=True)
class Trial:
    float_layers: tuple[str, ...]  # the layers kept in float, most sensitive first
    score: float
    drop: float  # float score - this score

    def fits(self, max_drop: float) -> bool:
        return self.drop <= max_drop


@dataclass(slots=True)
class SearchResult:
    float_score: float
    max_drop: float
    met: bool
    best: Trial
    graph: Graph  # the best model, in QDQ form
    trials: list[Trial] = field(default_factory=list)
    layers: int = 0  # quantizable layers in the graph
    saved_to: Path | None = None
    table: SensitivityTable | None = None  # None when quantizing everything already fit

    @property
    def float_layers(self) -> tuple[str, ...]:
        return self.best.float_layers

    def format(self) -> str:
        verdict = "met" if self.met else "NOT met"
        lines = [f"float score {self.float_score:.4g}; budget: drop <= {self.max_drop:g} ({verdict})"]
        for t in self.trials:
            kept = ", ".join(t.float_layers) or "none"
            lines.append(f"  {len(t.float_layers):>3} float layers: score {t.score:.4g} "
                         f"(drop {t.drop:+.4g})  float: {kept}")
        lines.append(f"best: {len(self.best.float_layers)} of {self.layers} layers in float, "
                     f"score {self.best.score:.4g} (drop {self.best.drop:+.4g})"
                     + (f", saved to {self.saved_to}" if self.saved_to else ""))
        return "\n".join(lines)


# ----- the search ----------------------------------------------------------------------------------
class _Searcher:
    """Quantizes and scores configurations, remembering every trial and its graph's rank."""

    def __init__(self, graph: Graph, batches: list, config: QuantConfig, evaluate: Evaluate,
                 max_drop: float, progress: bool):
        self.graph, self.batches, self.config = graph, batches, config
        self.evaluate, self.max_drop, self.progress = evaluate, max_drop, progress
        self.layers = quantizable_layers(graph, config)
        self.float_score = float(evaluate(graph))
        self.trials: list[Trial] = []
        self.best: tuple[Trial, Graph] | None = None

    def try_float(self, float_layers: Sequence[Layer]) -> Trial:
        only = quantized_nodes(self.layers, {layer.name for layer in float_layers})
        quantized = quantized_copy(self.graph, self.batches, self.config.with_only(only))
        score = float(self.evaluate(quantized))
        trial = Trial(tuple(layer.name for layer in float_layers), score, self.float_score - score)
        self.trials.append(trial)
        if self.best is None or self._rank(trial) < self._rank(self.best[0]):
            self.best = trial, quantized
        if self.progress:
            print(f"accuracy search: {len(trial.float_layers)} float layers -> score {score:.4g} "
                  f"(drop {trial.drop:+.4g})", file=sys.stderr)
        return trial

    def _rank(self, t: Trial) -> tuple:
        """Within budget beats over; then fewer float layers (within) or smaller drop (over)."""
        if t.fits(self.max_drop):
            return (0, len(t.float_layers), t.drop)
        return (1, t.drop, len(t.float_layers))

    def linear(self, order: list[Layer], limit: int) -> None:
        for k in range(1, limit + 1):
            if self.try_float(order[:k]).fits(self.max_drop):
                return

    def bisect(self, order: list[Layer], limit: int) -> None:
        """Smallest k in [1, limit] that fits, assuming fewer float layers never do better."""
        if not self.try_float(order[:limit]).fits(self.max_drop):
            return
        fails, fits = 0, limit
        while fits - fails > 1:
            mid = (fails + fits) // 2
            if self.try_float(order[:mid]).fits(self.max_drop):
                fits = mid
            else:
                fails = mid


def quantize_with_accuracy_budget(graph: Graph, batches: Iterable[Mapping[str, np.ndarray]],
                                  config: QuantConfig, evaluate: Evaluate, max_drop: float,
                                  out_path: str | Path | None = None, *,
                                  table: SensitivityTable | None = None,
                                  strategy: str = "linear", max_float_layers: int | None = None,
                                  progress: bool = False) -> SearchResult:
    """Quantize ``graph`` (left unchanged; the result holds the quantized copy) under
    ``config``, keeping the fewest most-sensitive layers in float that bring
    ``evaluate(float graph) - evaluate(quantized)`` within ``max_drop``.  ``batches`` both
    calibrate and drive the sensitivity analysis (or pass a precomputed ``table``);
    ``max_float_layers`` caps the search (default: every layer)."""
    if max_drop < 0:
        raise UsageError(f"the accuracy budget must be at least 0, got {max_drop}")
    if strategy not in STRATEGIES:
        raise UsageError(f"unknown search strategy '{strategy}' (choose from {', '.join(STRATEGIES)})")
    searcher = _Searcher(graph, list(batches), config, evaluate, max_drop, progress)
    if not searcher.layers:
        raise UsageError("accuracy-aware quantization: the configuration quantizes no layer")
    limit = len(searcher.layers) if max_float_layers is None else min(max_float_layers,
                                                                       len(searcher.layers))
    if limit < 0:
        raise UsageError(f"max_float_layers must be at least 0, got {max_float_layers}")
    if not searcher.try_float([]).fits(max_drop) and limit > 0:
        table = table or sensitivity(graph, searcher.batches, config, progress=progress)
        order = _layers_in_order(searcher.layers, table)
        getattr(searcher, strategy)(order, limit)
    best, best_graph = searcher.best
    saved = save_graph(best_graph, out_path) if out_path is not None else None
    return SearchResult(searcher.float_score, max_drop, best.fits(max_drop), best, best_graph,
                        searcher.trials, len(searcher.layers), saved, table)


def quantized_nodes(layers: Sequence[Layer], float_layers: Iterable[str]) -> set[str]:
    """``QuantConfig.only`` for quantizing ``layers`` except those named in ``float_layers``."""
    keep = set(float_layers)
    return {name for layer in layers if layer.name not in keep for name in layer.nodes}


def _layers_in_order(layers: list[Layer], table: SensitivityTable) -> list[Layer]:
    by_name = {layer.name: layer for layer in layers}
    missing = [name for name in table.names() if name not in by_name]
    if missing:
        raise UsageError(f"the sensitivity table names layers this graph does not quantize: "
                         f"{', '.join(missing[:5])}")
    ranked = [by_name[name] for name in table.names()]
    listed = set(table.names())
    return ranked + [layer for layer in layers if layer.name not in listed]


# ----- saving and evaluating -----------------------------------------------------------------------
def save_graph(graph: Graph, path: str | Path) -> Path:
    """Write ``graph`` as ONNX (``.onnx``, QDQ form) or leptonc IR (``.lir``)."""
    path = Path(path)
    if path.suffix == ".onnx":
        from leptonc.export import save_onnx

        save_onnx(graph, path)
    elif path.suffix == ".lir":
        from leptonc.ir.serialize import save

        save(graph, path)
    else:
        raise UsageError(f"cannot save a model as '{path}': use a .onnx or .lir file name")
    return path


def labelled_evaluator(path: str | Path, batch_size: int = 256, output: str | None = None
                       ) -> Evaluate:
    """``evaluate(graph) -> top-1 accuracy in %`` on an .npz holding one array per graph input
    (samples on axis 0) and ``labels`` (class indices); ``output`` names the logits output
    (default: the first)."""
    path = Path(path)
    arrays = read_npz(path, f"evaluation data '{path}'")
    if LABELS not in arrays:
        raise UsageError(f"evaluation data '{path}' has no '{LABELS}' array "
                         f"(it has: {', '.join(sorted(arrays)) or 'nothing'})")
    labels = np.asarray(arrays.pop(LABELS)).reshape(-1)

    def evaluate(graph: Graph) -> float:
        inputs = _evaluation_inputs(graph, arrays, path, len(labels))
        name = output or graph.output_names[0]
        if name not in graph.output_names:
            raise UsageError(f"evaluation: the model has no output '{name}'")
        size = _batch_size(graph, batch_size)
        interpreter = Interpreter(graph)
        predictions = np.concatenate([
            interpreter.run({k: a[i:i + size] for k, a in inputs.items()})[name].argmax(axis=-1)
            .reshape(-1) for i in range(0, len(labels), size)])
        return 100.0 * float(np.mean(predictions == labels))

    return evaluate


def _evaluation_inputs(graph: Graph, arrays: dict[str, np.ndarray], path: Path, count: int
                       ) -> dict[str, np.ndarray]:
    missing = [v.name for v in graph.inputs if v.name not in arrays]
    if missing:
        raise InputError(f"evaluation data '{path}' lacks input(s) {', '.join(missing)}")
    wrong = [v.name for v in graph.inputs if len(arrays[v.name]) != count]
    if wrong:
        raise InputError(f"evaluation data '{path}': {', '.join(wrong)} must have one row per "
                         f"label ({count})")
    return {v.name: arrays[v.name] for v in graph.inputs}


def _batch_size(graph: Graph, default: int) -> int:
    """The model's fixed batch size, if its inputs have one; else ``default``."""
    shape = graph.inputs[0].type.shape if graph.inputs else None
    return shape[0] if shape and isinstance(shape[0], int) else default
