"""Neural-network ops (nn.*) with their ONNX converters: numbers against onnxruntime for
convolution (groups, depthwise, dilations, 1-D/3-D, auto_pad), transposed convolution,
pooling, normalisation, resize and sampling; run-time shape inputs; error messages."""

import numpy as np
import pytest
from onnx import TensorProto
from onnx_cases import assert_matches_ort, one_node, run_leptonc, run_ort

import leptonc
from leptonc.errors import ShapeError

RNG = np.random.default_rng(11)


def randn(*shape, dtype=np.float32) -> np.ndarray:
    return RNG.standard_normal(shape).astype(dtype)


def check(op_type: str, inputs: list, attrs: dict | None = None, rtol=1e-4, atol=1e-5,
          **kwargs) -> list[np.ndarray]:
    """One ONNX node through leptonc and onnxruntime: the same dtypes and shapes, every
    output (integers too) within the tolerances."""
    got, _ = assert_matches_ort(*one_node(op_type, inputs, attrs, **kwargs), rtol, atol,
                                exact=False)
    return got


# ----- convolution -----------------------------------------------------------------------------
@pytest.mark.parametrize("x_shape, w_shape, attrs", [
    ((2, 3, 9, 8), (4, 3, 3, 3), {"pads": [1, 1, 1, 1]}),
    ((1, 4, 10, 7), (6, 2, 3, 2), {"group": 2, "strides": [2, 1], "pads": [1, 0, 2, 1]}),
    ((2, 4, 9, 9), (8, 1, 3, 3), {"group": 4, "pads": [1, 1, 1, 1]}),  # depthwise, multiplier 2
    ((1, 6, 8, 8), (6, 1, 5, 5), {"group": 6, "strides": [2, 2], "auto_pad": "SAME_LOWER"}),
    ((1, 6, 9, 8), (6, 1, 3, 3), {"group": 6, "dilations": [1, 2], "pads": [1, 2, 0, 2]}),
    ((1, 3, 11, 12), (5, 3, 3, 3), {"dilations": [2, 3], "strides": [2, 2], "pads": [2, 1, 0, 3]}),
    ((1, 8, 7, 7), (16, 8, 1, 1), {}),
    ((1, 8, 7, 7), (16, 8, 1, 1), {"strides": [2, 2]}),
    ((2, 3, 17), (4, 3, 5), {"strides": [3], "pads": [2, 1]}),  # 1-D
    ((1, 2, 5, 6, 7), (3, 2, 3, 2, 3), {"pads": [1, 0, 1, 1, 1, 0]}),  # 3-D
    ((1, 3, 7, 9), (4, 3, 3, 3), {"auto_pad": "SAME_UPPER", "strides": [2, 2]}),
    ((1, 3, 7, 9), (4, 3, 3, 3), {"auto_pad": "VALID"}),
])
@pytest.mark.parametrize("with_bias", [False, True])
def test_conv_matches_onnxruntime(x_shape, w_shape, attrs, with_bias):
    bias = randn(w_shape[0]) if with_bias else None
    check("Conv", [randn(*x_shape), randn(*w_shape), bias], attrs, constants=(1, 2))


def test_conv_weight_as_runtime_input():
    check("Conv", [randn(1, 4, 6, 6), randn(4, 2, 3, 3)], {"group": 2, "pads": [1, 1, 1, 1]})


def test_conv_same_padding_on_dynamic_spatial_dims_is_resolved_at_run_time():
    model, _ = one_node("Conv", [randn(1, 3, 8, 8), randn(4, 3, 3, 3)],
                        {"auto_pad": "SAME_UPPER", "strides": [2, 2]}, constants=(1,),
                        shapes={0: ("N", 3, "H", "W")})
    graph = leptonc.load_onnx(model)
    conv = next(iter(graph))
    assert conv.attrs["auto_pad"] == "SAME_UPPER"
    for shape in [(1, 3, 8, 8), (2, 3, 7, 10)]:
        x = randn(*shape)
        np.testing.assert_allclose(leptonc.run(graph, {"x0": x})["y0"],
                                   run_ort(model, {"x0": x})[0], rtol=1e-4, atol=1e-5)


def test_conv_static_auto_pad_becomes_explicit_pads():
    model, _ = one_node("Conv", [randn(1, 3, 7, 7), randn(4, 3, 3, 3)],
                        {"auto_pad": "SAME_LOWER", "strides": [2, 2]}, constants=(1,))
    conv = next(iter(leptonc.load_onnx(model)))
    assert conv.attrs["pads"] == (1, 1, 1, 1) and "auto_pad" not in conv.attrs


