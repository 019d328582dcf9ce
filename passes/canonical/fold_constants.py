"""fold-constants: evaluate at compile time every node whose inputs are all constants, and the
shape queries whose answer the types already hold."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from leptonc.errors import LeptoncError
from leptonc.ir.builder import infer_types
from leptonc.ir.graph import Graph, Node
from leptonc.ir.types import TensorType, shape_matches
from leptonc.ops.registry import get_op
from leptonc.passes.common import rewriter_at
from leptonc.passmgr import Pass, PassResult, register_pass

# What a kernel raises on bad operands; the interpreter reports the same at run time.
_KERNEL_ERRORS = (LeptoncError, ValueError, IndexError, TypeError, ArithmeticError)


@register_pass
@dataclass(frozen=True)
class FoldConstants(Pass):
    """Constant folding with each op's numpy reference kernel.

    Nodes of ops marked ``foldable=False`` (randomness) stay, and so does any node whose
    result would hold more than ``max-elements`` elements, so folding never blows up memory.
    ``shape.shape``/``shape.size`` of a tensor whose dims are static fold even when the
    tensor itself is computed, as do gathers and slices that pick only static dims out of a
    shape.  Users of folded values get their types refined (a reshape whose target became
    constant learns its static result shape)."""

    name = "fold-constants"
    example = "fold-constants{max-elements=1048576}"
    max_elements: int = 1 << 24

    def __post_init__(self) -> None:
        if self.max_elements < 0:
            raise ValueError(f"max-elements must be >= 0, got {self.max_elements}")

    def run(self, graph: Graph) -> PassResult:
        folded = refined = 0
        for node in graph:  # in order, so a folded node makes the next ones' inputs constant
            arrays = self.evaluate(node)
            if arrays is None:
                continue
            users = [u for v in node.outputs for u in v.users]
            constants = [graph.add_constant(a, v.name, v.type.with_shape(a.shape))
                         for v, a in zip(node.outputs, arrays, strict=True)]
            rewriter_at(graph, node).replace_node(node, constants, keep_names=True)
            folded += 1
            refined += refine_types(graph, users)
        return PassResult(bool(folded or refined), {"folded": folded, "types-refined": refined})

    def evaluate(self, node: Node) -> list[np.ndarray] | None:
        """The node's results computed now, or None when it must stay."""
        if not _pure(node):
            return None
        known = _known_shape_query(node)
        if known is not None:
            return [known]
        inputs = [v for v in node.inputs if v is not None]
        if not all(v.is_constant for v in inputs) or not self._small_enough(node, inputs):
            return None
        opdef = get_op(node.op)
        try:
            with np.errstate(all="ignore"):  # inf/nan results are the model's, not an error
                out = opdef.kernel([None if v is None else v.data for v in node.inputs],
                                   opdef.with_defaults(node.attrs))
        except _KERNEL_ERRORS:
            return None  # leave it for run time, where the interpreter names the failure
        results = [np.asarray(r) for r in (out if isinstance(out, tuple | list) else [out])]
        if len(results) != len(node.outputs) or not all(
                self._fits(r, v.type) for r, v in zip(results, node.outputs, strict=True)):
            return None
        # C order, so .lir and .onnx runs agree bit for bit (ascontiguousarray would make
        # 0-d results 1-d)
        return [r if r.flags.c_contiguous else r.copy(order="C") for r in results]

    def _small_enough(self, node: Node, inputs: list) -> bool:
        sizes = [v.type.num_elements for v in node.outputs]
        if None not in sizes:
            return max(sizes, default=0) <= self.max_elements
        # data-dependent result sizes: bounded by the inputs, checked again once computed
        return sum(v.data.size for v in inputs) <= self.max_elements

    def _fits(self, array: np.ndarray, t: TensorType) -> bool:
        """Only a result the node's declared type admits may become a constant."""
        if t.dtype.kind == "string":
            dtype_ok = array.dtype.kind in "OUS"
        else:
            dtype_ok = array.dtype == t.dtype.numpy
        return dtype_ok and shape_matches(array.shape, t.shape) and array.size <= self.max_elements


def _pure(node: Node) -> bool:
    """The op (and every op of a fused body) may run at compile time."""
    if not get_op(node.op).foldable:
        return False
    bodies = [a for a in node.attrs.values() if isinstance(a, Graph)]
    return all(_pure(n) for body in bodies for n in body)


def _shape_dims(node: Node) -> tuple | None:
    """The dims a ``shape.shape`` node reports (static, symbolic or unknown), if the rank is
    known."""
    shape = node.inputs[0].type.shape
    return None if shape is None else tuple(shape[node.attr("start"):node.attr("end")])


def _static(dims: Iterable) -> np.ndarray | None:
    dims = list(dims)
    if not all(isinstance(d, int) for d in dims):
        return None
    return np.array(dims, dtype=np.int64)


def _known_shape_query(node: Node) -> np.ndarray | None:
    """Shape sub-graphs the types answer: shape.shape and shape.size of static dims, and a
    gather/slice (constant indices) of a shape.shape that picks only static dims."""
    if node.op == "shape.shape":
        dims = _shape_dims(node)
        return None if dims is None else _static(dims)
    if node.op == "shape.size":
        n = node.inputs[0].type.num_elements
        return None if n is None else np.array(n, dtype=np.int64)
    if node.op not in ("shape.gather", "shape.slice"):
        return None
    source = node.inputs[0].producer
    rest = node.inputs[1:]
    if source is None or source.op != "shape.shape" or not all(
            v is None or v.is_constant for v in rest):
        return None
    dims = _shape_dims(source)
    if dims is None:
        return None
    # run the op on the dims' positions, so its own kernel decides what it picks
    opdef = get_op(node.op)
    try:
        positions = np.asarray(opdef.kernel([np.arange(len(dims), dtype=np.int64)]
                                            + [None if v is None else v.data for v in rest],
                                            opdef.with_defaults(node.attrs)))
    except _KERNEL_ERRORS:
        return None
    picked = _static(dims[int(i)] for i in positions.reshape(-1))
    return None if picked is None else picked.reshape(positions.shape)


def refine_types(graph: Graph, nodes: Iterable[Node]) -> int:
    """Re-infer the types of ``nodes`` (and, transitively, their users) and fill in dims that
    were unknown; declared types are only ever made more specific.  Returns how many nodes
    changed."""
    worklist = deque(nodes)
    changed = 0
    while worklist:
        node = worklist.popleft()
        if node.graph is not graph:
            continue
        try:
            inferred = infer_types(node.op, node.inputs, node.attrs)
        except LeptoncError:
            continue
        updated = False
        for v, t in zip(node.outputs, inferred, strict=True):
            merged = _more_specific(v.type, t)
            if merged is not None:
                v.type, updated = merged, True
                worklist.extend(v.users)
        changed += updated
    return changed


def _more_specific(declared: TensorType, inferred: TensorType) -> TensorType | None:
    """``declared`` with the unknown dims ``inferred`` knows, or None if it adds nothing (or
    disagrees: the declared type stays then)."""
    if declared.dtype != inferred.dtype or inferred.shape is None:
        return None
    if declared.shape is None:
        return declared.with_shape(inferred.shape)
    if len(declared.shape) != len(inferred.shape):
        return None
    dims = tuple(i if d is None else d for d, i in zip(declared.shape, inferred.shape, strict=True))
    return None if dims == declared.shape else declared.with_shape(dims)
