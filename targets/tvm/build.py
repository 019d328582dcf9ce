"""Compile a lowered Relax module for ``cpu`` (LLVM) or ``gpu`` (CUDA).

    spec = cpu_target()                      # the host's real CPU name and features
    spec = gpu_target("sm_90")
    executable, rules = build(lowered.module, spec)

The Relax pipeline is TVM's default one with two deliberate differences:

* no ``FuseOps``: the kernels are leptonc's own choice.  Each ``fused.region`` arrives as a
  ``Primitive`` function and ``FuseTIR`` turns it into one kernel; every other node is a
  kernel of its own.
* the schedule step is leptonc's: on cpu, the rules of ``schedules/cpu.py`` (``--schedule
  default`` keeps TIR's default loops, for comparison); on gpu, dlight's GPU rules applied one function at a
  time, so the report can say which rule scheduled which kernel.

``mcpu=native`` is rejected by the wheel's LLVM, so the CPU is detected with llvmlite.  A
feature the CPU model implies but the host lacks (a VM hiding AVX-512, say) is switched off
explicitly, so the library never uses an instruction the machine cannot run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import tvm
from tvm import relax
from tvm.target import codegen

from leptonc.errors import UsageError

GPU_ARCHS = ("sm_70", "sm_75", "sm_80", "sm_86", "sm_89", "sm_90")
DEFAULT_GPU_ARCH = "sm_90"
SCHEDULE_ATTR = "leptonc.schedule_rule"  # PrimFunc attribute naming the rule that scheduled it


@dataclass(frozen=True, slots=True)
class TargetSpec:
    name: str                   # "cpu" or "gpu"
    target: tvm.target.Target
    schedule: str = "leptonc"   # "leptonc": leptonc's rules (dlight's on gpu); "default": TIR's loops
    precision: str = "f32"      # gpu "f16": conv/matmul on f16 operands, f32 accumulation

    @property
    def description(self) -> str:
        return str(self.target)


# ----- targets -----------------------------------------------------------------------------------
def host_cpu() -> tuple[str, list[str]]:
    """The host CPU's LLVM name and the ``-mattr`` list that matches what it really offers."""
    import llvmlite.binding as llvm

    name = llvm.get_host_cpu_name()
    if not codegen.llvm_is_valid_cpu(name, codegen.llvm_get_system_triple()):
        name = "x86-64" if os.uname().machine == "x86_64" else "generic"
    host = dict(_parse_features(llvm.get_host_cpu_features().flatten()))
    implied = codegen.llvm_get_cpu_features(tvm.target.Target({"kind": "llvm", "mcpu": name}))
    enabled = sorted(f for f, on in host.items() if on and f in implied)
    disabled = sorted(f for f in implied if f in host and not host[f])
    return name, [f"+{f}" for f in enabled] + [f"-{f}" for f in disabled]


def _parse_features(flat: str) -> list[tuple[str, bool]]:
    return [(item[1:], item[0] == "+") for item in flat.split(",") if item[:1] in "+-" and len(item) > 1]


SCHEDULES = ("leptonc", "default")


def _check_schedule(schedule: str) -> None:
    if schedule not in SCHEDULES:
        raise UsageError(f"--schedule {schedule}: expected one of {', '.join(SCHEDULES)}")


def cpu_target(threads: int | None = None, schedule: str = "leptonc") -> TargetSpec:
    _check_schedule(schedule)
    name, mattr = host_cpu()
    cores = threads or os.cpu_count() or 1
    return TargetSpec("cpu", tvm.target.Target({"kind": "llvm", "mcpu": name, "mattr": mattr,
                                                "num-cores": cores}), schedule)


PRECISIONS = ("f32", "f16")


def gpu_target(arch: str = DEFAULT_GPU_ARCH, schedule: str = "leptonc", precision: str = "f32"
               ) -> TargetSpec:
    _check_schedule(schedule)
    if precision not in PRECISIONS:
        raise UsageError(f"--precision {precision}: expected one of {', '.join(PRECISIONS)}")
    if not arch.startswith("sm_") or not arch[3:].isdigit():
        raise UsageError(f"--arch {arch}: expected sm_NN, e.g. {', '.join(GPU_ARCHS)}")
    host = tvm.target.Target({"kind": "llvm"})
    return TargetSpec("gpu", tvm.target.Target({"kind": "cuda", "arch": arch}, host=host), schedule,
                      precision)


# ----- schedules -----------------------------------------------------------------------------------
def _leptonc_cpu_rules(target: tvm.target.Target, rules: dict[str, str]) -> tvm.transform.Pass:
    """leptonc's CPU schedule pass (``schedules/cpu.py``); each kernel's rule (or why none
    applied) goes into ``rules``."""
    from leptonc.targets.tvm.schedules.cpu import cpu_schedule_pass

    def record(kernel: Any) -> None:
        if kernel.config is None:
            rules[kernel.name] = f"TIR default ({kernel.note or 'no rule applies'})"
        else:
            rules[kernel.name] = f"leptonc.cpu.{kernel.kind}" + (" (tuned)" if kernel.tuned else "")

    return cpu_schedule_pass(target, on_kernel=record)


