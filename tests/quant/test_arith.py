"""The integer arithmetic contract (leptonc.quant.arith) and the integer quant.* ops built on
it: hand-computed golden cases (ties, negatives, saturation, extreme shifts) and seeded
property tests that every integer op equals its real-valued definition within half an output
step plus the documented multiplier rounding."""

import math

import numpy as np
import pytest

from leptonc.errors import ShapeError, UsageError
from leptonc.interp import run as interpret
from leptonc.ir import dtypes
from leptonc.ir.builder import Builder
from leptonc.ir.graph import Graph
from leptonc.ir.types import TensorType
from leptonc.quant.arith import quantize_multiplier, quantize_multipliers, real_multiplier, requantize

I8, U8, I32 = dtypes.i8, dtypes.u8, dtypes.i32
I4 = dtypes.parse_dtype("i4")
HALF = 1 << 30  # the multiplier of a power-of-two real multiplier


def run_int(op: str, arrays: list[np.ndarray], attrs: dict, types: list | None = None) -> np.ndarray:
    """One integer op on graph inputs through the interpreter (so type inference runs too)."""
    g = Graph("op")
    types = types or [None] * len(arrays)
    ins = [g.add_input(f"in{i}", t or TensorType(dtypes.from_numpy(a.dtype), a.shape))
           for i, (a, t) in enumerate(zip(arrays, types, strict=True))]
    g.set_outputs([Builder(g).op(op, ins, attrs)])
    (out,) = interpret(g, {v.name: a for v, a in zip(ins, arrays, strict=True)}).values()
    return out


# ----- quantize_multiplier ---------------------------------------------------------------------
@pytest.mark.parametrize("real, expected", [
    (0.5, (HALF, 0)),
    (1.0, (HALF, 1)),
    (0.75, (3 << 29, 0)),
    (2.0 ** -31, (HALF, -30)),
    (2.0 ** -32, (HALF, -31)),  # the smallest multiplier kept: t = 62
    (2.0 ** -33, (0, 0)),  # below half a step for any 32-bit input
    (0.0, (0, 0)),
    (0.5 + 2.0 ** -32, (HALF + 1, 0)),  # q * 2**31 = 2**30 + 0.5 rounds away from zero
    (1.0 - 2.0 ** -33, (HALF, 1)),  # q * 2**31 rounds up to 2**31: renormalised
    (2.0 ** 29, (HALF, 30)),
])
def test_quantize_multiplier_golden(real, expected):
    assert quantize_multiplier(real) == expected


@pytest.mark.parametrize("bad", [-0.5, math.inf, math.nan, 2.0 ** 30])
def test_quantize_multiplier_refuses(bad):
    with pytest.raises(UsageError):
        quantize_multiplier(bad)


def test_quantize_multipliers_relative_error_is_below_2_pow_minus_31():
    real = np.exp(np.random.default_rng(1).uniform(-20, 5, 500))
    m, s = quantize_multipliers(real)
    assert m.dtype == s.dtype == np.int32 and m.shape == real.shape
    assert np.all((m >= HALF) & (m < 1 << 31))
    assert np.max(np.abs(real_multiplier(m, s) / real - 1)) <= 2.0 ** -31


# ----- requantize: hand-computed cases ---------------------------------------------------------
def rq(x, multiplier, shift, **kw):
    kw.setdefault("qmin", -128)
    kw.setdefault("qmax", 127)
    return requantize(np.array(x, np.int64), multiplier, shift, **kw).tolist()


def test_ties_round_toward_positive_infinity():
    # M = 0.5: x / 2 for odd x is a tie
    assert rq([1, 3, 5, -1, -3, -5], HALF, 0) == [1, 2, 3, 0, -1, -2]


def test_negative_values_round_to_nearest():
    # M = 0.25 (t = 32): -7/4 = -1.75 -> -2, -5/4 = -1.25 -> -1, -6/4 = -1.5 (tie) -> -1
    assert rq([-7, -5, -6, 7, 5, 6], HALF, -1) == [-2, -1, -1, 2, 1, 2]


def test_zero_points_and_saturation():
    # (x - 10) * 0.5 + 3, clamped to u8 [0, 255]
    got = rq([10, 11, 600, -300, 2000], HALF, 0, input_zero_point=10, output_zero_point=3,
             qmin=0, qmax=255)
    assert got == [3, 4, 255, 0, 255]
    assert rq([1000, -1000], HALF, 0) == [127, -128]


