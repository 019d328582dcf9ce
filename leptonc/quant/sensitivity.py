"""Per-layer quantization sensitivity: the error each layer adds when it alone is quantized.

For every layer the quantize pass would quantize (a conv/matmul with the bias and ReLU/clip
it absorbs, or a single quantizable node), a copy of the float graph is quantized with
``config.with_only(<that layer>)`` and run on the batches; its outputs are compared with the
float graph's.  The default measure is the relative L2 error of all float outputs together
(and the SQNR in dB, ``-20 log10`` of it); for a classifier (first output ``[N, classes]``)
the table also gives the top-1 agreement with the float model, and the top-1 accuracy when
labels are given.  For layers with a constant weight it also gives the weight's own
quantization error (relative L2 of ``W_q - W``) per tensor and per channel: a depthwise conv,
whose channels each have a handful of taps of very different magnitudes, shows why
per-channel weight scales matter.

    table = sensitivity(graph, batches, scheme_config("int8"))
    print(table.format())
    table.save("sensitivity.json")

The rows are sorted most sensitive first; ``table.names()`` gives that order for the
accuracy-aware search (``leptonc.quant.search``).
"""

from __future__ import annotations

import json
import math
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from leptonc.errors import OutputError, UsageError
from leptonc.interp import Interpreter
from leptonc.ir.graph import Graph, Node, Value
from leptonc.quant.config import QuantConfig
from leptonc.quant.observers import MinMax
from leptonc.quant.qdq_plan import node_label, plan_graph, weight_slot

Outputs = dict[str, np.ndarray]
# metric(float outputs per batch, quantized outputs per batch) -> error (higher: worse)
Metric = Callable[[Sequence[Outputs], Sequence[Outputs]], float]

__all__ = ["Layer", "LayerSensitivity", "Metric", "SensitivityTable", "clone_graph",
           "WeightError", "quantizable_layers", "relative_l2", "sensitivity", "weight_error"]


# ----- graphs --------------------------------------------------------------------------------------
def clone_graph(graph: Graph) -> Graph:
    """A structural copy: new values and nodes with the same names, types and attributes;
    constant arrays and fused-region bodies are shared (passes replace constants, they do
    not write into them)."""
    copy = Graph(graph.name)
    copy.metadata = dict(graph.metadata)
    mapping: dict[int, Value] = {}
    for v in graph.inputs:
        mapping[id(v)] = copy.add_input(v.name, v.type)
    for v in graph.constants.values():
        mapping[id(v)] = copy.add_constant(v.data, v.name, v.type)
    for node in graph:
        new = Node(node.op, [None if v is None else mapping[id(v)] for v in node.inputs],
                   dict(node.attrs), node.source_name)
        copy.make_outputs(new, [v.type for v in node.outputs], [v.name for v in node.outputs])
        copy.append(new)
        mapping.update({id(old): v for old, v in zip(node.outputs, new.outputs, strict=True)})
    copy.set_outputs([mapping[id(v)] for v in graph.outputs], graph.output_names)
    return copy


def run_batches(graph: Graph, batches: Iterable[Mapping[str, np.ndarray]]) -> list[Outputs]:
    interpreter = Interpreter(graph)
    return [interpreter.run(batch) for batch in batches]


# ----- layers --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Layer:
    """What quantizing one layer means: a unique name for tables, its op, and its nodes'
    result names (unique in the graph, unlike source names: one ONNX Gemm gives a matmul and
    an add) for ``QuantConfig.only``."""

    name: str
    op: str
    nodes: tuple[str, ...]
    anchor: Node = field(compare=False, repr=False)


def quantizable_layers(graph: Graph, config: QuantConfig) -> list[Layer]:
    """The layers ``config`` quantizes, in graph order: each conv/matmul unit (with its bias
    add and activation) once, and every other quantized node on its own.  A layer is named
    by its node's source name, or by its result's name where several layers share that."""
    plan = plan_graph(graph, config.with_only(None))
    anchors = [n for n in graph if plan.quantized(n) and n not in plan.fused_into]
    labels = Counter(node_label(n) for n in anchors)
    layers = []
    for node in anchors:
        unit = plan.units.get(node)
        members = unit.nodes if unit is not None else [node]
        name = node_label(node) if labels[node_label(node)] == 1 else node.outputs[0].name
        layers.append(Layer(name, node.op, tuple(n.outputs[0].name for n in members), node))
    return layers


# ----- measures ------------------------------------------------------------------------------------
def _float_pairs(reference: Sequence[Outputs], quantized: Sequence[Outputs]
                 ) -> Iterable[tuple[np.ndarray, np.ndarray]]:
    for ref, got in zip(reference, quantized, strict=True):
        for name, r in ref.items():
            if r.dtype.kind == "f":
                yield r.astype(np.float64), got[name].astype(np.float64)


