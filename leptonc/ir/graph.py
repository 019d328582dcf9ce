"""Values, nodes and graphs: the storage of the IR.

Invariants kept by this API (and checked by the verifier):
- every Value has a TensorType and a graph-unique name;
- ``value.uses`` lists exactly the (node, input index) pairs that read it; it changes only
  through ``Node.set_input`` / ``Graph`` methods, never by hand;
- ``graph`` iterates nodes in a topological order (a doubly linked list, so inserting or
  erasing in the middle is O(1) for large graphs).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from leptonc.ir.types import TensorType


class Value:
    """An SSA value: a graph input, a constant (``data`` set) or a node output."""

    __slots__ = ("name", "type", "producer", "index", "data", "_uses")

    def __init__(self, name: str, type: TensorType, producer: Node | None = None, index: int = 0,
                 data: np.ndarray | None = None):
        self.name = name
        self.type = type
        self.producer = producer
        self.index = index
        self.data = data
        # an insertion-ordered set: O(1) removal even for values read thousands of times
        self._uses: dict[tuple[Node, int], None] = {}

    @property
    def uses(self) -> tuple[tuple[Node, int], ...]:
        return tuple(self._uses)

    @property
    def users(self) -> list[Node]:
        """Distinct nodes reading this value, in first-use order."""
        return list(dict.fromkeys(node for node, _ in self._uses))

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    def __repr__(self) -> str:
        return f"Value(%{self.name} : {self.type})"


class Node:
    """One operation.  ``inputs`` may hold None for an omitted optional input."""

    __slots__ = ("op", "_inputs", "outputs", "attrs", "source_name", "graph", "_prev", "_next")

    def __init__(self, op: str, inputs: Sequence[Value | None], attrs: dict[str, Any] | None = None,
                 source_name: str = ""):
        self.op = op
        self._inputs: list[Value | None] = []
        self.outputs: tuple[Value, ...] = ()
        self.attrs: dict[str, Any] = {k: normalize_attr(v) for k, v in (attrs or {}).items()}
        self.source_name = source_name
        self.graph: Graph | None = None
        self._prev: Node | None = None
        self._next: Node | None = None
        for i, v in enumerate(inputs):
            self._inputs.append(v)
            if v is not None:
                v._uses[(self, i)] = None

    @property
    def inputs(self) -> tuple[Value | None, ...]:
        return tuple(self._inputs)

    @property
    def output(self) -> Value:
        """The single output (error if the node has several)."""
        if len(self.outputs) != 1:
            raise ValueError(f"{self.op} has {len(self.outputs)} outputs")
        return self.outputs[0]

    def set_input(self, index: int, value: Value | None) -> None:
        old = self._inputs[index]
        if old is not None:
            del old._uses[(self, index)]
        self._inputs[index] = value
        if value is not None:
            value._uses[(self, index)] = None

    def drop_inputs(self) -> None:
        for i in range(len(self._inputs)):
            self.set_input(i, None)

    def attr(self, name: str) -> Any:
        """The attribute's value, or the op's declared default when it was not set."""
        if name in self.attrs:
            return self.attrs[name]
        from leptonc.ops.registry import get_op

        return get_op(self.op).attr_default(name)

    def __repr__(self) -> str:
        outs = ", ".join(f"%{v.name}" for v in self.outputs)
        return f"Node({outs} = {self.op} '{self.source_name}')"


_ATTR_SCALARS = (bool, int, float, str)


def normalize_attr(v: Any) -> Any:
    """Attributes are immutable: lists become tuples, numpy scalars become Python ones."""
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, list | tuple | np.ndarray):
        return tuple(normalize_attr(x) for x in (v.tolist() if isinstance(v, np.ndarray) else v))
    return v


_NAME_SUFFIX = re.compile(r"^(.*?)(?:_(\d+))?$")


class Graph:
    """A dataflow graph; also the body of a fused-region node."""

    def __init__(self, name: str = "main"):
        self.name = name
        self.inputs: list[Value] = []
        self.outputs: list[Value] = []
        self.output_names: list[str] = []
        self.constants: dict[str, Value] = {}
        self.metadata: dict[str, str] = {}
        self._first: Node | None = None
        self._last: Node | None = None
        self._num_nodes = 0
        self._names: set[str] = set()
        self._name_counters: dict[str, int] = {}

    # ----- names ---------------------------------------------------------------------------
    def fresh_name(self, hint: str = "v") -> str:
        """A graph-unique value name derived from ``hint``."""
        hint = hint or "v"
        if hint not in self._names:
            self._names.add(hint)
            return hint
        base = _NAME_SUFFIX.match(hint).group(1) or hint
        n = self._name_counters.get(base, 0)
        while True:
            n += 1
            name = f"{base}_{n}"
            if name not in self._names:
                self._name_counters[base] = n
                self._names.add(name)
                return name

    def rename(self, value: Value, new_name: str) -> None:
        if new_name == value.name:
            return
        if new_name in self._names:
            raise ValueError(f"value name '{new_name}' already used")
        self._names.discard(value.name)
        self._names.add(new_name)
        if value.is_constant and self.constants.get(value.name) is value:
            del self.constants[value.name]
            self.constants[new_name] = value
        value.name = new_name

    # ----- inputs, outputs, constants ----------------------------------------------------------
    def add_input(self, name: str, type: TensorType) -> Value:
        v = Value(self.fresh_name(name), type)
        self.inputs.append(v)
        return v

    def add_constant(self, data: np.ndarray, name: str = "c", type: TensorType | None = None) -> Value:
        from leptonc.ir import dtypes

        data = np.asanyarray(data)  # keeps memory-mapped weights mapped
        if type is None:
            type = TensorType(dtypes.from_numpy(data.dtype), tuple(data.shape))
        v = Value(self.fresh_name(name), type, data=data)
        self.constants[v.name] = v
        return v

    def remove_constant(self, value: Value) -> None:
        if value._uses or value in self.outputs:
            raise ValueError(f"constant %{value.name} is still used")
        del self.constants[value.name]
        self._names.discard(value.name)

    def set_outputs(self, values: Sequence[Value], names: Sequence[str] | None = None) -> None:
        self.outputs = list(values)
        self.output_names = list(names) if names is not None else [v.name for v in values]

    def replace_output(self, old: Value, new: Value) -> None:
        """Point every graph output that was ``old`` at ``new``; the public name is kept."""
        self.outputs = [new if v is old else v for v in self.outputs]

    # ----- nodes -------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Node]:
        node = self._first
        while node is not None:
            nxt = node._next  # read first, so the current node may be erased while iterating
            yield node
            node = nxt

    def __reversed__(self) -> Iterator[Node]:
        node = self._last
        while node is not None:
            prv = node._prev
            yield node
            node = prv

    def __len__(self) -> int:
        return self._num_nodes

    @property
    def nodes(self) -> list[Node]:
        return list(self)

    def make_outputs(self, node: Node, types: Sequence[TensorType],
                     names: Sequence[str] | None = None) -> tuple[Value, ...]:
        hints = names or [node.source_name or node.op.split(".")[-1]] * len(types)
        node.outputs = tuple(Value(self.fresh_name(h), t, node, i)
                             for i, (h, t) in enumerate(zip(hints, types, strict=True)))
        return node.outputs

    def append(self, node: Node) -> Node:
        return self.insert_before(None, node)

    def insert_before(self, anchor: Node | None, node: Node) -> Node:
        """Link ``node`` before ``anchor`` (at the end when anchor is None)."""
        if node.graph is not None:
            raise ValueError(f"{node!r} is already in a graph")
        node.graph = self
        if anchor is None:
            node._prev, node._next = self._last, None
            if self._last is not None:
                self._last._next = node
            else:
                self._first = node
            self._last = node
        else:
            node._prev, node._next = anchor._prev, anchor
            if anchor._prev is not None:
                anchor._prev._next = node
            else:
                self._first = node
            anchor._prev = node
        self._num_nodes += 1
        return node

    def insert_after(self, anchor: Node, node: Node) -> Node:
        return self.insert_before(anchor._next, node)

    def unlink(self, node: Node) -> None:
        """Remove ``node`` from the order without touching its uses (for moving a node)."""
        if node._prev is not None:
            node._prev._next = node._next
        else:
            self._first = node._next
        if node._next is not None:
            node._next._prev = node._prev
        else:
            self._last = node._prev
        node._prev = node._next = None
        node.graph = None
        self._num_nodes -= 1

    def erase(self, node: Node) -> None:
        """Delete a node whose outputs are unused."""
        for v in node.outputs:
            if v._uses or v in self.outputs:
                raise ValueError(f"cannot erase {node!r}: %{v.name} is still used")
        node.drop_inputs()
        self.unlink(node)
        for v in node.outputs:
            self._names.discard(v.name)
            # Break the Node <-> Value cycle so erased nodes are freed by reference counting,
            # not by a full garbage collection pause in the middle of a pass.
            v.producer = None

    # ----- queries -----------------------------------------------------------------------------
    def values(self) -> Iterator[Value]:
        """Every value: inputs, constants, then node outputs in order."""
        yield from self.inputs
        yield from self.constants.values()
        for node in self:
            yield from node.outputs

    def find_value(self, name: str) -> Value:
        for v in self.values():
            if v.name == name:
                return v
        raise KeyError(name)

    def __repr__(self) -> str:
        return f"Graph(@{self.name}: {len(self.inputs)} inputs, {len(self)} nodes)"
