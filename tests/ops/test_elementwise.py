"""Elementwise ops (ew.*) and their ONNX converters: numbers against onnxruntime and hand
values, dtype preservation (f16, bf16, f64), broadcasting with symbolic dims, and errors."""

import math

import numpy as np
import pytest
from onnx import TensorProto, helper
from onnx_cases import BF16, assert_matches_ort, one_node, run_leptonc, run_one, run_ort

import leptonc
from leptonc.errors import ShapeError, UnsupportedOpError
from leptonc.ir import dtypes
from leptonc.ir.builder import Builder
from leptonc.ir.graph import Graph
from leptonc.ir.types import TensorType
from leptonc.ops.elementwise import erf

RNG = np.random.default_rng(0)


def rand(*shape, dtype=np.float32, scale=2.0):
    return (RNG.standard_normal(shape) * scale).astype(dtype)


def check_against_ort(op_type: str, inputs: list, attrs: dict | None = None, opset: int = 21,
                      rtol: float = 1e-5, atol: float = 1e-6, out_elems: list[int] | None = None,
                      constants: tuple = ()) -> np.ndarray:
    """One ONNX node through leptonc and onnxruntime: the same dtype, shape and values."""
    model, feed = one_node(op_type, inputs, attrs, opset, out_elems, constants=constants)
    (got,), _ = assert_matches_ort(model, feed, rtol, atol)
    return got


# ----- unary math and activations vs onnxruntime ---------------------------------------------
UNARY = ["Neg", "Abs", "Reciprocal", "Sqrt", "Exp", "Log", "Sin", "Cos", "Tan", "Atan",
         "Sinh", "Cosh", "Asinh", "Tanh", "Sigmoid", "Erf", "Softplus", "Softsign", "Mish",
         "HardSwish", "Relu", "Sign", "Ceil", "Floor", "Round"]


@pytest.mark.parametrize("op_type", UNARY)
def test_unary_matches_onnxruntime(op_type):
    x = rand(3, 4, 5)
    if op_type in ("Sqrt", "Log"):
        x = np.abs(x) + 0.1
    check_against_ort(op_type, [x], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op_type", ["Asin", "Acos", "Atanh"])
def test_inverse_trig_in_domain(op_type):
    check_against_ort(op_type, [RNG.uniform(-0.99, 0.99, (4, 6)).astype(np.float32)])


def test_acosh_in_domain():
    check_against_ort("Acosh", [RNG.uniform(1, 5, (4, 6)).astype(np.float32)])


ACTIVATIONS = [
    ("LeakyRelu", {"alpha": 0.2}), ("LeakyRelu", {}),
    ("Elu", {"alpha": 0.7}), ("Selu", {}), ("Selu", {"alpha": 2.0, "gamma": 3.0}),
    ("Celu", {"alpha": 2.0}), ("ThresholdedRelu", {"alpha": 0.5}),
    ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}), ("Shrink", {"bias": 0.5, "lambd": 1.0}),
    ("Gelu", {}), ("Gelu", {"approximate": "tanh"}), ("Swish", {"alpha": 1.5}),
]


@pytest.mark.parametrize("op_type, attrs", ACTIVATIONS)
def test_activations_match_onnxruntime(op_type, attrs):
    check_against_ort(op_type, [rand(2, 3, 7)], attrs, opset=24)


def test_shrink_on_integers_truncates_like_onnxruntime():
    x = np.array([-5, -2, -1, 0, 1, 2, 5], np.int32)
    check_against_ort("Shrink", [x], {"bias": 1.5, "lambd": 1.0})


def test_relu_on_integers():
    x = np.array([-3, 0, 4], np.int8)
    np.testing.assert_array_equal(check_against_ort("Relu", [x]), [0, 0, 4])


def test_round_halves_to_even():
    x = np.array([0.5, 1.5, 2.5, -0.5, -2.5, 2.3, -4.6], np.float32)
    np.testing.assert_array_equal(run_one("ew.round", [x]), [0, 2, 2, -0.0, -2, 2, -5])


