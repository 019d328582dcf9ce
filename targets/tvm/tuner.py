"""leptonc's own CPU tuner: measured configs for each distinct kernel, kept in a JSON database.

    db = ScheduleDatabase.load(out_dir / "tuning.json", target)   # empty if the file is new
    tune_module(mod, target, db, budget_s=300)                     # measures, shows progress
    db.save()
    mod = cpu_schedule_pass(target, database=db)(mod)              # next compiles reuse it

A kernel is a legalized PrimFunc before scheduling, keyed by its structural hash: the 23
convolutions of resnet50 that share shapes are one kernel, and a second model with the same
layer reuses its entry.  For each kernel, heaviest first (iterations x calls), the tuner
walks the rule's config space one knob at a time (coordinate descent from the default,
keeping each knob's best value), builds each candidate alone with random inputs, and keeps
the fastest.  MetaSchedule is not used: its database writer (``tvm.ir.save_json``) crashes
in this TVM wheel.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tvm
import tvm_ffi
from tvm import relax, s_tir, tirx
from tvm.target import Target

from leptonc.errors import UsageError

from .artifact import configure_thread_pool
from .schedules.analysis import root_blocks
from .schedules.config import RuleConfig, from_json, to_json
from .schedules.cpu import DEFAULT_CONFIGS, ScheduleContext, schedule_context, schedule_primfunc
from .schedules.tiles import static_extent, volume

DATABASE_VERSION = 1
DATABASE_FILE = "tuning.json"


def kernel_key(func: tirx.PrimFunc) -> str:
    """The database key of an unscheduled PrimFunc: its structural hash (names do not count)."""
    return f"{tvm_ffi.structural_hash(func) & (2**64 - 1):016x}"


@dataclass(slots=True)
class TunedKernel:
    name: str
    config: RuleConfig
    latency_us: float
    default_us: float
    trials: int


class ScheduleDatabase:
    """Best configs by kernel key, for one target (a database for another CPU is not reused).

    ``path`` is where ``save()`` writes; a database without one (``detached()``) lives in
    memory until ``save(path)`` names a file: the compile driver's, whose file goes into
    the artifact folder written whole at the end.
    """

    def __init__(self, path: Path | None, target: Target | str,
                 entries: dict[str, TunedKernel] | None = None):
        self.path = Path(path) if path is not None else None
        self.target = str(target)
        self.entries: dict[str, TunedKernel] = entries or {}

    @classmethod
    def load(cls, path: Path | str, target: Target) -> ScheduleDatabase:
        path = Path(path)
        if not path.exists():
            return cls(path, target)
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise UsageError(f"tuning database {path} is unreadable: {err}") from err
        if data.get("version") != DATABASE_VERSION:
            raise UsageError(f"tuning database {path} has version {data.get('version')!r}, "
                             f"expected {DATABASE_VERSION}: delete it to tune again")
        if data.get("target") != str(target):
            return cls(path, target)  # tuned for another machine: its timings say nothing here
        entries = {key: TunedKernel(e["name"], from_json(e["config"]), e["latency_us"],
                                    e["default_us"], e["trials"])
                   for key, e in data.get("kernels", {}).items()}
        return cls(path, target, entries)

    def lookup(self, func: tirx.PrimFunc) -> RuleConfig | None:
        entry = self.entries.get(kernel_key(func))
        return entry.config if entry is not None else None

    def detached(self) -> ScheduleDatabase:
        """The same entries, kept in memory: ``save`` then needs a path."""
        return ScheduleDatabase(None, self.target, dict(self.entries))

    def save(self, path: Path | None = None) -> None:
        """Write to ``path`` (default: the database's own file), atomically."""
        path = Path(path) if path is not None else self.path
        if path is None:
            raise ValueError("a detached tuning database is saved with an explicit path")
        data = {"version": DATABASE_VERSION, "target": self.target,
                "kernels": {key: {**dataclasses.asdict(e), "config": to_json(e.config)}
                            for key, e in sorted(self.entries.items())}}
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1)
        os.replace(tmp, path)


