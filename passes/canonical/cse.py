"""cse: common-subexpression elimination of nodes and of small constants."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from leptonc.ir.builder import Rewriter
from leptonc.ir.graph import Graph, Node
from leptonc.ops.registry import get_op
from leptonc.passmgr import Pass, PassResult, register_pass

# Ops whose two operands may be swapped (IEEE addition and multiplication commute exactly).
_COMMUTATIVE = frozenset(("ew.add", "ew.mul", "ew.max", "ew.min", "ew.and", "ew.or", "ew.xor",
                          "ew.equal", "ew.bitwise_and", "ew.bitwise_or", "ew.bitwise_xor"))


@register_pass
@dataclass(frozen=True)
class Cse(Pass):
    """Nodes with the same op, the same input values and equal attributes compute the same
    thing: every later one is replaced by the first (one hashing sweep in graph order, so
    chains of duplicates merge in one run).  Constants of up to ``max-constant-elements``
    elements with the same type and bytes merge first, so nodes reading equal constants
    merge too.  Ops that are not pure (``foldable=False``: randomness) never merge; fused
    regions merge only when they share the body object."""

    name = "cse"
    example = "cse{max-constant-elements=4096}"
    max_constant_elements: int = 4096

    def __post_init__(self) -> None:
        if self.max_constant_elements < 0:
            raise ValueError(f"max-constant-elements must be >= 0, got "
                             f"{self.max_constant_elements}")

    def run(self, graph: Graph) -> PassResult:
        constants = self._merge_constants(graph)
        nodes = _merge_nodes(graph)
        return PassResult(bool(constants or nodes), {"nodes-merged": nodes,
                                                     "constants-merged": constants})

    def _merge_constants(self, graph: Graph) -> int:
        rw = Rewriter(graph)
        seen: dict[tuple, Any] = {}
        merged = 0
        for v in list(graph.constants.values()):
            if v.data.size > self.max_constant_elements or v.type.dtype.kind == "string":
                continue
            # bytes, not values: -0.0 and 0.0 stay apart, equal NaNs merge
            first = seen.setdefault((v.type, v.data.tobytes()), v)
            if first is not v:
                rw.replace_all_uses(v, first)
                graph.remove_constant(v)
                merged += 1
        return merged


def _merge_nodes(graph: Graph) -> int:
    rw = Rewriter(graph)
    seen: dict[tuple, Node] = {}
    merged = 0
    for node in graph:
        key = _node_key(node)
        if key is None:
            continue
        first = seen.setdefault(key, node)
        if first is not node:
            rw.replace_node(node, first.outputs)
            merged += 1
    return merged


def _node_key(node: Node) -> tuple | None:
    """What makes two nodes compute the same values; None for nodes that must stay apart.
    Values (and sub-graphs) hash by identity."""
    opdef = get_op(node.op)
    if not opdef.foldable or not node.outputs:
        return None
    inputs = node.inputs
    if node.op in _COMMUTATIVE:
        inputs = tuple(sorted(inputs, key=id))
    attrs = tuple(sorted((k, _frozen(v)) for k, v in opdef.with_defaults(node.attrs).items()))
    key = (node.op, inputs, attrs)
    try:
        hash(key)
    except TypeError:  # an "any" attribute holding something unhashable: keep the node
        return None
    return key


def _frozen(value: Any) -> Hashable:
    """An attribute as a key: floats by their text, so 0.0 and -0.0 differ and NaN equals
    NaN; ints stay ints (the verifier keeps each attribute to one kind)."""
    if isinstance(value, float):
        return ("float", repr(value))
    if isinstance(value, tuple):
        return tuple(_frozen(v) for v in value)
    return value
