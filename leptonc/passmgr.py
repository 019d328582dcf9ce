"""Passes, pipeline strings and the pass manager.

A pass is a frozen dataclass whose fields are its options, registered by name:

    @register_pass
    @dataclass(frozen=True)
    class Fuse(Pass):
        name = "fuse"
        requires = ("canonical",)
        max_ops: int = 16                # option `max-ops` on the command line
        def run(self, graph): ... return PassResult(modified, {"regions": n})

or, for passes without options, a decorated function:

    @graph_pass("dce", ensures=("no-dead-code",))
    def dce(graph) -> PassResult: ...

Pipelines are strings, the same for the CLI, tests and the driver:
``canonicalize,fold-batchnorm,fuse{max-ops=16}``; ``-O0..-O3`` name pipelines
(``leptonc.passes.pipelines``).  Passes live under ``passes/`` (installed as
``leptonc.passes``) and are imported the first time a pass is looked up.
"""

from __future__ import annotations

import dataclasses
import difflib
import gc
import importlib
import pkgutil
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, get_type_hints

from leptonc.errors import LeptoncError, UsageError
from leptonc.ir.graph import Graph


class PassError(LeptoncError):
    """A pass broke the graph, or a pipeline's requirements are not met."""


@dataclass(slots=True)
class PassResult:
    modified: bool
    stats: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0  # the pass's own run time, set by the PassManager
    # What a user should know about this run, one line each (e.g. which nodes a lowering
    # left in float and why); the command line prints them.
    notes: list[str] = field(default_factory=list)


class Pass:
    """Base of every pass; subclasses are frozen dataclasses whose fields are options."""

    name: ClassVar[str] = ""
    requires: ClassVar[tuple[str, ...]] = ()  # graph properties that must hold before
    ensures: ClassVar[tuple[str, ...]] = ()  # properties that hold after
    invalidates: ClassVar[tuple[str, ...]] = ()  # properties that may no longer hold after
    # How far outputs may drift (validate-each): exact rewrites keep the f32 defaults.
    rtol: ClassVar[float] = 1e-4
    atol: ClassVar[float] = 1e-5
    example: ClassVar[str] = ""  # a pipeline string using the pass, for the docs
    rules: ClassVar[tuple] = ()  # the RewriteRules a rule-based pass applies (--debug-rules)

    def run(self, graph: Graph) -> PassResult:
        raise NotImplementedError

    @property
    def spec(self) -> str:
        """The pass as a pipeline item, with every option that differs from its default."""
        opts = [f"{_kebab(f.name)}={_format_option(getattr(self, f.name))}"
                for f in dataclasses.fields(self) if getattr(self, f.name) != f.default]
        return self.name + ("{" + ",".join(opts) + "}" if opts else "")


# ----- registry ------------------------------------------------------------------------------
_PASSES: dict[str, type[Pass]] = {}
_loaded = False


def register_pass(cls: type[Pass]) -> type[Pass]:
    if not cls.name or not re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", cls.name):
        raise ValueError(f"pass name {cls.name!r} must be kebab-case")
    if cls.name in _PASSES:
        raise ValueError(f"pass '{cls.name}' registered twice")
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"pass '{cls.name}' must be a dataclass (its fields are its options)")
    _PASSES[cls.name] = cls
    return cls


def graph_pass(name: str, *, requires: Sequence[str] = (), ensures: Sequence[str] = (),
               invalidates: Sequence[str] = (), rtol: float = 1e-4, atol: float = 1e-5,
               example: str = "") -> Callable[[Callable[[Graph], PassResult]], type[Pass]]:
    """Register a function ``fn(graph) -> PassResult`` as a pass without options."""

    def wrap(fn: Callable[[Graph], PassResult]) -> type[Pass]:
        cls = type(fn.__name__, (Pass,), {
            "name": name, "requires": tuple(requires), "ensures": tuple(ensures),
            "invalidates": tuple(invalidates), "rtol": rtol, "atol": atol,
            "example": example or name, "__doc__": fn.__doc__,
            "run": lambda self, graph: fn(graph), "__module__": fn.__module__})
        return register_pass(dataclass(frozen=True)(cls))

    return wrap


def _load_passes() -> None:
    global _loaded
    if _loaded:
        return
    import leptonc.passes as package

    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(info.name)
    _loaded = True


def all_passes() -> dict[str, type[Pass]]:
    _load_passes()
    return dict(sorted(_PASSES.items()))


