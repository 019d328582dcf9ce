"""leptonc ``--target cpu`` against onnxruntime: median latency, in one process, same inputs.

    python tools/bench_cpu.py                          # the seven models, default schedules
    python tools/bench_cpu.py --tune --budget 600      # tune first (database reused next time)
    python tools/bench_cpu.py --models resnet50 squeezenet --repeat 50

For each model: import, symbolic input dims bound to the sizes measured (``--dim``: the
digits CNN's batch N), the -O2 pipeline, leptonc's lowering to Relax, TVM build with
leptonc's CPU schedules (``targets/tvm/schedules``), written as an artifact folder and run
through ``load_artifact`` as a user runs it; then onnxruntime (default graph optimisations)
on the same ONNX file.  Both use ``--threads`` threads (TVM_NUM_THREADS and
``intra_op_num_threads``).  Each runtime is timed in blocks of its own (a pool's spinning
threads would otherwise slow the other runtime's next call), in three rounds so that a load
change on the machine hits all alike; the median of all calls is reported.  With a tuning database
(``--database``, written by ``--tune``), a third column times the tuned build.

The table gives latencies, the ratio leptonc/onnxruntime (below 1: leptonc is faster), the
geometric mean of the ratios, and compile times.  Outputs are compared too (max abs error),
so a fast wrong kernel cannot hide in the table.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DEFAULT_MODELS = ("resnet50", "squeezenet", "shufflenet", "densenet121", "inception_v2", "minilm",
                  "digits_cnn")
SETTLE_S = 0.2  # pause before timing a runtime: the other one's spinning threads go idle
DEFAULT_DATABASE = Path.home() / ".cache" / "leptonc" / "tuning" / "bench_cpu.json"


@dataclass(slots=True)
class Row:
    model: str
    ort_ms: float = math.nan
    default_ms: float = math.nan
    tuned_ms: float = math.nan
    compile_s: float = math.nan
    tuned_compile_s: float = math.nan
    max_error: float = math.nan
    notes: list[str] = field(default_factory=list)


# ----- models -------------------------------------------------------------------------------------
def _tools_on_path() -> None:
    here = str(Path(__file__).resolve().parent)
    if here not in sys.path:
        sys.path.insert(0, here)


def model_and_inputs(name: str) -> tuple[Path, dict[str, np.ndarray]]:
    """The ONNX file and one fixed set of inputs for a model of the table."""
    _tools_on_path()
    if name == "digits_cnn":
        import make_models

        x = make_models.digits_data()[2][:1]  # one test image, [1, 1, 8, 8]
        import onnx

        path = make_models.digits_cnn_onnx()
        input_name = onnx.load(str(path), load_external_data=False).graph.input[0].name
        return path, {input_name: np.ascontiguousarray(x, dtype=np.float32)}
    import model_zoo

    return model_zoo.model_path(name), model_zoo.sample_inputs(name)


# ----- the two runtimes ---------------------------------------------------------------------------
def onnxruntime_session(path: Path, threads: int) -> Callable[[dict], list[np.ndarray]]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda feeds: session.run(None, feeds)


def input_dims(graph, feeds: dict[str, np.ndarray]) -> dict[str, int]:
    """The sizes the feeds give the graph's symbolic input dims (the batch N of the digits CNN)."""
    dims = {}
    for v in graph.inputs:
        for dim, size in zip(v.type.shape or (), feeds[v.name].shape, strict=True):
            if isinstance(dim, str):
                dims[dim] = int(size)
    return dims


def leptonc_build(path: Path, feeds: dict[str, np.ndarray], threads: int, pipeline: str, folder: Path,
                  database=None, budget_s: float | None = None
                  ) -> tuple[Callable[[dict], dict[str, np.ndarray]], float]:
    """Compile with leptonc (optionally tuned) into the artifact ``folder`` and load it, as a user
    does; returns (the loaded model, compile seconds).  Symbolic input dims are bound to the
    sizes of ``feeds`` (``--dim``): the table measures one batch size, so the library need not
    serve others."""
    import leptonc
    from leptonc.passmgr import run_pipeline
    from leptonc.targets.tvm.artifact import load_artifact
    from leptonc.targets.tvm.dims import bind_dims
    from leptonc.targets.tvm.driver import compile_to_folder
    from leptonc.targets.tvm.tuner import tuning

    start = time.perf_counter()
    graph = leptonc.load_onnx(path)
    dims = input_dims(graph, feeds)
    bind_dims(graph, dims)  # before the passes: fusions see the static shapes too
    run_pipeline(graph, pipeline)
    # The bench keeps one database for every model (--database), not one per artifact folder.
    with tuning(database, budget_s) if database is not None else nullcontext():
        compile_to_folder(graph, "cpu", folder, pipeline=pipeline, bound_dims=dims, threads=threads)
    seconds = time.perf_counter() - start
    return load_artifact(folder), seconds


def _max_error(got: list[np.ndarray], want: list[np.ndarray]) -> float:
    return max(float(np.max(np.abs(g.astype(np.float64) - w.astype(np.float64)))) if g.size else 0.0
               for g, w in zip(got, want, strict=True))