def _gpu_rules() -> list[Any]:
    from tvm.s_tir import dlight as dl

    return [dl.gpu.Matmul(), dl.gpu.GEMV(), dl.gpu.Reduction(), dl.gpu.GeneralReduction(),
            dl.gpu.Fallback()]


def _is_scheduled_or_host(func: tvm.tirx.PrimFunc) -> bool:
    attrs = func.attrs or {}
    return "tirx.is_scheduled" in attrs or "tirx.is_host_func" in attrs


def _apply_gpu_rules(mod: tvm.IRModule, target: tvm.target.Target) -> tvm.IRModule:
    """dlight's default GPU schedule, one function at a time, recording each function's rule."""
    from tvm import s_tir

    updated = {}
    for gvar, func in mod.functions_items():
        if not isinstance(func, tvm.tirx.PrimFunc) or _is_scheduled_or_host(func):
            continue
        for rule in _gpu_rules():
            sch = rule.apply(func, target, False)
            if sch is None:
                continue
            sch = sch[0] if isinstance(sch, list) else sch
            if isinstance(sch, s_tir.Schedule):
                updated[gvar] = (sch.mod["main"].with_attr("tirx.is_scheduled", True)
                                 .with_attr(SCHEDULE_ATTR, f"dlight.gpu.{type(rule).__name__}"))
                break
    for gvar, func in updated.items():
        mod[gvar] = func
    return mod


def _schedule_pass(spec: TargetSpec, rules: dict[str, str]) -> tvm.transform.Pass:
    if spec.schedule == "default":
        return tvm.transform.Sequential([], name="TirDefaultSchedule")
    if spec.name == "gpu":
        return tvm.transform.module_pass(lambda mod, _ctx: _apply_gpu_rules(mod, spec.target),
                                         opt_level=0, name="LeptoncGpuSchedule")
    return _leptonc_cpu_rules(spec.target, rules)


# ----- the pipeline -------------------------------------------------------------------------------
def _relax_pipeline(spec: TargetSpec, rules: dict[str, str]) -> tvm.transform.Pass:
    T = relax.transform
    # f16 on gpu: TVM's mixed precision casts the operands of convs and matmuls to f16 and
    # keeps f32 accumulators and f32 model inputs/outputs.
    mixed = [T.ToMixedPrecision(out_dtype="float32")] if spec.precision == "f16" else []
    passes = [*mixed, relax.backend.DispatchSampling(), relax.backend.DispatchSortScan(),
              T.LegalizeOps(), T.AnnotateTIROpPattern(), T.FoldConstant(), T.FuseTIR(),
              T.DeadCodeElimination(), _schedule_pass(spec, rules),
              T.RewriteDataflowReshape(), T.ToNonDataflow(), T.RemovePurityChecking(),
              T.CallTIRRewrite(), T.StaticPlanBlockMemory(), T.LowerAllocTensor(),
              T.KillAfterLastUse(), T.LowerRuntimeBuiltin(), T.ComputePrimValue(),
              T.VMShapeLower(), T.AttachGlobalSymbol()]

    @tvm.transform.module_pass(opt_level=0, name="LeptoncRelaxPipeline")
    def pipeline(mod: tvm.IRModule, _ctx: tvm.transform.PassContext) -> tvm.IRModule:
        with spec.target:
            return tvm.transform.Sequential(passes)(mod)

    return pipeline


@dataclass(slots=True)
class Built:
    executable: Any                  # tvm.relax.Executable
    schedule_rules: dict[str, str]   # kernel (PrimFunc) name -> the rule that scheduled it
    kernel_names: list[str]          # every PrimFunc of the final module


def _record_rules(mod: tvm.IRModule, spec: TargetSpec, into: dict[str, str], names: list[str]) -> None:
    default = "TIR default" if spec.name == "cpu" else "unscheduled"
    for gvar, func in mod.functions_items():
        if isinstance(func, tvm.tirx.PrimFunc):
            names.append(gvar.name_hint)
            attrs = func.attrs or {}
            if "tirx.is_host_func" in attrs:
                into[gvar.name_hint] = "host (shape computation)"
            else:
                rule = attrs.get(SCHEDULE_ATTR)
                into.setdefault(gvar.name_hint, str(rule) if rule is not None else default)


def build(module: tvm.IRModule, spec: TargetSpec) -> Built:
    """Compile ``module`` for ``spec``; compiling for gpu needs nvcc, not a GPU."""
    rules: dict[str, str] = {}
    names: list[str] = []
    pipeline = _relax_pipeline(spec, rules)

    @tvm.transform.module_pass(opt_level=0, name="LeptoncRecordKernels")
    def record(mod: tvm.IRModule, _ctx: tvm.transform.PassContext) -> tvm.IRModule:
        _record_rules(mod, spec, rules, names)
        return mod

    executable = tvm.compile(module, spec.target,
                             relax_pipeline=tvm.transform.Sequential([pipeline, record]))
    return Built(executable, rules, names)
