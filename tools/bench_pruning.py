"""What pruning costs in accuracy and buys in speed, in one process.

    python tools/bench_pruning.py [--runs 20] [--skip-resnet]

1. The trained digits CNN (``tools/make_models.py``), held-out accuracy in the leptonc
   interpreter: dense f32; ``prune-channels{ratio=0.3}`` without and with
   ``recalibrate-batchnorm`` on the training split; ``sparsify{pattern=2:4}`` (also with
   recalibration).  Says whether recalibration recovers at least half of the lost accuracy.
2. The zoo's light ResNet-50 (seeded weights) at ``prune-channels{ratio=0.5}``: MACs and
   parameters before and after (``leptonc.analysis.graph_stats``), and the onnxruntime
   latency of the exported dense and pruned models (2 intra-op threads, runs interleaved so
   background load hits both alike, median of ``--runs``).
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
from leptonc.analysis import graph_stats
from leptonc.export import save_onnx
from leptonc.ir.graph import Graph
from leptonc.passes.pruning.recalibrate_batchnorm import recalibrate_batchnorm
from leptonc.passmgr import run_pipeline

DIGITS_RATIO = 0.3
RESNET_RATIO = 0.5
SPEEDUP_TARGET = 1.6
_CALIBRATION_BATCH = 128


def _pruned(path: Path, pipeline: str) -> Graph:
    graph = leptonc.load_onnx(path)
    run_pipeline(graph, pipeline)
    return graph


def _recalibrated(graph: Graph, x_train: np.ndarray) -> Graph:
    name = graph.inputs[0].name
    recalibrate_batchnorm(graph, ({name: x_train[i:i + _CALIBRATION_BATCH]}
                                  for i in range(0, len(x_train), _CALIBRATION_BATCH)))
    return graph


def bench_digits() -> None:
    x_train, _, x_test, y_test = make_models.digits_data()
    path = make_models.digits_cnn_onnx()
    acc = {"dense": make_models.accuracy(path, x_test, y_test)}
    prune = f"canonicalize,prune-channels{{ratio={DIGITS_RATIO}}}"
    sparse = "canonicalize,sparsify{pattern=2:4}"
    acc["pruned"] = make_models.accuracy(_pruned(path, prune), x_test, y_test)
    acc["pruned+recal"] = make_models.accuracy(
        _recalibrated(_pruned(path, prune), x_train), x_test, y_test)
    acc["2:4"] = make_models.accuracy(_pruned(path, sparse), x_test, y_test)
    acc["2:4+recal"] = make_models.accuracy(
        _recalibrated(_pruned(path, sparse), x_train), x_test, y_test)

    print(f"digits CNN: held-out accuracy ({len(x_test)} images, leptonc interpreter)")
    rows = [("dense f32", "dense"), (f"prune-channels{{ratio={DIGITS_RATIO}}}", "pruned"),
            ("  + recalibrate-batchnorm (train split)", "pruned+recal"),
            ("sparsify{pattern=2:4}", "2:4"), ("  + recalibrate-batchnorm (train split)", "2:4+recal")]
    for label, key in rows:
        print(f"  {label:42} {acc[key]:7.2%}")
    lost = acc["dense"] - acc["pruned"]
    recovered = (acc["pruned+recal"] - acc["pruned"]) / lost if lost > 0 else 1.0
    verdict = "yes" if recovered >= 0.5 else "no"
    print(f"  recalibration recovers {recovered:.0%} of the pruning loss "
          f"(at least half: {verdict})")


def _session(path: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _latencies(sessions: list, feeds: dict, runs: int) -> list[float]:
    """Median seconds per run of each session, runs interleaved after one warm-up each."""
    for s in sessions:
        s.run(None, feeds)
    times: list[list[float]] = [[] for _ in sessions]
    for _ in range(runs):
        for s, t in zip(sessions, times, strict=True):
            start = time.perf_counter()
            s.run(None, feeds)
            t.append(time.perf_counter() - start)
    return [float(np.median(t)) for t in times]


def bench_resnet(runs: int) -> None:
    path = model_zoo.model_path("resnet50")
    dense = _pruned(path, "canonicalize")
    pruned = _pruned(path, f"canonicalize,prune-channels{{ratio={RESNET_RATIO}}}")
    before, after = graph_stats(dense), graph_stats(pruned)
    print(f"\nlight resnet50 (seeded weights), prune-channels{{ratio={RESNET_RATIO}}}")
    for label, a, b, unit, scale in (("MACs", before.macs, after.macs, "G", 1e9),
                                     ("params", before.params, after.params, "M", 1e6)):
        print(f"  {label:7} {a / scale:6.2f}{unit} -> {b / scale:6.2f}{unit}  ({b / a - 1:+.0%})")
    with tempfile.TemporaryDirectory(prefix="bench_pruning") as tmp:
        files = [save_onnx(g, Path(tmp) / f"{name}.onnx")
                 for g, name in ((dense, "dense"), (pruned, "pruned"))]
        feeds = model_zoo.sample_inputs("resnet50")
        t_dense, t_pruned = _latencies([_session(f) for f in files], feeds, runs)
    speedup = t_dense / t_pruned
    met = "met" if speedup >= SPEEDUP_TARGET else "NOT met"
    print(f"  onnxruntime (2 threads, median of {runs}): dense {t_dense * 1e3:.1f} ms, "
          f"pruned {t_pruned * 1e3:.1f} ms")
    print(f"  speedup {speedup:.2f}x (target >= {SPEEDUP_TARGET}x: {met})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="timed runs per model")
    parser.add_argument("--skip-resnet", action="store_true", help="only the digits part")
    args = parser.parse_args(argv)
    bench_digits()
    if not args.skip_resnet:
        bench_resnet(args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
