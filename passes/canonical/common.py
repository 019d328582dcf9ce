"""Helpers the canonicalization passes share: replacing a node while keeping value names,
comparing types, and recognising neutral constants (x * 1, x + 0)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from leptonc.ir.builder import Rewriter
from leptonc.ir.graph import Graph, Node, Value
from leptonc.ir.types import TensorType


def rewriter_at(graph: Graph, node: Node) -> Rewriter:
    """A rewriter inserting before ``node`` whose new nodes inherit its source name."""
    return Rewriter(graph, before=node, source_name=node.source_name)


def replace_node(rw: Rewriter, node: Node, new_values: Sequence[Value]) -> None:
    """Redirect ``node``'s outputs to ``new_values`` and erase it.

    Replacements built for the occasion (nodes ``rw`` created, constants nothing read yet)
    take over the old value names, so the printed IR and error messages keep the names a
    reader already knows; existing values keep theirs."""
    fresh = {id(v): v for v in new_values if _is_fresh(rw, v)}
    olds = list(node.outputs)
    rw.replace_node(node, new_values)
    for old, new in zip(olds, new_values, strict=True):
        if fresh.pop(id(new), None) is not None:
            rw.graph.rename(new, old.name)


def _is_fresh(rw: Rewriter, v: Value) -> bool:
    if v.producer is not None:
        return any(v.producer is n for n in rw.created)  # a handful of nodes at most
    return v.is_constant and not v.uses and v not in rw.graph.outputs


def erase_dead_chain(rw: Rewriter, node: Node | None) -> int:
    """Erase ``node`` if nothing reads it, then, while a node has exactly one producing node,
    that producer if it died the same way (the work stays proportional to what is erased)."""
    erased = 0
    while node is not None and node.graph is rw.graph:
        producers = {id(v.producer): v.producer for v in node.inputs
                     if v is not None and v.producer is not None}
        if not rw.erase_if_dead(node):
            break
        erased += 1
        node = next(iter(producers.values())) if len(producers) == 1 else None
    return erased


def known_shape(t: TensorType) -> bool:
    """Every dim is a number or a named symbol (so equal shapes are equal at run time)."""
    return t.shape is not None and None not in t.shape


def same_type(a: TensorType, b: TensorType, *, shape: bool = True) -> bool:
    """``a`` and ``b`` describe the same tensors (``shape=False``: ignore the shapes, for ops
    that cannot change them)."""
    if (a.dtype, a.quant, a.encoding) != (b.dtype, b.quant, b.encoding):
        return False
    return not shape or (known_shape(a) and a.shape == b.shape)


def constant_equals(v: Value, scalar: float) -> bool:
    """``v`` is a constant whose every element equals ``scalar`` (NaN never does)."""
    if v.data is None or v.type.dtype.kind == "string" or v.data.size == 0:
        return False
    data = np.asarray(v.data)
    return bool(np.all(data == np.asarray(scalar).astype(data.dtype)))


def broadcasts_into(c: TensorType, x: TensorType) -> bool:
    """Broadcasting ``c`` against ``x`` leaves ``x``'s shape as it is: ``c`` has no more
    dims, and each of its dims is 1 or equals ``x``'s."""
    if c.shape is None or x.shape is None or len(c.shape) > len(x.shape):
        return False
    tail = x.shape[len(x.shape) - len(c.shape):]
    return all(d == 1 or (d == xd and d is not None) for d, xd in zip(c.shape, tail, strict=True))


def neutral_operand_reason(x: Value, c: Value, y: Value, neutral: float) -> str | None:
    """Why ``y = x <op> c`` is not simply ``x`` for a constant ``c`` that should be the op's
    neutral element, or None when it is."""
    if not constant_equals(c, neutral):
        return f"%{c.name} is not all {neutral:g}"
    if not broadcasts_into(c.type, x.type):
        return (f"broadcasting %{c.name} ({c.type}) against %{x.name} ({x.type}) changes the "
                "shape")
    if not same_type(x.type, y.type, shape=False):
        return f"the result type {y.type} differs from %{x.name}'s {x.type}"
    return None
