"""The reference interpreter: the oracle every pass and target is validated against.

It walks the graph in order and calls each op's numpy kernel.  ``run_node`` is the one
dispatch point; subclasses override it (fake-quant, simulators), and observers see every
value as it is produced (calibration uses them).  Values are freed after their last use,
so memory stays at the live set, not the sum of all activations.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from leptonc.errors import InputError, LeptoncError, ShapeError
from leptonc.ir import dtypes
from leptonc.ir.graph import Graph, Node, Value
from leptonc.ir.printer import format_dims
from leptonc.ir.types import shape_matches
from leptonc.ops.registry import get_op

Observer = Callable[[Value, np.ndarray], None]


class Interpreter:
    def __init__(self, graph: Graph, observers: list[Observer] | None = None):
        self.graph = graph
        self.observers = list(observers or [])
        self._plan = [(node, get_op(node.op).kernel, get_op(node.op).with_defaults(node.attrs))
                      for node in graph]
        self._last_use = self._compute_last_use()

    def _compute_last_use(self) -> dict[int, list[Value]]:
        """For each node position, the values whose last reader it is."""
        last: dict[int, int] = {}
        for pos, (node, _, _) in enumerate(self._plan):
            for v in node.inputs:
                if v is not None and v.producer is not None:
                    last[id(v)] = pos
        keep = {id(v) for v in self.graph.outputs}
        frees: dict[int, list[Value]] = {}
        for node, _, _ in self._plan:
            for v in node.outputs:
                if id(v) in last and id(v) not in keep:
                    frees.setdefault(last[id(v)], []).append(v)
        return frees

    def run(self, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Run on named inputs; returns ``{output name: array}``."""
        env: dict[int, np.ndarray] = {id(v): v.data for v in self.graph.constants.values()}
        for v, array in self._bind_inputs(inputs):
            env[id(v)] = array
            self._observe(v, array)
        for pos, (node, kernel, attrs) in enumerate(self._plan):
            args = [None if v is None else env[id(v)] for v in node.inputs]
            results = self.run_node(node, kernel, args, attrs)
            for v, array in zip(node.outputs, results, strict=True):
                env[id(v)] = array
                self._observe(v, array)
            for v in self._last_use.get(pos, ()):
                del env[id(v)]
        return {name: env[id(v)] for v, name in zip(self.graph.outputs, self.graph.output_names,
                                                     strict=True)}

    def run_node(self, node: Node, kernel: Callable, args: list[np.ndarray | None],
                 attrs: dict[str, Any]) -> list[np.ndarray]:
        """Execute one node (the override point for subclasses)."""
        try:
            out = kernel(args, attrs)
        except LeptoncError as e:
            raise type(e)(f"{_where(node)}: {e}") from None
        except (ValueError, IndexError, TypeError) as e:
            raise ShapeError(f"{_where(node)}: {e.__class__.__name__}: {e}") from e
        results = list(out) if isinstance(out, tuple | list) else [out]
        return [self._checked(node, v, np.asarray(r)) for v, r in zip(node.outputs, results,
                                                                        strict=True)]

    @staticmethod
    def _checked(node: Node, v: Value, array: np.ndarray) -> np.ndarray:
        want = v.type.dtype
        if array.dtype != want.numpy and not (want.kind == "string" and array.dtype.kind in "OUS"):
            raise TypeError(f"{_where(node)}: kernel returned {array.dtype} for %{v.name}: {want}")
        if not shape_matches(array.shape, v.type.shape):
            raise ShapeError(f"{_where(node)}: %{v.name} has shape {list(array.shape)}, "
                             f"type says {format_dims(v.type.shape)}")
        return array

    def _observe(self, v: Value, array: np.ndarray) -> None:
        for observe in self.observers:
            observe(v, array)

    def _bind_inputs(self, inputs: Mapping[str, Any]) -> list[tuple[Value, np.ndarray]]:
        names = {v.name for v in self.graph.inputs}
        unknown = sorted(set(inputs) - names)
        if unknown:
            raise InputError(f"unknown input(s) {', '.join(unknown)}; the model takes "
                             f"{', '.join(sorted(names)) or 'no inputs'}")
        missing = [v.name for v in self.graph.inputs if v.name not in inputs]
        if missing:
            raise InputError(f"missing input(s): {', '.join(missing)}")
        bound = [(v, check_input(v, inputs[v.name])) for v in self.graph.inputs]
        _check_symbols(bound)
        return bound


def _check_symbols(bound: list[tuple[Value, np.ndarray]]) -> None:
    """A symbolic dim (e.g. ``N``) must have one size across all inputs."""
    sizes: dict[str, tuple[int, str]] = {}
    for v, array in bound:
        for dim, size in zip(v.type.shape or (), array.shape, strict=False):
            if not isinstance(dim, str):
                continue
            first = sizes.setdefault(dim, (size, v.name))
            if first[0] != size:
                raise InputError(f"dim {dim} is {first[0]} in input '{first[1]}' but {size} in "
                                 f"input '{v.name}'")


def check_input(v: Value, given: Any) -> np.ndarray:
    """The array for graph input ``v``; a wrong dtype or shape is an InputError."""
    array = np.asarray(given)
    want = v.type.dtype
    if not dtypes.is_storage_of(array, want):
        raise InputError(f"input '{v.name}' has dtype {array.dtype}, the model expects {want} "
                         f"({want.numpy})")
    if not shape_matches(array.shape, v.type.shape):
        raise InputError(f"input '{v.name}' has shape {list(array.shape)}, the model expects "
                         f"{format_dims(v.type.shape)}")
    return array


def _where(node: Node) -> str:
    return f"node '{node.source_name or node.outputs[0].name}' ({node.op})"


def run(graph: Graph, inputs: Mapping[str, Any], observers: list[Observer] | None = None
        ) -> dict[str, np.ndarray]:
    """Run ``graph`` on named inputs with the reference interpreter."""
    return Interpreter(graph, observers).run(inputs)
