"""quantize: post-training static quantization into QDQ ("fake-quant") form.

    %c = nn.conv(%x, %w, %b)                %x_q = quant.quantize(%x, %x_scale, %x_zp) {dtype=u8}
    %r = ew.relu(%c)                  ->    %x_dq = quant.dequantize(%x_q, %x_scale, %x_zp)
                                            %w = quant.dequantize(%w_int, %w_scale, %w_zp) {axis=0}
                                            %b = quant.dequantize(%b_int, %b_scale) {axis=0}
                                            %c = nn.conv(%x_dq, %w, %b)
                                            %r = ew.relu(%c)
                                            %r_q = quant.quantize(%r, %r_scale, %r_zp) {dtype=u8}
                                            %r_dq = quant.dequantize(%r_q, %r_scale, %r_zp)

The graph still computes in float, as the integer arithmetic will (the interpreter measures
the accuracy; ``lower-quantized`` turns it into integer ops; the ONNX export runs in
onnxruntime).  What is quantized, and why the rest stays float, is
``leptonc.quant.quantize_graph``'s business (docs/quantization.md); this pass reads the
calibration data and turns its options into a ``QuantConfig``.

    quantize{scheme=uint8,calib=calib/,method=entropy,ignore=head*;reduce.softmax}

* ``scheme``: ``uint8`` (u8 activations, i8 weights, as onnxruntime), ``int8``, ``int16``,
  ``int4-weights``, ``int8-weights`` (weight-only) or ``wNaM`` / ``wN`` (N-bit weights, M-bit
  activations, 2..16).
* ``calib``: a folder of .npz/.npy batches or one .npz of stacked samples; without it the
  pass calibrates on seeded random data and warns (smoke tests only).
* ``samples``: use the first N samples (0: all); ``batch-size``: samples per calibration batch
  when the model's batch dim is not fixed (default 32).
* ``method`` (minmax, moving-average, percentile, entropy, mse), ``percentile``, ``bins``:
  the activation observers; ``per-channel``: weight scales per output channel;
  ``symmetric``: symmetric activations; ``pow2``: power-of-two scales (fixed point).
* ``ignore``: node names, op types or fnmatch patterns to leave in float, separated by ``;``.
* ``keep-fragile``: leave softmax, normalisations, attention and detection heads in float.
* ``bias-correction``: correct each bias for the mean error its weight rounding causes.
* ``sensitivity``: a .json file: first quantize each layer alone, print the per-layer
  sensitivity table (output error, per-tensor vs per-channel weight error) on standard error
  and save it there (``leptonc.quant.sensitivity``).
* ``max-drop`` and ``eval``: accuracy-aware mode.  ``eval`` is an .npz of labelled data (the
  inputs by name plus ``labels``); the pass keeps the most sensitive layers in float until
  the top-1 accuracy on it drops by at most ``max-drop`` points
  (``leptonc.quant.search``), then quantizes with that choice.  The best model found is the
  result even when no choice meets the budget; the pass's notes say which.

The outputs change by design, so validate-each checks only shapes, dtypes and NaNs.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from leptonc.errors import LeptoncError
from leptonc.ir.graph import Graph
from leptonc.passmgr import Pass, PassResult, register_pass
from leptonc.quant.calib_data import Batch, CalibrationData, calibration_data
from leptonc.quant.config import QuantConfig, scheme_config
from leptonc.quant.qdq import quantize_graph
from leptonc.quant.search import labelled_evaluator, quantize_with_accuracy_budget, quantized_nodes
from leptonc.quant.sensitivity import SensitivityTable, quantizable_layers, sensitivity

DEFAULT_BATCH = 32  # calibration samples per batch when the model's batch dim is free


@register_pass
@dataclass(frozen=True)
class Quantize(Pass):
    """Insert quantize/dequantize pairs calibrated on ``calib`` (QDQ fake-quant form): u8/i8
    activations per tensor, i8 (or iN) weights per channel, i32 biases; see
    docs/quantization.md."""

    name: ClassVar[str] = "quantize"
    rtol: ClassVar[float] = 0.0
    atol: ClassVar[float] = sys.float_info.max  # quantization changes the outputs by design
    example: ClassVar[str] = "quantize{scheme=uint8,calib=calib.npz,method=entropy}"

    scheme: str = "uint8"
    calib: str = ""
    samples: int = 0
    batch_size: int = 0
    method: str = "minmax"
    percentile: float = 99.99
    bins: int = 2048
    per_channel: bool = True
    symmetric: bool = False
    pow2: bool = False
    ignore: str = ""
    keep_fragile: bool = True
    bias_correction: bool = False
    sensitivity: str = ""  # a .json path for the per-layer sensitivity table
    max_drop: float = -1.0  # negative: no accuracy budget
    eval_: str = ""  # option `eval`

    def __post_init__(self) -> None:
        if self.samples < 0 or self.batch_size < 0:
            raise ValueError("samples and batch-size must be at least 0 (0: all / automatic)")
        if self.sensitivity and not self.sensitivity.endswith(".json"):
            raise ValueError(f"sensitivity={self.sensitivity}: give a .json file name")
        if (self.max_drop >= 0) != bool(self.eval_):
            raise ValueError("max-drop and eval go together (a budget in top-1 points and the "
                             "labelled .npz to measure it on)")
        try:
            self.config()
        except LeptoncError as e:
            raise ValueError(str(e)) from None

    def config(self) -> QuantConfig:
        """The QuantConfig these options describe."""
        ignore = tuple(p.strip() for p in self.ignore.split(";") if p.strip())
        return scheme_config(self.scheme, per_channel=self.per_channel,
                             symmetric_activations=self.symmetric, method=self.method,
                             percentile=self.percentile, bins=self.bins, pow2_scales=self.pow2,
                             bias_correction=self.bias_correction, ignore=ignore,
                             keep_fragile_in_float=self.keep_fragile)

    def run(self, graph: Graph) -> PassResult:
        config = self.config()
        # Weight-only quantization reads no activations: no data (and no random-data warning).
        needs_data = not config.weight_only or config.bias_correction
        batches = self.batches(graph) if needs_data else ()
        notes, table = [], None
        if self.sensitivity or self.max_drop >= 0:
            batches = list(batches)  # read once: every analysis below runs over them again
        if self.sensitivity:
            table = sensitivity(graph, batches, config, progress=True)
            print(table.format(), file=sys.stderr)
            table.save(self.sensitivity)
            notes.append(f"sensitivity table of {len(table.names())} layers saved to "
                         f"{self.sensitivity}")
        if self.max_drop >= 0:
            config, budget_note = self._within_budget(graph, batches, config, table)
            notes.append(budget_note)
        report = quantize_graph(graph, batches, config)
        stats = report.stats
        return PassResult(stats["quantized-nodes"] > 0, stats, notes=notes)

    def _within_budget(self, graph: Graph, batches: list[Batch], config: QuantConfig,
                       table: SensitivityTable | None) -> tuple[QuantConfig, str]:
        """The config (``only``: the layers to quantize) the accuracy-aware search found best
        (ranking layers by ``table`` when the pass already computed it), and a note saying
        what it cost and whether the budget was met."""
        result = quantize_with_accuracy_budget(graph, batches, config,
                                               labelled_evaluator(self.eval_), self.max_drop,
                                               table=table, progress=True)
        only = quantized_nodes(quantizable_layers(graph, config), result.float_layers)
        best = result.best
        verdict = "met" if result.met else "NOT met (this is the best model found)"
        kept = ", ".join(best.float_layers) or "none"
        note = (f"accuracy budget {self.max_drop:g} points {verdict}: top-1 "
                f"{result.float_score:.2f} -> {best.score:.2f} with {len(best.float_layers)} of "
                f"{result.layers} layers in float ({kept}); {len(result.trials)} configurations "
                "tried")
        return config.with_only(only), note

    def batches(self, graph: Graph) -> CalibrationData:
        """The calibration batches, cut to ``samples``."""
        size = self.batch_size or (None if _static_batch(graph) else DEFAULT_BATCH)
        if not self.calib:
            rows = size or _static_batch(graph) or 1
            count = -(-self.samples // rows) if self.samples else 8
            return calibration_data(graph, None, batch_size=size, num_batches=count)
        data = calibration_data(graph, self.calib, batch_size=size)
        return _first_samples(graph, data, self.samples) if self.samples else data


def _static_batch(graph: Graph) -> int | None:
    shape = graph.inputs[0].type.shape if graph.inputs else None
    return shape[0] if shape and isinstance(shape[0], int) else None


def _first_samples(graph: Graph, data: CalibrationData, limit: int) -> CalibrationData:
    """The first ``limit`` samples (rows of the leading axis); a batch is cut short only when
    the model takes any batch size."""
    fixed = _static_batch(graph) is not None
    first = graph.inputs[0].name

    def batches() -> Iterator[Batch]:
        seen = 0
        for batch in data:
            rows = batch[first].shape[0] if batch[first].ndim else 1
            take = min(rows, limit - seen)
            if take < rows:
                if fixed or not batch[first].ndim:
                    return
                batch = {name: a[:take] for name, a in batch.items()}
            seen += take
            yield batch
            if seen >= limit:
                return

    return CalibrationData(batches, None)
