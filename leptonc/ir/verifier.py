"""The IR verifier: SSA and topological order, use lists, op signatures, attributes, types."""

from __future__ import annotations

from leptonc.errors import LeptoncError, VerifyError
from leptonc.ir.dtypes import DType
from leptonc.ir.graph import Graph, Node, Value
from leptonc.ir.types import TensorType, dims_compatible
from leptonc.ops.registry import REQUIRED, get_op, has_op

_KIND_CHECKS = {
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "str": lambda v: isinstance(v, str),
    "bool": lambda v: isinstance(v, bool),
    "ints": lambda v: isinstance(v, tuple) and all(_KIND_CHECKS["int"](x) for x in v),
    "floats": lambda v: isinstance(v, tuple) and all(_KIND_CHECKS["float"](x) for x in v),
    "strs": lambda v: isinstance(v, tuple) and all(isinstance(x, str) for x in v),
    "dtype": lambda v: isinstance(v, DType),
    "graph": lambda v: isinstance(v, Graph),
    "any": lambda v: True,
}


def types_agree(declared: TensorType, inferred: TensorType) -> bool:
    """Declared types may be more specific than inferred ones, never contradict them."""
    if declared.dtype != inferred.dtype:
        return False
    if declared.shape is None or inferred.shape is None:
        return True
    if len(declared.shape) != len(inferred.shape):
        return False
    return all(dims_compatible(a, b) for a, b in zip(declared.shape, inferred.shape, strict=True))


def _where(node: Node) -> str:
    name = node.source_name or (node.outputs[0].name if node.outputs else "?")
    return f"node {name} ({node.op})"


def _check_attrs(node: Node) -> None:
    opdef = get_op(node.op)
    for name, value in node.attrs.items():
        spec = opdef.attrs.get(name)
        if spec is None:
            raise VerifyError(f"{_where(node)}: unknown attribute '{name}'")
        if not _KIND_CHECKS[spec.kind](value):
            raise VerifyError(f"{_where(node)}: attribute '{name}' should be {spec.kind}, "
                              f"got {value!r}")
    for name, spec in opdef.attrs.items():
        if spec.default is REQUIRED and name not in node.attrs:
            raise VerifyError(f"{_where(node)}: missing required attribute '{name}'")


def _check_uses(graph: Graph, defined: dict[int, Value]) -> None:
    expected: dict[int, list[tuple[Node, int]]] = {id(v): [] for v in defined.values()}
    for node in graph:
        for i, v in enumerate(node.inputs):
            if v is not None:
                expected[id(v)].append((node, i))
    for v in defined.values():
        actual = v._uses
        if len(actual) != len(expected[id(v)]) or set(map(_key, actual)) != set(
                map(_key, expected[id(v)])):
            raise VerifyError(f"use list of %{v.name} is out of date")


def _key(use: tuple[Node, int]) -> tuple[int, int]:
    return id(use[0]), use[1]


def verify(graph: Graph, check_types: bool = True) -> None:
    """Raise VerifyError describing the first problem found."""
    defined: dict[int, Value] = {}
    names: set[str] = set()

    def define(v: Value, what: str) -> None:
        if v.name in names:
            raise VerifyError(f"value name %{v.name} defined twice ({what})")
        names.add(v.name)
        defined[id(v)] = v

    for v in graph.inputs:
        define(v, "graph input")
    for name, v in graph.constants.items():
        if v.data is None or name != v.name:
            raise VerifyError(f"constant %{name} is malformed")
        if tuple(v.data.shape) != v.type.shape:
            raise VerifyError(f"constant %{name}: data shape {v.data.shape} != type {v.type}")
        define(v, "constant")
    count = 0
    for node in graph:
        count += 1
        if node.graph is not graph:
            raise VerifyError(f"{_where(node)} is linked into another graph")
        if not has_op(node.op):
            raise VerifyError(f"{_where(node)}: unknown op '{node.op}'")
        opdef = get_op(node.op)
        if not opdef.arity_ok(len(node.inputs)):
            raise VerifyError(f"{_where(node)}: {len(node.inputs)} inputs do not fit {node.op}")
        for v in node.inputs:
            if v is not None and id(v) not in defined:
                raise VerifyError(f"{_where(node)}: input %{v.name} is not defined before use")
        _check_attrs(node)
        for a in node.attrs.values():
            if isinstance(a, Graph):
                verify(a, check_types)
        for i, v in enumerate(node.outputs):
            if v.producer is not node or v.index != i:
                raise VerifyError(f"{_where(node)}: output %{v.name} has a wrong producer")
            define(v, _where(node))
        if check_types:
            _check_node_types(node)
    if count != len(graph):
        raise VerifyError("node count is out of date")
    if len(graph.outputs) != len(graph.output_names) or not graph.outputs:
        raise VerifyError("graph outputs and output names differ in number (or are empty)")
    for v in graph.outputs:
        if id(v) not in defined:
            raise VerifyError(f"graph output %{v.name} is not defined")
    if len(set(graph.output_names)) != len(graph.output_names):
        raise VerifyError("graph output names are not unique")
    _check_uses(graph, defined)


def _check_node_types(node: Node) -> None:
    opdef = get_op(node.op)
    try:
        inferred = opdef.infer(list(node.inputs), opdef.with_defaults(node.attrs))
    except LeptoncError as e:
        raise VerifyError(f"{_where(node)}: {e}") from None
    if len(inferred) != len(node.outputs):
        raise VerifyError(f"{_where(node)}: {len(node.outputs)} outputs, op gives {len(inferred)}")
    for v, t in zip(node.outputs, inferred, strict=True):
        if not types_agree(v.type, t):
            raise VerifyError(f"{_where(node)}: %{v.name} declared {v.type}, inferred {t}")

