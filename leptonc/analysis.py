"""Whole-graph statistics: op histogram, parameters, MACs, memory, and what sparse weights
save (used by `leptonc info`)."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from leptonc import sparsity
from leptonc.ir.graph import Graph, Node, Value
from leptonc.ops.registry import get_op


def node_macs(node: Node) -> int:
    opdef = get_op(node.op)
    return int(opdef.macs(list(node.inputs), [v.type for v in node.outputs],
                          opdef.with_defaults(node.attrs)))


def graph_macs(graph: Graph) -> int:
    return sum(node_macs(n) for n in graph)


def _density(value: Value | None, bound: dict[int, float]) -> float:
    """Non-zero share of an operand: a sparse constant's encoding, or what a fused region's
    caller binds to the body input (the body's own input type may predate the pruning)."""
    if value is None:
        return 1.0
    if id(value) in bound:
        return bound[id(value)]
    encoding = value.type.encoding
    return encoding.density if encoding is not None and value.is_constant else 1.0


def effective_macs(graph: Graph, bound: dict[int, float] | None = None) -> int:
    """MACs left when multiplies by zero weights are skipped: each op's MACs scaled by the
    density of its sparse operands (only weights carry encodings; dense ones count 1)."""
    bound = bound or {}
    total = 0.0
    for node in graph:
        densities = [_density(v, bound) for v in node.inputs]
        if node.op == "fused.region":
            body: Graph = node.attrs["body"]
            inner = {id(p): d for p, d in zip(body.inputs, densities, strict=True)}
            total += effective_macs(body, inner)
        else:
            total += node_macs(node) * math.prod(densities)
    return round(total)


def node_bytes_moved(node: Node) -> int | None:
    opdef = get_op(node.op)
    moved = opdef.bytes_moved(list(node.inputs), [v.type for v in node.outputs],
                              opdef.with_defaults(node.attrs))
    return None if moved is None else int(moved)


def graph_bytes_moved(graph: Graph) -> int | None:
    """Memory traffic if every node ran as its own kernel; None when shapes are not static."""
    total = 0
    for node in graph:
        moved = node_bytes_moved(node)
        if moved is None:
            return None
        total += moved
    return total


def peak_activation_bytes(graph: Graph) -> int | None:
    """Largest live set of node outputs and graph inputs, walking in program order.

    None when some activation has a non-static shape.
    """
    last_use: dict[int, int] = {}
    for pos, node in enumerate(graph):
        for v in node.inputs:
            if v is not None:
                last_use[id(v)] = pos
    outputs = {id(v) for v in graph.outputs}
    live: dict[int, int] = {}
    for v in graph.inputs:
        if v.type.nbytes is None:
            return None
        live[id(v)] = v.type.nbytes
    total = peak = sum(live.values())
    for pos, node in enumerate(graph):
        for v in node.outputs:
            if v.type.nbytes is None:
                return None
            live[id(v)] = v.type.nbytes
            total += v.type.nbytes
        peak = max(peak, total)
        for v in node.inputs:
            if v is not None and id(v) in live and last_use[id(v)] == pos and id(v) not in outputs:
                total -= live.pop(id(v))
    return peak


@dataclass
class GraphStats:
    nodes: int
    op_histogram: Counter = field(default_factory=Counter)
    params: int = 0
    param_bytes: int = 0
    nonzero_params: int = 0
    compressed_param_bytes: int = 0  # sparse weights in their smallest format
    sparse_weights: Counter = field(default_factory=Counter)  # encoding kind -> constants
    macs: int = 0
    effective_macs: int = 0
    bytes_moved: int | None = None
    peak_activation_bytes: int | None = None


def graph_stats(graph: Graph) -> GraphStats:
    stats = GraphStats(nodes=len(graph), op_histogram=Counter(n.op for n in graph))
    for v in graph.constants.values():
        stats.params += v.data.size
        stats.param_bytes += v.data.nbytes
        stats.nonzero_params += sparsity.nonzeros(v.data)
        stats.compressed_param_bytes += _stored_bytes(v)
        if v.type.encoding is not None:
            stats.sparse_weights[v.type.encoding.kind] += 1
    stats.macs = graph_macs(graph)
    stats.effective_macs = effective_macs(graph)
    stats.bytes_moved = graph_bytes_moved(graph)
    stats.peak_activation_bytes = peak_activation_bytes(graph)
    return stats


def _stored_bytes(constant: Value) -> int:
    """A constant's bytes as stored: plain unless its encoding allows a smaller format."""
    if constant.type.encoding is None:
        return constant.data.nbytes
    return sparsity.smallest_format(constant.data, constant.type.encoding,
                                    constant.type.dtype.bits)[1]
