"""Emitters for convolution, pooling, normalisation and dropout (``nn.*``)."""

from __future__ import annotations

import numpy as np

from leptonc.export.emit import EmitContext, Unsupported, emitter


def _window_attrs(cx: EmitContext) -> dict:
    """strides/dilations/pads, and auto_pad when it survived import (dynamic spatial dims)."""
    auto = cx.attr("auto_pad")
    attrs = {"strides": cx.attr("strides"), "dilations": cx.attr("dilations")}
    if auto != "NOTSET":
        attrs["auto_pad"] = auto
    else:
        attrs["pads"] = cx.attr("pads")
    return attrs


def _inputs(cx: EmitContext) -> list[str]:
    return [cx.input(i) for i in range(len(cx.node.inputs))]


@emitter("nn.conv")
def conv(cx: EmitContext) -> None:
    cx.emit("Conv", _inputs(cx), cx.outputs, group=cx.attr("group"), **_window_attrs(cx))


@emitter("nn.conv_transpose")
def conv_transpose(cx: EmitContext) -> None:
    cx.emit("ConvTranspose", _inputs(cx), cx.outputs, group=cx.attr("group"),
            output_padding=cx.attr("output_padding"), output_shape=cx.attr("output_shape"),
            **_window_attrs(cx))


@emitter("nn.deform_conv")
def deform_conv(cx: EmitContext) -> None:
    cx.emit("DeformConv", _inputs(cx), cx.outputs, strides=cx.attr("strides"),
            pads=cx.attr("pads"), dilations=cx.attr("dilations"), group=cx.attr("group"),
            offset_group=cx.attr("offset_group"))


# ----- pooling -------------------------------------------------------------------------------------
def _pool_attrs(cx: EmitContext) -> dict:
    return {"kernel_shape": cx.attr("kernel_shape"), "ceil_mode": cx.attr("ceil_mode"),
            **_window_attrs(cx)}


def _integer_p(cx: EmitContext) -> int:
    p = float(cx.attr("p"))
    if not p.is_integer():
        cx.unsupported(f"p={p}: ONNX Lp pooling takes an integer p")
    return int(p)


@emitter("nn.max_pool")
def max_pool(cx: EmitContext) -> None:
    cx.emit("MaxPool", [cx.input(0)], cx.outputs, storage_order=cx.attr("storage_order"),
            **_pool_attrs(cx))


@emitter("nn.avg_pool")
def avg_pool(cx: EmitContext) -> None:
    attrs = _pool_attrs(cx)
    if cx.opset < 19:  # AveragePool took dilations from opset 19 on
        if any(d != 1 for d in attrs.pop("dilations")):
            raise Unsupported("dilated AveragePool needs opset 19", needs_opset=19)
    cx.emit("AveragePool", [cx.input(0)], cx.outputs,
            count_include_pad=cx.attr("count_include_pad"), **attrs)


@emitter("nn.lp_pool")
def lp_pool(cx: EmitContext) -> None:
    cx.emit("LpPool", [cx.input(0)], cx.outputs, p=_integer_p(cx), **_pool_attrs(cx))


@emitter("nn.global_avg_pool", "nn.global_max_pool")
def global_pool(cx: EmitContext) -> None:
    op = "GlobalAveragePool" if cx.node.op == "nn.global_avg_pool" else "GlobalMaxPool"
    cx.emit(op, [cx.input(0)], cx.outputs)


@emitter("nn.global_lp_pool")
def global_lp_pool(cx: EmitContext) -> None:
    cx.emit("GlobalLpPool", [cx.input(0)], cx.outputs, p=_integer_p(cx))


@emitter("nn.max_unpool")
def max_unpool(cx: EmitContext) -> None:
    shape = cx.input(2) or (cx.ints(cx.attr("output_shape"), "output_shape")
                            if cx.attr("output_shape") else "")
    cx.emit("MaxUnpool", [cx.input(0), cx.input(1), shape], cx.outputs,
            kernel_shape=cx.attr("kernel_shape"), strides=cx.attr("strides"),
            pads=cx.attr("pads"))


