"""What a pipeline does to real models: node counts before/after, the largest output drift,
and the transformer blocks recognised (counted inside fused regions too).

    python tools/pipeline_report.py                      # -O2 on the issue's five models
    python tools/pipeline_report.py --pipeline O3 --models resnet50 vit
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter

import model_zoo
import numpy as np

import leptonc
from leptonc.ir.graph import Graph
from leptonc.passmgr import expand_named, run_pipeline

DEFAULT_MODELS = ("resnet50", "squeezenet", "shufflenet", "inception_v2", "minilm")
BLOCKS = {"layer norms": "nn.layer_norm", "gelus": "ew.gelu", "attentions": "nn.attention"}


def op_counts(graph: Graph) -> Counter:
    """Ops of the graph and of every fused region's body."""
    counts: Counter = Counter()
    for node in graph:
        counts[node.op] += 1
        body = node.attrs.get("body")
        if isinstance(body, Graph):
            counts += op_counts(body)
    return counts


def max_drift(before: dict[str, np.ndarray], after: dict[str, np.ndarray]) -> float:
    return max(float(np.max(np.abs(before[k].astype(np.float64) - after[k].astype(np.float64))))
               for k in before)


def report(name: str, pipeline: str) -> dict:
    graph = leptonc.load_onnx(model_zoo.model_path(name))
    inputs = model_zoo.sample_inputs(name)
    reference = leptonc.run(graph, inputs)
    nodes_before = len(graph)
    start = time.perf_counter()
    run_pipeline(graph, pipeline)
    seconds = time.perf_counter() - start
    leptonc.verify(graph)
    counts = op_counts(graph)
    return {"model": name, "before": nodes_before, "after": len(graph), "seconds": seconds,
            "drift": max_drift(reference, leptonc.run(graph, inputs)),
            "regions": counts["fused.region"],
            **{label: counts[op] for label, op in BLOCKS.items()}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pipeline", default="O2", help="a pipeline string or O0..O3 (default O2)")
    ap.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS))
    args = ap.parse_args(argv)
    models = [m for m in args.models if m != "minilm" or model_zoo.minilm_available()]
    print(f"pipeline: {expand_named(args.pipeline)}\n")
    header = (f"{'model':<14}{'nodes':>7}{'after':>7}{'change':>9}{'regions':>9}"
              f"{'LN':>5}{'GELU':>6}{'attn':>6}{'max drift':>12}{'ms':>9}")
    print(header)
    print("-" * len(header))
    for name in models:
        r = report(name, args.pipeline)
        change = (r["after"] - r["before"]) / r["before"]
        print(f"{r['model']:<14}{r['before']:>7}{r['after']:>7}{change:>+9.1%}{r['regions']:>9}"
              f"{r['layer norms']:>5}{r['gelus']:>6}{r['attentions']:>6}{r['drift']:>12.2e}"
              f"{r['seconds'] * 1e3:>9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
