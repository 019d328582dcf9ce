"""Benchmark leptonc's reference interpreter against onnx's ReferenceEvaluator and onnxruntime.

    python tools/bench_interp.py                       # light models (+ MiniLM with torch)
    python tools/bench_interp.py --models resnet50 vit --repeat 10
    python tools/bench_interp.py --quick               # a few small models, one timed run

All engines run in this one process on the same seeded inputs; the table gives median
latency in ms, ReferenceEvaluator's time over leptonc's (leptonc's speed-up) and leptonc's
time over onnxruntime's (intra_op_num_threads=2, default optimisations).  ReferenceEvaluator
is wrong on opset-9 BatchNormalization and on Softmax without an axis, so correctness is
checked against onnxruntime only: ``diff`` is leptonc's max abs difference from it.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import model_zoo  # noqa: E402  (a sibling tool, importable once tools/ is on the path)

import leptonc  # noqa: E402

QUICK_MODELS = ("squeezenet", "shufflenet", "inception_v1", "minilm")
ENGINES = ("leptonc", "reference", "onnxruntime")


@dataclass(slots=True)
class Result:
    model: str
    ms: dict[str, float] = field(default_factory=dict)     # engine -> median latency
    errors: dict[str, str] = field(default_factory=dict)   # engine -> why it did not run
    diff: float | None = None                               # leptonc vs onnxruntime


def median_ms(fn: Callable[[], object], repeat: int, budget_s: float, warmup: bool) -> float:
    """Median wall time of ``fn``: up to ``repeat`` runs, fewer once ``budget_s`` is spent.

    A warm-up run is discarded unless it alone used the budget (a very slow engine is
    then timed on that one run rather than kept running for minutes).
    """
    times = []
    if warmup:
        start = time.perf_counter()
        fn()
        first = time.perf_counter() - start
        if first >= budget_s:
            return first * 1e3
    spent = 0.0
    while len(times) < repeat and (not times or spent < budget_s):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
        spent += times[-1]
    return statistics.median(times) * 1e3


def _onnxruntime_session(path: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _first_line(e: BaseException) -> str:
    text = f"{e.__class__.__name__}: {e}".splitlines()[0]
    return text if len(text) <= 160 else text[:157] + "..."


def bench_model(name: str, repeat: int, budget_s: float, warmup: bool, reference: bool) -> Result:
    from onnx.reference import ReferenceEvaluator

    result = Result(name)
    path = model_zoo.model_path(name)
    model = onnx.load(str(path))
    inputs = model_zoo.sample_inputs(name, model=model)
    session = _onnxruntime_session(path)
    expected = session.run(None, inputs)
    result.ms["onnxruntime"] = median_ms(lambda: session.run(None, inputs), repeat, budget_s,
                                         warmup)
    try:
        interp = leptonc.Interpreter(leptonc.load_onnx(path))
        got = interp.run(inputs)
        result.diff = max(float(np.max(np.abs(g.astype(np.float64) - e)))
                          for g, e in zip(got.values(), expected, strict=True))
        result.ms["leptonc"] = median_ms(lambda: interp.run(inputs), repeat, budget_s, False)
    except Exception as e:  # noqa: BLE001 - the table reports every failure and goes on
        result.errors["leptonc"] = _first_line(e)
    if reference:
        try:
            evaluator = ReferenceEvaluator(model)
            result.ms["reference"] = median_ms(lambda: evaluator.run(None, inputs), repeat,
                                               budget_s, warmup)
        except Exception as e:  # noqa: BLE001
            result.errors["reference"] = _first_line(e)
    return result


def _ratio(num: float | None, den: float | None) -> str:
    return f"{num / den:8.2f}x" if num and den else f"{'-':>9}"


def _format_ms(ms: float) -> str:
    return f"{ms:.1f}" if ms >= 10 else f"{ms:.3f}"


def format_table(results: list[Result]) -> str:
    head = (f"{'model':14} {'leptonc ms':>11} {'ref ms':>10} {'ort ms':>9} "
            f"{'ref/lep':>9} {'lep/ort':>9} {'diff vs ort':>12}")
    lines = [head, "-" * len(head)]
    for r in results:
        cells = [_format_ms(r.ms[e]) if e in r.ms else "fail" for e in ENGINES]
        diff = f"{r.diff:.2e}" if r.diff is not None else "-"
        lines.append(f"{r.model:14} {cells[0]:>11} {cells[1]:>10} {cells[2]:>9} "
                     f"{_ratio(r.ms.get('reference'), r.ms.get('leptonc'))} "
                     f"{_ratio(r.ms.get('leptonc'), r.ms.get('onnxruntime'))} {diff:>12}")
    failures = [(r.model, e, why) for r in results for e, why in r.errors.items()]
    if failures:
        lines.append("")
        lines += [f"{model}: {engine} failed: {why}" for model, engine, why in failures]
    return "\n".join(lines)


def default_models(quick: bool) -> list[str]:
    names = list(QUICK_MODELS) if quick else [*model_zoo.names("light"), "minilm"]
    return [n for n in names if n != "minilm" or model_zoo.minilm_available()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", metavar="NAME",
                        help=f"zoo models to run (known: {', '.join(model_zoo.names())})")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per engine (median)")
    parser.add_argument("--budget", type=float, default=30.0,
                        help="seconds per engine and model before fewer runs are taken")
    parser.add_argument("--quick", action="store_true",
                        help=f"only {', '.join(QUICK_MODELS)}, one timed run, no warm-up")
    parser.add_argument("--no-reference", action="store_true",
                        help="skip onnx.reference.ReferenceEvaluator (slow on big models)")
    args = parser.parse_args(argv)
    names = args.models or default_models(args.quick)
    unknown = [n for n in names if n not in model_zoo.ZOO]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}")
    repeat = 1 if args.quick else args.repeat
    results = []
    for name in names:
        print(f"... {name}", file=sys.stderr, flush=True)
        results.append(bench_model(name, repeat, args.budget, warmup=not args.quick,
                                   reference=not args.no_reference))
        gc.collect()  # the big models hold hundreds of MB per engine
    print(format_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