def test_is_inf_and_is_nan():
    x = np.array([1.0, np.inf, -np.inf, np.nan, 0.0], np.float32)
    check_against_ort("IsNaN", [x], out_elems=[TensorProto.BOOL])
    for pos, neg in ((1, 1), (1, 0), (0, 1)):
        check_against_ort("IsInf", [x], {"detect_positive": pos, "detect_negative": neg},
                          out_elems=[TensorProto.BOOL])


def test_erf_accuracy_in_float64():
    x = np.concatenate([np.linspace(-7, 7, 4001), [0.0, 2.5, -2.5, 30.0]])
    want = np.array([math.erf(v) for v in x])
    np.testing.assert_allclose(erf(x), want, rtol=1e-13, atol=1e-15)
    assert np.isnan(erf(np.array([np.nan])))[0]
    np.testing.assert_array_equal(erf(np.array([np.inf, -np.inf])), [1.0, -1.0])


def test_sigmoid_does_not_overflow():
    x = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0], np.float32)
    np.testing.assert_allclose(run_one("ew.sigmoid", [x]), [0, 1.9287e-22, 0.5, 1, 1],
                               rtol=1e-4)


# ----- dtype preservation ---------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float16, BF16, np.float64])
@pytest.mark.parametrize("op", ["ew.sigmoid", "ew.erf", "ew.gelu", "ew.mish", "ew.softplus",
                                "ew.tanh", "ew.exp", "ew.hard_swish", "ew.elu", "ew.round"])
def test_narrow_and_wide_floats_keep_their_dtype(op, dtype):
    x32 = rand(4, 8)
    x = x32.astype(dtype)
    got = run_one(op, [x])
    assert got.dtype == np.dtype(dtype)
    want = run_one(op, [x.astype(np.float32)])
    tol = {np.dtype(np.float16): 2e-3, BF16: 1e-2, np.dtype(np.float64): 1e-6}[np.dtype(dtype)]
    np.testing.assert_allclose(got.astype(np.float64), want, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float16, BF16, np.float64])
def test_binary_ops_keep_float_dtype(dtype):
    a, b = rand(3, 1).astype(dtype), rand(1, 4).astype(dtype)
    for op in ("ew.add", "ew.sub", "ew.mul", "ew.div", "ew.pow", "ew.max", "ew.min"):
        assert run_one(op, [a, b]).dtype == np.dtype(dtype), op
    assert run_one("ew.less", [a, b]).dtype == np.bool_


# ----- binary arithmetic ----------------------------------------------------------------------
def test_integer_div_truncates_toward_zero():
    a = np.array([-7, 7, -7, 7, 6, -6, 0], np.int32)
    b = np.array([2, 2, -2, -2, 3, 3, 5], np.int32)
    got = check_against_ort("Div", [a, b])
    np.testing.assert_array_equal(got, [-3, 3, 3, -3, 2, -2, 0])


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.uint16])
def test_integer_div_matches_onnxruntime(dtype):
    info = np.iinfo(dtype)
    low = max(info.min, -100)
    a = RNG.integers(low, 100, (5, 6)).astype(dtype)
    b = RNG.integers(1, 9, (6,)).astype(dtype)
    if info.min < 0:
        b = (b * RNG.choice([-1, 1], 6)).astype(dtype)
    check_against_ort("Div", [a, b], opset=14)


@pytest.mark.parametrize("fmod", [0, 1])
@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.float32, np.float64])
def test_mod_matches_onnxruntime(fmod, dtype):
    a = np.array([-7, 7, -7, 7, 5, -5, 9], dtype)
    b = np.array([3, 3, -3, -3, 5, 2, -4], dtype)
    float_floor_mod = fmod == 0 and np.dtype(dtype).kind == "f"  # allowed since opset 28
    check_against_ort("Mod", [a, b], {"fmod": fmod}, opset=28 if float_floor_mod else 13)


def test_float_mod_without_fmod_takes_sign_of_divisor():
    a = np.array([-4.5, 4.5, -0.0, 3.0, -3.0, np.inf], np.float32)
    b = np.array([2.0, -2.0, 2.0, np.inf, np.inf, 2.0], np.float32)
    got = run_one("ew.mod", [a, b], {"fmod": False})
    np.testing.assert_array_equal(got, [1.5, -1.5, 0.0, 3.0, np.inf, np.nan])