# ----- measuring one kernel -----------------------------------------------------------------------
# Symbolic dimensions (a batch named N) are measured at this size.
SYMBOLIC_DIM_SIZE = 1


def _random_args(func: tirx.PrimFunc, rng: np.random.Generator) -> list[tvm.runtime.Tensor]:
    args = []
    for param in func.params:
        shape = [int(d.value) if isinstance(d, tirx.IntImm) else SYMBOLIC_DIM_SIZE for d in param.shape]
        dtype = str(param.dtype)
        if dtype.startswith("float"):
            data = rng.standard_normal(shape).astype(dtype)
        elif dtype == "bool":
            data = rng.integers(0, 2, shape).astype(bool)
        else:  # indices (gather, take) must stay in range: zeros are valid for every shape
            data = np.zeros(shape, dtype=dtype)
        args.append(tvm.runtime.tensor(data))
    return args


def measure_kernel(func: tirx.PrimFunc, target: Target, repeat: int = 5, min_repeat_ms: int = 20,
                   results: list[np.ndarray] | None = None) -> float:
    """Seconds per call of a scheduled PrimFunc, built alone, on fixed random inputs.

    The minimum over ``repeat`` rounds: on a shared machine, interference only ever adds
    time, so the fastest round is the best estimate of the kernel's own speed.

    With ``results``, the contents of every buffer after one call are appended to it (the
    tuner compares them across configs: a config that computes something else is dropped).
    """
    # Fused PrimFuncs are private; a standalone library needs the symbol made public.
    lib = tvm.tirx.build(tvm.IRModule({"main": func.with_attr("global_symbol", "main")}), target=target)
    args = _random_args(func, np.random.default_rng(0))
    if results is not None:
        lib["main"](*args)
        results.extend(a.numpy() for a in args)
    timer = lib.time_evaluator("main", tvm.cpu(), number=1, repeat=repeat, min_repeat_ms=min_repeat_ms)
    return float(np.min(timer(*args).results))


def _same_results(got: list[np.ndarray], want: list[np.ndarray]) -> bool:
    return len(got) == len(want) and all(
        g.shape == w.shape and np.allclose(g, w, rtol=1e-3, atol=1e-4, equal_nan=True)
        for g, w in zip(got, want, strict=True))


def _scheduled(func: tirx.PrimFunc, target: Target, config: RuleConfig | None) -> tirx.PrimFunc | None:
    scheduled, _kind, used, _note = schedule_primfunc(func, target, config)
    if scheduled is None or (config is not None and used != config):
        return None
    return scheduled.with_attr("tirx.is_scheduled", True)


# ----- search -------------------------------------------------------------------------------------
def call_counts(mod: tvm.IRModule) -> Counter[str]:
    """How often each PrimFunc is called from the module's Relax functions."""
    counts: Counter[str] = Counter()

    def visit(expr) -> None:
        if isinstance(expr, relax.Call):
            counts.update(arg.name_hint for arg in expr.args if isinstance(arg, tvm.ir.GlobalVar))

    for _gvar, func in mod.functions_items():
        if isinstance(func, relax.Function):
            relax.analysis.post_order_visit(func.body, visit)
    return counts


def _coordinate_descent(start: RuleConfig, measure: Callable[[RuleConfig], float | None],
                        deadline: float) -> Iterator[tuple[RuleConfig, float | None]]:
    best, best_t = start, measure(start)
    yield start, best_t
    for knob, values in start.search_space().items():
        for value in values:
            if time.monotonic() > deadline:
                return
            cand = dataclasses.replace(best, **{knob: value})
            if cand == best:
                continue
            t = measure(cand)
            yield cand, t
            if t is not None and (best_t is None or t < best_t):
                best, best_t = cand, t


def _iterations(func: tirx.PrimFunc) -> int:
    """The iterations of the function's largest block: multiply-adds of a conv, elements of a map."""
    sch = s_tir.Schedule(func)
    return max((volume(static_extent(iv.dom.extent) for iv in sch.get(b).iter_vars)
                for b in root_blocks(sch)), default=0)


