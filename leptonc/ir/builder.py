"""Building and rewriting graphs with result types inferred from the op registry.

``Builder`` appends (or inserts at an insertion point); ``Rewriter`` adds replace and erase,
and hands a replaced value's name to the replacement it built.  Both go through ``Graph``'s
use-list-keeping API, so no pass can forget a bookkeeping step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from leptonc.errors import LeptoncError, ShapeError
from leptonc.ir.graph import Graph, Node, Value
from leptonc.ir.types import TensorType


def infer_types(op: str, inputs: Sequence[Value | None], attrs: dict[str, Any],
                where: str = "") -> list[TensorType]:
    """Run the op's type inference; errors name the node."""
    from leptonc.ops.registry import get_op

    opdef = get_op(op)
    if not opdef.arity_ok(len(inputs)):
        raise ShapeError(f"{where or op}: {op} does not take {len(inputs)} inputs")
    try:
        return list(opdef.infer(list(inputs), opdef.with_defaults(attrs)))
    except LeptoncError as e:
        raise type(e)(f"{where or op} ({op}): {e}") from None


class Builder:
    """Creates nodes with inferred result types at an insertion point (default: the end)."""

    def __init__(self, graph: Graph, before: Node | None = None, source_name: str = ""):
        self.graph = graph
        self.before = before
        self.source_name = source_name
        self.created: list[Node] = []  # every node this builder made, in order

    def op(self, op: str, inputs: Sequence[Value | None], attrs: dict[str, Any] | None = None, *,
           name: str = "", source_name: str | None = None,
           out_names: Sequence[str] | None = None) -> Value | tuple[Value, ...]:
        """Add ``op`` and return its output (or tuple of outputs when it has several)."""
        node = self.node(op, inputs, attrs, name=name, source_name=source_name, out_names=out_names)
        return node.outputs[0] if len(node.outputs) == 1 else node.outputs

    def node(self, op: str, inputs: Sequence[Value | None], attrs: dict[str, Any] | None = None, *,
             name: str = "", source_name: str | None = None,
             out_names: Sequence[str] | None = None, types: Sequence[TensorType] | None = None
             ) -> Node:
        src = self.source_name if source_name is None else source_name
        node = Node(op, inputs, attrs, src)
        if types is None:
            try:
                types = infer_types(op, inputs, node.attrs, where=src or name)
            except Exception:
                node.drop_inputs()
                raise
        hints = out_names or [name or src or op.split(".")[-1]] * len(types)
        self.graph.make_outputs(node, types, hints)
        self.graph.insert_before(self.before, node)
        self.created.append(node)
        return node

    def const(self, data: np.ndarray | float | int, name: str = "c", dtype: Any = None) -> Value:
        """Add a constant; Python scalars take ``dtype`` (a numpy dtype) or numpy's default."""
        return self.graph.add_constant(np.asarray(data, dtype=dtype), name)


class Rewriter(Builder):
    """A Builder that can also replace and erase, keeping provenance and graph outputs."""

    def replace_all_uses(self, old: Value, new: Value) -> None:
        for node, index in old.uses:
            node.set_input(index, new)
        self.graph.replace_output(old, new)

    def replace_node(self, node: Node, new_values: Sequence[Value], *,
                     keep_names: bool = False) -> None:
        """Redirect the node's outputs to ``new_values`` and erase it.  With ``keep_names``,
        replacements built for the occasion take over the old names (see ``names_to_keep``)."""
        if len(new_values) != len(node.outputs):
            raise ValueError(f"{node!r} has {len(node.outputs)} outputs, got {len(new_values)}")
        renames = self.names_to_keep(node.outputs, new_values) if keep_names else []
        for old, new in zip(node.outputs, new_values, strict=True):
            self.replace_all_uses(old, new)
        self.graph.erase(node)
        self.restore_names(renames)

    def names_to_keep(self, olds: Sequence[Value], news: Sequence[Value]
                      ) -> list[tuple[Value, str]]:
        """``(new, old name)`` for each replacement built for the occasion: the result of a
        node this rewriter created, or a constant nothing reads yet (existing values keep
        their names; a value replacing several takes the first name).  Ask before redirecting
        the uses, and rename with ``restore_names`` once the old values are erased, so the
        printed IR and error messages keep the names a reader already knows."""
        renames: dict[int, tuple[Value, str]] = {}
        for old, new in zip(olds, news, strict=True):
            if id(new) not in renames and self._built_here(new):
                renames[id(new)] = (new, old.name)
        return list(renames.values())

    def restore_names(self, renames: Sequence[tuple[Value, str]]) -> None:
        """Apply ``names_to_keep``'s renames (the old values must be erased by now)."""
        for new, name in renames:
            self.graph.rename(new, name)

    def _built_here(self, v: Value) -> bool:
        if v.producer is not None:
            return any(v.producer is n for n in self.created)  # a handful of nodes at most
        return v.is_constant and not v.uses and v not in self.graph.outputs

    def erase(self, node: Node) -> None:
        self.graph.erase(node)

    def erase_if_dead(self, node: Node) -> bool:
        if any(v.uses or v in self.graph.outputs for v in node.outputs):
            return False
        self.graph.erase(node)
        return True

    def reinfer(self, node: Node) -> None:
        """Recompute a node's result types after its inputs or attributes changed."""
        types = infer_types(node.op, node.inputs, node.attrs, where=node.source_name)
        for v, t in zip(node.outputs, types, strict=True):
            v.type = t