def relative_l2(reference: Sequence[Outputs], quantized: Sequence[Outputs]) -> float:
    """``||q - f|| / ||f||`` over every float output of every batch together."""
    err = ref = 0.0
    for r, q in _float_pairs(reference, quantized):
        err += float(np.sum((q - r) ** 2))
        ref += float(np.sum(r ** 2))
    return math.sqrt(err / ref) if ref > 0 else (0.0 if err == 0 else math.inf)


def sqnr_db(rel_l2: float) -> float:
    return math.inf if rel_l2 == 0 else -20.0 * math.log10(rel_l2)


def _top1(outputs: Sequence[Outputs], name: str) -> np.ndarray:
    return np.concatenate([o[name].argmax(axis=-1).reshape(-1) for o in outputs])


def _is_classifier(graph: Graph) -> bool:
    shape = graph.outputs[0].type.shape if graph.outputs else None
    return graph.outputs[0].type.dtype.is_float and shape is not None and len(shape) == 2


@dataclass(frozen=True, slots=True)
class WeightError:
    """Relative L2 error of a quantized weight, over the whole tensor and in its worst output
    channel (where a per-tensor scale hurts: a channel whose weights are all small rounds to
    a few levels, or to zero, and the layer's output channel with it)."""

    overall: float
    worst_channel: float


def weight_error(w: np.ndarray, config: QuantConfig, axis: int | None, channel_axis: int | None
                 ) -> WeightError:
    """The error of quantizing ``w`` to ``config.weights`` per tensor (``axis`` None) or per
    channel along ``axis``, round-half-even as the quantize pass does; channels for the worst
    case lie along ``channel_axis`` (None: the whole tensor is one channel)."""
    w = np.asarray(w, np.float64)
    observer = MinMax(axis)
    observer.observe(w)
    scale, zero = observer.qparams(config.weights, config.symmetric_weights, axis)
    shape = [1] * w.ndim
    if axis is not None:
        shape[axis] = -1
    scale = scale.astype(np.float64).reshape(shape)
    zero = zero.astype(np.float64).reshape(shape)
    err = (np.clip(np.round(w / scale) + zero, config.weights.min, config.weights.max) - zero) * scale - w
    return WeightError(_rel(err, w), float(np.max(_rel_rows(err, w, channel_axis))))


def _rel(err: np.ndarray, ref: np.ndarray) -> float:
    norm = float(np.linalg.norm(ref))
    return float(np.linalg.norm(err)) / norm if norm > 0 else 0.0


def _rel_rows(err: np.ndarray, ref: np.ndarray, axis: int | None) -> np.ndarray:
    if axis is None:
        return np.array([_rel(err, ref)])
    e = np.moveaxis(err, axis, 0).reshape(err.shape[axis], -1)
    r = np.moveaxis(ref, axis, 0).reshape(ref.shape[axis], -1)
    norms = np.linalg.norm(r, axis=1)
    return np.where(norms > 0, np.linalg.norm(e, axis=1) / np.where(norms > 0, norms, 1.0), 0.0)


# ----- the table -----------------------------------------------------------------------------------
@dataclass(slots=True)
class LayerSensitivity:
    name: str
    op: str
    error: float  # the metric (default: relative L2 of the outputs); higher is more sensitive
    sqnr_db: float | None = None  # for the default metric
    top1_agreement: float | None = None  # fraction of samples whose argmax matches float
    top1_accuracy: float | None = None  # with labels
    # Relative L2 error of the layer's weight alone, per-tensor vs per-channel scales: over
    # the whole weight, and in its worst output channel.
    weight_error_per_tensor: float | None = None
    weight_error_per_channel: float | None = None
    weight_worst_channel_per_tensor: float | None = None
    weight_worst_channel_per_channel: float | None = None


@dataclass(slots=True)
class SensitivityTable:
    """Rows sorted most sensitive first, plus what was measured and how."""

    rows: list[LayerSensitivity]
    metric: str
    scheme: str
    float_top1_accuracy: float | None = None

    def names(self) -> list[str]:
        """Layer names, most sensitive first."""
        return [r.name for r in self.rows]

    def format(self) -> str:
        """One line per layer: the output error it adds alone, then its weight's error with a
        per-tensor vs a per-channel scale (whole tensor, and worst output channel)."""
        head = (f"{'layer':<24} {'op':<18} {self.metric:>10} {'SQNR dB':>8} {'top-1 agr':>9}  "
                f"{'W err tensor/chan':>17}  {'worst ch tensor/chan':>20}")
        lines = [f"per-layer sensitivity ({self.scheme}; each layer quantized alone, "
                 "most sensitive first)", head, "-" * len(head)]
        for r in self.rows:
            lines.append(
                f"{r.name[:24]:<24} {r.op[:18]:<18} {r.error:>10.4g} {_num(r.sqnr_db, '.1f'):>8} "
                f"{_num(r.top1_agreement, '.2%'):>9}  "
                f"{_pair(r.weight_error_per_tensor, r.weight_error_per_channel):>17}  "
                f"{_pair(r.weight_worst_channel_per_tensor, r.weight_worst_channel_per_channel):>20}")
        if self.float_top1_accuracy is not None:
            lines.append(f"float top-1 accuracy: {self.float_top1_accuracy:.2%}")
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {"scheme": self.scheme, "metric": self.metric,
                "float_top1_accuracy": self.float_top1_accuracy,
                "layers": [{k: _json_number(v) for k, v in asdict(r).items()} for r in self.rows]}

    def save(self, path: str | Path) -> None:
        try:
            Path(path).write_text(json.dumps(self.to_json(), indent=2) + "\n")
        except OSError as e:
            raise OutputError(f"cannot write the sensitivity table to '{path}': {e}") from None