@pytest.mark.parametrize("base, exponent", [
    (np.float32, np.int64), (np.int64, np.float32), (np.float32, np.int32),
    (np.int32, np.float32), (np.int64, np.int64), (np.float64, np.float32)])
def test_pow_mixed_types_match_onnxruntime(base, exponent):
    x = np.array([[1, 2, 3], [-2, 4, 5]], base)
    y = np.array([4, 3, 2], exponent)
    check_against_ort("Pow", [x, y], opset=15)


def test_integer_pow_with_negative_exponent_truncates():
    x = np.array([2, 1, -1, -1, 5], np.int32)
    y = np.array([-1, -3, -3, -2, 0], np.int32)
    np.testing.assert_array_equal(run_one("ew.pow", [x, y]), [0, 1, -1, 1, 1])


def test_prelu_slope_broadcasts_one_way():
    x, slope = rand(2, 3, 4, 5), rand(3, 1, 1)
    check_against_ort("PRelu", [x, slope])
    check_against_ort("PRelu", [x, rand(5)])
    with pytest.raises(ShapeError, match="slope"):
        run_one("ew.prelu", [rand(2, 1), rand(2, 3)])


def test_bit_shift_out_of_range_amounts_give_the_sign_fill():
    x = np.array([-8, 4, -1, 16, -128], np.int8)
    s = np.array([8, -1, 100, 2, 1], np.int8)
    np.testing.assert_array_equal(run_one("ew.shift_right", [x, s]), [-1, 0, -1, 4, -64])
    np.testing.assert_array_equal(run_one("ew.shift_left", [x, s]), [0, 0, 0, 64, 0])


def test_bit_shift_unsigned_matches_onnxruntime():
    x = np.array([16, 4, 255, 1], np.uint8)
    s = np.array([1, 2, 3, 7], np.uint8)
    for direction in ("LEFT", "RIGHT"):
        check_against_ort("BitShift", [x, s], {"direction": direction})


@pytest.mark.parametrize("op_type", ["BitwiseAnd", "BitwiseOr", "BitwiseXor"])
def test_bitwise_ops_match_onnxruntime(op_type):
    a = RNG.integers(-100, 100, (3, 4)).astype(np.int16)
    b = RNG.integers(-100, 100, (4,)).astype(np.int16)
    check_against_ort(op_type, [a, b], opset=18)
    check_against_ort("BitwiseNot", [a], opset=18)


@pytest.mark.parametrize("op_type", ["And", "Or", "Xor"])
def test_logic_ops_broadcast(op_type):
    a, b = RNG.random((2, 3, 4)) > 0.5, RNG.random((3, 1)) > 0.5
    check_against_ort(op_type, [a, b])
    check_against_ort("Not", [a])


@pytest.mark.parametrize("op_type", ["Equal", "Less", "LessOrEqual", "Greater",
                                     "GreaterOrEqual"])
def test_comparisons_return_bool(op_type):
    a = np.array([[1, 2, 3], [4, 5, 6]], np.int64)
    b = np.array([3, 2, 1], np.int64)
    got = check_against_ort(op_type, [a, b], out_elems=[TensorProto.BOOL])
    assert got.dtype == np.bool_


def test_equal_on_strings():
    a = np.array(["a", "bc", "d"], dtype=object)
    b = np.array(["a", "b", "d"], dtype=object)
    model, feed = one_node("Equal", [a, b], opset=19, out_elems=[TensorProto.BOOL])
    np.testing.assert_array_equal(run_leptonc(model, feed)[0], [True, False, True])


def test_where_broadcasts_and_keeps_branch_dtype():
    cond = np.array([[True], [False]])
    a, b = rand(2, 3).astype(np.float16), rand(3).astype(np.float16)
    got = check_against_ort("Where", [cond, a, b], out_elems=[TensorProto.FLOAT16])
    assert got.dtype == np.float16


# ----- variadic ops ---------------------------------------------------------------------------
@pytest.mark.parametrize("op_type", ["Sum", "Mean", "Max", "Min"])
def test_variadic_ops_chain_with_broadcasting(op_type):
    inputs = [rand(2, 3, 4), rand(3, 1), rand(4)]
    check_against_ort(op_type, inputs, opset=13)


