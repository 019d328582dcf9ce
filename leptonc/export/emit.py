"""What an ONNX emitter sees of one leptonc node, and how it writes ONNX nodes.

An emitter is a function registered for one or more canonical ops; it reads the node through
an ``EmitContext`` and appends ONNX nodes and initializers through it:

    @emitter("ew.relu")
    def relu(cx: EmitContext) -> None:
        cx.emit("Relu", [cx.input(0)], cx.outputs)

Emitters branch on ``cx.opset`` where ONNX changed an op (reduction axes moved from attribute
to input in opset 18, Gelu arrived in 20, ...).  ``emit`` refuses an ONNX op type newer than
the target opset, so an emitter that has no older spelling fails with the opset it needs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx

from leptonc.ir.dtypes import DType
from leptonc.ir.graph import Node, Value

if TYPE_CHECKING:
    from leptonc.export.onnx import _Exporter

Emitter = Callable[["EmitContext"], None]
_EMITTERS: dict[str, Emitter] = {}


class Unsupported(Exception):  # noqa: N818 - internal signal, collected into one user error
    """This node cannot be exported (``needs_opset`` set: not at the target opset)."""

    def __init__(self, reason: str, needs_opset: int | None = None):
        super().__init__(reason)
        self.needs_opset = needs_opset


def emitter(*ops: str) -> Callable[[Emitter], Emitter]:
    def register(fn: Emitter) -> Emitter:
        for op in ops:
            if op in _EMITTERS:
                raise ValueError(f"op {op} has two ONNX emitters")
            _EMITTERS[op] = fn
        return fn

    return register


def emitters() -> dict[str, Emitter]:
    # importing the families registers their emitters
    from leptonc.export import onnx_ops  # noqa: F401

    return _EMITTERS


@cache
def first_opset(op_type: str) -> int | None:
    """The opset that introduced the ONNX op ``op_type`` (None: no such op)."""
    versions = [s.since_version for s in onnx.defs.get_all_schemas_with_history()
                if s.domain == "" and s.name == op_type]
    return min(versions) if versions else None


class EmitContext:
    def __init__(self, exporter: _Exporter, node: Node):
        self._ex = exporter
        self.node = node
        self.opset = exporter.opset
        self._count = 0

    # ----- reading the node ----------------------------------------------------------------------
    def input(self, i: int) -> str:
        """The ONNX name of input ``i`` ("" when omitted, ONNX's spelling of an absent input)."""
        v = self.node.inputs[i] if i < len(self.node.inputs) else None
        return "" if v is None else self._ex.name_of(v)

    def value(self, i: int) -> Value | None:
        return self.node.inputs[i] if i < len(self.node.inputs) else None

    @property
    def outputs(self) -> list[str]:
        return [self._ex.name_of(v) for v in self.node.outputs]

    def attr(self, name: str) -> Any:
        return self.node.attr(name)

    def unsupported(self, reason: str) -> None:
        raise Unsupported(reason)

    # ----- writing ONNX ----------------------------------------------------------------------------
    def fresh(self, hint: str) -> str:
        return self._ex.fresh_name(f"{self.node.outputs[0].name}_{hint}")

    def const(self, data: Any, dtype: Any = None, hint: str = "c") -> str:
        """A new initializer holding ``data``; returns its name."""
        return self._ex.add_initializer(np.asarray(data, dtype=dtype), self.fresh(hint))

    def ints(self, values: Sequence[int], hint: str = "ints") -> str:
        """A 1-D i64 initializer (the form of ONNX's shape, axes, pads... inputs)."""
        return self.const(np.asarray(list(values), dtype=np.int64), hint=hint)

    def emit(self, op_type: str, inputs: Sequence[str], outputs: int | Sequence[str] = 1,
             **attrs: Any) -> list[str]:
        """Append one ONNX node; ``outputs`` is a count (fresh names) or the names to write."""
        since = first_opset(op_type)
        if since is None or since > self.opset:
            raise Unsupported(f"ONNX {op_type} needs opset {since}", needs_opset=since)
        if isinstance(outputs, int):
            outputs = [self.fresh(op_type.lower()) for _ in range(outputs)]
        inputs = list(inputs)
        while inputs and not inputs[-1]:  # trailing absent optional inputs are dropped
            inputs.pop()
        self._count += 1
        name = self.node.source_name or self.node.outputs[0].name
        if self._count > 1:
            name = f"{name}/{op_type}"
        name = self._ex.node_name(name)
        # unset and empty attributes are left out: ONNX's defaults apply
        attrs = {k: _attr_value(v) for k, v in attrs.items() if v is not None and v != ()}
        self._ex.nodes.append(onnx.helper.make_node(op_type, inputs, list(outputs), name=name,
                                                    **attrs))
        return list(outputs)

    def emit1(self, op_type: str, inputs: Sequence[str], **attrs: Any) -> str:
        """``emit`` of a single-output node into a fresh name; returns that name."""
        return self.emit(op_type, inputs, 1, **attrs)[0]

    def onnx_dtype(self, dtype: DType) -> int:
        return self._ex.onnx_dtype(dtype)


def _attr_value(v: Any) -> Any:
    """Attribute values as onnx.helper wants them (bools are ints in ONNX)."""
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, tuple):
        return [int(x) if isinstance(x, bool) else x for x in v]
    return v
