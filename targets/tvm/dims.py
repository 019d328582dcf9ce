"""Binding symbolic input dims to sizes before lowering (``--dim N=1``).

    bind_dims(graph, {"N": 1})      # every f32[N,3,224,224] becomes f32[1,3,224,224]

A graph whose inputs say ``N`` serves every batch size, and the compiled library pays for it
at every call: the Relax VM runs a shape function, allocates the intermediates of that call
dynamically, and the schedules see a symbolic loop they can neither tile nor split between
threads.  For a small model that overhead is most of the latency (the digits CNN: ~50 us of
VM work around ~15 us of kernels).  Binding the dim makes every shape static: memory is
planned once at compile time and the kernels are scheduled for the real extents.

A symbolic dim means "the same size wherever this name appears" (``ir/types.py``), so the
binding substitutes the size in every type of the graph, region bodies included; then each
node's type inference runs again, so dims that were unknown because they depended on the
symbolic one (a reshape to ``[N*4, ...]``) become static too.  A size the graph cannot take
(a reshape that no longer divides) is a ``ShapeError`` naming the node.
"""

from __future__ import annotations

from collections.abc import Mapping

from leptonc.errors import LeptoncError, ShapeError, UsageError
from leptonc.ir.graph import Graph, Node, Value
from leptonc.ir.types import Dim, Shape, TensorType
from leptonc.ir.verifier import verify
from leptonc.ops.registry import get_op


def symbolic_input_dims(graph: Graph) -> list[str]:
    """The symbolic dim names of the graph's inputs, in order of first appearance."""
    names: dict[str, None] = {}
    for v in graph.inputs:
        names.update((d, None) for d in v.type.shape or () if isinstance(d, str))
    return list(names)


def bind_dims(graph: Graph, dims: Mapping[str, int]) -> None:
    """Replace each symbolic dim named in ``dims`` by its size, everywhere in ``graph`` (in place;
    a ``ShapeError`` leaves it partly bound: compile from a fresh graph)."""
    if not dims:
        return
    known = symbolic_input_dims(graph)
    for name, size in dims.items():
        if name not in known:
            have = ", ".join(known) if known else "none"
            raise UsageError(f"--dim {name}={size}: the model's inputs have no symbolic dim {name!r} "
                             f"(symbolic dims: {have})")
        if size < 1:
            raise UsageError(f"--dim {name}={size}: a dim is bound to a positive size")
    _bind_graph(graph, dims)
    verify(graph)


def _bind_graph(graph: Graph, dims: Mapping[str, int], outer: list[Value | None] | None = None) -> None:
    """Bind ``graph``; a region body also takes what is known of the operands (``outer``)."""
    for i, v in enumerate(graph.inputs):
        v.type = _substituted(v.type, dims)
        if outer is not None and i < len(outer) and outer[i] is not None:
            v.type = _refined(v.type, outer[i].type, f"region input %{v.name}")
    for node in graph:
        for attr in node.attrs.values():
            if isinstance(attr, Graph):
                _bind_graph(attr, dims, list(node.inputs))
        for v in node.outputs:
            v.type = _substituted(v.type, dims)
        _reinfer(node)


def _substituted(t: TensorType, dims: Mapping[str, int]) -> TensorType:
    if t.shape is None or not any(isinstance(d, str) and d in dims for d in t.shape):
        return t
    return t.with_shape(tuple(dims.get(d, d) if isinstance(d, str) else d for d in t.shape))


def _reinfer(node: Node) -> None:
    """Make the outputs as static as the op's inference can now say."""
    opdef = get_op(node.op)
    try:
        inferred = opdef.infer(list(node.inputs), opdef.with_defaults(node.attrs))
    except LeptoncError as err:
        raise ShapeError(f"node '{_name(node)}' ({node.op}) cannot take the bound dims: {err}") from None
    for v, t in zip(node.outputs, inferred, strict=True):
        v.type = _refined(v.type, t, f"node '{_name(node)}' ({node.op})")


def _refined(declared: TensorType, inferred: TensorType, where: str) -> TensorType:
    """``declared`` with unknown dims (and an unknown rank) taken from ``inferred``."""
    if inferred.shape is None:
        return declared
    if declared.shape is None:
        return declared.with_shape(inferred.shape)
    if len(declared.shape) != len(inferred.shape):
        raise ShapeError(f"{where}: rank {len(declared.shape)} but {len(inferred.shape)} with the bound dims")
    return declared.with_shape(_merged(declared.shape, inferred.shape, where))


def _merged(declared: Shape, inferred: Shape, where: str) -> Shape:
    merged: list[Dim] = []
    for d, i in zip(declared, inferred, strict=True):
        if isinstance(d, int) and isinstance(i, int) and d != i:
            raise ShapeError(f"{where}: a dim is {d}, but {i} with the bound dims")
        merged.append(d if isinstance(d, int) or not isinstance(i, int) else i)
    return tuple(merged)


def _name(node: Node) -> str:
    return node.source_name or node.outputs[0].name

