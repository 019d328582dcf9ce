"""Converters for ONNX neural-network ops: convolution, pooling, normalisation, dropout,
resize and sampling.

Shape-controlling inputs (pads from auto_pad, Resize's scales/sizes/roi, Col2Im's shapes...)
become attributes when they are constants, and stay inputs when computed at run time.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from leptonc.frontend.onnx import onnx_dtype
from leptonc.frontend.onnx_convert import NodeContext, converter
from leptonc.ir.graph import Value
from leptonc.ops.nn import AUTO_PADS, same_pads, transpose_pads


def _static_dims(v: Value | None) -> tuple[int, ...] | None:
    """The spatial dims of [N, C, *spatial] ``v`` when all are static."""
    if v is None or v.type.shape is None:
        return None
    dims = v.type.shape[2:]
    return tuple(dims) if all(isinstance(d, int) for d in dims) else None


def _auto_pad(cx: NodeContext) -> str:
    auto = cx.attr("auto_pad", "NOTSET") or "NOTSET"
    if auto not in AUTO_PADS:
        cx.unsupported(f"auto_pad '{auto}'")
    return auto


def window_attrs(cx: NodeContext, x: Value, kernel: tuple[int, ...]) -> dict[str, Any]:
    """strides/dilations/pads with auto_pad resolved to explicit pads when the spatial dims
    are static (auto_pad survives only for dynamic spatial dims)."""
    sp = len(kernel)
    strides = tuple(cx.attr("strides", ())) or (1,) * sp
    dilations = tuple(cx.attr("dilations", ())) or (1,) * sp
    pads = tuple(cx.attr("pads", ())) or (0,) * (2 * sp)
    auto = _auto_pad(cx)
    attrs: dict[str, Any] = {"strides": strides, "dilations": dilations}
    dims = _static_dims(x)
    if auto == "VALID":
        pads = (0,) * (2 * sp)
    elif auto != "NOTSET" and dims is not None:
        pads = same_pads(auto, dims, kernel, strides, dilations)
    elif auto != "NOTSET":
        attrs["auto_pad"] = auto
    attrs["pads"] = pads
    return attrs


def _kernel_shape(cx: NodeContext, w: Value) -> tuple[int, ...]:
    """The kernel from the weight's static shape, else from the kernel_shape attribute."""
    dims = w.type.shape[2:] if w.type.shape is not None else None
    if dims is not None and all(isinstance(d, int) for d in dims):
        return tuple(dims)
    kernel = cx.attr("kernel_shape")
    if kernel is None:
        cx.unsupported("the weight's kernel dims are dynamic and kernel_shape is not given")
    return tuple(kernel)


def _optional_output(cx: NodeContext, i: int) -> bool:
    return i < cx.num_outputs and bool(cx.node.output[i])


# ----- convolution -----------------------------------------------------------------------------
@converter("Conv")
def conv(cx: NodeContext):
    x, w = cx.input(0), cx.input(1)
    attrs = window_attrs(cx, x, _kernel_shape(cx, w))
    attrs["group"] = cx.attr("group", 1)
    return [cx.op("nn.conv", [x, w, cx.input(2)], attrs)]


@converter("ConvTranspose")
def conv_transpose(cx: NodeContext):
    x, w = cx.input(0), cx.input(1)
    kernel = _kernel_shape(cx, w)
    sp = len(kernel)
    strides = tuple(cx.attr("strides", ())) or (1,) * sp
    dilations = tuple(cx.attr("dilations", ())) or (1,) * sp
    pads = tuple(cx.attr("pads", ())) or (0,) * (2 * sp)
    output_padding = tuple(cx.attr("output_padding", ())) or (0,) * sp
    output_shape = tuple(cx.attr("output_shape", ()))
    auto = _auto_pad(cx)
    attrs: dict[str, Any] = {"strides": strides, "dilations": dilations,
                             "group": cx.attr("group", 1)}
    dims = _static_dims(x)
    if (output_shape or auto != "NOTSET") and dims is None:
        attrs.update(auto_pad=auto, output_shape=output_shape)
    elif dims is not None:
        pads, output_padding = transpose_pads(auto, output_shape, dims, kernel, strides,
                                              dilations, pads, output_padding)
    attrs.update(pads=pads, output_padding=output_padding)
    return [cx.op("nn.conv_transpose", [x, w, cx.input(2)], attrs)]


@converter("DeformConv")
def deform_conv(cx: NodeContext):
    x, w = cx.input(0), cx.input(1)
    sp = len(_kernel_shape(cx, w))
    attrs = {"strides": tuple(cx.attr("strides", ())) or (1,) * sp,
             "dilations": tuple(cx.attr("dilations", ())) or (1,) * sp,
             "pads": tuple(cx.attr("pads", ())) or (0,) * (2 * sp),
             "group": cx.attr("group", 1), "offset_group": cx.attr("offset_group", 1)}
    return [cx.op("nn.deform_conv", _trim([x, w, cx.input(2), cx.input(3), cx.input(4)]), attrs)]