def test_fused_relu_bounds_clamp_at_the_zero_point():
    assert rq([-50, -1, 0, 40], HALF, 0, output_zero_point=-5, qmin=-5, qmax=127) == [-5, -5, -5, 15]


def test_large_shift_and_extreme_inputs_stay_exact():
    # M = 2**29 (t = 1): the largest multiplier; no rounding is lost in int64
    assert rq([3, -3], HALF, 30, qmin=-(1 << 40), qmax=1 << 40) == [3 << 29, -(3 << 29)]
    # the smallest kept multiplier (t = 62) on the extreme accumulator values
    assert rq([1 << 31, -(1 << 31), 1 << 30], HALF, -31) == [1, 0, 0]
    # the largest multiplier on the largest allowed input
    assert rq([1 << 31], (1 << 31) - 1, 0, qmin=-(1 << 40), qmax=1 << 40) == [(1 << 31) - 1]


def test_power_of_two_multiplier_is_an_exact_rounding_shift():
    x = np.arange(-64, 65)
    m, s = quantize_multiplier(1 / 8)
    assert (m, s) == (HALF, -2)
    assert rq(x, m, s, qmin=-100, qmax=100) == (np.floor(x / 8 + 0.5)).astype(int).tolist()


def test_zero_and_tiny_multipliers_give_the_zero_point():
    for real in (0.0, 2.0 ** -40):
        m, s = quantize_multiplier(real)
        assert rq([-(1 << 31), 5, 1 << 31], m, s, output_zero_point=7) == [7, 7, 7]


def test_per_channel_parameters_broadcast():
    m = np.array([HALF, HALF], np.int64).reshape(2, 1)
    s = np.array([0, -1], np.int64).reshape(2, 1)
    assert requantize(np.array([[4, 6], [4, 6]]), m, s, qmin=-128, qmax=127).tolist() == [
        [2, 3], [1, 2]]


# ----- property tests: integer ops vs their real-valued definition ----------------------------
def multiplier_of(real: float | np.ndarray):
    m, s = quantize_multipliers(np.asarray(real, np.float64))
    return m, s


def assert_within_half_step(got: np.ndarray, exact: np.ndarray, slack: np.ndarray | float,
                            qmin: int, qmax: int) -> None:
    """``got`` is round(exact) clamped to [qmin, qmax], up to ``slack`` (the multiplier's
    own rounding error in output steps)."""
    inside = (exact > qmin + 1) & (exact < qmax - 1)
    assert inside.mean() > 0.5, "test data saturates too much to say anything"
    err = np.abs(got.astype(np.float64) - exact)[inside]
    assert err.max() <= 0.5 + np.broadcast_to(slack, exact.shape)[inside].max() + 1e-9
    assert np.all(got[exact <= qmin] == qmin) and np.all(got[exact >= qmax] == qmax)


def requantize_op(acc: np.ndarray, real: np.ndarray, axis: int, out_zp: int, dtype) -> np.ndarray:
    m, s = multiplier_of(real)
    return run_int("quant.requantize", [acc, m, s],
                   {"axis": axis, "output_zero_point": out_zp, "qmin": dtype.min,
                    "qmax": dtype.max, "dtype": dtype})


def multiplier_slack(acc: np.ndarray, real: np.ndarray) -> np.ndarray:
    """|acc| * |M - M_stored|: how far the stored multiplier alone moves the result."""
    m, s = multiplier_of(real)
    return np.abs(acc) * np.abs(real - real_multiplier(m, s))