@pytest.mark.parametrize("op_type", ["Sum", "Mean", "Max", "Min"])
def test_variadic_op_with_one_input_is_identity(op_type):
    x = rand(2, 3)
    model, _ = one_node(op_type, [x], opset=13)
    graph = leptonc.load_onnx(model)
    assert len(graph) == 0
    np.testing.assert_array_equal(leptonc.run(graph, {"x0": x})["y0"], x)


def test_mean_of_three_is_sum_divided_by_three():
    model, _ = one_node("Mean", [rand(3), rand(3), rand(3)], opset=13)
    assert [n.op for n in leptonc.load_onnx(model)] == ["ew.add", "ew.add", "ew.div"]


@pytest.mark.parametrize("dtype", [np.int8, np.uint32, np.float16])
def test_max_min_on_other_dtypes(dtype):
    a = np.array([1, 5, 3], dtype)
    b = np.array([4, 2, 3], dtype)
    check_against_ort("Max", [a, b], opset=13)
    check_against_ort("Min", [a, b], opset=13)


# ----- clip -----------------------------------------------------------------------------------
def test_clip_opset6_attributes():
    x = rand(3, 4)
    check_against_ort("Clip", [x], {"min": -0.5, "max": 0.7}, opset=6)
    check_against_ort("Clip", [x], {"max": 0.1}, opset=6)


def test_clip_constant_bounds_become_attributes():
    x = rand(3, 4)
    inputs = [x, np.float32(-0.5), np.float32(0.5)]
    check_against_ort("Clip", inputs, opset=13, constants=(1, 2))
    graph = leptonc.load_onnx(one_node("Clip", inputs, opset=13, constants=(1, 2))[0])
    (node,) = list(graph)
    assert node.op == "ew.clip" and len(node.inputs) == 1
    assert node.attrs == {"min": -0.5, "max": 0.5}


def test_clip_runtime_bounds_stay_inputs():
    x, lo, hi = rand(3, 4), np.array(-0.3, np.float32), np.array(0.2, np.float32)
    check_against_ort("Clip", [x, lo, hi], opset=13)
    check_against_ort("Clip", [x, None, hi], opset=13)
    (node,) = list(leptonc.load_onnx(one_node("Clip", [x, lo, hi], opset=13)[0]))
    assert node.op == "ew.clip" and len(node.inputs) == 3


def test_clip_integers_and_min_above_max():
    x = np.array([-128, -5, 0, 5, 127], np.int8)
    got = check_against_ort("Clip", [x, np.int8(-3)], opset=13, constants=(1,))
    np.testing.assert_array_equal(got, [-3, -3, 0, 5, 127])
    y = rand(6)
    got = run_one("ew.clip", [y], {"min": 1.0, "max": -1.0})
    np.testing.assert_array_equal(got, np.full(6, -1.0, np.float32))


# ----- casts ----------------------------------------------------------------------------------
CAST_TARGETS = [TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.INT8,
                TensorProto.UINT8, TensorProto.INT32, TensorProto.INT64, TensorProto.BOOL]


@pytest.mark.parametrize("to", CAST_TARGETS)
@pytest.mark.parametrize("source", [np.float32, np.int32, np.bool_])
def test_cast_matches_onnxruntime(source, to):
    x = np.array([0, 1, -3, 2.7, -2.7, 100, 0.0], np.float32)
    x = x.astype(source) if source is not np.int32 else np.trunc(x).astype(source)
    if source is np.float32 and to in (TensorProto.UINT8,):
        x = np.abs(x)  # negative floats to unsigned are undefined
    check_against_ort("Cast", [x], {"to": to}, opset=19, out_elems=[to])


def test_cast_integers_wrap():
    x = np.array([200, -200, 300, 127], np.int16)
    model, feed = one_node("Cast", [x], {"to": TensorProto.INT8}, out_elems=[TensorProto.INT8])
    np.testing.assert_array_equal(run_leptonc(model, feed)[0], [-56, 56, 44, 127])