def test_conv_f16_accumulates_in_f32():
    x, w = randn(1, 16, 6, 6, dtype=np.float16), randn(8, 16, 3, 3, dtype=np.float16)
    check("Conv", [x, w], {"pads": [1, 1, 1, 1]}, rtol=2e-3, atol=2e-3, constants=(1,))


def test_conv_channel_mismatch_names_the_node():
    model, _ = one_node("Conv", [randn(1, 3, 5, 5), randn(4, 2, 3, 3)], constants=(1,))
    with pytest.raises(ShapeError, match="input has 3 channels, weight expects 2 x 1 groups"):
        leptonc.load_onnx(model)


@pytest.mark.parametrize("x_shape, w_shape, attrs", [
    ((1, 2, 3, 3), (2, 3, 3, 3), {}),
    ((2, 2, 4, 3), (2, 3, 3, 2), {"strides": [3, 2], "output_padding": [1, 1]}),
    ((1, 2, 3, 3), (2, 2, 3, 3), {"strides": [3, 2], "output_shape": [10, 8]}),
    ((1, 2, 3, 3), (2, 2, 3, 3), {"strides": [2, 2], "pads": [1, 2, 0, 1]}),
    ((1, 4, 3, 4), (4, 3, 3, 3), {"group": 2, "dilations": [2, 1]}),
    ((1, 6, 5, 5), (6, 1, 3, 3), {"group": 6, "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ((1, 2, 3, 3), (2, 3, 3, 3), {"strides": [2, 2], "auto_pad": "SAME_UPPER"}),
    ((2, 3, 7), (3, 2, 4), {"strides": [2], "pads": [1, 0]}),  # 1-D
    ((1, 2, 3, 2, 3), (2, 2, 2, 3, 2), {"strides": [2, 1, 2]}),  # 3-D
])
def test_conv_transpose_matches_onnxruntime(x_shape, w_shape, attrs):
    bias = randn(w_shape[1] * attrs.get("group", 1))
    check("ConvTranspose", [randn(*x_shape), randn(*w_shape), bias], attrs, constants=(1, 2))


@pytest.mark.parametrize("attrs, shapes", [
    ({"auto_pad": "SAME_UPPER", "strides": [2, 2]}, [(1, 2, 4, 4), (1, 2, 3, 5)]),
    ({"output_shape": [9, 12], "strides": [2, 3], "pads": [1, 1, 1, 1]}, [(1, 2, 4, 4)]),
])
def test_conv_transpose_on_dynamic_spatial_dims_resolves_pads_at_run_time(attrs, shapes):
    w = randn(2, 3, 3, 3)
    model, _ = one_node("ConvTranspose", [randn(1, 2, 4, 4), w], attrs, constants=(1,),
                        shapes={0: (1, 2, "H", "W")})
    graph = leptonc.load_onnx(model)
    assert graph.outputs[0].type.shape[2:] in ((None, None), (9, 12))
    for shape in shapes:
        x = randn(*shape)
        np.testing.assert_allclose(leptonc.run(graph, {"x0": x})["y0"],
                                   run_ort(model, {"x0": x})[0], rtol=1e-4, atol=1e-5)


def test_col2im_inverts_overlapping_patches_like_onnxruntime():
    image, block = np.array([6, 5], np.int64), np.array([2, 3], np.int64)
    x = randn(2, 3 * 6, 3 * 4)  # strides 2 x 1, pads [0, 1, 1, 0]: 3 x 4 positions
    check("Col2Im", [x, image, block], {"strides": [2, 1], "pads": [0, 1, 1, 0]},
          constants=(1, 2))


# ----- pooling ---------------------------------------------------------------------------------
@pytest.mark.parametrize("shape, attrs", [
    ((1, 2, 7, 7), {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ((2, 3, 6, 7), {"kernel_shape": [3, 2], "strides": [2, 2], "ceil_mode": 1}),
    ((1, 1, 8, 8), {"kernel_shape": [2, 2], "dilations": [2, 2], "strides": [1, 2]}),
    ((1, 2, 9), {"kernel_shape": [4], "strides": [3], "pads": [1, 2]}),
    ((1, 1, 5, 6, 4), {"kernel_shape": [2, 3, 2], "strides": [2, 2, 1]}),
    ((1, 2, 7, 5), {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_UPPER"}),
])
def test_max_and_average_pool_match_onnxruntime(shape, attrs):
    x = randn(*shape)
    check("MaxPool", [x], attrs)
    check("AveragePool", [x], attrs)
    if "dilations" not in attrs:
        check("AveragePool", [x], {**attrs, "count_include_pad": 1})


@pytest.mark.parametrize("storage_order", [0, 1])
def test_max_pool_indices(storage_order):
    x = randn(2, 3, 6, 5)
    attrs = {"kernel_shape": [3, 2], "strides": [2, 2], "pads": [1, 0, 1, 1],
             "storage_order": storage_order}
    check("MaxPool", [x], attrs, n_outputs=2,
          out_elems=(TensorProto.FLOAT, TensorProto.INT64))


def test_max_pool_integers():
    x = RNG.integers(0, 255, (1, 2, 6, 6)).astype(np.uint8)
    check("MaxPool", [x], {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]})


@pytest.mark.parametrize("p", [1, 2, 3])
def test_lp_pool_and_global_pools(p):
    x = randn(2, 3, 7, 6)
    check("LpPool", [x], {"kernel_shape": [3, 2], "strides": [2, 2], "pads": [1, 0, 1, 1], "p": p})
    check("GlobalLpPool", [x], {"p": p})
    check("GlobalAveragePool", [x])
    check("GlobalMaxPool", [x])


def test_max_unpool_restores_pooled_values():
    x = randn(1, 2, 4, 4)
    pooled, indices = leptonc.run(leptonc.load_onnx(one_node(
        "MaxPool", [x], {"kernel_shape": [2, 2], "strides": [2, 2]}, n_outputs=2,
        out_elems=(TensorProto.FLOAT, TensorProto.INT64))[0]), {"x0": x}).values()
    check("MaxUnpool", [pooled, indices], {"kernel_shape": [2, 2], "strides": [2, 2]})


# ----- normalisation ---------------------------------------------------------------------------
@pytest.mark.parametrize("opset", [7, 9, 15])
def test_batch_norm_inference(opset):
    c = 4
    params = [randn(c), randn(c), randn(c), np.abs(randn(c)) + 0.1]
    check("BatchNormalization", [randn(2, c, 5, 3), *params], {"epsilon": 1e-3}, opset=opset,
          constants=(1, 2, 3, 4))


def test_batch_norm_training_mode_updates_running_statistics():
    c = 3
    inputs = [randn(4, c, 5), randn(c), randn(c), randn(c), np.abs(randn(c)) + 0.5]
    check("BatchNormalization", inputs, {"training_mode": 1, "momentum": 0.8}, opset=15,
          n_outputs=3)


def test_instance_norm():
    check("InstanceNormalization", [randn(2, 3, 4, 5), randn(3), randn(3)], {"epsilon": 1e-3})


@pytest.mark.parametrize("axis", [-1, 1, 2])
def test_layer_norm_with_statistics(axis):
    x = randn(2, 3, 4, 5)
    norm_shape = x.shape[axis:]
    check("LayerNormalization", [x, randn(*norm_shape), randn(*norm_shape)], {"axis": axis},
          opset=17, n_outputs=3)


def test_layer_norm_f16_computes_in_f32():
    x = randn(3, 8, dtype=np.float16) * 4
    got = check("LayerNormalization", [x, randn(8, dtype=np.float16)], opset=17,
                rtol=2e-3, atol=2e-3)
    assert got[0].dtype == np.float16


@pytest.mark.parametrize("opset, per", [(18, "group"), (21, "channel")])
def test_group_norm_both_parameter_layouts(opset, per):
    c, g = 6, 3
    n = g if per == "group" else c
    x, scale, bias = randn(2, c, 4, 3), randn(n), randn(n)
    got = run_leptonc(*one_node("GroupNormalization", [x, scale, bias],
                                {"num_groups": g, "epsilon": 1e-4}, opset=opset))
    # reference: standardise per group, then the parameter of the channel (or its group)
    xs = x.reshape(2, g, -1).astype(np.float64)
    y = ((xs - xs.mean(-1, keepdims=True)) / np.sqrt(xs.var(-1, keepdims=True) + 1e-4))
    if per == "group":
        scale, bias = np.repeat(scale, c // g), np.repeat(bias, c // g)
    want = y.reshape(x.shape) * scale[:, None, None] + bias[:, None, None]
    np.testing.assert_allclose(got[0], want, rtol=1e-4, atol=1e-5)


def test_rms_norm():
    x, scale = randn(2, 3, 8), randn(3, 8)
    got = run_leptonc(*one_node("RMSNormalization", [x, scale], {"axis": 1, "epsilon": 1e-3},
                                opset=23))
    x64 = x.astype(np.float64)
    rms = np.sqrt(np.mean(x64 * x64, axis=(1, 2), keepdims=True) + 1e-3)
    np.testing.assert_allclose(got[0], x64 / rms * scale, rtol=1e-5, atol=1e-6)


def test_lrn_lp_normalization_and_mvn():
    x = randn(2, 6, 4, 3)
    check("LRN", [x], {"size": 3, "alpha": 2e-3, "beta": 0.6, "bias": 1.5}, opset=13)
    check("LRN", [x], {"size": 5})
    check("LpNormalization", [x], {"axis": 1, "p": 1})
    check("LpNormalization", [x], {"axis": -1, "p": 2})
    check("MeanVarianceNormalization", [x], {"axes": [0, 2, 3]}, opset=13)


# ----- dropout ---------------------------------------------------------------------------------
def test_inference_dropout_is_identity_with_an_all_true_mask():
    x = randn(3, 4)
    model, feed = one_node("Dropout", [x, np.array(0.3, np.float32)], n_outputs=2, opset=13,
                           out_elems=(TensorProto.FLOAT, TensorProto.BOOL))
    graph = leptonc.load_onnx(model)
    assert not list(graph)  # no node: y is x and the mask a constant
    y, mask = leptonc.run(graph, feed).values()
    np.testing.assert_array_equal(y, x)
    assert mask.dtype == bool and mask.all()


def test_training_dropout_is_seeded_and_scales_what_it_keeps():
    x = randn(50, 40)
    model, feed = one_node("Dropout", [x, np.array(0.25, np.float32), np.array(True)],
                           {"seed": 3}, n_outputs=2, opset=13,
                           out_elems=(TensorProto.FLOAT, TensorProto.BOOL))
    graph = leptonc.load_onnx(model)
    y, mask = leptonc.run(graph, feed).values()
    again, _ = leptonc.run(graph, feed).values()
    np.testing.assert_array_equal(y, again)
    np.testing.assert_allclose(y[mask], x[mask] / 0.75, rtol=1e-6)
    assert np.all(y[~mask] == 0) and 0.65 < mask.mean() < 0.85


# ----- resize ----------------------------------------------------------------------------------
@pytest.mark.parametrize("coord", ["half_pixel", "pytorch_half_pixel", "align_corners",
                                   "asymmetric", "tf_half_pixel_for_nn"])
@pytest.mark.parametrize("nearest_mode", ["round_prefer_floor", "round_prefer_ceil", "floor",
                                          "ceil"])
def test_resize_nearest_modes(coord, nearest_mode):
    x = randn(1, 2, 5, 7)
    sizes = np.array([1, 2, 9, 4], np.int64)
    check("Resize", [x, None, None, sizes],
          {"mode": "nearest", "coordinate_transformation_mode": coord,
           "nearest_mode": nearest_mode}, opset=13, constants=(3,))


@pytest.mark.parametrize("mode", ["linear", "cubic"])
@pytest.mark.parametrize("coord", ["half_pixel", "pytorch_half_pixel", "asymmetric",
                                   "half_pixel_symmetric"])
@pytest.mark.parametrize("sizes", [(1, 2, 11, 6), (1, 2, 3, 14)])
def test_resize_linear_and_cubic(mode, coord, sizes):
    x = randn(1, 2, 6, 7)
    check("Resize", [x, None, None, np.array(sizes, np.int64)],
          {"mode": mode, "coordinate_transformation_mode": coord}, opset=19, constants=(3,))


@pytest.mark.parametrize("mode", ["linear", "cubic"])
def test_resize_antialias_and_exclude_outside(mode):
    x = randn(2, 3, 12, 10)
    scales = np.array([1, 1, 0.4, 0.7], np.float32)
    check("Resize", [x, None, scales], {"mode": mode, "antialias": 1}, opset=18)
    if mode == "cubic":  # onnxruntime takes exclude_outside only for cubic (or antialias)
        check("Resize", [x, None, scales], {"mode": mode, "exclude_outside": 1,
                                            "cubic_coeff_a": -0.5}, opset=18)
    check("Resize", [x, None, scales], {"mode": mode, "exclude_outside": 1, "antialias": 1},
          opset=18)


def test_resize_tf_crop_and_resize_extrapolates():
    x = randn(1, 1, 6, 6)
    roi = np.array([0.2, -0.3, 0.9, 1.2], np.float32)
    check("Resize", [x, roi, None, np.array([5, 4], np.int64)],
          {"mode": "linear", "coordinate_transformation_mode": "tf_crop_and_resize",
           "axes": [2, 3], "extrapolation_value": 7.0}, opset=18)


def test_resize_keep_aspect_ratio_and_axes():
    x = randn(1, 2, 4, 6)
    for policy in ("not_larger", "not_smaller"):
        check("Resize", [x, None, None, np.array([9, 7], np.int64)],
              {"mode": "nearest", "axes": [3, 2], "keep_aspect_ratio_policy": policy}, opset=18)


def test_resize_constant_scales_give_a_static_shape_runtime_ones_do_not():
    x = randn(1, 1, 3, 4)
    scales = np.array([1, 1, 2, 1.5], np.float32)
    static, _ = one_node("Resize", [x, None, scales], {"mode": "linear"}, opset=13,
                         constants=(2,))
    dynamic, feed = one_node("Resize", [x, None, scales], {"mode": "linear"}, opset=13)
    assert leptonc.load_onnx(static).outputs[0].type.shape == (1, 1, 6, 6)
    assert leptonc.load_onnx(dynamic).outputs[0].type.shape == (None, None, None, None)
    got, want = run_leptonc(dynamic, feed), run_ort(dynamic, feed)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-6)


def test_resize_integer_input_rounds():
    x = RNG.integers(0, 255, (1, 1, 4, 5)).astype(np.uint8)
    check("Resize", [x, None, np.array([1, 1, 1.5, 1.7], np.float32)], {"mode": "linear"},
          opset=13, atol=1)


@pytest.mark.parametrize("opset, mode", [(9, "nearest"), (9, "linear"), (10, "nearest")])
def test_upsample_and_resize_10(opset, mode):
    x = randn(1, 2, 3, 4)
    scales = np.array([1, 1, 2, 3], np.float32)
    op = "Upsample" if opset == 9 else "Resize"
    check(op, [x, scales], {"mode": mode}, opset=opset, constants=(1,))


# ----- sampling --------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align_corners", [0, 1])
def test_grid_sample(mode, padding_mode, align_corners):
    x, grid = randn(2, 3, 5, 6), RNG.uniform(-1.3, 1.3, (2, 4, 7, 2)).astype(np.float32)
    check("GridSample", [x, grid], {"mode": mode, "padding_mode": padding_mode,
                                    "align_corners": align_corners}, opset=20, atol=1e-4)


@pytest.mark.parametrize("align_corners", [0, 1])
def test_affine_grid_feeds_grid_sample(align_corners):
    theta = randn(2, 2, 3) * 0.5
    check("AffineGrid", [theta, np.array([2, 3, 4, 5], np.int64)],
          {"align_corners": align_corners}, opset=20, constants=(1,))


def test_roi_align_both_modes():
    x = randn(2, 3, 10, 12)
    rois = np.array([[1.0, 1.5, 8.0, 7.0], [0.0, 0.0, 11.0, 9.0], [3.3, 2.2, 4.4, 6.6]],
                    np.float32)
    batch = np.array([0, 1, 1], np.int64)
    for mode in ("avg", "max"):
        check("RoiAlign", [x, rois, batch], {"mode": mode, "output_height": 3,
                                             "output_width": 4, "sampling_ratio": 0,
                                             "spatial_scale": 0.9}, opset=16)


def test_deform_conv_with_zero_offsets_is_a_conv():
    x, w, b = randn(1, 4, 6, 6), randn(6, 2, 3, 3), randn(6)
    offsets = np.zeros((1, 2 * 9 * 2, 4, 4), np.float32)
    got = run_leptonc(*one_node("DeformConv", [x, w, offsets, b],
                                {"group": 2, "offset_group": 2}, opset=19))
    want = run_leptonc(*one_node("Conv", [x, w, b], {"group": 2}))
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-5)


def test_upsample_7_takes_scales_as_an_attribute():
    check("Upsample", [randn(1, 2, 3, 4)], {"mode": "nearest", "scales": [1.0, 1.0, 2.0, 3.0]},
          opset=7)


def test_batch_norm_7_per_activation_parameters():
    c = 3
    shape = (c, 4, 2)  # spatial=0: one parameter per channel and position
    params = [randn(*shape), randn(*shape), randn(*shape), np.abs(randn(*shape)) + 0.1]
    check("BatchNormalization", [randn(2, c, 4, 2), *params], {"spatial": 0}, opset=7,
          constants=(1, 2, 3, 4))


def test_inference_keeps_symbolic_and_unknown_dims():
    from leptonc.ir import dtypes
    from leptonc.ir.builder import Builder
    from leptonc.ir.graph import Graph
    from leptonc.ir.types import TensorType

    g = Graph()
    b = Builder(g)
    x = g.add_input("x", TensorType(dtypes.f32, ("N", 3, "H", 9)))
    w = b.const(np.ones((4, 3, 3, 3), np.float32), "w")
    assert b.op("nn.conv", [x, w], {"pads": (1, 1, 1, 1), "strides": (2, 2)}).type.shape == (
        "N", 4, None, 5)
    assert b.op("nn.avg_pool", [x], {"kernel_shape": (3, 3), "strides": (2, 2),
                                     "ceil_mode": True}).type.shape == ("N", 3, None, 4)
    assert b.op("nn.resize", [x], {"mode": "linear", "scales": (1.0, 1.0, 2.0, 2.5)}
                ).type.shape == ("N", 3, None, 22)
    unknown = g.add_input("u", TensorType(dtypes.f32, None))
    assert b.op("nn.conv", [unknown, w]).type.shape == (None, 4, None, None)
    assert b.op("nn.max_pool", [unknown], {"kernel_shape": (2, 2)}).type.shape is None


NARROW_CASES = [
    ("nn.conv", [(1, 2, 5, 5), (3, 2, 3, 3)], {"pads": (1, 1, 1, 1)}),
    ("nn.conv_transpose", [(1, 2, 3, 3), (2, 3, 3, 3)], {"strides": (2, 2)}),
    ("nn.avg_pool", [(1, 2, 5, 5)], {"kernel_shape": (3, 3), "ceil_mode": True, "strides": (2, 2)}),
    ("nn.max_pool", [(1, 2, 5, 5)], {"kernel_shape": (2, 2), "with_indices": True}),
    ("nn.lp_pool", [(1, 2, 5, 5)], {"kernel_shape": (2, 2), "p": 3.0}),
    ("nn.global_avg_pool", [(1, 2, 5, 5)], {}),
    ("nn.batch_norm", [(2, 3, 4), (3,), (3,), (3,), (3,)], {}),
    ("nn.instance_norm", [(2, 3, 4), (3,), (3,)], {}),
    ("nn.layer_norm", [(2, 3, 4), (4,), (4,)], {"with_stats": True}),
    ("nn.group_norm", [(2, 4, 3), (4,), (4,)], {"num_groups": 2}),
    ("nn.rms_norm", [(2, 3, 4), (4,)], {}),
    ("nn.lrn", [(1, 4, 3, 3)], {"size": 3}),
    ("nn.resize", [(1, 1, 3, 4)], {"mode": "cubic", "scales": (1.0, 1.0, 2.0, 1.5)}),
    ("nn.grid_sample", [(1, 2, 4, 4), (1, 3, 3, 2)], {}),
]


@pytest.mark.parametrize("dtype", ["f16", "bf16", "f64"])
@pytest.mark.parametrize("op, shapes, attrs", NARROW_CASES, ids=[c[0] for c in NARROW_CASES])
def test_kernels_keep_the_input_dtype(op, shapes, attrs, dtype):
    from leptonc.ir import dtypes
    from leptonc.ir.builder import Builder
    from leptonc.ir.graph import Graph
    from leptonc.ir.types import TensorType

    t = dtypes.parse_dtype(dtype)
    g = Graph()
    inputs = [g.add_input(f"i{k}", TensorType(t, s)) for k, s in enumerate(shapes)]
    out = Builder(g).op(op, inputs, attrs)
    outs = list(out) if isinstance(out, tuple) else [out]
    g.set_outputs(outs, [f"o{k}" for k in range(len(outs))])
    feed = {v.name: (np.abs(randn(*v.type.shape)) + 0.1).astype(t.numpy) for v in inputs}
    results = leptonc.run(g, feed)  # the interpreter checks every result's dtype and shape
    assert results["o0"].dtype == t.numpy and np.all(np.isfinite(
        results["o0"].astype(np.float64)))
