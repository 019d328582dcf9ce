"""ONNX op converters: one function per ONNX op type (or group of them), grouped by family.

A converter receives a ``NodeContext`` and returns the Values for the node's outputs, in
order (None for an omitted optional output):

    @converter("Relu")
    def relu(cx: NodeContext) -> list[Value]:
        return [cx.op("ew.relu", [cx.input(0)])]

``cx.op`` folds a node whose inputs are all constants into a constant, so shape arithmetic
(Shape -> Gather -> Concat -> Reshape) disappears during import when shapes are static.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from leptonc.errors import UnsupportedOpError
from leptonc.ir.builder import Builder, infer_types
from leptonc.ir.graph import Graph, Node, Value
from leptonc.ir.types import TensorType
from leptonc.ops.registry import get_op

Converter = Callable[["NodeContext"], Sequence[Value | None]]

_CONVERTERS: dict[str, Converter] = {}
_FAMILIES = ("elementwise", "nn", "linalg", "shape", "reduce", "quant", "transformer")
_loaded = False


def converter(*op_types: str) -> Callable[[Converter], Converter]:
    def register(fn: Converter) -> Converter:
        for t in op_types:
            if t in _CONVERTERS:
                raise ValueError(f"ONNX op {t} has two converters")
            _CONVERTERS[t] = fn
        return fn

    return register


def converters() -> dict[str, Converter]:
    global _loaded
    if not _loaded:
        # set only once every family imported, so a broken module fails loudly every time
        for family in _FAMILIES:
            importlib.import_module(f"{__name__}.{family}")
        _loaded = True
    return _CONVERTERS


class NodeContext:
    """What a converter sees of one ONNX node, and how it emits IR."""

    def __init__(self, node: onnx.NodeProto, inputs: list[Value | None], opset: int, graph: Graph,
                 used_outputs: frozenset[str] | None = None):
        self.node = node
        self._used_outputs = used_outputs
        self.inputs = inputs
        self.opset = opset
        self.graph = graph
        self.name = node.name or (node.output[0] if node.output else node.op_type)
        self._builder = Builder(graph, source_name=self.name)
        self._attrs = {a.name: a for a in node.attribute}

    @property
    def op_type(self) -> str:
        return self.node.op_type

    @property
    def num_outputs(self) -> int:
        return len(self.node.output)

    def output_used(self, i: int) -> bool:
        """Whether output ``i`` is read by any node or graph output (unused ones may be None)."""
        if i >= len(self.node.output) or not self.node.output[i]:
            return False
        return self._used_outputs is None or self.node.output[i] in self._used_outputs

    def input(self, i: int) -> Value | None:
        """Input ``i``, or None when it is omitted (absent or empty name)."""
        return self.inputs[i] if i < len(self.inputs) else None

    def has_attr(self, name: str) -> bool:
        return name in self._attrs

    def attr(self, name: str, default: Any = None) -> Any:
        """The attribute as a Python value (lists as tuples, tensors as numpy arrays)."""
        a = self._attrs.get(name)
        if a is None:
            return default
        value = onnx.helper.get_attribute_value(a)
        if isinstance(value, onnx.TensorProto):
            return numpy_helper.to_array(value)
        if isinstance(value, bytes):
            return value.decode("utf-8")
        if isinstance(value, list):
            return tuple(v.decode("utf-8") if isinstance(v, bytes) else v for v in value)
        return value

    def const_value(self, v: Value | None) -> np.ndarray | None:
        return None if v is None else v.data

    def require_const(self, i: int, what: str) -> np.ndarray:
        v = self.input(i)
        if v is None or v.data is None:
            self.unsupported(f"{what} (input {i}) must be a constant")
        return v.data

    def unsupported(self, reason: str) -> None:
        raise UnsupportedOpError(f"node '{self.name}' ({self.op_type}): {reason}")

    def const(self, data: Any, dtype: Any = None, name: str = "c") -> Value:
        return self.graph.add_constant(np.asarray(data, dtype=dtype), f"{self.name}_{name}")

    def op(self, op: str, inputs: Sequence[Value | None], attrs: dict[str, Any] | None = None,
           ) -> Any:
        """Emit ``op`` (or fold it into a constant); returns its output or tuple of outputs."""
        attrs = attrs or {}
        inputs = list(inputs)
        while inputs and inputs[-1] is None:  # trailing omitted optional inputs
            inputs.pop()
        opdef = get_op(op)
        present = [v for v in inputs if v is not None]
        if opdef.foldable and all(v.is_constant for v in present):
            folded = self._fold(op, inputs, attrs)
            if folded is not None:
                return folded[0] if len(folded) == 1 else folded
        return self._builder.op(op, inputs, attrs)

    def _fold(self, op: str, inputs: Sequence[Value | None], attrs: dict[str, Any]
              ) -> tuple[Value, ...] | None:
        opdef = get_op(op)
        node_attrs = Node(op, [], attrs).attrs
        types = infer_types(op, inputs, node_attrs, where=self.name)
        out = opdef.kernel([None if v is None else v.data for v in inputs],
                           opdef.with_defaults(node_attrs))
        arrays = list(out) if isinstance(out, tuple | list) else [out]
        values = []
        for t, a in zip(types, arrays, strict=True):
            a = np.asarray(a, order="C")  # folded views (e.g. transposes) become plain arrays
            values.append(self.graph.add_constant(
                a, self.name, TensorType(t.dtype, tuple(a.shape), t.quant, t.encoding)))
        return tuple(values)


def registered_op_types() -> list[str]:
    return sorted(converters())
