"""Which constants the sparsity passes may prune, along which axes, and how a pruned weight
replaces the dense one.

A prunable weight is a floating-point, unquantized constant of rank >= 2 that the graph
does not return and that only weight operands read:

| reader                       | weight layout      | output axis | reduction axis |
|------------------------------|--------------------|-------------|----------------|
| ``nn.conv`` input 1          | ``[M, C/g, k...]`` | 0           | 1 (per tap)    |
| ``nn.conv_transpose`` input 1| ``[C, M/g, k...]`` | 1           | 0 (per tap)    |
| ``linalg.matmul`` input 1    | ``[..., K, N]``    | rank-1      | rank-2         |
| ``linalg.matmul`` input 0    | ``[..., M, K]``    | rank-2      | rank-1         |

A ``fused.region`` reading a constant counts through its body: the body's input is
classified the same way.  Every reader must agree on the axes.  N:M groups run along the
reduction axis, one kernel tap at a time (``SparseEncoding.axis`` is one tensor dim; this is
also the input-channel grouping sparse tensor cores use for convolutions).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

import numpy as np

from leptonc.errors import UsageError
from leptonc.ir.graph import Graph, Node, Value
from leptonc.ir.types import SparseEncoding, TensorType


@dataclass(frozen=True, slots=True)
class Weight:
    value: Value
    out_axis: int
    red_axis: int
    names: tuple[str, ...]  # source names and op types of the readers, for `scope`


def _role(node: Node, index: int, rank: int) -> tuple[int, int] | None:
    """``(output axis, reduction axis)`` of a weight read as ``node``'s input ``index``."""
    if node.op == "nn.conv" and index == 1:
        return 0, 1
    if node.op == "nn.conv_transpose" and index == 1:
        return 1, 0
    if node.op == "linalg.matmul" and index in (0, 1):
        return (rank - 1, rank - 2) if index == 1 else (rank - 2, rank - 1)
    return None


def _readers(value: Value, rank: int, names: list[str]) -> set[tuple[int, int]] | None:
    """The roles of every use of ``value`` (looking into fused regions), collecting the
    readers' names; None when some use is not a weight operand."""
    roles: set[tuple[int, int]] = set()
    for node, index in value.uses:
        names += [node.source_name, node.op]
        if node.op == "fused.region":
            body: Graph = node.attrs["body"]
            inner = body.inputs[index]
            if inner in body.outputs or not inner.uses:
                return None
            found = _readers(inner, rank, names)
        else:
            role = _role(node, index, rank)
            found = None if role is None else {role}
        if found is None:
            return None
        roles |= found
    return roles


def prunable_weights(graph: Graph) -> list[Weight]:
    """The graph's prunable weights, in constant order."""
    returned = {id(v) for v in graph.outputs}
    weights = []
    for value in graph.constants.values():
        t = value.type
        if (not value.uses or id(value) in returned or t.quant is not None
                or not t.dtype.is_float or t.rank is None or t.rank < 2 or not value.data.size):
            continue
        names: list[str] = []
        roles = _readers(value, t.rank, names)
        if roles is not None and len(roles) == 1:
            out_axis, red_axis = roles.pop()
            weights.append(Weight(value, out_axis, red_axis, tuple(dict.fromkeys(filter(None, names)))))
    return weights


def in_scope(weight: Weight, scope: str) -> bool:
    """``scope``: globs separated by ``|`` over the readers' source names and op types."""
    return any(fnmatch.fnmatchcase(name, glob) for glob in scope.split("|")
               for name in weight.names)


def select(graph: Graph, pass_name: str, scope: str) -> list[Weight]:
    """The prunable weights in ``scope``; a scope other than ``*`` that matches none is a
    user error (a typo would otherwise prune nothing, silently)."""
    weights = [w for w in prunable_weights(graph) if in_scope(w, scope)]
    if not weights and scope != "*":
        raise UsageError(f"pass '{pass_name}': scope '{scope}' matches no prunable weight "
                         "(globs over the source names and op types of conv/matmul nodes)")
    return weights


def scores(weight: Weight) -> np.ndarray:
    """Magnitudes to rank elements by (f32 whatever the storage: bf16 has no argsort)."""
    return np.abs(np.asarray(weight.value.data, dtype=np.float32))


def replace_weight(graph: Graph, weight: Weight, data: np.ndarray,
                   encoding: SparseEncoding) -> Value:
    """A new constant holding ``data`` with ``encoding`` in its type takes the old one's
    uses and name (types are immutable values: the constant is replaced, not edited)."""
    old = weight.value
    t = old.type
    new = graph.add_constant(data.astype(old.data.dtype, copy=False), old.name,
                             TensorType(t.dtype, t.shape, t.quant, encoding))
    for node, index in old.uses:
        node.set_input(index, new)
    name = old.name
    graph.remove_constant(old)
    graph.rename(new, name)
    return new


def keep_constant_order(graph: Graph, names: list[str]) -> None:
    """Put the constants back in the order ``names`` had before weights were replaced (new
    constants are appended), so printed IR diffs show changed types, not moved lines."""
    ordered = {name: graph.constants[name] for name in names if name in graph.constants}
    graph.constants = ordered | graph.constants
