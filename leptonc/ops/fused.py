"""Fused regions (``fused.region``): a node whose ``body`` attribute holds a sub-graph.

The node's inputs bind the body's inputs in order; its outputs are the body's outputs.
Fusion passes create regions; targets lower each region as one kernel.  Bodies are
self-contained (they never refer to values of the enclosing graph).
"""

from __future__ import annotations

from leptonc.errors import ShapeError
from leptonc.ir.types import TensorType
from leptonc.ops.registry import attr, defop


@defop("fused.region", inputs="*args", outputs="*results",
       attrs={"body": attr("graph"), "kind": attr("str", "")},
       doc="a sub-graph executed as one unit; `kind` names the fused pattern")
class Region:
    def infer(ins, attrs):
        body = attrs["body"]
        if len(ins) != len(body.inputs):
            raise ShapeError(f"region body takes {len(body.inputs)} inputs, got {len(ins)}")
        for v, param in zip(ins, body.inputs, strict=True):
            if v is None or v.type.dtype != param.type.dtype:
                raise ShapeError(f"region input for %{param.name} should be {param.type}")
        return [TensorType(v.type.dtype, v.type.shape, v.type.quant, v.type.encoding)
                for v in body.outputs]

    def kernel(xs, attrs):
        from leptonc.interp import Interpreter

        body = attrs["body"]
        results = Interpreter(body).run({p.name: x for p, x in zip(body.inputs, xs, strict=True)})
        return tuple(results[name] for name in body.output_names)

    def macs(ins, outs, attrs):
        from leptonc.analysis import graph_macs

        return graph_macs(attrs["body"])