# ----- normalisation -------------------------------------------------------------------------------
@emitter("nn.batch_norm")
def batch_norm(cx: EmitContext) -> None:
    cx.emit("BatchNormalization", _inputs(cx), cx.outputs, epsilon=cx.attr("epsilon"))


@emitter("nn.batch_norm_training")
def batch_norm_training(cx: EmitContext) -> None:
    cx.emit("BatchNormalization", _inputs(cx), cx.outputs, epsilon=cx.attr("epsilon"),
            momentum=cx.attr("momentum"), training_mode=1)


@emitter("nn.instance_norm")
def instance_norm(cx: EmitContext) -> None:
    cx.emit("InstanceNormalization", _inputs(cx), cx.outputs, epsilon=cx.attr("epsilon"))


@emitter("nn.layer_norm")
def layer_norm(cx: EmitContext) -> None:
    cx.emit("LayerNormalization", _inputs(cx), cx.outputs, axis=cx.attr("axis"),
            epsilon=cx.attr("epsilon"), stash_type=cx.onnx_dtype(cx.attr("stash_type")))


@emitter("nn.rms_norm")
def rms_norm(cx: EmitContext) -> None:
    cx.emit("RMSNormalization", _inputs(cx), cx.outputs, axis=cx.attr("axis"),
            epsilon=cx.attr("epsilon"), stash_type=cx.onnx_dtype(cx.attr("stash_type")))


@emitter("nn.group_norm")
def group_norm(cx: EmitContext) -> None:
    """Opset 18 took one scale per group, 21 one per channel: the parameters' length says
    which the node holds (they differ unless there is one channel per group)."""
    groups, scale = cx.attr("num_groups"), cx.value(1).type.shape
    per_group = scale is not None and scale[0] == groups
    x_shape = cx.value(0).type.shape
    channels = x_shape[1] if x_shape is not None and len(x_shape) > 1 else None
    if per_group and channels != groups:
        if cx.opset >= 21:
            cx.unsupported("per-group scale and bias exist only in opsets 18 to 20")
        cx.emit("GroupNormalization", _inputs(cx), cx.outputs, num_groups=groups,
                epsilon=cx.attr("epsilon"))
        return
    if cx.opset < 21:
        raise Unsupported("per-channel GroupNormalization needs opset 21", needs_opset=21)
    cx.emit("GroupNormalization", _inputs(cx), cx.outputs, num_groups=groups,
            epsilon=cx.attr("epsilon"), stash_type=cx.onnx_dtype(cx.attr("stash_type")))


@emitter("nn.lrn")
def lrn(cx: EmitContext) -> None:
    cx.emit("LRN", [cx.input(0)], cx.outputs, size=cx.attr("size"), alpha=cx.attr("alpha"),
            beta=cx.attr("beta"), bias=cx.attr("bias"))


@emitter("nn.lp_normalize")
def lp_normalize(cx: EmitContext) -> None:
    cx.emit("LpNormalization", [cx.input(0)], cx.outputs, axis=cx.attr("axis"), p=cx.attr("p"))


@emitter("nn.mean_variance_norm")
def mean_variance_norm(cx: EmitContext) -> None:
    cx.emit("MeanVarianceNormalization", [cx.input(0)], cx.outputs, axes=cx.attr("axes"))


# ----- dropout -------------------------------------------------------------------------------------
@emitter("nn.dropout")
def dropout(cx: EmitContext) -> None:
    ratio = cx.input(1) or cx.const(np.asarray(cx.attr("ratio"), np.float32), hint="ratio")
    seed = cx.attr("seed")
    cx.emit("Dropout", [cx.input(0), ratio, cx.input(2)], cx.outputs,
            seed=seed if seed >= 0 else None)
