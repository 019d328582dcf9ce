"""Graph in, artifact folder out: the cpu/gpu targets from end to end.

    result = compile_to_folder(graph, "cpu", Path("out"), pipeline="-O2: ...")
    model = load_artifact("out"); model(x=...)

Order: check every node (one error naming all unsupported ones) -> lower to Relax -> build
-> write the folder whole.  Nothing is written when any step fails.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import tvm

from leptonc import __version__
from leptonc.errors import UsageError
from leptonc.ir.graph import Graph
from leptonc.targets.tvm.artifact import FORMAT, FORMAT_VERSION, ArtifactFiles, io_json, write_artifact
from leptonc.targets.tvm.build import DEFAULT_GPU_ARCH, Built, TargetSpec, build, cpu_target, gpu_target
from leptonc.targets.tvm.lower import LoweredModule, lower_graph
from leptonc.targets.tvm.report import kernel_report

TARGETS = ("cpu", "gpu")


@dataclass(frozen=True, slots=True)
class CompileResult:
    folder: Path
    kernels: int
    seconds: float
    spec: TargetSpec


def target_spec(target: str, arch: str | None = None, schedule: str = "leptonc",
                precision: str = "f32") -> TargetSpec:
    if target == "cpu":
        if arch is not None or precision != "f32":
            option = "--arch" if arch is not None else "--precision"
            raise UsageError(f"{option} applies to --target gpu only")
        return cpu_target(schedule=schedule)
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


def _manifest(graph: Graph, spec: TargetSpec, pipeline: str, seconds: float) -> dict:
    target = spec.target
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "target": spec.name,
                "tvm_target": str(target), "model": graph.name,
                "source": graph.metadata.get("source"), **io_json(graph), "pipeline": pipeline,
                "schedule": spec.schedule, "versions": {"leptonc": __version__, "tvm": tvm.__version__},
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


def compile_to_folder(graph: Graph, target: str, out: Path, *, arch: str | None = None,
                      pipeline: str = "", schedule: str = "leptonc", precision: str = "f32"
                      ) -> CompileResult:
    """Compile ``graph`` (already optimised) for ``target`` into the artifact folder ``out``."""
    spec = target_spec(target, arch, schedule, precision)
    lowered, built, seconds = compile_graph(graph, spec)
    files = ArtifactFiles(
        manifest=_manifest(graph, spec, pipeline, seconds),
        report=kernel_report(graph.name, spec.name, lowered.kernels, built.schedule_rules, seconds),
        write_library=built.executable.export_library,
        cuda_source=cuda_source(built) if spec.name == "gpu" else None)
    write_artifact(out, files)
    return CompileResult(out, len(lowered.kernels), seconds, spec)