def test_cast_to_int4_wraps_into_four_bits():
    x = np.array([-9, -8, 7, 8, 2.9, -2.9], np.float32)
    got = run_one("ew.cast", [x], {"to": dtypes.parse_dtype("i4")})
    np.testing.assert_array_equal(got, np.array([7, -8, 7, -8, 2, -2], np.int8))
    got = run_one("ew.cast", [x], {"to": dtypes.parse_dtype("u4")})
    np.testing.assert_array_equal(got, np.array([7, 8, 7, 8, 2, 14], np.uint8))


def test_cast_float_to_bfloat16_rounds_to_nearest():
    x = np.array([0.47892547, 1 / 3, np.nan, np.inf], np.float32)
    model, feed = one_node("Cast", [x], {"to": TensorProto.BFLOAT16},
                           out_elems=[TensorProto.BFLOAT16])
    (got,) = run_leptonc(model, feed)
    assert got.dtype == BF16
    np.testing.assert_array_equal(got.astype(np.float32), x.astype(BF16).astype(np.float32))


def test_cast_numbers_to_strings():
    x = np.array([0.1, 1.0, -2.5, np.nan, np.inf, -np.inf, 1e20], np.float32)
    model, feed = one_node("Cast", [x], {"to": TensorProto.STRING},
                           out_elems=[TensorProto.STRING])
    (got,) = run_leptonc(model, feed)
    assert list(got) == list(run_ort(model, feed)[0])
    assert list(run_one("ew.cast", [np.array([True, False])], {"to": dtypes.string})) == ["1", "0"]
    assert list(run_one("ew.cast", [np.array([-5, 7], np.int32)], {"to": dtypes.string})) == [
        "-5", "7"]


def test_cast_strings_to_numbers():
    s = np.array(["1.5", "-INF", "NaN", "inf", "+INF", " 3", "1e3", "-0"], dtype=object)
    model, feed = one_node("Cast", [s], {"to": TensorProto.FLOAT}, out_elems=[TensorProto.FLOAT])
    np.testing.assert_array_equal(run_leptonc(model, feed)[0], run_ort(model, feed)[0])
    ints = np.array(["12", "-3", "9223372036854775807"], dtype=object)
    got = run_one("ew.cast", [ints], {"to": dtypes.i64})
    np.testing.assert_array_equal(got, [12, -3, 2**63 - 1])


def test_cast_like_takes_the_dtype_of_its_second_input():
    x, like = rand(3), np.zeros(1, np.float16)
    model, feed = one_node("CastLike", [x, like], opset=19)
    (got,) = run_leptonc(model, feed)
    assert got.dtype == np.float16


def test_cast_saturate_to_float8_is_unsupported():
    model, _ = one_node("Cast", [rand(3)], {"to": TensorProto.FLOAT8E4M3FN, "saturate": 0},
                        opset=19, out_elems=[TensorProto.FLOAT8E4M3FN])
    with pytest.raises(UnsupportedOpError, match="FLOAT8E4M3FN"):
        leptonc.load_onnx(model)


def test_bitcast_reinterprets_bits():
    x = np.array([1.0, -2.0, 0.0], np.float32)
    np.testing.assert_array_equal(run_one("ew.bitcast", [x], {"to": dtypes.i32}), x.view(np.int32))
    np.testing.assert_array_equal(run_one("ew.bitcast", [np.array(3.5)], {"to": dtypes.i64}),
                                  np.array(3.5).view(np.int64))
    with pytest.raises(ShapeError, match="width"):
        run_one("ew.bitcast", [x], {"to": dtypes.i16})


# ----- type inference -------------------------------------------------------------------------
def _infer(op: str, types: list[TensorType], attrs: dict | None = None) -> TensorType:
    g = Graph()
    ins = [g.add_input(f"in{i}", t) for i, t in enumerate(types)]
    return Builder(g).op(op, ins, attrs or {}).type


