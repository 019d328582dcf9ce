"""Integer graphs on ``--target cpu``: every op of lower-quantized (and quantize/dequantize)
lowered alone equals the interpreter bit for bit, on random inputs and on the corner cases
of the arithmetic contract (requantize ties, negatives, saturation, per-channel parameters,
large shifts; padding with the zero point; NaN and infinities); the int8 digits CNN end to
end."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tvm")

import tvm  # noqa: E402
from tvm import relax  # noqa: E402
from tvm_testing import run_cpu  # noqa: E402  (tests/ is on sys.path)

from leptonc.interp import run as interpret  # noqa: E402
from leptonc.ir import dtypes  # noqa: E402
from leptonc.ir.builder import Builder  # noqa: E402
from leptonc.ir.graph import Graph, Value  # noqa: E402
from leptonc.ir.types import TensorType  # noqa: E402
from leptonc.quant import arith  # noqa: E402
from leptonc.targets.tvm.build import cpu_target  # noqa: E402

I8, U8, I16, I32, F32 = dtypes.i8, dtypes.u8, dtypes.i16, dtypes.i32, dtypes.f32
RNG = np.random.default_rng(11)


class OneOp:
    """A graph of one op: run-time inputs, constant operands, attributes."""

    def __init__(self) -> None:
        self.g = Graph("one_op")
        self.b = Builder(self.g)
        self.feeds: dict[str, np.ndarray] = {}

    def input(self, name: str, data: np.ndarray, dtype: dtypes.DType) -> Value:
        self.feeds[name] = data.astype(dtype.numpy)
        return self.g.add_input(name, TensorType(dtype, data.shape))

    def const(self, data, dtype: dtypes.DType, name: str = "c") -> Value:
        data = np.asarray(data).astype(dtype.numpy)
        return self.g.add_constant(data, name, TensorType(dtype, data.shape))

    def op(self, op: str, inputs, attrs=None) -> Graph:
        self.g.set_outputs([self.b.op(op, inputs, attrs or {}, name="y")])
        return self.g


def assert_bit_exact(graph: Graph, feeds: dict[str, np.ndarray]) -> None:
    want, got = interpret(graph, feeds), run_cpu(graph, feeds)
    for name, w in want.items():
        assert got[name].dtype == w.dtype, name
        assert got[name].shape == w.shape, name
        if w.dtype.kind == "f":
            np.testing.assert_array_equal(got[name].view(np.uint8), w.view(np.uint8), err_msg=name)
        else:
            np.testing.assert_array_equal(got[name], w, err_msg=name)


def ints(dtype: dtypes.DType, shape, low: int | None = None, high: int | None = None) -> np.ndarray:
    lo = dtype.min if low is None else low
    hi = dtype.max if high is None else high
    return RNG.integers(lo, hi + 1, shape).astype(dtype.numpy)


# ----- quant.requantize ------------------------------------------------------------------------
def requantize_graph(x: np.ndarray, x_type, multipliers, shifts, **attrs) -> OneOp:
    t = OneOp()
    xv = t.input("x", x, x_type)
    m = t.const(multipliers, I32, "m")
    s = t.const(shifts, I32, "s")
    t.op("quant.requantize", [xv, m, s], attrs)
    return t


def test_requantize_rounds_ties_toward_plus_infinity_and_saturates():
    # M = 0.5: every odd value is a tie (5 -> 3, -5 -> -2); M = 0.002 is the documented example.
    x = np.array([[5, -5, 3, -3, 1234, -1234, 2500, -2500, 100000, -100000, 2**31 - 1, -2**31]])
    m, s = arith.quantize_multipliers(np.array([0.5]))
    t = requantize_graph(x, I32, m[0], s[0], axis=1, output_zero_point=-3, qmin=-128, qmax=127,
                         dtype=I8)
    assert_bit_exact(t.g, t.feeds)
    m, s = arith.quantize_multipliers(np.array([0.002]))
    t = requantize_graph(x, I32, m[0], s[0], axis=1, output_zero_point=-3, qmin=-128, qmax=127,
                         dtype=I8)
    assert_bit_exact(t.g, t.feeds)


@pytest.mark.parametrize("out_type, qmin, qmax, out_zp", [(U8, 0, 255, 17), (U8, 40, 200, 40),
                                                          (I8, -128, 127, -5), (I16, -32768, 32767, 9)])
def test_requantize_per_channel_with_large_and_small_shifts(out_type, qmin, qmax, out_zp):
    channels = 6
    # from 2**-32 (shift -31, t = 62) to ~2**29 (shift 30, t = 1)
    real = np.array([2.0**-32, 3e-7, 0.002, 0.75, 1.0, 2.0**29 + 12345.0])
    m, s = arith.quantize_multipliers(real)
    assert s.min() == -31 and s.max() == 30
    x = ints(I32, (2, channels, 5, 3))
    x[0, :, 0, 0] = [2**31 - 1, -2**31, 0, 1, -1, 3]
    t = requantize_graph(x, I32, m, s, axis=1, input_zero_point=0, output_zero_point=out_zp,
                         qmin=qmin, qmax=qmax, dtype=out_type)
    assert_bit_exact(t.g, t.feeds)


def test_requantize_of_narrow_inputs_with_an_input_zero_point_along_the_last_axis():
    x = ints(U8, (3, 4, 5))
    m, s = arith.quantize_multipliers(np.array([0.3, 1.0, 1.7, 0.01, 0.5]))
    t = requantize_graph(x, U8, m, s, axis=-1, input_zero_point=131, output_zero_point=-2,
                         qmin=-128, qmax=127, dtype=I8)
    assert_bit_exact(t.g, t.feeds)


# ----- quant.conv ------------------------------------------------------------------------------
def conv_graph(x, x_type, w, bias, **attrs) -> OneOp:
    t = OneOp()
    inputs = [t.input("x", x, x_type), t.const(w, I8, "w")]
    if bias is not None:
        inputs.append(t.const(bias, I32, "bias"))
    t.op("quant.conv", inputs, attrs)
    return t


@pytest.mark.parametrize("x_type, zx", [(U8, 0), (U8, 131), (I8, -7), (I16, 1000)])
def test_conv_with_padding_stride_and_bias(x_type, zx):
    x = ints(x_type, (2, 3, 9, 7))
    w = ints(I8, (5, 3, 3, 3), -127, 127)
    t = conv_graph(x, x_type, w, ints(I32, (5,), -50000, 50000), pads=[1, 2, 1, 0],
                   strides=[2, 1], x_zero_point=zx)
    assert_bit_exact(t.g, t.feeds)


def test_grouped_dilated_conv_and_1d_conv_without_bias():
    x = ints(U8, (1, 4, 8, 8))
    w = ints(I8, (6, 2, 3, 3), -127, 127)
    t = conv_graph(x, U8, w, None, pads=[2, 2, 2, 2], dilations=[2, 2], group=2, x_zero_point=90)
    assert_bit_exact(t.g, t.feeds)
    x = ints(I8, (2, 3, 11))
    w = ints(I8, (4, 3, 5), -127, 127)
    t = conv_graph(x, I8, w, None, pads=[2, 1], x_zero_point=3)
    assert_bit_exact(t.g, t.feeds)


def test_conv_whose_raw_products_could_overflow_accumulates_centred_values():
    # i16 inputs, 64 channels of extreme weights: sum|w| * 32768 >= 2**31 for the raw form,
    # so the lowering centres first; the centred sums of these inputs stay in range.
    x = ints(I16, (1, 64, 4, 4), 1000 - 300, 1000 + 300)
    w = np.full((2, 64, 3, 3), 127, np.int8)
    w[1] = -127
    t = conv_graph(x, I16, w, np.array([7, -7]), pads=[1, 1, 1, 1], x_zero_point=1000)
    assert_bit_exact(t.g, t.feeds)


# ----- quant.matmul ----------------------------------------------------------------------------
def test_matmul_with_constant_per_column_weights_and_bias():
    t = OneOp()
    a = t.input("a", ints(U8, (2, 7, 32)), U8)
    b = t.const(ints(I8, (32, 24), -127, 127), I8, "b")
    bias = t.const(ints(I32, (24,), -10**6, 10**6), I32, "bias")
    t.op("quant.matmul", [a, b, bias], {"a_zero_point": 77})
    assert_bit_exact(t.g, t.feeds)


def test_activation_times_activation_matmul_keeps_both_zero_points_and_broadcasts():
    t = OneOp()
    a = t.input("a", ints(U8, (2, 3, 5, 16)), U8)
    b = t.input("b", ints(I8, (1, 3, 16, 6)), I8)
    t.op("quant.matmul", [a, b], {"a_zero_point": 128, "b_zero_point": -9})
    assert_bit_exact(t.g, t.feeds)


def test_matmul_with_a_per_tensor_weight_zero_point():
    t = OneOp()
    a = t.input("a", ints(I8, (9, 20)), I8)
    b = t.const(ints(U8, (20, 4)), U8, "b")
    t.op("quant.matmul", [a, b, t.const(np.arange(4) * 1000, I32, "bias")],
         {"a_zero_point": 5, "b_zero_point": 128})
    assert_bit_exact(t.g, t.feeds)


# ----- quant.add / quant.mul -------------------------------------------------------------------
def test_add_with_mixed_types_and_broadcasting():
    t = OneOp()
    a = t.input("a", ints(U8, (2, 3, 4)), U8)
    b = t.input("b", ints(I8, (3, 1)), I8)
    s_a, s_b, s_y = 0.05, 0.1, 0.08
    twice = 2 * max(s_a, s_b)
    (am, ash), (bm, bsh), (om, osh) = (arith.quantize_multiplier(r) for r in (
        s_a / twice, s_b / twice, twice / (2**20 * s_y)))
    t.op("quant.add", [a, b], {"a_zero_point": 100, "b_zero_point": -3, "left_shift": 20,
                               "a_multiplier": am, "a_shift": ash, "b_multiplier": bm,
                               "b_shift": bsh, "output_multiplier": om, "output_shift": osh,
                               "output_zero_point": 120, "qmin": 0, "qmax": 255, "dtype": U8})
    assert_bit_exact(t.g, t.feeds)


@pytest.mark.parametrize("a_shape, b_shape", [((4, 1, 6), (5, 6)), ((), (2, 3, 7))])
def test_mul_with_broadcasting_and_a_narrowed_range(a_shape, b_shape):
    t = OneOp()
    a = t.input("a", ints(U8, a_shape), U8)
    b = t.input("b", ints(U8, b_shape), U8)
    m, s = arith.quantize_multiplier(0.06)
    t.op("quant.mul", [a, b], {"a_zero_point": 128, "b_zero_point": 100, "multiplier": m,
                               "shift": s, "output_zero_point": 5, "qmin": 5, "qmax": 200,
                               "dtype": U8})
    assert_bit_exact(t.g, t.feeds)


# ----- quant.lut, quant.sum_pool, quant.reduce_sum ---------------------------------------------
@pytest.mark.parametrize("x_type, out_type", [(I8, U8), (U8, I8)])
def test_lookup_table_covers_every_input_value(x_type, out_type):
    t = OneOp()
    x = np.arange(x_type.min, x_type.max + 1).reshape(4, 64)
    t.op("quant.lut", [t.input("x", x, x_type), t.const(ints(out_type, (256,)), out_type, "table")])
    assert_bit_exact(t.g, t.feeds)


@pytest.mark.parametrize("attrs", [
    {"kernel_shape": [2, 2], "strides": [2, 2]},
    {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "pad_value": 37},
    {"kernel_shape": [3, 2], "strides": [2, 2], "ceil_mode": True, "pad_value": 200},
])
def test_sum_pool_pads_with_the_zero_point(attrs):
    t = OneOp()
    t.op("quant.sum_pool", [t.input("x", ints(U8, (2, 3, 7, 6)), U8)], attrs)
    assert_bit_exact(t.g, t.feeds)


@pytest.mark.parametrize("axes, keepdims", [([2, 3], True), ([1], False), ([], True)])
def test_reduce_sum(axes, keepdims):
    t = OneOp()
    t.op("quant.reduce_sum", [t.input("x", ints(I8, (2, 5, 4, 3)), I8)],
         {"axes": axes, "keepdims": keepdims})
    assert_bit_exact(t.g, t.feeds)


# ----- quant.quantize / quant.dequantize -------------------------------------------------------
def test_quantize_rounds_half_to_even_and_saturates_nan_and_infinities():
    scale = np.float32(0.25)
    halves = (np.arange(-20, 20) + 0.5).astype(np.float32) * scale  # exact ties
    special = np.array([np.nan, np.inf, -np.inf, 1e30, -1e30, 0.0, -0.0], np.float32)
    x = np.concatenate([halves, special, RNG.standard_normal(153).astype(np.float32) * 30])
    for dtype, zp in ((U8, 3), (I8, -2), (I16, 0)):
        t = OneOp()
        t.op("quant.quantize", [t.input("x", x.reshape(2, -1), F32), t.const(scale, F32, "s"),
                                t.const(zp, dtype, "zp")], {"dtype": dtype})
        assert_bit_exact(t.g, t.feeds)


def test_quantize_and_dequantize_per_axis():
    x = RNG.standard_normal((2, 4, 5)).astype(np.float32) * 3
    scale = np.array([0.01, 0.03, 0.1, 0.007], np.float32)
    zp = np.array([0, 5, -7, 100], np.int8)
    t = OneOp()
    q = t.b.op("quant.quantize", [t.input("x", x, F32), t.const(scale, F32, "s"),
                                  t.const(zp, I8, "zp")], {"axis": 1, "dtype": I8})
    t.op("quant.dequantize", [q, t.const(scale, F32, "s2"), t.const(zp, I8, "zp2")],
         {"axis": 1, "dtype": F32})
    assert_bit_exact(t.g, t.feeds)


def test_dequantize_of_i32_without_zero_point():
    t = OneOp()
    x = ints(I32, (3, 8))
    t.op("quant.dequantize", [t.input("x", x, I32), t.const(np.float32(1e-4), F32, "s")],
         {"dtype": F32})
    assert_bit_exact(t.g, t.feeds)


# ----- a whole model ---------------------------------------------------------------------------
def with_batch(onnx_path, batch: int):
    """The ONNX model with its symbolic batch dim fixed (every kernel then has static loops)."""
    import onnx

    model = onnx.load(str(onnx_path))
    for value in model.graph.input:
        value.type.tensor_type.shape.dim[0].dim_value = batch
    return model


@pytest.fixture(scope="module")
def int8_digits():
    pytest.importorskip("sklearn")
    import make_models

    import leptonc
    from leptonc.passes.quant.lower_quantized import lower_quantized
    from leptonc.passmgr import PassManager
    from leptonc.quant.qdq import quantize_graph

    x_train, _, x_test, _ = make_models.digits_data()
    graph = leptonc.load_onnx(with_batch(make_models.digits_cnn_onnx(), 128))
    PassManager.from_pipeline("canonicalize,fold-batchnorm").run(graph)
    name = graph.inputs[0].name
    quantize_graph(graph, [{name: x_train[i:i + 128]} for i in range(0, 512, 128)], progress=False)
    assert not lower_quantized(graph).islands
    return graph, {name: x_test[:128]}


def test_int8_digits_cnn_is_bit_exact_with_the_interpreter(int8_digits):
    graph, feeds = int8_digits
    assert_bit_exact(graph, feeds)


# ----- the VNNI kernel of schedules/int8.py --------------------------------------------------------
def run_cpu_with_int8_rule(graph: Graph, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Like ``run_cpu``, with every dot16x4 kernel replaced by the VNNI micro-kernel first."""
    from leptonc.targets.tvm.build import build
    from leptonc.targets.tvm.lower import lower_graph
    from leptonc.targets.tvm.schedules.int8 import schedule_int8_dot

    spec = cpu_target(threads=2)
    mod = relax.transform.LegalizeOps()(lower_graph(graph).module)
    replaced = 0
    for gvar, func in mod.functions_items():
        if isinstance(func, tvm.tirx.PrimFunc) and (kernel := schedule_int8_dot(func, spec.target)):
            mod[gvar] = kernel
            replaced += 1
    assert replaced, "no dot16x4 kernel in the module"
    vm = relax.VirtualMachine(build(mod, spec).executable, tvm.cpu())
    results = vm["main"](*(tvm.runtime.tensor(feeds[v.name]) for v in graph.inputs))
    return {v.name: r.numpy() for v, r in zip(graph.outputs, results, strict=True)}


def vnni_host() -> bool:
    from leptonc.targets.tvm.schedules.int8 import has_vnni

    return has_vnni(cpu_target().target)


@pytest.mark.skipif(not vnni_host(), reason="the host CPU has no AVX-512 VNNI")
def test_vnni_matmul_and_im2col_conv_are_bit_exact():
    t = OneOp()
    a = t.input("a", ints(U8, (1, 24, 64)), U8)
    b = t.const(ints(I8, (64, 96), -128, 127), I8, "b")
    t.op("quant.matmul", [a, b, t.const(ints(I32, (96,), -10**6, 10**6), I32, "bias")],
         {"a_zero_point": 201})
    want = interpret(t.g, t.feeds)["y"]
    np.testing.assert_array_equal(run_cpu_with_int8_rule(t.g, t.feeds)["y"], want)
    c = conv_graph(ints(U8, (2, 8, 7, 9)), U8, ints(I8, (32, 8, 3, 3), -127, 127),
                   ints(I32, (32,), -9999, 9999), pads=[1, 0, 2, 1], strides=[1, 2], x_zero_point=17)
    want = interpret(c.g, c.feeds)["y"]
    np.testing.assert_array_equal(run_cpu_with_int8_rule(c.g, c.feeds)["y"], want)
