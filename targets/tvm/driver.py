"""Graph in, artifact folder out: the cpu/gpu targets from end to end.

    result = compile_to_folder(graph, "cpu", Path("out"), pipeline="-O2: ...")
    model = load_artifact("out"); model(x=...)

Order: check every node (one error naming all unsupported ones) -> lower to Relax -> build
(tuning first with ``tune_budget``) -> write the folder whole.  Nothing is written when any
step fails.

The tuning database lives in the artifact folder (``OUT/tuning.json``).  A compile into a
folder that holds one reuses it, with or without ``--tune``, and carries it into the new
folder; ``--tune`` adds the kernels it does not know yet.  While compiling, the database is
kept in memory: the folder, database included, is written whole at the end, so an
interrupted tuning run leaves the previous artifact (and its database) as it was.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import tvm

from leptonc import __version__
from leptonc.errors import UsageError
from leptonc.ir.graph import Graph
from leptonc.targets.tvm.artifact import (
    FORMAT,
    FORMAT_VERSION,
    ArtifactFiles,
    check_destination,
    io_json,
    write_artifact,
)
from leptonc.targets.tvm.build import DEFAULT_GPU_ARCH, Built, TargetSpec, build, cpu_target, gpu_target
from leptonc.targets.tvm.lower import LoweredModule, lower_graph
from leptonc.targets.tvm.report import kernel_report
from leptonc.targets.tvm.tuner import DATABASE_FILE, ScheduleDatabase, tuning

TARGETS = ("cpu", "gpu")


@dataclass(frozen=True, slots=True)
class CompileResult:
    folder: Path
    kernels: int
    seconds: float
    spec: TargetSpec
    tuned_kernels: int = 0  # PrimFuncs scheduled with a config from the tuning database


def target_spec(target: str, arch: str | None = None, schedule: str = "leptonc",
                precision: str = "f32", threads: int | None = None) -> TargetSpec:
    """``threads`` (cpu): the threads the schedules plan for (default: every core)."""
    if target == "cpu":
        if arch is not None or precision != "f32":
            option = "--arch" if arch is not None else "--precision"
            raise UsageError(f"{option} applies to --target gpu only")
        return cpu_target(threads, schedule=schedule)
    if target == "gpu":
        return gpu_target(arch or DEFAULT_GPU_ARCH, schedule, precision)
    raise UsageError(f"--target {target}: expected one of {', '.join(TARGETS)}")


def _find_module(module: tvm.runtime.Module, kind: str) -> tvm.runtime.Module | None:
    if getattr(module, "kind", None) == kind:
        return module
    for child in module.imports:
        if (found := _find_module(child, kind)) is not None:
            return found
    return None


def cuda_source(built: Built) -> str:
    """The generated CUDA source of a gpu build (one compilation unit, nvcc-compilable)."""
    cuda = _find_module(built.executable.mod, "cuda")
    if cuda is None:
        raise AssertionError("a gpu build without a CUDA module")
    return cuda.inspect_source()


def _manifest(graph: Graph, spec: TargetSpec, pipeline: str, seconds: float,
              bound_dims: Mapping[str, int]) -> dict:
    target = spec.target
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "target": spec.name,
                "tvm_target": str(target), "model": graph.name,
                "source": graph.metadata.get("source"), **io_json(graph), "bound_dims": dict(bound_dims),
                "pipeline": pipeline, "schedule": spec.schedule,
                "versions": {"leptonc": __version__, "tvm": tvm.__version__},
                "compile_seconds": round(seconds, 3)}
    if spec.name == "cpu":
        manifest["cpu"] = str(target.attrs["mcpu"])
        manifest["cpu_features"] = [str(f) for f in target.attrs["mattr"]]
    else:
        manifest["arch"] = str(target.attrs["arch"])
        manifest["precision"] = spec.precision
    return manifest


def compile_graph(graph: Graph, spec: TargetSpec) -> tuple[LoweredModule, Built, float]:
    start = time.perf_counter()
    lowered = lower_graph(graph, spec.name)
    built = build(lowered.module, spec)
    return lowered, built, time.perf_counter() - start


def _tuning_database(out: Path, spec: TargetSpec, tune_budget: float | None) -> ScheduleDatabase | None:
    """The database this compile schedules with: ``OUT/tuning.json`` of an earlier compile (or an
    empty one when tuning), in memory; None when there is none and no tuning is asked for."""
    if tune_budget is not None:
        if spec.name != "cpu" or spec.schedule != "leptonc":
            raise UsageError("--tune applies to --target cpu with leptonc's schedules")
        if not tune_budget > 0:
            raise UsageError(f"--tune-budget {tune_budget:g}: expected a positive number of seconds")
    previous = out / DATABASE_FILE
    if spec.name != "cpu" or spec.schedule != "leptonc" or (tune_budget is None and not previous.is_file()):
        return None
    return ScheduleDatabase.load(previous, spec.target).detached()


def _tuned_kernels(built: Built) -> list[str]:
    return sorted(name for name, rule in built.schedule_rules.items() if rule.endswith("(tuned)"))


def _tuning_json(database: ScheduleDatabase, tuned: list[str], tune_budget: float | None) -> dict:
    return {"database": DATABASE_FILE, "database_kernels": len(database.entries),
            "budget_seconds": tune_budget, "tuned_kernels": tuned}


def compile_to_folder(graph: Graph, target: str, out: Path, *, arch: str | None = None,
                      pipeline: str = "", schedule: str = "leptonc", precision: str = "f32",
                      tune_budget: float | None = None, bound_dims: Mapping[str, int] | None = None,
                      threads: int | None = None) -> CompileResult:
    """Compile ``graph`` (already optimised) for ``target`` into the artifact folder ``out``.

    ``tune_budget`` (seconds, cpu only): tune the kernels the folder's database lacks first.
    ``bound_dims``: the dims ``dims.bind_dims`` fixed in ``graph``, recorded in the manifest
    so that the artifact can say why it refuses other sizes.  ``threads`` (cpu): the threads
    the schedules plan for (default: every core).
    """
    spec = target_spec(target, arch, schedule, precision, threads)
    check_destination(out)
    database = _tuning_database(out, spec, tune_budget)
    with tuning(database, tune_budget) if database is not None else nullcontext():
        lowered, built, seconds = compile_graph(graph, spec)
    tuned = _tuned_kernels(built)
    manifest = _manifest(graph, spec, pipeline, seconds, bound_dims or {})
    notes = []
    extra_files = {}
    if database is not None:
        manifest["tuning"] = _tuning_json(database, tuned, tune_budget)
        notes.append(f"{len(tuned)} PrimFuncs use configs measured by the tuner ({DATABASE_FILE}, "
                     f"{len(database.entries)} kernels; marked `(tuned)` below).")
        extra_files[DATABASE_FILE] = database.save
    files = ArtifactFiles(
        manifest=manifest,
        report=kernel_report(graph.name, spec.name, lowered.kernels, built.schedule_rules, seconds, notes),
        write_library=built.executable.export_library,
        cuda_source=cuda_source(built) if spec.name == "gpu" else None,
        extra_files=extra_files)
    write_artifact(out, files)
    return CompileResult(out, len(lowered.kernels), seconds, spec, len(tuned))