def test_broadcasting_with_symbolic_dims():
    t = _infer("ew.add", [TensorType(dtypes.f32, ("N", 1, 4)), TensorType(dtypes.f32, (3, 1))])
    assert t == TensorType(dtypes.f32, ("N", 3, 4))
    t = _infer("ew.less", [TensorType(dtypes.f16, ("N", "T")), TensorType(dtypes.f16, ("T",))])
    assert t == TensorType(dtypes.boolean, ("N", "T"))
    t = _infer("ew.where", [TensorType(dtypes.boolean, ("N", 1)),
                            TensorType(dtypes.i64, (1, "M")), TensorType(dtypes.i64, (None, 1))])
    assert t.dtype == dtypes.i64 and t.shape[1] == "M"
    t = _infer("ew.mul", [TensorType(dtypes.f32, None), TensorType(dtypes.f32, (2,))])
    assert t.shape is None


def test_pow_result_has_the_base_dtype():
    t = _infer("ew.pow", [TensorType(dtypes.i32, ("N", 3)), TensorType(dtypes.f32, (3,))])
    assert t == TensorType(dtypes.i32, ("N", 3))


@pytest.mark.parametrize("op, types, message", [
    ("ew.add", [TensorType(dtypes.f32, (2,)), TensorType(dtypes.f16, (2,))], "dtypes differ"),
    ("ew.add", [TensorType(dtypes.f32, (2,)), TensorType(dtypes.f32, (3,))], "broadcast"),
    ("ew.sin", [TensorType(dtypes.i32, (2,))], "float"),
    ("ew.and", [TensorType(dtypes.i32, (2,)), TensorType(dtypes.i32, (2,))], "bool"),
    ("ew.where", [TensorType(dtypes.i32, (2,)), TensorType(dtypes.f32, (2,)),
                  TensorType(dtypes.f32, (2,))], "bool"),
])
def test_invalid_operands_are_shape_errors(op, types, message):
    with pytest.raises(ShapeError, match=message):
        _infer(op, types)


def test_gelu_attribute_is_checked():
    with pytest.raises(ShapeError, match="approximate"):
        _infer("ew.gelu", [TensorType(dtypes.f32, (2,))], {"approximate": "erf"})
    model, _ = one_node("Gelu", [rand(2)], {"approximate": "fast"}, opset=20)
    with pytest.raises(UnsupportedOpError, match="approximate"):
        leptonc.load_onnx(model)


def test_activation_parameters_are_float_attributes():
    model, _ = one_node("LeakyRelu", [rand(2)], {"alpha": 0.25})
    (node,) = list(leptonc.load_onnx(model))
    assert node.op == "ew.leaky_relu" and node.attrs == {"alpha": 0.25}
    model, _ = one_node("Gelu", [rand(2)], {"approximate": "tanh"}, opset=20)
    text = leptonc.print_graph(leptonc.load_onnx(model))
    assert "ew.gelu" in text and "tanh" in text


def test_symbolic_dims_survive_onnx_import():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 1])
    z = helper.make_tensor_value_info("z", TensorProto.BOOL, None)
    nodes = [helper.make_node("Add", ["x", "y"], ["s"]),
             helper.make_node("Greater", ["s", "y"], ["z"])]
    model = helper.make_model(helper.make_graph(nodes, "g", [x, y], [z]),
                              opset_imports=[helper.make_opsetid("", 17)])
    graph = leptonc.load_onnx(model)
    assert graph.outputs[0].type == TensorType(dtypes.boolean, ("batch", 3, 4))
    xs, ys = rand(2, 1, 4), rand(3, 1)
    np.testing.assert_array_equal(leptonc.run(graph, {"x": xs, "y": ys})["z"], (xs + ys) > ys)


def test_text_ir_round_trips_attributes():
    g = Graph()
    x = g.add_input("x", TensorType(dtypes.f32, ("N", 4)))
    b = Builder(g)
    y = b.op("ew.clip", [x], {"min": -math.inf, "max": 6.0})
    y = b.op("ew.gelu", [y], {"approximate": "tanh"})
    y = b.op("ew.selu", [y], {"alpha": 1.5, "gamma": 2.0})
    y = b.op("ew.is_inf", [y], {"detect_positive": False})
    g.set_outputs([b.op("ew.cast", [y], {"to": dtypes.parse_dtype("i4")})], ["y"])
    text = leptonc.print_graph(g)
    assert "ew.clip(%x) {min=-inf, max=6.0} : f32[N,4]" in text
    assert leptonc.print_graph(leptonc.parse_graph(text)) == text
