"""cast-float: compute in f16 or bf16, keeping f32 where precision matters.

    %y = nn.conv(%x, %w)                  %x_lo = ew.cast(%x) {to=f16}
    %s = reduce.softmax(%y)      ->       %w = const ... : f16[...]
                                          %y = nn.conv(%x_lo, %w) : f16[...]
                                          %y_f32 = ew.cast(%y) {to=f32}
                                          %s = reduce.softmax(%y_f32) : f32[...]

Convolutions, matmuls, elementwise and shape ops run in the low type, their float constants
stored in it (half the bytes).  Reductions and normalisations -- softmax, layer/RMS/batch/
group/instance norm, every ``reduce.*``, the mean pools, attention -- read f32 and produce f32:
their sums over many terms are where a 10- or 7-bit mantissa loses the answer.  Graph inputs
and outputs stay f32, with casts at the edges, so callers see the same interface.

    cast-float{dtype=bf16}

A value converted once is shared by all its readers (one cast per value and direction).  Ops
outside both lists (quantization ops, fused regions, ...) keep f32.  Conv and matmul
accumulate in whatever the interpreter's kernels use for the low type; targets accumulate
in f32.  The outputs change by up to a few low-type rounding steps, so validate-each allows
5e-2 (relative and absolute).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import ml_dtypes
import numpy as np

from leptonc.ir import dtypes
from leptonc.ir.builder import Rewriter
from leptonc.ir.dtypes import DType
from leptonc.ir.graph import Graph, Node, Value
from leptonc.passmgr import Pass, PassResult, register_pass

_LOW_TYPES = {"f16": dtypes.f16, "bf16": dtypes.bf16}
# Ops that run in the low type: multiply-accumulate, elementwise and data movement.
_LOW_FAMILIES = ("ew.", "shape.")
_LOW_OPS = frozenset({"linalg.matmul", "linalg.einsum", "nn.conv", "nn.conv_transpose",
                      "nn.max_pool", "nn.global_max_pool", "nn.swiglu", "nn.dropout",
                      "nn.resize", "nn.depth_to_space"})
# Type conversions take any input as it is.
_AS_IS_OPS = frozenset({"ew.cast", "ew.bitcast"})


def computes_low(node: Node) -> bool:
    """The node runs in the low type (everything else reads and produces f32)."""
    if node.op in _AS_IS_OPS:
        return False
    return node.op in _LOW_OPS or node.op.startswith(_LOW_FAMILIES)


@register_pass
@dataclass(frozen=True)
class CastFloat(Pass):
    """Run conv, matmul, elementwise and shape ops in f16/bf16 (``dtype``) with their float
    constants stored in it; reductions, normalisations and mean pools stay f32, and so do
    graph inputs and outputs (casts at the edges)."""

    name: ClassVar[str] = "cast-float"
    rtol: ClassVar[float] = 5e-2
    atol: ClassVar[float] = 5e-2
    example: ClassVar[str] = "cast-float{dtype=bf16}"

    dtype: str = "f16"

    def __post_init__(self) -> None:
        if self.dtype not in _LOW_TYPES:
            raise ValueError(f"dtype must be one of {', '.join(_LOW_TYPES)}, got '{self.dtype}'")

    def run(self, graph: Graph) -> PassResult:
        stats = _Converter(graph, _LOW_TYPES[self.dtype]).run()
        return PassResult(stats["low-nodes"] > 0, stats)


class _Converter:
    def __init__(self, graph: Graph, low: DType):
        self.graph, self.low = graph, low
        self.rw = Rewriter(graph)
        self._as: dict[tuple[int, str], Value] = {}  # (value, dtype name) -> converted value
        self.stats = {"low-nodes": 0, "casts": 0, "constants": 0}

    def run(self) -> dict[str, int]:
        for node in list(self.graph):
            if computes_low(node) and (_float_slots(node, dtypes.f32) or
                                       _float_slots(node, self.low)):
                self._to(node, dtypes.f32, self.low)
                self.rw.reinfer(node)
                self.stats["low-nodes"] += 1
            elif node.op not in _AS_IS_OPS:
                self._to(node, self.low, dtypes.f32)
        self._outputs_back_to_f32()
        return self.stats

    def _to(self, node: Node, src: DType, dst: DType) -> None:
        """Feed ``node`` every ``src`` float input as ``dst``."""
        for i in _float_slots(node, src):
            node.set_input(i, self._converted(node.inputs[i], dst, node))

    def _converted(self, v: Value, dst: DType, reader: Node | None) -> Value:
        key = (id(v), dst.name)
        if key not in self._as:
            if v.is_constant:
                self._as[key] = self.graph.add_constant(_narrowed(v.data, dst),
                                                        f"{v.name}_{dst.name}")
                self.stats["constants"] += 1
            else:
                self.rw.before = reader
                self._as[key] = self.rw.op("ew.cast", [v], {"to": dst},
                                           out_names=[f"{v.name}_{dst.name}"])
                self.stats["casts"] += 1
        return self._as[key]

    def _outputs_back_to_f32(self) -> None:
        for v in list(self.graph.outputs):
            if v.type.dtype == self.low:
                self.graph.replace_output(v, self._converted(v, dtypes.f32, None))
        for v in list(self.graph.constants.values()):
            if not v.uses and v not in self.graph.outputs and (id(v), self.low.name) in self._as:
                name = v.name
                self.graph.remove_constant(v)
                self.graph.rename(self._as[(id(v), self.low.name)], name)


def _narrowed(data: np.ndarray, dst: DType) -> np.ndarray:
    """``data`` in ``dst``, finite values beyond its range saturated to its largest finite
    value (an attention mask's -3.4e38 stays a huge negative, not -inf)."""
    data = np.asarray(data)
    if dst.bits < data.dtype.itemsize * 8:
        top = float(ml_dtypes.finfo(dst.numpy).max)
        data = np.where(np.isfinite(data), np.clip(data, -top, top), data)
    return data.astype(dst.numpy)


def _float_slots(node: Node, dtype: DType) -> list[int]:
    return [i for i, v in enumerate(node.inputs) if v is not None and v.type.dtype == dtype]
