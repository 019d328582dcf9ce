"""Quantization ops (quant.*) and their ONNX converters: QuantizeLinear / DequantizeLinear
(per-tensor, per-axis, blocked; 4/8/16-bit), DynamicQuantizeLinear, QLinearMatMul,
QLinearConv and ConvInteger, against onnxruntime and hand-computed values."""

import numpy as np
import pytest
from onnx import TensorProto, numpy_helper
from onnx_cases import assert_matches_ort, elem_type, one_node, run_one

import leptonc
from leptonc.errors import ShapeError
from leptonc.ir import dtypes
from leptonc.ir.builder import Builder
from leptonc.ir.graph import Graph
from leptonc.ir.types import TensorType

RNG = np.random.default_rng(11)
I4, U4 = dtypes.parse_dtype("i4"), dtypes.parse_dtype("u4")


def check(op_type: str, inputs: list, attrs: dict | None = None, opset: int = 21,
          out_elems: list[int] | None = None, constants: tuple = (), atol: float = 0.0
          ) -> list[np.ndarray]:
    """Compare with onnxruntime: integers exactly, floats within ``atol``."""
    model, feed = one_node(op_type, inputs, attrs, opset, out_elems or [TensorProto.UINT8],
                           constants=constants)
    got, _ = assert_matches_ort(model, feed, rtol=0, atol=atol, exact=False)
    return got


def typed(a: np.ndarray, dtype=None) -> TensorType:
    return TensorType(dtype or dtypes.from_numpy(a.dtype), a.shape)


def quantized(dtype, *shape) -> np.ndarray:
    info = np.iinfo(dtype)
    return RNG.integers(info.min, info.max + 1, shape).astype(dtype)


# ----- QuantizeLinear -------------------------------------------------------------------------
@pytest.mark.parametrize("opset", [10, 13, 19, 21])
@pytest.mark.parametrize("zp_dtype", [np.uint8, np.int8])
def test_quantize_per_tensor_matches_onnxruntime(opset, zp_dtype):
    x = RNG.uniform(-40, 40, (3, 8)).astype(np.float32)
    scale, zp = np.float32(0.3), np.array(3, zp_dtype)
    check("QuantizeLinear", [x, scale, zp], {}, opset, [elem_type(np.dtype(zp_dtype))])


def test_quantize_without_zero_point_defaults_to_uint8():
    x = RNG.uniform(-5, 50, (10,)).astype(np.float32)
    check("QuantizeLinear", [x, np.float32(0.2)], {}, 13)


@pytest.mark.parametrize("axis", [1, -1, 0])
def test_quantize_per_axis_matches_onnxruntime(axis):
    x = RNG.uniform(-10, 10, (3, 4, 5)).astype(np.float32)
    n = x.shape[axis]
    scale = RNG.uniform(0.05, 0.2, n).astype(np.float32)
    zp = RNG.integers(-10, 10, n).astype(np.int8)
    check("QuantizeLinear", [x, scale, zp], {"axis": axis}, 13, [TensorProto.INT8],
          constants=(1, 2))


@pytest.mark.parametrize("zp_dtype", [np.uint16, np.int16])
def test_quantize_to_16_bits_matches_onnxruntime(zp_dtype):
    x = RNG.uniform(-3000, 3000, (20,)).astype(np.float32)
    check("QuantizeLinear", [x, np.float32(0.07), np.array(100, zp_dtype)], {}, 21,
          [elem_type(np.dtype(zp_dtype))])


def test_quantize_f16_input_and_scale_matches_onnxruntime():
    x = RNG.uniform(-20, 20, (4, 6)).astype(np.float16)
    check("QuantizeLinear", [x, np.float16(0.25), np.array(-2, np.int8)], {}, 19,
          [TensorProto.INT8])


def test_quantize_blocked_matches_onnxruntime():
    x = RNG.uniform(-10, 10, (3, 7)).astype(np.float32)
    scale = RNG.uniform(0.05, 0.2, (3, 3)).astype(np.float32)  # blocks of 3 along axis 1
    zp = RNG.integers(0, 20, (3, 3)).astype(np.uint8)
    check("QuantizeLinear", [x, scale, zp], {"axis": 1, "block_size": 3}, 21, constants=(1, 2))


def test_quantize_rounds_half_to_even_and_saturates():
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, 300.0, -300.0, 126.5], np.float32)
    got = run_one("quant.quantize", [x, np.float32(1.0)], {"dtype": dtypes.i8},
                  [typed(x), TensorType(dtypes.f32, ())])
    assert got.dtype == np.int8
    assert got.tolist() == [0, 2, 2, 0, -2, 127, -128, 126]


