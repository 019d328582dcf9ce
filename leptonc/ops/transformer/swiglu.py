"""``nn.swiglu``: the gated activation of transformer feed-forward blocks."""

from __future__ import annotations

from leptonc.errors import ShapeError
from leptonc.ir.types import TensorType
from leptonc.ops.elementwise import sigmoid
from leptonc.ops.numeric import float_compute_dtype
from leptonc.ops.registry import attr, defop
from leptonc.ops.transformer.common import same_float_types, shapes_compatible


@defop("nn.swiglu", inputs="a, b", attrs={"alpha": attr("float", 1.0)},
       doc="a * sigmoid(alpha * a) * b (gated FFN activation; equal shapes, no broadcast)")
class SwiGLU:
    def infer(ins, attrs):
        a = same_float_types(ins, "a and b")
        b = ins[1].type
        if not shapes_compatible(a.shape, b.shape):
            raise ShapeError(f"swiglu needs equal shapes, got {a} and {b}")
        return [TensorType(a.dtype, a.shape if a.shape is not None else b.shape)]

    def kernel(xs, attrs):
        a, b = xs
        if a.shape != b.shape:
            raise ShapeError(f"swiglu needs equal shapes, got {list(a.shape)} and {list(b.shape)}")
        ct = float_compute_dtype(a.dtype)
        af = a.astype(ct)
        return (af * sigmoid(ct.type(attrs["alpha"]) * af) * b.astype(ct)).astype(a.dtype)

    def macs(ins, outs, attrs):
        return outs[0].num_elements or 0
