"""Converters for ONNX reductions, arg-max/min, softmax/log-softmax/hardmax, cumulative
sum/product and the NLL / softmax-cross-entropy losses."""

from __future__ import annotations

import math

import numpy as np

from leptonc.frontend.onnx_convert import NodeContext, converter
from leptonc.ir.graph import Value

# ONNX op -> (canonical op, first opset in which the axes moved from attribute to input)
_REDUCTIONS = {
    "ReduceSum": ("reduce.sum", 13),
    "ReduceMean": ("reduce.mean", 18),
    "ReduceMax": ("reduce.max", 18),
    "ReduceMin": ("reduce.min", 18),
    "ReduceProd": ("reduce.prod", 18),
    "ReduceL1": ("reduce.l1", 18),
    "ReduceL2": ("reduce.l2", 18),
    "ReduceLogSum": ("reduce.log_sum", 18),
    "ReduceLogSumExp": ("reduce.log_sum_exp", 18),
    "ReduceSumSquare": ("reduce.sum_square", 18),
}


@converter(*_REDUCTIONS)
def reduction(cx: NodeContext):
    op, axes_input_since = _REDUCTIONS[cx.op_type]
    x, keepdims = cx.input(0), bool(cx.attr("keepdims", 1))
    noop = bool(cx.attr("noop_with_empty_axes", 0))
    if cx.opset < axes_input_since:
        return [cx.op(op, [x], {"axes": tuple(cx.attr("axes", ())), "keepdims": keepdims})]
    axes_input = cx.input(1)
    if axes_input is not None and axes_input.data is None:
        # axes computed at run time: the kernel reads them, inference leaves dims unknown
        return [cx.op(op, [x, axes_input], {"keepdims": keepdims, "noop_with_empty_axes": noop})]
    axes = () if axes_input is None else tuple(int(a) for a in axes_input.data.reshape(-1))
    if not axes and noop:
        return [x]
    return [cx.op(op, [x], {"axes": axes, "keepdims": keepdims})]


@converter("ArgMax", "ArgMin")
def arg_extremum(cx: NodeContext):
    op = "reduce.argmax" if cx.op_type == "ArgMax" else "reduce.argmin"
    attrs = {"axis": cx.attr("axis", 0), "keepdims": bool(cx.attr("keepdims", 1)),
             "select_last_index": bool(cx.attr("select_last_index", 0))}
    return [cx.op(op, [cx.input(0)], attrs)]


# ----- softmax family -------------------------------------------------------------------------
_NORMALISERS = {"Softmax": "reduce.softmax", "LogSoftmax": "reduce.log_softmax",
                "Hardmax": "reduce.hardmax"}


@converter(*_NORMALISERS)
def normaliser(cx: NodeContext):
    op, x = _NORMALISERS[cx.op_type], cx.input(0)
    if cx.opset >= 13:
        return [cx.op(op, [x], {"axis": cx.attr("axis", -1)})]
    # Before opset 13 the input is coerced to 2-D at `axis` and normalised over all trailing
    # dims together: flatten them into one, normalise that axis, restore the shape.
    rank = x.type.rank
    if rank is None:
        cx.unsupported(f"{cx.op_type} before opset 13 needs the input rank")
    axis = cx.attr("axis", 1)
    axis = axis + rank if axis < 0 else axis
    if axis == rank - 1 or rank == 0:
        return [cx.op(op, [x], {"axis": -1})]
    restore = _trailing_shape_target(cx, x, axis)
    flat = cx.op("shape.reshape", [x, cx.const(np.array([0] * axis + [-1], np.int64),
                                                   name="flat_shape")])
    y = cx.op(op, [flat], {"axis": -1})
    return [cx.op("shape.reshape", [y, restore])]


def _trailing_shape_target(cx: NodeContext, x: Value, axis: int) -> Value:
    """A reshape target that restores x's dims from ``axis`` on (leading dims are kept by 0)."""
    trailing = x.type.shape[axis:]
    unknown = [d for d in trailing if not isinstance(d, int)]
    if len(unknown) > 1:
        cx.unsupported(f"{cx.op_type} before opset 13 needs at most one non-static dim after axis")
    target = [0] * axis + [d if isinstance(d, int) else -1 for d in trailing]
    if unknown and math.prod(d for d in trailing if isinstance(d, int)) == 0:
        cx.unsupported(f"{cx.op_type} before opset 13: cannot restore a zero-size shape")
    return cx.const(np.array(target, np.int64), name="shape")


# ----- cumulative sum / product ---------------------------------------------------------------
@converter("CumSum", "CumProd")
def cumulative(cx: NodeContext):
    op = "reduce.cumsum" if cx.op_type == "CumSum" else "reduce.cumprod"
    attrs = {"exclusive": bool(cx.attr("exclusive", 0)), "reverse": bool(cx.attr("reverse", 0))}
    axis = cx.input(1)
    if axis.data is None:
        return [cx.op(op, [cx.input(0), axis], attrs)]
    return [cx.op(op, [cx.input(0)], {**attrs, "axis": int(np.asarray(axis.data).reshape(-1)[0])})]


# ----- losses ---------------------------------------------------------------------------------
def _loss_attrs(cx: NodeContext) -> dict:
    attrs = {"reduction": cx.attr("reduction", "mean")}
    if cx.has_attr("ignore_index"):
        attrs["ignore_index"] = cx.attr("ignore_index")
    return attrs


@converter("NegativeLogLikelihoodLoss")
def nll_loss(cx: NodeContext):
    return [cx.op("reduce.nll_loss", [cx.input(0), cx.input(1), cx.input(2)], _loss_attrs(cx))]


@converter("SoftmaxCrossEntropyLoss")
def softmax_cross_entropy_loss(cx: NodeContext):
    # log-softmax over the class axis, then the NLL of the labels; the second output is
    # that log-probability tensor
    log_prob = cx.op("reduce.log_softmax", [cx.input(0)], {"axis": 1})
    loss = cx.op("reduce.nll_loss", [log_prob, cx.input(1), cx.input(2)], _loss_attrs(cx))
    return [loss, log_prob]