@pytest.mark.parametrize("storage, want", [(I4, [-8, -2, 0, 2, 7]), (U4, [0, 0, 0, 2, 15])])
def test_quantize_to_4_bits_saturates_to_the_4_bit_range(storage, want):
    x = np.array([-100.0, -2.4, 0.2, 2.5, 100.0], np.float32)
    got = run_one("quant.quantize", [x, np.float32(1.0)], {"dtype": storage},
                  [typed(x), TensorType(dtypes.f32, ())])
    assert got.dtype == storage.numpy and got.tolist() == want


def test_quantize_to_2_bits():
    x = np.array([-5.0, -1.0, 0.4, 0.6, 5.0], np.float32)
    got = run_one("quant.quantize", [x, np.float32(1.0)], {"dtype": dtypes.parse_dtype("i2")},
                  [typed(x), TensorType(dtypes.f32, ())])
    assert got.tolist() == [-2, -1, 0, 1, 1]


def test_quantize_output_dtype_attribute_without_zero_point():
    x = np.array([-3.0, 3.0], np.float32)
    model, feed = one_node("QuantizeLinear", [x, np.float32(1.0)],
                           {"output_dtype": TensorProto.INT8}, 21, [TensorProto.INT8])
    got = leptonc.run(leptonc.load_onnx(model), feed)["y0"]
    assert got.dtype == np.int8 and got.tolist() == [-3, 3]


def test_quantize_int4_zero_point_from_onnx():
    x = np.array([-9.0, 0.0, 4.0, 20.0], np.float32)
    zp = numpy_helper.from_array(np.array(1, np.int8), "x2")
    zp.data_type = TensorProto.INT4
    zp.ClearField("raw_data")
    zp.int32_data.append(1)
    model, feed = one_node("QuantizeLinear", [x, np.float32(2.0)], {}, 21, [TensorProto.INT4])
    model.graph.initializer.append(zp)
    model.graph.node[0].input.append("x2")
    graph = leptonc.load_onnx(model)
    assert graph.outputs[0].type.dtype == I4
    assert leptonc.run(graph, feed)["y0"].tolist() == [-3, 1, 3, 7]


def test_quantize_precision_attribute_divides_in_that_type():
    # f16 has a spacing of 2 above 2048: 2050.9 divides to 2050 there, to 2050.9 in f32
    x = np.array([2050.9], np.float32)
    types = [typed(x), TensorType(dtypes.f32, ())]
    wide = run_one("quant.quantize", [x, np.float32(1.0)], {"dtype": dtypes.i16}, types)
    narrow = run_one("quant.quantize", [x, np.float32(1.0)],
                     {"dtype": dtypes.i16, "precision": dtypes.f16}, types)
    assert wide.tolist() == [2051] and narrow.tolist() == [2050]


def test_quantize_per_axis_scale_of_the_wrong_length_is_a_shape_error():
    g = Graph()
    x = g.add_input("x", TensorType(dtypes.f32, (2, 3)))
    s = g.add_input("s", TensorType(dtypes.f32, (4,)))
    with pytest.raises(ShapeError, match="entries for axis"):
        Builder(g).op("quant.quantize", [x, s], {"dtype": dtypes.u8, "axis": 1})


def test_blocked_scale_of_the_wrong_shape_is_a_shape_error():
    g = Graph()
    x = g.add_input("x", TensorType(dtypes.f32, (2, 8)))
    s = g.add_input("s", TensorType(dtypes.f32, (2, 3)))
    with pytest.raises(ShapeError, match="expected 2"):
        Builder(g).op("quant.quantize", [x, s], {"dtype": dtypes.u8, "axis": 1, "block_size": 4})


def test_qdq_text_round_trip():
    g = Graph()
    x = g.add_input("x", TensorType(dtypes.f32, ("N", 8)))
    scale = g.add_constant(np.full((8,), 0.1, np.float32), "scale")
    zp = g.add_constant(np.zeros((8,), np.int8), "zp")
    b = Builder(g)
    q = b.op("quant.quantize", [x, scale, zp], {"dtype": dtypes.i8, "axis": 1,
                                                "precision": dtypes.f32})
    g.set_outputs([b.op("quant.dequantize", [q, scale, zp], {"dtype": dtypes.f32, "axis": -1})])
    leptonc.verify(g)
    text = leptonc.print_graph(g)
    assert "quant.quantize(%x, %scale, %zp) {dtype=i8, axis=1, precision=f32} : i8[N,8]" in text
    assert leptonc.print_graph(leptonc.parse_graph(text)) == text