def time_in_blocks(runners: dict[str, Callable[[], object]], repeat: int, warmup: int,
                   blocks: int = 3) -> dict[str, float]:
    """Median milliseconds per runner: ``blocks`` rounds, each runner timed in a block of its own.

    Not call by call alternately: a thread pool keeps spinning for a while after a call
    returns (onnxruntime's does by default), and the other runtime's first call would pay
    for it.  Blocks with a pause between them keep the runtimes apart; several rounds spread
    any change of load on the machine over all of them.
    """
    samples: dict[str, list[float]] = {name: [] for name in runners}
    per_block = max(repeat // blocks, 1)
    for _ in range(blocks):
        for name, run in runners.items():
            time.sleep(SETTLE_S)
            for _ in range(warmup):
                run()
            for _ in range(per_block):
                start = time.perf_counter()
                run()
                samples[name].append((time.perf_counter() - start) * 1e3)
    return {name: statistics.median(s) for name, s in samples.items()}


# ----- one model ----------------------------------------------------------------------------------
def bench_model(name: str, args: argparse.Namespace, database, scratch: Path) -> Row:
    row = Row(name)
    path, feeds = model_and_inputs(name)
    ort_run = onnxruntime_session(path, args.threads)
    reference = ort_run(feeds)
    default_run, row.compile_s = leptonc_build(path, feeds, args.threads, args.pipeline, scratch / name)
    row.max_error = _max_error(list(default_run(**feeds).values()), reference)
    runners: dict[str, Callable[[], object]] = {"ort": lambda: ort_run(feeds),
                                                "default": lambda: default_run(**feeds)}
    if database is not None:
        tuned_run, row.tuned_compile_s = leptonc_build(path, feeds, args.threads, args.pipeline,
                                                       scratch / f"{name}.tuned", database,
                                                       args.budget if args.tune else None)
        row.max_error = max(row.max_error, _max_error(list(tuned_run(**feeds).values()), reference))
        runners["tuned"] = lambda: tuned_run(**feeds)
    times = time_in_blocks(runners, args.repeat, args.warmup)
    row.ort_ms, row.default_ms = times["ort"], times["default"]
    row.tuned_ms = times.get("tuned", math.nan)
    return row


# ----- the table ----------------------------------------------------------------------------------
def _geomean(values: list[float]) -> float:
    values = [v for v in values if v > 0 and math.isfinite(v)]
    return math.exp(sum(map(math.log, values)) / len(values)) if values else math.nan


def format_table(rows: list[Row], tuned: bool) -> str:
    head = f"{'model':<14}{'ort ms':>9}{'leptonc ms':>12}{'ratio':>7}"
    if tuned:
        head += f"{'tuned ms':>10}{'ratio':>7}"
    head += f"{'compile s':>11}" + (f"{'tuned s':>9}" if tuned else "") + f"{'max err':>10}"
    lines = [head, "-" * len(head)]
    for r in rows:
        line = f"{r.model:<14}{r.ort_ms:>9.2f}{r.default_ms:>12.2f}{r.default_ms / r.ort_ms:>7.2f}"
        if tuned:
            line += f"{r.tuned_ms:>10.2f}{r.tuned_ms / r.ort_ms:>7.2f}"
        line += f"{r.compile_s:>11.1f}" + (f"{r.tuned_compile_s:>9.1f}" if tuned else "")
        lines.append(line + f"{r.max_error:>10.1e}")
    geo = f"{'geomean':<14}{'':>9}{'':>12}{_geomean([r.default_ms / r.ort_ms for r in rows]):>7.2f}"
    if tuned:
        geo += f"{'':>10}{_geomean([r.tuned_ms / r.ort_ms for r in rows]):>7.2f}"
    lines.append(geo)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=30, help="timed calls per runtime and model (default 30)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--pipeline", default="O2", help="leptonc pass pipeline before lowering (default O2)")
    ap.add_argument("--database", type=Path, default=DEFAULT_DATABASE,
                    help="tuning database; the tuned column appears when it exists "
                         f"(default {DEFAULT_DATABASE})")
    ap.add_argument("--tune", action="store_true", help="tune the kernels the database lacks first")
    ap.add_argument("--budget", type=float, default=300.0, help="tuning seconds per model (default 300)")
    args = ap.parse_args(argv)
    # TVM reads its thread count when its pool starts: set it before the first TVM call.
    os.environ["TVM_NUM_THREADS"] = str(args.threads)

    database = None
    if args.tune or args.database.exists():
        from leptonc.targets.tvm.build import cpu_target
        from leptonc.targets.tvm.tuner import ScheduleDatabase

        database = ScheduleDatabase.load(args.database, cpu_target(args.threads).target)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_cpu-") as scratch:
        for name in args.models:
            print(f"== {name}", file=sys.stderr, flush=True)
            rows.append(bench_model(name, args, database, Path(scratch)))
    print(f"threads {args.threads}, median of {args.repeat} calls in 3 blocks, pipeline {args.pipeline}"
          + (f", tuned with {args.database}" if database is not None else ""))
    print(format_table(rows, database is not None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