@pytest.mark.parametrize("seed", range(4))
def test_conv_and_requantize_equal_float_conv_within_half_a_step(seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (2, 4, 7, 6)).astype(np.uint8)
    w = rng.integers(-127, 128, (6, 2, 3, 3)).astype(np.int8)
    bias = rng.integers(-5000, 5000, 6).astype(np.int32)
    x_scale, x_zp = 0.02, int(rng.integers(100, 150))
    w_scale = rng.uniform(0.002, 0.01, 6)
    y_scale, y_zp = rng.uniform(0.05, 0.2), int(rng.integers(-20, 20))
    attrs = {"pads": (1, 0, 1, 1), "strides": (1, 2), "group": 2, "x_zero_point": x_zp}
    acc = run_int("quant.conv", [x, w, bias], attrs)
    # the reference: the same conv on the dequantized values in f64, then the real scaling
    from leptonc.ops.nn import conv_nd
    xf = (x.astype(np.float64) - x_zp) * x_scale
    wf = w.astype(np.float64) * w_scale.reshape(6, 1, 1, 1)
    bf = bias * x_scale * w_scale
    real_y = conv_nd(xf, wf, bf, (1, 2), (1, 0, 1, 1), (1, 1), 2)
    assert acc.dtype == np.int32
    np.testing.assert_allclose(acc * x_scale * w_scale.reshape(1, 6, 1, 1), real_y, rtol=1e-9,
                               atol=1e-9)
    real = x_scale * w_scale / y_scale
    y = requantize_op(acc, real, 1, y_zp, I8)
    exact = real_y / y_scale + y_zp
    assert_within_half_step(y, exact, multiplier_slack(acc, real.reshape(1, 6, 1, 1)), -128, 127)


@pytest.mark.parametrize("seed", range(3))
def test_matmul_and_requantize_equal_float_matmul_within_half_a_step(seed):
    rng = np.random.default_rng(10 + seed)
    a = rng.integers(-128, 128, (3, 5, 16)).astype(np.int8)
    b = rng.integers(-127, 128, (16, 7)).astype(np.int8)
    bias = rng.integers(-3000, 3000, 7).astype(np.int32)
    a_zp, a_scale, b_scale = int(rng.integers(-10, 10)), 0.05, rng.uniform(0.001, 0.01, 7)
    y_scale, y_zp = rng.uniform(0.05, 0.1), 128
    acc = run_int("quant.matmul", [a, b, bias], {"a_zero_point": a_zp})
    assert np.array_equal(acc, (a.astype(np.int64) - a_zp) @ b + bias)
    real = a_scale * b_scale / y_scale
    y = requantize_op(acc, real, -1, y_zp, U8)
    exact = acc * real + y_zp
    assert_within_half_step(y, exact, multiplier_slack(acc, real), 0, 255)


def test_activation_times_activation_matmul_with_both_zero_points():
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (4, 9)).astype(np.uint8)
    b = rng.integers(0, 256, (9, 3)).astype(np.uint8)
    acc = run_int("quant.matmul", [a, b], {"a_zero_point": 120, "b_zero_point": 131})
    assert np.array_equal(acc, (a.astype(np.int64) - 120) @ (b.astype(np.int64) - 131))


def test_integer_products_beyond_f64_exactness_are_still_exact():
    # partial sums near 2**61: the kernel must not take the f64 path
    from leptonc.ops.quant_int import exact_matmul

    a = np.array([[(1 << 30) + 1, -(1 << 30) - 3]], np.int64)
    b = np.array([[(1 << 30) + 5], [(1 << 30) + 7]], np.int64)
    want = int(a[0, 0]) * int(b[0, 0]) + int(a[0, 1]) * int(b[1, 0])
    assert exact_matmul(a, b).tolist() == [[want]]
    small = np.arange(-6, 6).reshape(3, 4)
    assert np.array_equal(exact_matmul(small, small.T), small @ small.T)


@pytest.mark.parametrize("seed", range(4))
def test_add_equals_real_sum_within_half_a_step(seed):
    rng = np.random.default_rng(20 + seed)
    a = rng.integers(-128, 128, (5, 1, 8)).astype(np.int8)
    b = rng.integers(-128, 128, (4, 8)).astype(np.int8)
    sa, sb, sy = rng.uniform(0.01, 0.1, 3) * [1, 1, 2]
    za, zb, zy = (int(z) for z in rng.integers(-20, 20, 3))
    left_shift = 20
    twice_max = 2 * max(sa, sb)
    (ma, sha), (mb, shb), (mo, sho) = (quantize_multiplier(r) for r in (
        sa / twice_max, sb / twice_max, twice_max / ((1 << left_shift) * sy)))
    attrs = {"a_zero_point": za, "b_zero_point": zb, "left_shift": left_shift,
             "a_multiplier": ma, "a_shift": sha, "b_multiplier": mb, "b_shift": shb,
             "output_multiplier": mo, "output_shift": sho, "output_zero_point": zy,
             "qmin": -128, "qmax": 127, "dtype": I8}
    y = run_int("quant.add", [a, b], attrs)
    assert y.shape == (5, 4, 8) and y.dtype == np.int8
    exact = (sa * (a.astype(np.float64) - za) + sb * (b.astype(np.float64) - zb)) / sy + zy
    # two operand roundings of at most 1/2 on the 2**-20 grid: < 2**-19 * twice_max / sy
    assert_within_half_step(y, exact, 2.0 ** -19 * twice_max / sy, -128, 127)