def get_pass(name: str) -> type[Pass]:
    _load_passes()
    if name not in _PASSES:
        close = difflib.get_close_matches(name, _PASSES, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else " (see leptonc --list-passes)"
        raise UsageError(f"unknown pass '{name}'{hint}")
    return _PASSES[name]


# ----- options -------------------------------------------------------------------------------
def _kebab(field_name: str) -> str:
    """Field name -> option name; a trailing ``_`` (``global_``, a Python keyword) is dropped."""
    return field_name.rstrip("_").replace("_", "-")


def _format_option(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ":".join(map(str, value))
    return str(value)


def pass_options(cls: type[Pass]) -> dict[str, tuple[Any, Any]]:
    """``{option name: (type, default)}`` of a pass class."""
    hints = get_type_hints(cls)
    return {_kebab(f.name): (hints[f.name], f.default) for f in dataclasses.fields(cls)}


def _option_fields(cls: type[Pass]) -> dict[str, str]:
    return {_kebab(f.name): f.name for f in dataclasses.fields(cls)}


def _convert_option(pass_name: str, option: str, kind: Any, text: str) -> Any:
    try:
        if kind is bool:
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return text.lower() in ("true", "1")
        if kind in (int, float, str):
            return kind(text)
        if kind == tuple[str, ...]:
            return tuple(t for t in text.split(":") if t)
    except ValueError:
        pass
    name = getattr(kind, "__name__", str(kind))
    raise UsageError(f"pass '{pass_name}': option '{option}' expects {name}, got '{text}'")


# ----- pipeline strings ----------------------------------------------------------------------
_ITEM = re.compile(r"\s*([A-Za-z0-9_-]+)\s*(?:\{([^{}]*)\})?\s*(?:,|$)")


def parse_pipeline(text: str) -> list[Pass]:
    """``"a,b{opt=1,flag=true},c"`` (or a named level such as ``O2``) -> pass instances;
    errors name the pass or option."""
    passes: list[Pass] = []
    pos, text = 0, expand_named(text).strip()
    while pos < len(text):
        m = _ITEM.match(text, pos)
        if not m or m.end() == pos:
            raise UsageError(f"pipeline '{text}': cannot parse at '{text[pos:]}' "
                             "(expected pass{option=value,...},pass,...)")
        passes.append(_instantiate(m.group(1), m.group(2)))
        pos = m.end()
    return passes


def _instantiate(name: str, options_text: str | None) -> Pass:
    cls = get_pass(name)
    declared = pass_options(cls)
    kwargs: dict[str, Any] = {}
    for item in filter(None, (s.strip() for s in (options_text or "").split(","))):
        key, eq, value = item.partition("=")
        key = key.strip()
        if key not in declared:
            known = ", ".join(declared) or "none"
            raise UsageError(f"pass '{name}': unknown option '{key}' (options: {known})")
        if not eq:
            raise UsageError(f"pass '{name}': option '{key}' needs a value ({key}=...)")
        field_name = _option_fields(cls)[key]
        kwargs[field_name] = _convert_option(name, key, declared[key][0], value.strip())
    try:
        return cls(**kwargs)
    except ValueError as e:  # a pass validating its options in __post_init__
        raise UsageError(f"pass '{name}': {e}") from None


# ----- instruments and the manager --------------------------------------------------------------
class Instrument:
    """Hooks around every pass (timing, printing, verifying, validating)."""

    def run_before_pipeline(self, graph: Graph) -> None: ...

    def run_before_pass(self, p: Pass, graph: Graph, index: int) -> None: ...

    def run_after_pass(self, p: Pass, graph: Graph, result: PassResult, index: int) -> None: ...

    def run_after_pipeline(self, graph: Graph) -> None: ...


@dataclass(slots=True)
class PassRecord:
    spec: str
    result: PassResult

    @property
    def seconds(self) -> float:
        return self.result.seconds


class PassManager:
    def __init__(self, passes: Sequence[Pass], instruments: Sequence[Instrument] = ()):
        self.passes = list(passes)
        self.instruments = list(instruments)

    @classmethod
    def from_pipeline(cls, pipeline: str, instruments: Sequence[Instrument] = ()) -> PassManager:
        return cls(parse_pipeline(pipeline), instruments)

    def check_requirements(self, established: Sequence[str] = ()) -> None:
        """Every pass's requirements must be ensured by an earlier pass (or given)."""
        have = set(established)
        for p in self.passes:
            missing = [r for r in p.requires if r not in have]
            if missing:
                providers = sorted(n for n, c in all_passes().items() if missing[0] in c.ensures)
                hint = f" (run {' or '.join(providers)} before it)" if providers else ""
                raise UsageError(f"pass '{p.name}' requires '{missing[0]}', which no earlier pass "
                                 f"ensures{hint}")
            have.difference_update(p.invalidates)
            have.update(p.ensures)

    def run(self, graph: Graph) -> list[PassRecord]:
        """Run every pass in order on ``graph`` (in place); returns what each did."""
        self.check_requirements()
        # The IR holds hundreds of thousands of objects; the cyclic collector's full scans of
        # them would make pass time grow faster than the graph.  Erasing a node breaks its
        # reference cycles, so the little cyclic garbage a pipeline makes waits until the end.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return self._run_passes(graph)
        finally:
            if was_enabled:
                gc.enable()

    def _run_passes(self, graph: Graph) -> list[PassRecord]:
        for inst in self.instruments:
            inst.run_before_pipeline(graph)
        records = []
        for index, p in enumerate(self.passes):
            for inst in self.instruments:
                inst.run_before_pass(p, graph, index)
            start = time.perf_counter()
            result = p.run(graph)
            result.seconds = time.perf_counter() - start
            records.append(PassRecord(p.spec, result))
            for inst in self.instruments:
                inst.run_after_pass(p, graph, result, index)
        for inst in self.instruments:
            inst.run_after_pipeline(graph)
        return records


def named_pipelines() -> dict[str, str]:
    from leptonc.passes.pipelines import NAMED_PIPELINES

    return NAMED_PIPELINES


def expand_named(pipeline: str) -> str:
    """``O2`` (or ``-O2``) -> its pipeline string; anything else unchanged."""
    key = pipeline.strip().lstrip("-")
    return named_pipelines().get(key, pipeline)


def run_pipeline(graph: Graph, pipeline: str, instruments: Sequence[Instrument] = ()
                 ) -> list[PassRecord]:
    """Parse ``pipeline`` (a string or a named level such as ``O2``) and run it on ``graph``."""
    return PassManager.from_pipeline(pipeline, instruments).run(graph)
