"""Lower a leptonc graph to a Relax IRModule, directly from the IR (no ONNX round trip).

    lowered = lower_graph(graph)        # raises UnsupportedOpError naming every bad node
    lowered.module                      # tvm.IRModule with "main" and one function per region

The graph's inputs become ``main``'s parameters (static shapes; a named symbolic dim becomes
a TIR variable, shared by every input that names it); constants become ``relax.Constant``s
bound into the module, so the compiled library carries its weights.  Nodes are lowered in
graph order through the op table (``op_table.LOWERINGS``).

Each ``fused.region`` becomes a private Relax function marked ``Primitive`` whose body is
the region's sub-graph; the build's ``FuseTIR`` merges it into ONE TIR kernel, exactly the
grouping leptonc's fusion passes chose.  Constants the body holds become extra parameters,
passed by the caller (FuseTIR takes a primitive function's tensors only as arguments).

Every node, region bodies included, is checked before anything is emitted, so a model with
three unsupported ops fails once, naming all three.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tvm
from tvm import relax, tirx

from leptonc.analysis import node_macs
from leptonc.errors import UnsupportedOpError
from leptonc.ir.graph import Graph, Node, Value
from leptonc.ir.printer import format_dims
from leptonc.ir.types import TensorType

# The families register their lowerings into the table on import.
from leptonc.targets.tvm import lower_elementwise, lower_nn, lower_quant, lower_shape  # noqa: F401
from leptonc.targets.tvm.op_table import LOWERINGS, EmitContext, relax_dtype, supported_dtype

REGION_OP = "fused.region"
_UNSAFE_SYMBOL = re.compile(r"[^A-Za-z0-9_]")


@dataclass(frozen=True, slots=True)
class Kernel:
    """One kernel of the lowered model, as report.md lists it."""

    name: str                  # the Relax function of a region, else the op's legalized name
    node: str                  # the leptonc node (its source name, else its first output)
    ops: tuple[str, ...]       # the ops it computes (a region's body ops, in order)
    shapes: tuple[str, ...]    # its result shapes
    macs: int


@dataclass(slots=True)
class LoweredModule:
    module: tvm.IRModule
    kernels: list[Kernel] = field(default_factory=list)


# ----- checking --------------------------------------------------------------------------------
def _node_label(node: Node) -> str:
    return f"'{node.source_name or node.outputs[0].name}' ({node.op})"


def _type_problem(v: Value) -> str | None:
    if not supported_dtype(v.type.dtype):
        return f"value %{v.name} of dtype {v.type.dtype}"
    if v.type.shape is None:
        return f"value %{v.name} of unknown rank"
    return None


def _node_problems(node: Node) -> list[str]:
    if node.op == REGION_OP:
        return [f"in region {_node_label(node)}: {p}" for p in unsupported_nodes(node.attrs["body"])]
    lowering = LOWERINGS.get(node.op)
    if lowering is None:
        return [f"{_node_label(node)}: no TVM lowering for {node.op}"]
    reasons = [r for r in (_type_problem(v) for v in (*node.inputs, *node.outputs) if v is not None) if r]
    if lowering.check is not None and not reasons and (reason := lowering.check(node)):
        reasons.append(reason)
    return [f"{_node_label(node)}: {r}" for r in reasons]


def unsupported_nodes(graph: Graph) -> list[str]:
    """One line per node (region bodies included) the lowering cannot handle."""
    problems = []
    for node in graph:
        problems += _node_problems(node)
    return problems


def _input_problems(graph: Graph) -> list[str]:
    problems = []
    for v in graph.inputs:
        if (reason := _type_problem(v)) or (None in v.type.shape and (reason := "an unknown (?) dim")):
            problems.append(f"input '{v.name}': {reason}")
    return problems


def check_lowerable(graph: Graph, target: str) -> None:
    """Raise one UnsupportedOpError listing every node ``target`` cannot compile."""
    problems = _input_problems(graph) + unsupported_nodes(graph)
    if problems:
        raise UnsupportedOpError(f"--target {target} cannot compile {len(problems)} node(s): "
                                 + "; ".join(problems))


# ----- emitting --------------------------------------------------------------------------------
def _symbol(name: str) -> str:
    text = _UNSAFE_SYMBOL.sub("_", name).strip("_") or "v"
    return text if not text[0].isdigit() else f"v{text}"


class _Lowerer:
    def __init__(self) -> None:
        self.builder = relax.BlockBuilder()
        self.ctx = EmitContext(self.builder, {})
        self.regions: dict[Node, tuple[relax.GlobalVar, list[Value]]] = {}
        self.kernels: list[Kernel] = []
        self._names: set[str] = set()
        self._fresh = itertools.count()

    def _unique(self, base: str) -> str:
        name, n = base, 1
        while name in self._names:
            n += 1
            name = f"{base}_{n}"
        self._names.add(name)
        return name

    def struct_info(self, t: TensorType) -> relax.TensorType:
        # An unknown dim (only region parameters have them: main's inputs are checked) gets
        # a fresh variable of its own, bound by the caller's argument.
        dims = [self.ctx.dim(d) if d is not None else tirx.Var(f"dim{next(self._fresh)}", "int64")
                for d in t.shape]
        return relax.TensorType(dims, relax_dtype(t.dtype))

    def params(self, values: list[Value]) -> list[relax.Var]:
        return [relax.Var(_symbol(v.name), self.struct_info(v.type)) for v in values]

    # A region's sub-graph, as one primitive function.
    def region_function(self, node: Node) -> None:
        body: Graph = node.attrs["body"]
        name = self._unique("fused_" + _symbol(node.source_name or node.outputs[0].name))
        constants = [c for c in body.constants.values() if c.uses]
        params = self.params([*body.inputs, *constants])
        with self.builder.function(name, params, attrs={"Primitive": 1}, private=True):
            with self.builder.dataflow():
                env: dict[Value, Any] = dict(zip([*body.inputs, *constants], params, strict=True))
                self.emit_nodes(body, env)
                results = [self.builder.emit_output(env[v]) for v in body.outputs]
            gvar = self.builder.emit_func_output(results[0] if len(results) == 1 else relax.Tuple(results))
        self.regions[node] = (gvar, constants)

    def emit_nodes(self, graph: Graph, env: dict[Value, Any], top_level: bool = False) -> None:
        for node in graph:
            args = [None if v is None else self.operand(v, env) for v in node.inputs]
            if node.op == REGION_OP:
                gvar, constants = self.regions[node]
                call = relax.Call(gvar, [*args, *(self.operand(c, env) for c in constants)])
                results = self._unpack(self.builder.emit(call), len(node.outputs))
                kernel, ops = gvar.name_hint, tuple(n.op for n in node.attrs["body"])
            else:
                results = LOWERINGS[node.op].emit(self.ctx, node, args)
                kernel, ops = node.op.split(".")[-1], (node.op,)
            if top_level:
                self.kernels.append(Kernel(kernel, node.source_name or node.outputs[0].name, ops,
                                           _shapes(node), node_macs(node)))
            for value, expr in zip(node.outputs, results, strict=True):
                env[value] = self.builder.emit(expr, name_hint=_symbol(value.name))

    def operand(self, v: Value, env: dict[Value, Any]) -> Any:
        if v not in env:  # a constant of the graph: bound into the module where it is used
            # Its declared type is the truth: a scalar may be stored as a one-element array.
            data = np.ascontiguousarray(v.data).reshape(v.type.shape)
            env[v] = relax.const(data, relax_dtype(v.type.dtype))
        return env[v]

    def _unpack(self, result: Any, count: int) -> list[Any]:
        return [result] if count == 1 else [relax.TupleGetItem(result, i) for i in range(count)]

    def main(self, graph: Graph) -> None:
        params = self.params(graph.inputs)
        with self.builder.function("main", params):
            with self.builder.dataflow():
                env: dict[Value, Any] = dict(zip(graph.inputs, params, strict=True))
                self.emit_nodes(graph, env, top_level=True)
                results = [self.builder.emit_output(self.operand(v, env)) for v in graph.outputs]
            self.builder.emit_func_output(relax.Tuple(results))


def _shapes(node: Node) -> tuple[str, ...]:
    return tuple(f"{v.type.dtype}{format_dims(v.type.shape)}" for v in node.outputs)


def _regions(graph: Graph) -> list[Node]:
    return [node for node in graph if node.op == REGION_OP]


def lower_graph(graph: Graph, target: str = "cpu") -> LoweredModule:
    """The Relax module of ``graph``: ``main(*inputs) -> tuple(outputs)``."""
    check_lowerable(graph, target)
    lowerer = _Lowerer()
    for region in _regions(graph):
        if any(n.op == REGION_OP for n in region.attrs["body"]):
            raise UnsupportedOpError(f"region {_node_label(region)} holds a nested region")
        lowerer.region_function(region)
    lowerer.main(graph)
    return LoweredModule(lowerer.builder.get(), lowerer.kernels)
