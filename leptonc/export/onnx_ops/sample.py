"""Emitters for resampling and gathering by coordinates: Resize, GridSample, AffineGrid,
RoiAlign, Col2Im, RotaryEmbedding, SwiGLU."""

from __future__ import annotations

import numpy as np

from leptonc.export.emit import EmitContext, Unsupported, emitter

_RESIZE_ATTRS = ("mode", "coordinate_transformation_mode", "nearest_mode", "cubic_coeff_a",
                 "exclude_outside", "extrapolation_value")
# added in opset 18; a node that sets them cannot be written for an older opset
_RESIZE_ATTRS_18 = ("antialias", "axes", "keep_aspect_ratio_policy")


@emitter("nn.resize")
def resize(cx: EmitContext) -> None:
    attrs = {k: cx.attr(k) for k in _RESIZE_ATTRS}
    newer = {k: cx.attr(k) for k in _RESIZE_ATTRS_18 if k in cx.node.attrs}
    if newer and cx.opset < 18:
        raise Unsupported(f"Resize {', '.join(newer)} need opset 18", needs_opset=18)
    roi = cx.input(1) or (cx.const(np.asarray(cx.attr("roi"), np.float32), hint="roi")
                          if cx.attr("roi") else "")
    scales = cx.input(2) or (cx.const(np.asarray(cx.attr("scales"), np.float32), hint="scales")
                             if cx.attr("scales") else "")
    sizes = cx.input(3) or (cx.ints(cx.attr("sizes"), "sizes") if cx.attr("sizes") else "")
    cx.emit("Resize", [cx.input(0), roi, scales, sizes], cx.outputs, **attrs, **newer)


@emitter("nn.grid_sample")
def grid_sample(cx: EmitContext) -> None:
    mode = cx.attr("mode")
    if cx.opset < 20:  # GridSample-16 spelled the 2-D modes bilinear/bicubic, 4-D only
        if cx.value(0).type.rank != 4:
            raise Unsupported("N-d GridSample needs opset 20", needs_opset=20)
        mode = {"linear": "bilinear", "cubic": "bicubic"}.get(mode, mode)
    cx.emit("GridSample", [cx.input(0), cx.input(1)], cx.outputs, mode=mode,
            padding_mode=cx.attr("padding_mode"), align_corners=cx.attr("align_corners"))


@emitter("nn.affine_grid")
def affine_grid(cx: EmitContext) -> None:
    size = cx.input(1) or cx.ints(cx.attr("size"), "size")
    cx.emit("AffineGrid", [cx.input(0), size], cx.outputs,
            align_corners=cx.attr("align_corners"))


@emitter("nn.roi_align")
def roi_align(cx: EmitContext) -> None:
    cx.emit("RoiAlign", [cx.input(i) for i in range(3)], cx.outputs,
            **{k: cx.attr(k) for k in ("mode", "output_height", "output_width", "sampling_ratio",
                                       "spatial_scale", "coordinate_transformation_mode")})


@emitter("nn.col2im")
def col2im(cx: EmitContext) -> None:
    image = cx.input(1) or cx.ints(cx.attr("image_shape"), "image_shape")
    block = cx.input(2) or cx.ints(cx.attr("block_shape"), "block_shape")
    cx.emit("Col2Im", [cx.input(0), image, block], cx.outputs, strides=cx.attr("strides"),
            pads=cx.attr("pads"), dilations=cx.attr("dilations"))


@emitter("nn.rotary_embedding")
def rotary_embedding(cx: EmitContext) -> None:
    cx.emit("RotaryEmbedding", [cx.input(i) for i in range(len(cx.node.inputs))], cx.outputs,
            interleaved=cx.attr("interleaved"), rotary_embedding_dim=cx.attr("rotary_dim"),
            num_heads=cx.attr("num_heads"))


@emitter("nn.swiglu")
def swiglu(cx: EmitContext) -> None:
    # a * sigmoid(alpha a) * b: ONNX SwiGLU (opset 28) is too new for most runtimes
    a, alpha = cx.input(0), float(cx.attr("alpha"))
    gate = a if alpha == 1.0 else cx.emit1("Mul", [a, cx.const(
        np.asarray(alpha, cx.value(0).type.dtype.numpy), hint="alpha")])
    silu = cx.emit1("Mul", [a, cx.emit1("Sigmoid", [gate])])
    cx.emit("Mul", [silu, cx.input(1)], cx.outputs)
