"""The op registry: each op declares, side by side, its signature, type inference, numpy
reference kernel and cost.

An op is a class decorated with ``@defop`` whose plain functions are collected:

    @defop("nn.relu", inputs="x", doc="max(x, 0)")
    class Relu:
        def infer(ins, attrs):       # (list[Value | None], dict) -> list[TensorType]
            return [ins[0].type]
        def kernel(xs, attrs):       # (list[ndarray | None], dict) -> ndarray | tuple
            return np.maximum(xs[0], 0)
        def macs(ins, outs, attrs):  # optional: multiply-accumulates; input Values,
            ...                      # output TensorTypes -> int
        def bytes_moved(ins, outs, attrs):  # optional: memory traffic; the default is
            ...                             # the inputs' plus the outputs' bytes

``attrs`` given to infer/kernel always holds every declared attribute (defaults filled in).
Input specs: ``"x, w, bias?"``; a trailing ``?`` marks an optional input, a leading ``*`` a
variadic one (zero or more, last).  Output specs likewise (``"*outs"`` for variadic).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from leptonc.errors import UnsupportedOpError

REQUIRED = object()
_ATTR_KINDS = ("int", "float", "str", "bool", "ints", "floats", "strs", "dtype", "graph", "any")

# Family modules are imported on first lookup so that importing leptonc stays cheap
# (quant_int holds the integer quant.* ops of lowered graphs).
_FAMILIES = ("elementwise", "nn", "linalg", "shape", "reduce", "quant", "quant_int", "transformer",
             "fused")


@dataclass(frozen=True, slots=True)
class AttrSpec:
    kind: str
    default: Any = REQUIRED

    def __post_init__(self) -> None:
        if self.kind not in _ATTR_KINDS:
            raise ValueError(f"unknown attribute kind '{self.kind}'")


def attr(kind: str, default: Any = REQUIRED) -> AttrSpec:
    """Declare an attribute: ``attr("ints", (1, 1))``; no default means required."""
    if isinstance(default, list):
        default = tuple(default)
    return AttrSpec(kind, default)


@dataclass(frozen=True, slots=True)
class PortSpec:
    name: str
    optional: bool = False
    variadic: bool = False


def _parse_ports(spec: str) -> tuple[PortSpec, ...]:
    ports = []
    for raw in (p.strip() for p in spec.split(",") if p.strip()):
        variadic, optional = raw.startswith("*"), raw.endswith("?")
        ports.append(PortSpec(raw.strip("*?"), optional, variadic))
    return tuple(ports)


def _no_macs(ins: Any, outs: Any, attrs: Any) -> int:
    return 0


def _operand_bytes(ins: Any, outs: Any, attrs: Any) -> int | None:
    """Bytes read plus bytes written when the node runs alone (unfused); None if not static."""
    sizes = [v.type.nbytes for v in ins if v is not None] + [t.nbytes for t in outs]
    return None if None in sizes else sum(sizes)


@dataclass(slots=True)
class OpDef:
    name: str
    inputs: tuple[PortSpec, ...]
    outputs: tuple[PortSpec, ...]
    attrs: dict[str, AttrSpec]
    infer: Callable
    kernel: Callable
    macs: Callable = _no_macs
    bytes_moved: Callable = _operand_bytes
    doc: str = ""
    # False for ops whose result must not be computed at compile time (randomness, huge output)
    foldable: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def family(self) -> str:
        return self.name.split(".", 1)[0]

    def attr_default(self, name: str) -> Any:
        spec = self.attrs.get(name)
        if spec is None or spec.default is REQUIRED:
            raise KeyError(f"{self.name} has no default for attribute '{name}'")
        return spec.default

    def with_defaults(self, attrs: dict[str, Any]) -> dict[str, Any]:
        full = {k: s.default for k, s in self.attrs.items() if s.default is not REQUIRED}
        full.update(attrs)
        return full

    def arity_ok(self, n_inputs: int) -> bool:
        required = sum(1 for p in self.inputs if not p.optional and not p.variadic)
        if self.inputs and self.inputs[-1].variadic:
            return n_inputs >= required
        return required <= n_inputs <= len(self.inputs)


_REGISTRY: dict[str, OpDef] = {}
_loaded = False


def defop(name: str, inputs: str = "x", outputs: str = "y", attrs: dict[str, AttrSpec] | None = None,
          doc: str = "", foldable: bool = True) -> Callable[[type], type]:
    """Class decorator that registers an op (see module docstring)."""

    def register(cls: type) -> type:
        if name in _REGISTRY:
            raise ValueError(f"op '{name}' registered twice")
        fns = {k: v for k, v in vars(cls).items() if callable(v)}
        missing = {"infer", "kernel"} - fns.keys()
        if missing:
            raise TypeError(f"op '{name}' lacks {sorted(missing)}")
        _REGISTRY[name] = OpDef(
            name=name, inputs=_parse_ports(inputs), outputs=_parse_ports(outputs),
            attrs=dict(attrs or {}), infer=fns["infer"], kernel=fns["kernel"],
            macs=fns.get("macs", _no_macs), bytes_moved=fns.get("bytes_moved", _operand_bytes),
            doc=doc or (cls.__doc__ or "").strip(),
            foldable=foldable)
        return cls

    return register


def _load_families() -> None:
    global _loaded
    if not _loaded:
        # set only once every family imported, so a broken module fails loudly every time
        for family in _FAMILIES:
            importlib.import_module(f"leptonc.ops.{family}")
        _loaded = True


def get_op(name: str) -> OpDef:
    _load_families()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnsupportedOpError(f"unknown op '{name}'") from None


def has_op(name: str) -> bool:
    _load_families()
    return name in _REGISTRY


def all_ops() -> dict[str, OpDef]:
    _load_families()
    return dict(sorted(_REGISTRY.items()))