# ----- DequantizeLinear -----------------------------------------------------------------------
@pytest.mark.parametrize("opset", [10, 13, 21])
@pytest.mark.parametrize("q_dtype", [np.uint8, np.int8])
def test_dequantize_per_tensor_matches_onnxruntime(opset, q_dtype):
    q = quantized(q_dtype, 4, 5)
    check("DequantizeLinear", [q, np.float32(0.125), np.array(7, q_dtype)], {}, opset,
          [TensorProto.FLOAT], atol=1e-6)


def test_dequantize_per_axis_and_blocked_match_onnxruntime():
    q = quantized(np.int8, 2, 6, 3)
    scale = RNG.uniform(0.01, 0.1, 6).astype(np.float32)
    check("DequantizeLinear", [q, scale, quantized(np.int8, 6)], {"axis": 1}, 13,
          [TensorProto.FLOAT], constants=(1, 2), atol=1e-6)
    scale = RNG.uniform(0.01, 0.1, (2, 3, 3)).astype(np.float32)
    check("DequantizeLinear", [q, scale, quantized(np.int8, 2, 3, 3)],
          {"axis": 1, "block_size": 2}, 21, [TensorProto.FLOAT], constants=(1, 2), atol=1e-6)


def test_dequantize_int32_and_16_bit_inputs_match_onnxruntime():
    check("DequantizeLinear", [quantized(np.int32, 8), np.float32(0.001)], {}, 13,
          [TensorProto.FLOAT], atol=1e-3)
    check("DequantizeLinear", [quantized(np.uint16, 8), np.float32(0.01), np.array(30000, np.uint16)],
          {}, 21, [TensorProto.FLOAT], atol=1e-5)


def test_dequantize_f16_scale_gives_f16():
    check("DequantizeLinear", [quantized(np.uint8, 6), np.float16(0.5), np.array(128, np.uint8)],
          {}, 19, [TensorProto.FLOAT16])


def test_dequantize_output_dtype_attribute():
    q = np.array([1, 2], np.uint8)
    model, feed = one_node("DequantizeLinear", [q, np.float32(0.5)],
                           {"output_dtype": TensorProto.FLOAT16}, 23, [TensorProto.FLOAT16])
    got = leptonc.run(leptonc.load_onnx(model), feed)["y0"]
    assert got.dtype == np.float16 and got.tolist() == [0.5, 1.0]


def test_dequantize_i4():
    q = np.array([-8, -1, 0, 7], np.int8)
    zp = np.array(-1, np.int8)
    got = run_one("quant.dequantize", [q, np.float32(0.5), zp], {"dtype": dtypes.f32},
                  [typed(q, I4), TensorType(dtypes.f32, ()), typed(zp, I4)])
    assert got.tolist() == [-3.5, 0.0, 0.5, 4.0]


def test_quantize_dequantize_round_trip_is_within_half_a_step():
    x = RNG.uniform(-1, 1, (50,)).astype(np.float32)
    scale, zp = np.float32(2 / 255), np.array(0, np.int8)
    types = [typed(x), TensorType(dtypes.f32, ()), typed(zp)]
    q = run_one("quant.quantize", [x, scale, zp], {"dtype": dtypes.i8}, types)
    back = run_one("quant.dequantize", [q, scale, zp], {"dtype": dtypes.f32},
                   [typed(q)] + types[1:])
    assert np.max(np.abs(back - x)) <= scale / 2 + 1e-7


# ----- DynamicQuantizeLinear ------------------------------------------------------------------
@pytest.mark.parametrize("x", [
    np.array([0.0, 2.0, -3.0, -2.5, 1.34, 0.5], np.float32),
    np.array([-1.0, -2.1, -1.3, -2.5, -3.34, -4.0], np.float32),
    np.array([1.0, 2.1, 1.3, 2.5, 3.34, 4.0, 1.5, 2.6, 3.9, 4.0, 3.0, 2.345], np.float32),
    RNG.standard_normal((4, 5)).astype(np.float32),
    np.zeros((3,), np.float32),
])
def test_dynamic_quantize_matches_onnxruntime(x):
    check("DynamicQuantizeLinear", [x], {}, 11,
          [TensorProto.UINT8, TensorProto.FLOAT, TensorProto.UINT8])


# ----- QLinearMatMul --------------------------------------------------------------------------
@pytest.mark.parametrize("q_dtype", [np.uint8, np.int8])
@pytest.mark.parametrize("a_shape, b_shape", [((3, 4), (4, 5)), ((2, 3, 4), (4, 2))])
def test_qlinear_matmul_matches_onnxruntime(q_dtype, a_shape, b_shape):
    a, b = quantized(q_dtype, *a_shape), quantized(q_dtype, *b_shape)
    inputs = [a, np.float32(0.02), np.array(3, q_dtype), b, np.float32(0.03),
              np.array(-1 if q_dtype == np.int8 else 130, q_dtype), np.float32(0.9),
              np.array(5, q_dtype)]
    check("QLinearMatMul", inputs, {}, 10, [elem_type(np.dtype(q_dtype))])


