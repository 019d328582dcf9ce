"""The op table of the Relax lowering: leptonc op name -> a function that emits Relax.

Each entry is an ``OpLowering``: ``emit(ctx, node, args)`` returns one Relax expression per
node output (``args`` holds the Relax expressions of the node's inputs, None for omitted
optional inputs), and ``check(node)`` returns why this node (an attribute variant, a run-time
shape operand, ...) cannot be lowered, or None.  ``check`` runs over the whole graph before
anything is emitted, so that every unsupported node is reported at once.

The families register themselves: ``lower_elementwise``, ``lower_nn``, ``lower_quant``, ``lower_shape``.
Shape-controlling operands (reshape's shape, ...) must be constants: leptonc's canonical
passes fold them, and Relax wants them at compile time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from tvm import relax, tirx

from leptonc.ir import dtypes
from leptonc.ir.graph import Node, Value

Emit = Callable[["EmitContext", Node, Sequence[Any]], list[Any]]
Check = Callable[[Node], str | None]


@dataclass(slots=True)
class EmitContext:
    """What an emitter may need beyond its operands: the Relax builder and the symbolic dims."""

    builder: relax.BlockBuilder
    dims: dict[str, tirx.Var]

    def dim(self, d: int | str | None) -> Any:
        if isinstance(d, int):
            return d
        if isinstance(d, str):
            if d not in self.dims:
                self.dims[d] = tirx.Var(d, "int64")
            return self.dims[d]
        return -1


@dataclass(frozen=True, slots=True)
class OpLowering:
    emit: Emit
    check: Check | None = None


LOWERINGS: dict[str, OpLowering] = {}


def lowering(*ops: str, check: Check | None = None) -> Callable[[Emit], Emit]:
    def register(emit: Emit) -> Emit:
        for op in ops:
            LOWERINGS[op] = OpLowering(emit, check)
        return emit
    return register


def relax_dtype(dtype: dtypes.DType) -> str:
    """The TVM dtype string of a leptonc dtype (``f32`` -> ``float32``)."""
    if dtype == dtypes.bf16:
        return "bfloat16"
    if dtype == dtypes.boolean:
        return "bool"
    return np.dtype(dtype.numpy).name


def supported_dtype(dtype: dtypes.DType) -> bool:
    """Whether values of this dtype can cross into TVM (no strings, no odd-width integers)."""
    return dtype == dtypes.bf16 or dtype == dtypes.boolean or (
        dtype.kind in ("float", "signed", "unsigned") and dtype.bits in (8, 16, 32, 64)
        and np.dtype(dtype.numpy).itemsize * 8 == dtype.bits)


def constant_ints(v: Value | None) -> list[int] | None:
    """The integers of a constant operand; None when it is absent or computed at run time."""
    return None if v is None or v.data is None else [int(x) for x in np.asarray(v.data).ravel()]


def needs_constant(node: Node, index: int, what: str) -> str | None:
    """A check's reason when operand ``index`` is given but not a constant."""
    if index < len(node.inputs) and node.inputs[index] is not None and not node.inputs[index].is_constant:
        return f"{what} computed at run time"
    return None
