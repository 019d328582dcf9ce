"""Per-layer quantization sensitivity and accuracy-aware quantization, in one process.

    python tools/quant_sensitivity.py [--json sensitivity.json] [--mobilenet-scheme uint8]
                                      [--scheme w4a8] [--budget 0.5] [--out best.onnx]

1. The zoo's MobileNet-style model (seeded weights, depthwise-separable blocks; BatchNorm
   folded into the convs first, as a deployment pipeline does): the sensitivity table under
   ``--mobilenet-scheme`` (default uint8: u8 activations, per-channel i8 weights), each layer
   quantized alone, with each weight's error per tensor vs per channel, over the whole
   weight and in its worst output channel.  Then the same model quantized whole with
   per-tensor and with per-channel weights.
2. The trained digits CNN (``tools/make_models.py``): accuracy-aware quantization under a
   low-bit scheme (default ``w4a8``: 4-bit weights, whose full quantization loses more than
   the budget on the held-out split, where int8 alone stays within 0.5 points) with a budget
   of ``--budget`` points of top-1; prints every configuration tried, the layers kept in float
   and whether the budget was met (the exit status is 1 when it was not); ``--out`` saves the
   best model.  Calibration and the sensitivity analysis use 320 training images; accuracy
   is measured on the held-out split through ``labelled_evaluator``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import make_models
import model_zoo
import numpy as np

import leptonc
from leptonc.ir.graph import Graph
from leptonc.passmgr import run_pipeline
from leptonc.quant.config import scheme_config
from leptonc.quant.search import labelled_evaluator, quantize_with_accuracy_budget
from leptonc.quant.sensitivity import quantized_copy, relative_l2, run_batches, sensitivity

PIPELINE = "canonicalize,fold-batchnorm"
CALIBRATION_SAMPLES, BATCH = 320, 64
MOBILENET_BATCHES = 4


def _prepared(path: Path) -> Graph:
    graph = leptonc.load_onnx(path)
    run_pipeline(graph, PIPELINE)
    return graph


def mobilenet_table(scheme: str, json_path: Path | None) -> None:
    graph = _prepared(model_zoo.model_path("mobilenet"))
    batches = [model_zoo.sample_inputs("mobilenet", seed=s) for s in range(MOBILENET_BATCHES)]
    config = scheme_config(scheme)
    start = time.perf_counter()
    table = sensitivity(graph, batches, config)
    print(f"== mobilenet ({MOBILENET_BATCHES} seeded batches, {time.perf_counter() - start:.1f} s)")
    print(table.format())
    depthwise = {n.source_name for n in graph if n.op == "nn.conv"
                 and n.attr("group") == n.inputs[1].type.shape[0] > 1}
    worst = [(r.weight_worst_channel_per_tensor / r.weight_worst_channel_per_channel, r.name)
             for r in table.rows if r.weight_worst_channel_per_channel]
    for label, names in (("depthwise convs", depthwise),
                         ("other convs/matmuls", {n for _, n in worst} - depthwise)):
        ratios = [ratio for ratio, name in worst if name in names]
        if ratios:
            print(f"{label}: worst-channel weight error per-tensor / per-channel = "
                  f"{min(ratios):.1f}x .. {max(ratios):.1f}x")
    reference = run_batches(graph, batches)
    for per_channel in (False, True):
        quantized = quantized_copy(graph, batches, scheme_config(scheme, per_channel=per_channel))
        err = relative_l2(reference, run_batches(quantized, batches))
        print(f"whole model, {'per-channel' if per_channel else 'per-tensor '} weights: "
              f"output rel L2 {err:.4f}")
    if json_path is not None:
        table.save(json_path)
        print(f"table saved to {json_path}")


def digits_search(scheme: str, budget: float, out: Path | None) -> bool:
    x_train, _, x_test, y_test = make_models.digits_data()
    graph = _prepared(make_models.digits_cnn_onnx())
    name = graph.inputs[0].name
    calib = [{name: x_train[i:i + BATCH]} for i in range(0, CALIBRATION_SAMPLES, BATCH)]
    config = scheme_config(scheme)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "heldout.npz"
        np.savez(data, **{name: x_test, "labels": y_test})
        evaluate = labelled_evaluator(data)
        int8 = evaluate(quantized_copy(graph, calib, scheme_config("uint8")))
        start = time.perf_counter()
        result = quantize_with_accuracy_budget(graph, calib, config, evaluate, budget, out_path=out)
        seconds = time.perf_counter() - start
    print(f"\n== digits CNN, {scheme}, budget: top-1 drop <= {budget} points "
          f"(held-out, {len(y_test)} images; uint8 alone: {int8:.2f}%, float "
          f"{result.float_score:.2f}%)")
    print(result.format())
    kept = ", ".join(result.float_layers) or "none"
    print(f"budget {'met' if result.met else 'NOT met'}: {len(result.float_layers)} of "
          f"{result.layers} layers kept in float ({kept}); {len(result.trials)} configurations "
          f"tried in {seconds:.1f} s")
    return result.met


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="save the mobilenet table as JSON here")
    parser.add_argument("--mobilenet-scheme", default="uint8", help="scheme of the mobilenet table")
    parser.add_argument("--scheme", default="w4a8", help="scheme of the digits search")
    parser.add_argument("--budget", type=float, default=0.5, help="allowed top-1 drop (points)")
    parser.add_argument("--out", type=Path, help="save the best digits model here (.onnx or .lir)")
    args = parser.parse_args(argv)
    mobilenet_table(args.mobilenet_scheme, args.json)
    return 0 if digits_search(args.scheme, args.budget, args.out) else 1


if __name__ == "__main__":
    sys.exit(main())
