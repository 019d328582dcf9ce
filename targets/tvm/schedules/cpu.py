"""leptonc's CPU scheduling: recognise each PrimFunc's kind, apply its rule with its config.

    mod = LegalizeOps + FuseOps + FuseTIR (the lowering's job)
    mod = cpu_schedule_pass(target, database)(mod)     # every PrimFunc scheduled
    lib = tvm.compile(mod, target)

Rules (``analysis.classify`` picks one per PrimFunc):

======================  ===========================================================
contraction             conv2d (any groups, stride, padding), matmul, batch matmul,
                        pools, small reductions: register-blocked vectorised tile,
                        padding as a parallel copy, epilogue fused into write-back
row_reduction           softmax, layer norm: parallel rows, vectorised maps
elementwise             everything injective: fused, vectorised, parallel
int8_dot                quant.matmul tagged by the lowering, on VNNI CPUs (``int8.py``)
opaque                  left as legalized (serial); named in the report
======================  ===========================================================

The configs come from the tuner's database when it knows the kernel (keyed by the
structural hash of the legalized PrimFunc), else from the rule's defaults.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Protocol

import tvm
from tvm import s_tir, tirx
from tvm.target import Target
from tvm.target.codegen import llvm_get_vector_width

from .analysis import KernelInfo, classify
from .config import ContractionConfig, ElementwiseConfig, Int8DotConfig, RowReductionConfig, RuleConfig
from .contraction import schedule_contraction
from .elementwise import schedule_elementwise
from .int8 import schedule_int8_dot
from .row_reduction import schedule_row_reduction

DEFAULT_CONFIGS: dict[str, RuleConfig] = {
    "contraction": ContractionConfig(),
    "row_reduction": RowReductionConfig(),
    "elementwise": ElementwiseConfig(),
    "int8_dot": Int8DotConfig(),
}


class ConfigSource(Protocol):
    """Where tuned configs come from (the tuner's database)."""

    def lookup(self, func: tirx.PrimFunc) -> RuleConfig | None: ...


@dataclass(frozen=True, slots=True)
class ScheduleContext:
    """Scheduling options that reach ``cpu_schedule_pass`` through a build it does not call itself.

    The build driver constructs the pass; ``--tune`` and a tuning database are the compile
    command's options.  Like ``with target:`` in TVM, the context carries them across.
    """

    database: ConfigSource | None = None
    # Runs on the module (legalized and fused, not yet scheduled) first: the tuner hooks in here.
    before_schedule: Callable[[tvm.IRModule, Target], None] | None = None


_CONTEXT: ContextVar[ScheduleContext | None] = ContextVar("leptonc_cpu_schedule", default=None)


@contextmanager
def schedule_context(context: ScheduleContext) -> Iterator[None]:
    """Compile with ``context``'s database (and tuning hook) inside the ``with`` block."""
    token = _CONTEXT.set(context)
    try:
        yield
    finally:
        _CONTEXT.reset(token)


@dataclass(slots=True)
class KernelSchedule:
    """What happened to one PrimFunc: for the artifact's report and the tuner."""

    name: str
    kind: str
    config: RuleConfig | None
    tuned: bool
    note: str = ""


@dataclass(slots=True)
class ScheduleReport:
    kernels: list[KernelSchedule] = field(default_factory=list)

    def unscheduled(self) -> list[KernelSchedule]:
        return [k for k in self.kernels if k.config is None]


def target_threads(target: Target) -> int:
    cores = target.attrs.get("num-cores")
    return int(cores) if cores else 1


def vector_lanes(target: Target, bits: int) -> int:
    """Lanes of the widest vector register for elements of ``bits`` bits (16 f32 on AVX-512)."""
    width = int(llvm_get_vector_width(target))
    return max(width // bits, 1) if width > 0 else max(128 // bits, 1)


def _output_bits(sch: s_tir.Schedule, kernel: KernelInfo) -> int:
    """Element width that sets the vector lanes: the anchor's (accumulator's), else the result's."""
    block = kernel.anchor if kernel.anchor is not None else kernel.blocks[-1]
    return max(tvm.runtime.DataType(str(sch.get(block).writes[0].source.dtype)).bits, 8)


def _apply(sch: s_tir.Schedule, kernel: KernelInfo, config: RuleConfig, lanes: int, threads: int) -> None:
    if kernel.kind == "contraction":
        schedule_contraction(sch, kernel.anchor, config, lanes, threads)
    elif kernel.kind == "row_reduction":
        schedule_row_reduction(sch, config, lanes, threads)
    else:
        schedule_elementwise(sch, lanes, threads, config.vector_tile)


def schedule_primfunc(func: tirx.PrimFunc, target: Target, config: RuleConfig | None = None
                      ) -> tuple[tirx.PrimFunc | None, str, RuleConfig | None, str]:
    """Schedule one legalized PrimFunc.

    Returns (scheduled function or None when no rule applies, kernel kind, config used, note).
    A config of the wrong kind for the kernel (a stale database entry) is ignored, not applied.
    """
    dot = schedule_int8_dot(func, target)
    if dot is not None:
        return dot, "int8_dot", DEFAULT_CONFIGS["int8_dot"], ""
    sch = s_tir.Schedule(func)
    kernel = classify(sch)
    if kernel.kind == "opaque":
        return None, kernel.kind, None, kernel.reason
    if config is None or config.kind != kernel.kind:
        config = DEFAULT_CONFIGS[kernel.kind]
    lanes = vector_lanes(target, _output_bits(sch, kernel))
    try:
        _apply(sch, kernel, config, lanes, target_threads(target))
    except (s_tir.ScheduleError, RuntimeError, ValueError) as err:  # TVM raises the latter two
        return None, kernel.kind, None, f"rule failed: {str(err).splitlines()[0][:200]}"
    return sch.mod["main"], kernel.kind, config, ""


def _is_scheduled(func: tirx.PrimFunc) -> bool:
    """Already scheduled, or host code (shape computations) that is no kernel."""
    attrs = func.attrs or {}
    return bool(attrs.get("tirx.is_scheduled", False)) or "tirx.is_host_func" in attrs


def cpu_schedule_pass(target: Target, database: ConfigSource | None = None,
                      report: ScheduleReport | None = None,
                      on_kernel: Callable[[KernelSchedule], None] | None = None) -> tvm.transform.Pass:
    """A module pass that schedules every not-yet-scheduled PrimFunc of a Relax module for ``target``.

    Configs come from ``database``, else from the active ``schedule_context``, else the defaults.

    ``report`` (if given) receives one ``KernelSchedule`` per PrimFunc; kernels no rule could
    schedule keep TVM's default (serial, unvectorised) code and are listed there with the reason.
    """

    def transform(mod: tvm.IRModule, _ctx: tvm.transform.PassContext) -> tvm.IRModule:
        context = _CONTEXT.get() or ScheduleContext()
        if context.before_schedule is not None:
            context.before_schedule(mod, target)
        configs = database if database is not None else context.database
        updates = {}
        for gvar, func in mod.functions_items():
            if not isinstance(func, tirx.PrimFunc) or _is_scheduled(func):
                continue
            tuned = configs.lookup(func) if configs is not None else None
            scheduled, kind, config, note = schedule_primfunc(func, target, tuned)
            entry = KernelSchedule(gvar.name_hint, kind, config, tuned is not None and config == tuned, note)
            if report is not None:
                report.kernels.append(entry)
            if on_kernel is not None:
                on_kernel(entry)
            if scheduled is not None:
                updates[gvar] = scheduled.with_attr("tirx.is_scheduled", True)
        for gvar, func in updates.items():
            mod[gvar] = func
        return mod

    return tvm.transform.module_pass(transform, opt_level=0, name="LeptoncCpuSchedule")