def test_qlinear_matmul_per_column_scales_by_hand():
    a = np.array([[10, 20]], np.uint8)
    b = np.array([[1, 2], [3, 4]], np.uint8)
    b_scale = np.array([1.0, 0.5], np.float32)
    b_zp = np.array([1, 0], np.uint8)
    ins = [a, np.float32(0.1), np.array(0, np.uint8), b, b_scale, b_zp, np.float32(0.5),
           np.array(2, np.uint8)]
    got = run_one("quant.qlinear_matmul", ins, {}, [typed(v) for v in ins])
    # acc = [10*0 + 20*2, 10*2 + 20*4] = [40, 100]; * [0.1*1/0.5, 0.1*0.5/0.5] = [8, 10]; + 2
    assert got.tolist() == [[10, 12]]


# ----- ConvInteger / QLinearConv --------------------------------------------------------------
CONV_ATTRS = [{}, {"pads": [1, 1, 1, 1]}, {"strides": [2, 2], "pads": [0, 1, 0, 1]},
              {"dilations": [2, 1]}, {"auto_pad": "SAME_UPPER"}, {"group": 2}]


@pytest.mark.parametrize("attrs", CONV_ATTRS)
def test_conv_integer_matches_onnxruntime(attrs):
    x = quantized(np.uint8, 1, 4, 6, 5)
    w = quantized(np.uint8, 6, 4 // attrs.get("group", 1), 3, 3)
    got = check("ConvInteger", [x, w, np.array(120, np.uint8), np.array(128, np.uint8)], attrs, 10,
                [TensorProto.INT32], constants=(1, 2, 3))
    assert got[0].dtype == np.int32


def test_conv_integer_per_channel_weight_zero_point_by_hand():
    x = np.ones((1, 1, 2, 2), np.uint8) * 3
    w = np.stack([np.full((1, 1, 1), 5), np.full((1, 1, 1), 9)]).astype(np.uint8)
    w_zp = np.array([4, 10], np.uint8)
    ins = [x, w, np.array(1, np.uint8), w_zp]
    got = run_one("quant.conv_integer", ins, {}, [typed(v) for v in ins])
    # (3 - 1) * (5 - 4) = 2 and (3 - 1) * (9 - 10) = -2 at every position
    assert got.tolist() == [[[[2, 2], [2, 2]], [[-2, -2], [-2, -2]]]]


@pytest.mark.parametrize("attrs", CONV_ATTRS)
@pytest.mark.parametrize("q_dtype", [np.uint8, np.int8])
def test_qlinear_conv_matches_onnxruntime(attrs, q_dtype):
    x = quantized(q_dtype, 1, 4, 6, 5)
    w = quantized(np.int8 if q_dtype == np.int8 else np.uint8, 6, 4 // attrs.get("group", 1), 3, 3)
    w_scale = RNG.uniform(0.001, 0.01, 6).astype(np.float32)  # per output channel
    w_zp = np.zeros(6, w.dtype)
    bias = RNG.integers(-500, 500, 6).astype(np.int32)
    inputs = [x, np.float32(0.05), np.array(2, q_dtype), w, w_scale, w_zp, np.float32(0.08),
              np.array(-3 if q_dtype == np.int8 else 100, q_dtype), bias]
    check("QLinearConv", inputs, attrs, 10, [elem_type(np.dtype(q_dtype))], constants=(3, 4, 5, 8))


def test_qlinear_conv_shape_with_symbolic_batch():
    g = Graph()
    x = g.add_input("x", TensorType(dtypes.u8, ("N", 2, 8, 8)))
    params = [g.add_input(n, TensorType(t, ())) for n, t in (
        ("xs", dtypes.f32), ("xz", dtypes.u8))]
    w = g.add_input("w", TensorType(dtypes.u8, (4, 2, 3, 3)))
    rest = [g.add_input(n, TensorType(t, ())) for n, t in (
        ("ws", dtypes.f32), ("wz", dtypes.u8), ("ys", dtypes.f32), ("yz", dtypes.u8))]
    y = Builder(g).op("quant.qlinear_conv", [x, *params, w, *rest], {"strides": (2, 2)})
    assert y.type == TensorType(dtypes.u8, ("N", 4, 3, 3))