def _shape_input(cx: NodeContext, i: int, name: str, attrs: dict, inputs: list) -> None:
    """A shape-like i64 input: an attribute when constant, else kept as input ``i``."""
    v = cx.input(i)
    if v is not None and v.data is not None:
        attrs[name] = tuple(int(d) for d in np.asarray(v.data).reshape(-1))
        inputs.append(None)
    else:
        inputs.append(v)


@converter("Col2Im")
def col2im(cx: NodeContext):
    attrs = {k: tuple(cx.attr(k, ())) for k in ("strides", "pads", "dilations")}
    inputs: list = [cx.input(0)]
    _shape_input(cx, 1, "image_shape", attrs, inputs)
    _shape_input(cx, 2, "block_shape", attrs, inputs)
    return [cx.op("nn.col2im", _trim(inputs), attrs)]


def _trim(inputs: list) -> list:
    """Drop trailing omitted optional inputs."""
    while inputs and inputs[-1] is None:
        inputs.pop()
    return inputs


# ----- pooling ---------------------------------------------------------------------------------
def pool_attrs(cx: NodeContext) -> dict[str, Any]:
    x = cx.input(0)
    kernel = tuple(cx.attr("kernel_shape", ()))
    if not kernel:
        cx.unsupported("kernel_shape is required")
    attrs = {"kernel_shape": kernel, **window_attrs(cx, x, kernel)}
    if cx.attr("ceil_mode", 0):
        attrs["ceil_mode"] = True
    return attrs


@converter("MaxPool")
def max_pool(cx: NodeContext):
    attrs = pool_attrs(cx)
    with_indices = _optional_output(cx, 1)
    if with_indices:
        attrs["with_indices"] = True
        attrs["storage_order"] = cx.attr("storage_order", 0)
    out = cx.op("nn.max_pool", [cx.input(0)], attrs)
    return list(out) if with_indices else [out]


@converter("AveragePool")
def average_pool(cx: NodeContext):
    attrs = pool_attrs(cx)
    if cx.attr("count_include_pad", 0):
        attrs["count_include_pad"] = True
    return [cx.op("nn.avg_pool", [cx.input(0)], attrs)]


@converter("LpPool")
def lp_pool(cx: NodeContext):
    attrs = pool_attrs(cx)
    attrs["p"] = float(cx.attr("p", 2))
    return [cx.op("nn.lp_pool", [cx.input(0)], attrs)]


@converter("GlobalAveragePool")
def global_average_pool(cx: NodeContext):
    return [cx.op("nn.global_avg_pool", [cx.input(0)])]


@converter("GlobalMaxPool")
def global_max_pool(cx: NodeContext):
    return [cx.op("nn.global_max_pool", [cx.input(0)])]


@converter("GlobalLpPool")
def global_lp_pool(cx: NodeContext):
    return [cx.op("nn.global_lp_pool", [cx.input(0)], {"p": float(cx.attr("p", 2))})]


@converter("MaxUnpool")
def max_unpool(cx: NodeContext):
    kernel = tuple(cx.attr("kernel_shape", ()))
    sp = len(kernel)
    attrs = {"kernel_shape": kernel, "strides": tuple(cx.attr("strides", ())) or (1,) * sp,
             "pads": tuple(cx.attr("pads", ())) or (0,) * (2 * sp)}
    inputs: list = [cx.input(0), cx.input(1)]
    _shape_input(cx, 2, "output_shape", attrs, inputs)
    return [cx.op("nn.max_unpool", _trim(inputs), attrs)]


# ----- normalisation ---------------------------------------------------------------------------
@converter("BatchNormalization")
def batch_normalization(cx: NodeContext):
    params = [cx.input(i) for i in range(5)]
    epsilon = cx.attr("epsilon", 1e-5)
    training = cx.attr("training_mode", 0) if cx.opset >= 14 else int(
        any(_optional_output(cx, i) for i in range(1, 5)))
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


@converter("LayerNormalization")
def layer_normalization(cx: NodeContext):
    with_stats = _optional_output(cx, 1) or _optional_output(cx, 2)
    attrs = {"axis": cx.attr("axis", -1), "epsilon": cx.attr("epsilon", 1e-5),
             "stash_type": _stash_type(cx)}
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
    attrs = {"axis": cx.attr("axis", -1), "epsilon": cx.attr("epsilon", 1e-5),
             "stash_type": _stash_type(cx)}
    return [cx.op("nn.rms_norm", [cx.input(0), cx.input(1)], attrs)]


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


# ----- dropout ---------------------------------------------------------------------------------
def _const_scalar(v: Value | None) -> Any:
    return None if v is None or v.data is None else np.asarray(v.data).reshape(-1)[0].item()


