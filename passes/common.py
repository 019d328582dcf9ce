"""Helpers the passes of every family share: the questions a rule's check asks about
constants, types, reductions and readers, and the clean-up after a rewrite.

    from leptonc.passes.common import scalar_value, trailing_axis

(Replacing a node so that the replacement keeps the old value's name is
``Rewriter.replace_node(..., keep_names=True)``; ``apply_rules`` does it for every rule.)
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from leptonc.ir.builder import Rewriter
from leptonc.ir.graph import Graph, Node, Value
from leptonc.ir.types import TensorType
from leptonc.ops.infer_utils import normalize_axis


# ----- constants -------------------------------------------------------------------------------
def scalar_value(v: Value | None) -> float | None:
    """The value of a one-element numeric constant, else None."""
    if v is None or v.data is None or v.data.size != 1:
        return None
    if not (v.type.dtype.is_float or v.type.dtype.is_integer):
        return None
    return float(np.asarray(v.data).reshape(()))


def constant_equals(v: Value, scalar: float) -> bool:
    """``v`` is a constant whose every element equals ``scalar`` (NaN never does)."""
    if v.data is None or v.type.dtype.kind == "string" or v.data.size == 0:
        return False
    data = np.asarray(v.data)
    return bool(np.all(data == np.asarray(scalar).astype(data.dtype)))


# ----- types -----------------------------------------------------------------------------------
def known_shape(t: TensorType) -> bool:
    """Every dim is a number or a named symbol (so equal shapes are equal at run time)."""
    return t.shape is not None and None not in t.shape


def same_type(a: TensorType, b: TensorType, *, shape: bool = True) -> bool:
    """``a`` and ``b`` describe the same tensors (``shape=False``: ignore the shapes, for ops
    that cannot change them)."""
    if (a.dtype, a.quant, a.encoding) != (b.dtype, b.quant, b.encoding):
        return False
    return not shape or (known_shape(a) and a.shape == b.shape)


def broadcasts_into(c: TensorType, x: TensorType) -> bool:
    """Broadcasting ``c`` against ``x`` leaves ``x``'s shape as it is: ``c`` has no more
    dims, and each of its dims is 1 or equals ``x``'s."""
    if c.shape is None or x.shape is None or len(c.shape) > len(x.shape):
        return False
    tail = x.shape[len(x.shape) - len(c.shape):]
    return all(d == 1 or (d == xd and d is not None) for d, xd in zip(c.shape, tail, strict=True))


def neutral_operand_reason(x: Value, c: Value, y: Value, neutral: float) -> str | None:
    """Why ``y = x <op> c`` is not simply ``x`` for a constant ``c`` that should be the op's
    neutral element (x * 1, x + 0), or None when it is."""
    if not constant_equals(c, neutral):
        return f"%{c.name} is not all {neutral:g}"
    if not broadcasts_into(c.type, x.type):
        return (f"broadcasting %{c.name} ({c.type}) against %{x.name} ({x.type}) changes the "
                "shape")
    if not same_type(x.type, y.type, shape=False):
        return f"the result type {y.type} differs from %{x.name}'s {x.type}"
    return None


# ----- reductions and readers ------------------------------------------------------------------
def reduction_axes(node: Node, rank: int | None) -> tuple[int, ...] | None:
    """The sorted, non-negative axes a ``reduce.*`` node reduces; None when they are only known
    at run time or the rank is unknown."""
    if rank is None or (len(node.inputs) > 1 and node.inputs[1] is not None):
        return None
    axes = node.attr("axes") or range(rank)  # empty axes reduce everything
    return tuple(sorted({normalize_axis(a, rank) for a in axes}))


def trailing_axis(node: Node, rank: int | None) -> int | None:
    """``k`` when the reduction keeps dims and covers exactly the axes ``[k, rank)``."""
    axes = reduction_axes(node, rank)
    if not axes or not node.attr("keepdims") or axes != tuple(range(axes[0], rank)):
        return None
    return axes[0]


def read_once(v: Value) -> bool:
    """A node computes ``v``, exactly one node reads it and the graph does not return it (so
    a fusion may take its producer in)."""
    node = v.producer
    return node is not None and len(v.uses) == 1 and v not in node.graph.outputs


# ----- rewriting -------------------------------------------------------------------------------
def rewriter_at(graph: Graph, node: Node) -> Rewriter:
    """A rewriter inserting before ``node`` whose new nodes inherit its source name."""
    return Rewriter(graph, before=node, source_name=node.source_name)


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


def remove_unused_constants(graph: Graph, candidates: Iterable[Value]) -> int:
    """Remove those of ``candidates`` (constants of ``graph``) that nothing reads and the graph
    does not return; returns how many went."""
    outputs = {id(v) for v in graph.outputs}
    dead = [v for v in candidates if not v.uses and id(v) not in outputs]
    for v in dead:
        graph.remove_constant(v)
    return len(dead)