@pytest.mark.parametrize("seed", range(3))
def test_mul_equals_real_product_within_half_a_step(seed):
    rng = np.random.default_rng(30 + seed)
    a = rng.integers(0, 256, (6, 10)).astype(np.uint8)
    b = rng.integers(0, 256, (10,)).astype(np.uint8)
    sa, sb, sy = 0.02, 0.03, rng.uniform(0.5, 1.0)
    za, zb, zy = 128, 100, 64
    m, s = quantize_multiplier(sa * sb / sy)
    attrs = {"a_zero_point": za, "b_zero_point": zb, "multiplier": m, "shift": s,
             "output_zero_point": zy, "qmin": 0, "qmax": 255, "dtype": U8}
    y = run_int("quant.mul", [a, b], attrs)
    product = (a.astype(np.int64) - za) * (b.astype(np.int64) - zb)
    exact = product * (sa * sb / sy) + zy
    assert_within_half_step(y, exact, multiplier_slack(product, sa * sb / sy), 0, 255)


@pytest.mark.parametrize("dtype", [I8, U8, I4])
def test_lut_indexes_from_the_type_minimum(dtype):
    codes = np.arange(dtype.min, dtype.max + 1)
    table = ((codes * 3) % 50 - 25).astype(np.int8)
    x = np.random.default_rng(4).integers(dtype.min, dtype.max + 1, (3, 7)).astype(dtype.numpy)
    y = run_int("quant.lut", [x, table], {}, [TensorType(dtype, x.shape), None])
    assert np.array_equal(y, table[x.astype(np.int64) - dtype.min])


def test_lut_table_must_cover_the_input_type():
    with pytest.raises(ShapeError, match="256 entries"):
        run_int("quant.lut", [np.zeros(3, np.int8), np.zeros(16, np.int8)], {})


@pytest.mark.parametrize("count_pads", [False, True])
def test_sum_pool_and_requantize_equal_float_average_within_half_a_step(count_pads):
    rng = np.random.default_rng(5)
    x = rng.integers(0, 256, (2, 3, 9, 9)).astype(np.uint8)
    zp, sx, sy, zy = 117, 0.03, 0.025, 121
    pads = (1, 1, 1, 1) if count_pads else (0, 0, 0, 0)
    attrs = {"kernel_shape": (3, 3), "strides": (2, 2), "pads": pads, "pad_value": zp}
    total = run_int("quant.sum_pool", [x], attrs)
    n = 9
    real = sx / (n * sy)
    m, s = multiplier_of(real)
    y = run_int("quant.requantize", [total, m, s],
                {"input_zero_point": n * zp, "output_zero_point": zy, "qmin": 0, "qmax": 255,
                 "dtype": U8})
    # float average pooling counting padded taps as real zeros
    xf = np.pad((x.astype(np.float64) - zp) * sx, [(0, 0), (0, 0), (pads[0],) * 2, (pads[1],) * 2])
    windows = np.lib.stride_tricks.sliding_window_view(xf, (3, 3), axis=(2, 3))[:, :, ::2, ::2]
    exact = windows.mean(axis=(-1, -2)) / sy + zy
    assert y.shape == exact.shape
    assert_within_half_step(y, exact, multiplier_slack(total - n * zp, real), 0, 255)


def test_reduce_sum_and_requantize_equal_float_mean_within_half_a_step():
    rng = np.random.default_rng(6)
    x = rng.integers(-128, 128, (4, 5, 6, 7)).astype(np.int8)
    zp, sx, sy, zy = -3, 0.05, 0.01, 0
    total = run_int("quant.reduce_sum", [x], {"axes": (2, 3), "keepdims": True})
    assert total.shape == (4, 5, 1, 1)
    n = 42
    m, s = multiplier_of(sx / (n * sy))
    y = run_int("quant.requantize", [total, m, s],
                {"input_zero_point": n * zp, "output_zero_point": zy, "qmin": -128, "qmax": 127,
                 "dtype": I8})
    exact = ((x.astype(np.float64) - zp) * sx).mean(axis=(2, 3), keepdims=True) / sy + zy
    assert_within_half_step(y, exact, multiplier_slack(total - n * zp, sx / (n * sy)), -128, 127)