@converter("Dropout")
def dropout(cx: NodeContext):
    """Inference dropout is the identity (its mask all true); training mode (opset 12+, a
    training_mode input that is true or computed at run time) becomes nn.dropout."""
    x = cx.input(0)
    with_mask = _optional_output(cx, 1)
    ratio, training = (cx.input(1), cx.input(2)) if cx.opset >= 12 else (None, None)
    training_flag = False if training is None else _const_scalar(training)
    ratio_value = cx.attr("ratio", 0.5) if ratio is None else _const_scalar(ratio)
    # before opset 10 the mask has the input's dtype (ones), from 10 on it is boolean
    mask_dtype = bool if cx.opset >= 10 else x.type.dtype.numpy
    identity = training_flag is False or ratio_value == 0
    if identity and (not with_mask or x.type.is_static):
        if not with_mask:
            return [x]
        return [x, cx.const(np.ones(x.type.shape, dtype=mask_dtype), name="mask")]
    attrs: dict[str, Any] = {"ratio": float(cx.attr("ratio", 0.5)), "with_mask": with_mask}
    if cx.has_attr("seed"):
        attrs["seed"] = int(cx.attr("seed"))
    out = cx.op("nn.dropout", _trim([x, ratio, training]), attrs)
    if not with_mask:
        return [out]
    y, mask = out
    if cx.opset < 10:
        mask = cx.op("ew.cast", [mask], {"to": x.type.dtype})
    return [y, mask]


# ----- resize and sampling ---------------------------------------------------------------------
def _float_input(cx: NodeContext, i: int, name: str, attrs: dict, inputs: list) -> None:
    """Resize's roi/scales/sizes: a non-empty constant becomes an attribute, an empty one is
    absent, a run-time tensor stays an input."""
    v = cx.input(i)
    if v is not None and v.data is not None:
        data = np.asarray(v.data).reshape(-1)
        if data.size:
            kind = int if name == "sizes" else float
            attrs[name] = tuple(kind(d) for d in data)
        inputs.append(None)
    else:
        inputs.append(v)


@converter("Resize")
def resize(cx: NodeContext):
    mode = cx.attr("mode", "nearest")
    attrs: dict[str, Any] = {"mode": mode}
    inputs: list = [cx.input(0)]
    if cx.opset < 11:  # Resize-10 is Upsample with a different name
        attrs.update(coordinate_transformation_mode="asymmetric", nearest_mode="floor")
        inputs.append(None)
        _float_input(cx, 1, "scales", attrs, inputs)
    else:
        for name, default in (("coordinate_transformation_mode", "half_pixel"),
                              ("nearest_mode", "round_prefer_floor"),
                              ("cubic_coeff_a", -0.75), ("exclude_outside", 0),
                              ("extrapolation_value", 0.0), ("antialias", 0),
                              ("keep_aspect_ratio_policy", "stretch")):
            value = cx.attr(name, default)
            if value != default:
                attrs[name] = bool(value) if name in ("exclude_outside", "antialias") else value
        if cx.has_attr("axes"):
            attrs["axes"] = tuple(cx.attr("axes"))
        for i, name in ((1, "roi"), (2, "scales"), (3, "sizes")):
            _float_input(cx, i, name, attrs, inputs)
    if attrs.get("coordinate_transformation_mode") != "tf_crop_and_resize":
        attrs.pop("roi", None)
        if len(inputs) > 1:
            inputs[1] = None
    return [cx.op("nn.resize", _trim(inputs), attrs)]


@converter("Upsample")
def upsample(cx: NodeContext):
    mode = cx.attr("mode", "nearest")
    mode = {"bilinear": "linear", "trilinear": "linear"}.get(mode, mode)
    attrs: dict[str, Any] = {"mode": mode, "coordinate_transformation_mode": "asymmetric",
                             "nearest_mode": "floor"}
    inputs: list = [cx.input(0), None]
    if cx.opset < 9:
        attrs["scales"] = tuple(float(s) for s in cx.attr("scales", ()))
    else:
        _float_input(cx, 1, "scales", attrs, inputs)
    return [cx.op("nn.resize", _trim(inputs), attrs)]


@converter("GridSample")
def grid_sample(cx: NodeContext):
    mode = cx.attr("mode", "linear" if cx.opset >= 20 else "bilinear")
    attrs = {"mode": {"bilinear": "linear", "bicubic": "cubic"}.get(mode, mode),
             "padding_mode": cx.attr("padding_mode", "zeros"),
             "align_corners": bool(cx.attr("align_corners", 0))}
    return [cx.op("nn.grid_sample", [cx.input(0), cx.input(1)], attrs)]


@converter("AffineGrid")
def affine_grid(cx: NodeContext):
    attrs: dict[str, Any] = {"align_corners": bool(cx.attr("align_corners", 0))}
    inputs: list = [cx.input(0)]
    _shape_input(cx, 1, "size", attrs, inputs)
    return [cx.op("nn.affine_grid", _trim(inputs), attrs)]


@converter("RoiAlign")
def roi_align(cx: NodeContext):
    attrs = {"mode": cx.attr("mode", "avg"), "output_height": cx.attr("output_height", 1),
             "output_width": cx.attr("output_width", 1),
             "sampling_ratio": cx.attr("sampling_ratio", 0),
             "spatial_scale": cx.attr("spatial_scale", 1.0),
             # RoiAlign-10 had no half-pixel offset
             "coordinate_transformation_mode": cx.attr(
                 "coordinate_transformation_mode",
                 "half_pixel" if cx.opset >= 16 else "output_half_pixel")}
    return [cx.op("nn.roi_align", cx.inputs[:3], attrs)]