def _num(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def _pair(per_tensor: float | None, per_channel: float | None) -> str:
    if per_tensor is None:
        return "-"
    return f"{per_tensor:.4f}/{_num(per_channel, '.4f')}"


def _json_number(v):
    """JSON has no infinity: an exact (error-free) layer's SQNR is written as null."""
    return None if isinstance(v, float) and not math.isfinite(v) else v


# ----- the analysis --------------------------------------------------------------------------------
def quantized_copy(graph: Graph, batches: Sequence[Mapping[str, np.ndarray]], config: QuantConfig
                   ) -> Graph:
    """A copy of ``graph`` in QDQ form under ``config`` (the original stays float)."""
    from leptonc.quant.qdq import quantize_graph

    copy = clone_graph(graph)
    quantize_graph(copy, batches, config, progress=False)
    return copy


def _weight_errors(layer: Layer, config: QuantConfig) -> dict[str, float]:
    """The weight-error fields of a layer's row (none for layers without a constant weight)."""
    slot = weight_slot(layer.anchor) if layer.op in ("nn.conv", "linalg.matmul") else None
    if slot is None:
        return {}
    index, axis = slot
    w = layer.anchor.inputs[index].data
    per_tensor = weight_error(w, config, None, axis)
    fields = {"weight_error_per_tensor": per_tensor.overall,
              "weight_worst_channel_per_tensor": per_tensor.worst_channel}
    if axis is not None:
        per_channel = weight_error(w, config, axis, axis)
        fields.update(weight_error_per_channel=per_channel.overall,
                      weight_worst_channel_per_channel=per_channel.worst_channel)
    return fields


def sensitivity(graph: Graph, batches: Iterable[Mapping[str, np.ndarray]], config: QuantConfig,
                metric: Metric | None = None, labels: np.ndarray | None = None,
                progress: bool = False) -> SensitivityTable:
    """Quantize each layer alone (``config.with_only``), measure the error it adds at the
    outputs on ``batches`` (calibration and measurement both use them), and sort the layers
    most sensitive first.  ``metric(float_outputs, quantized_outputs)`` replaces the default
    relative L2 error; ``labels`` (concatenated over the batches) adds top-1 accuracy."""
    batches = list(batches)
    if not batches:
        raise UsageError("sensitivity analysis got no batches")
    layers = quantizable_layers(graph, config)
    if not layers:
        raise UsageError("sensitivity analysis: the configuration quantizes no layer of the graph")
    reference = run_batches(graph, batches)
    classifier = _is_classifier(graph)
    out = graph.output_names[0]
    ref_top1 = _top1(reference, out) if classifier else None
    if labels is not None and (ref_top1 is None or len(labels) != len(ref_top1)):
        raise UsageError("sensitivity analysis: labels need a classifier output with one row "
                         "per label")
    rows = []
    for i, layer in enumerate(layers):
        quantized = run_batches(quantized_copy(graph, batches, config.with_only(layer.nodes)),
                                batches)
        rel = relative_l2(reference, quantized)
        row = LayerSensitivity(layer.name, layer.op, rel if metric is None else
                               metric(reference, quantized), sqnr_db(rel) if metric is None else None)
        if classifier:
            top1 = _top1(quantized, out)
            row.top1_agreement = float(np.mean(top1 == ref_top1))
            if labels is not None:
                row.top1_accuracy = float(np.mean(top1 == labels))
        for name, value in _weight_errors(layer, config).items():
            setattr(row, name, value)
        rows.append(row)
        if progress:
            print(f"\rsensitivity: {i + 1}/{len(layers)} layers", end="", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    rows.sort(key=lambda r: -r.error)  # stable: equally sensitive layers stay in graph order
    scheme = f"{config.activations or 'float'} activations, {config.weights} weights, " \
             f"{'per-channel' if config.per_channel else 'per-tensor'}"
    return SensitivityTable(rows, "rel L2" if metric is None else getattr(metric, "__name__", "metric"),
                            scheme,
                            float(np.mean(ref_top1 == labels)) if labels is not None else None)