# ----- type checks -----------------------------------------------------------------------------
@pytest.mark.parametrize("attrs, message", [
    ({"qmin": -129, "qmax": 127, "dtype": I8}, "clamp bounds"),
    ({"qmin": 10, "qmax": 5, "dtype": I8}, "clamp bounds"),
    ({"qmin": 0, "qmax": 255, "dtype": U8, "output_zero_point": 300}, "output_zero_point"),
])
def test_requantize_rejects_bad_attributes(attrs, message):
    acc = np.zeros((2, 3), np.int32)
    one = np.array(HALF, np.int32)
    with pytest.raises(ShapeError, match=message):
        run_int("quant.requantize", [acc, one, np.array(0, np.int32)], attrs)


def test_requantize_rejects_per_channel_parameters_of_the_wrong_length():
    acc = np.zeros((2, 3), np.int32)
    m = np.full(4, HALF, np.int32)
    with pytest.raises(ShapeError, match="4 entries for axis 1"):
        run_int("quant.requantize", [acc, m, np.zeros(4, np.int32)],
                {"qmin": -128, "qmax": 127, "dtype": I8})


def test_conv_rejects_float_operands_and_a_wide_bias():
    x = np.zeros((1, 2, 3, 3), np.float32)
    w = np.zeros((2, 2, 1, 1), np.int8)
    with pytest.raises(ShapeError, match="x must be an integer"):
        run_int("quant.conv", [x, w], {})
    with pytest.raises(ShapeError, match="bias must be i32"):
        run_int("quant.conv", [x.astype(np.int8), w, np.zeros(2, np.int64)], {})


# ----- the worked examples of docs/quantization.md ---------------------------------------------
def test_documented_requantize_example():
    m, s = quantize_multiplier(0.02 * 0.005 / 0.05)
    assert (m, s) == (1099511628, -8)
    assert rq([1234, -1234, 2500, -2500, 100000], m, s, output_zero_point=-3) == [
        -1, -5, 2, -8, 127]


def test_documented_add_mul_and_average_examples():
    from leptonc.passes.quant.lower_quantized import QTensor, add_parameters

    def params(scale, zp, dtype):
        g = Graph("p")
        v = g.add_input("v", TensorType(dtype, ()))
        return QTensor(v, np.array(scale), np.array(zp), None)

    a, b, y = params(0.05, 100, U8), params(0.1, -3, I8), params(0.08, 120, U8)
    attrs = add_parameters(a, b, y)
    assert attrs == {"left_shift": 20, "a_multiplier": HALF, "a_shift": -1,
                     "b_multiplier": HALF, "b_shift": 0, "output_multiplier": 1342177280,
                     "output_shift": -18}
    got = run_int("quant.add", [np.array([130], np.uint8), np.array([17], np.int8)],
                  {**attrs, "a_zero_point": 100, "b_zero_point": -3, "output_zero_point": 120,
                   "qmin": 0, "qmax": 255, "dtype": U8})
    assert got.tolist() == [164]
    m, s = quantize_multiplier(0.02 * 0.03 / 0.01)
    assert (m, s) == (2061584302, -4)
    got = run_int("quant.mul", [np.array([150], np.uint8), np.array([130], np.uint8)],
                  {"a_zero_point": 128, "b_zero_point": 100, "multiplier": m, "shift": s,
                   "output_zero_point": 5, "qmin": 0, "qmax": 255, "dtype": U8})
    assert got.tolist() == [45]
    window = np.array([10, 20, 31, 40], np.uint8).reshape(1, 1, 2, 2)
    total = run_int("quant.sum_pool", [window], {"kernel_shape": (2, 2), "pad_value": 10})
    m, s = quantize_multiplier(0.25 / (4 * 0.125))
    got = run_int("quant.requantize", [total, np.array(m, np.int32), np.array(s, np.int32)],
                  {"input_zero_point": 40, "qmin": 0, "qmax": 255, "dtype": U8})
    assert (total.item(), got.item()) == (101, 31)
