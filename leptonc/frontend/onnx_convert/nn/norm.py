"""Converters for the normalisation ops: BatchNormalization (inference and training mode),
Instance/Layer/Group/RMS normalisation, LRN, LpNormalization and
MeanVarianceNormalization."""

from __future__ import annotations

from leptonc.frontend.onnx import onnx_dtype
from leptonc.frontend.onnx_convert import NodeContext, converter
from leptonc.frontend.onnx_convert.nn.common import optional_output


@converter("BatchNormalization")
def batch_normalization(cx: NodeContext):
    params = [cx.input(i) for i in range(5)]
    epsilon = cx.attr("epsilon", 1e-5)
    training = cx.attr("training_mode", 0) if cx.opset >= 14 else int(
        any(optional_output(cx, i) for i in range(1, 5)))
    if not training:
        return [cx.op("nn.batch_norm", params, {"epsilon": epsilon})]
    if cx.opset < 14:
        cx.unsupported("training-mode outputs (mean/var/saved statistics) before opset 14")
    y, mean, var = cx.op("nn.batch_norm_training", params,
                         {"epsilon": epsilon, "momentum": cx.attr("momentum", 0.9)})
    return [y, mean, var]


@converter("InstanceNormalization")
def instance_normalization(cx: NodeContext):
    return [cx.op("nn.instance_norm", cx.inputs[:3], {"epsilon": cx.attr("epsilon", 1e-5)})]


def _stash_type(cx: NodeContext):
    return onnx_dtype(cx.attr("stash_type", 1), f"stash_type of '{cx.name}'")


def _axis_norm_attrs(cx: NodeContext) -> dict:
    """axis, epsilon and stash_type of Layer/RMS normalisation."""
    return {"axis": cx.attr("axis", -1), "epsilon": cx.attr("epsilon", 1e-5),
            "stash_type": _stash_type(cx)}


@converter("LayerNormalization")
def layer_normalization(cx: NodeContext):
    with_stats = optional_output(cx, 1) or optional_output(cx, 2)
    attrs = _axis_norm_attrs(cx)
    if with_stats:
        attrs["with_stats"] = True
    out = cx.op("nn.layer_norm", [cx.input(0), cx.input(1), cx.input(2)], attrs)
    return list(out) if with_stats else [out]


@converter("GroupNormalization")
def group_normalization(cx: NodeContext):
    attrs = {"num_groups": cx.attr("num_groups"), "epsilon": cx.attr("epsilon", 1e-5)}
    if cx.opset >= 21:
        attrs["stash_type"] = _stash_type(cx)
    return [cx.op("nn.group_norm", cx.inputs[:3], attrs)]


@converter("RMSNormalization")
def rms_normalization(cx: NodeContext):
    return [cx.op("nn.rms_norm", [cx.input(0), cx.input(1)], _axis_norm_attrs(cx))]


@converter("LRN")
def lrn(cx: NodeContext):
    attrs = {"size": cx.attr("size"), "alpha": cx.attr("alpha", 1e-4),
             "beta": cx.attr("beta", 0.75), "bias": cx.attr("bias", 1.0)}
    return [cx.op("nn.lrn", [cx.input(0)], attrs)]


@converter("LpNormalization")
def lp_normalization(cx: NodeContext):
    p = cx.attr("p", 2)
    if p not in (1, 2):
        cx.unsupported(f"p={p} (ONNX allows 1 and 2)")
    return [cx.op("nn.lp_normalize", [cx.input(0)], {"axis": cx.attr("axis", -1), "p": p})]


@converter("MeanVarianceNormalization")
def mean_variance_normalization(cx: NodeContext):
    return [cx.op("nn.mean_variance_norm", [cx.input(0)],
                  {"axes": tuple(cx.attr("axes", (0, 2, 3)))})]
