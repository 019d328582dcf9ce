"""Emitters for ``reduce.*``: reductions (axes an attribute before opset 18, an input from 18;
ReduceSum from 13), arg-max/min, the softmax family, cumulative sums and the NLL loss."""

from __future__ import annotations

import numpy as np

from leptonc.export.emit import EmitContext, emitter

# canonical op -> (ONNX op, first opset that takes the axes as an input)
_REDUCTIONS = {
    "reduce.sum": ("ReduceSum", 13), "reduce.mean": ("ReduceMean", 18),
    "reduce.max": ("ReduceMax", 18), "reduce.min": ("ReduceMin", 18),
    "reduce.prod": ("ReduceProd", 18), "reduce.l1": ("ReduceL1", 18),
    "reduce.l2": ("ReduceL2", 18), "reduce.log_sum": ("ReduceLogSum", 18),
    "reduce.log_sum_exp": ("ReduceLogSumExp", 18), "reduce.sum_square": ("ReduceSumSquare", 18),
}


@emitter(*_REDUCTIONS)
def reduction(cx: EmitContext) -> None:
    op, axes_input_since = _REDUCTIONS[cx.node.op]
    keepdims, axes = cx.attr("keepdims"), cx.attr("axes")
    noop = cx.attr("noop_with_empty_axes") or None
    if cx.input(1):  # run-time axes (only possible where ONNX takes them as an input)
        cx.emit(op, [cx.input(0), cx.input(1)], cx.outputs, keepdims=keepdims,
                noop_with_empty_axes=noop)
    elif cx.opset >= axes_input_since:
        axes_input = cx.ints(axes, "axes") if axes else ""
        cx.emit(op, [cx.input(0), axes_input], cx.outputs, keepdims=keepdims)
    else:
        cx.emit(op, [cx.input(0)], cx.outputs, keepdims=keepdims, axes=axes)


@emitter("reduce.argmax", "reduce.argmin")
def arg_extremum(cx: EmitContext) -> None:
    op = "ArgMax" if cx.node.op == "reduce.argmax" else "ArgMin"
    cx.emit(op, [cx.input(0)], cx.outputs, axis=cx.attr("axis"), keepdims=cx.attr("keepdims"),
            select_last_index=cx.attr("select_last_index"))


_NORMALISERS = {"reduce.softmax": "Softmax", "reduce.log_softmax": "LogSoftmax",
                "reduce.hardmax": "Hardmax"}


@emitter(*_NORMALISERS)
def normaliser(cx: EmitContext) -> None:
    cx.emit(_NORMALISERS[cx.node.op], [cx.input(0)], cx.outputs, axis=cx.attr("axis"))


@emitter("reduce.cumsum", "reduce.cumprod")
def cumulative(cx: EmitContext) -> None:
    op = "CumSum" if cx.node.op == "reduce.cumsum" else "CumProd"
    axis = cx.input(1) or cx.const(np.asarray(cx.attr("axis"), np.int64), hint="axis")
    cx.emit(op, [cx.input(0), axis], cx.outputs, exclusive=cx.attr("exclusive"),
            reverse=cx.attr("reverse"))


@emitter("reduce.nll_loss")
def nll_loss(cx: EmitContext) -> None:
    cx.emit("NegativeLogLikelihoodLoss", [cx.input(i) for i in range(len(cx.node.inputs))],
            cx.outputs, reduction=cx.attr("reduction"),
            ignore_index=cx.node.attrs.get("ignore_index"))