def tune_module(mod: tvm.IRModule, target: Target, database: ScheduleDatabase, budget_s: float,
                log: Callable[[str], None] | None = None) -> list[TunedKernel]:
    """Tune every distinct unscheduled kernel of ``mod`` not in ``database``, within ``budget_s``.

    ``mod`` is the Relax module after legalization and fusion (before scheduling).  Kernels
    already in the database are skipped; a database with a file is saved after each kernel,
    so an interrupted run keeps what it measured.
    """
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    configure_thread_pool()  # measure kernels with the pool settings the artifacts run with
    deadline = time.monotonic() + budget_s
    counts = call_counts(mod)
    kernels: dict[str, tuple[str, tirx.PrimFunc]] = {}
    for gvar, func in mod.functions_items():
        if isinstance(func, tirx.PrimFunc):
            kernels.setdefault(kernel_key(func), (gvar.name_hint, func))
    todo = {k: v for k, v in kernels.items() if k not in database.entries}
    log(f"tune: {len(kernels)} kernels, {len(kernels) - len(todo)} in the database, "
        f"budget {budget_s:.0f} s")
    # Heaviest first, by iterations x calls: an estimate, so no budget goes into ranking.
    weighted = [(_iterations(func) * counts.get(name, 1), key, name, func)
                for key, (name, func) in todo.items() if _scheduled(func, target, None) is not None]
    weighted.sort(key=lambda w: w[0], reverse=True)
    done = []
    for index, (_weight, key, name, func) in enumerate(weighted, start=1):
        if time.monotonic() > deadline:
            log(f"tune: budget spent, {len(weighted) - index + 1} kernels keep their defaults")
            break
        result = _tune_kernel(name, func, target, deadline)
        database.entries[key] = result
        if database.path is not None:
            database.save()
        done.append(result)
        log(f"tune [{index}/{len(weighted)}] {name}: {result.default_us:.1f} -> "
            f"{result.latency_us:.1f} us ({result.trials} trials)")
    return done


def _tune_kernel(name: str, func: tirx.PrimFunc, target: Target, deadline: float) -> TunedKernel:
    reference: list[np.ndarray] = []

    def measure(config: RuleConfig) -> float | None:
        scheduled = _scheduled(func, target, config)
        if scheduled is None:
            return None
        results: list[np.ndarray] = []
        seconds = measure_kernel(scheduled, target, results=results)
        if not reference:
            reference.extend(results)  # the default config's, measured first
        elif not _same_results(results, reference):
            return None  # a schedule bug for this config: never pick it (the tests should catch it)
        return seconds

    _f, kind, _c, _n = schedule_primfunc(func, target, None)
    start = DEFAULT_CONFIGS[kind]
    trials = list(_coordinate_descent(start, measure, deadline))
    default_t = trials[0][1]
    best, best_t = min(((c, t) for c, t in trials if t is not None), key=lambda ct: ct[1])
    if best != start:
        # Timings on a shared machine are noisy: the winner must beat the default again.
        best_t, default_t = measure(best), measure(start)
        if best_t is None or best_t >= default_t:
            best, best_t = start, default_t
    return TunedKernel(name, best, best_t * 1e6, default_t * 1e6, len(trials))


# ----- hooking into a build -----------------------------------------------------------------------
@contextmanager
def tuning(database: ScheduleDatabase, budget_s: float | None = None,
           log: Callable[[str], None] | None = None) -> Iterator[None]:
    """Builds inside the block use ``database``; with a ``budget_s``, they first tune the kernels
    it does not know yet (on the module the build is about to schedule) and save it."""

    def tune(mod: tvm.IRModule, target: Target) -> None:
        tune_module(mod, target, database, budget_s, log)

    hook = tune if budget_s else None
    with schedule_context(ScheduleContext(database=database, before_schedule=hook)):
        yield
