"""lower-quantized: QDQ patterns become integer ops that the interpreter runs in integers,
agreeing with the fake-quantized graph (exactly where the lowering is exact, within one
output step where it rounds once instead of in f32), and what cannot be lowered stays in QDQ
form with its reason."""

from __future__ import annotations

import numpy as np
import pytest

from leptonc.interp import run as interpret
from leptonc.ir import dtypes
from leptonc.ir.builder import Builder
from leptonc.ir.graph import Graph, Value
from leptonc.ir.parser import parse_graph
from leptonc.ir.printer import print_graph
from leptonc.ir.types import TensorType
from leptonc.ops.registry import get_op
from leptonc.passes.quant.lower_quantized import lower_quantized
from leptonc.passmgr import PassManager

I8, U8, I16, I32 = dtypes.i8, dtypes.u8, dtypes.i16, dtypes.i32
RNG = np.random.default_rng(7)


class QDQBuilder:
    """Hand-written QDQ graphs in the form the quantize pass writes (docs/quantization.md)."""

    def __init__(self) -> None:
        self.g = Graph("qdq")
        self.b = Builder(self.g)

    def input(self, name: str, *shape: int) -> Value:
        return self.g.add_input(name, TensorType(dtypes.f32, shape))

    def params(self, scale, zero_point, dtype) -> tuple[Value, Value]:
        scale = np.asarray(scale, np.float32)
        zp = np.asarray(zero_point).astype(dtype.numpy)
        return (self.g.add_constant(scale, "s"),
                self.g.add_constant(zp, "zp", TensorType(dtype, zp.shape)))

    def quantize(self, v: Value, scale: float, zero_point: int, dtype=U8) -> Value:
        """The quantized integer value of ``v`` (quant.quantize)."""
        s, zp = self.params(scale, zero_point, dtype)
        return self.b.op("quant.quantize", [v, s, zp], {"dtype": dtype}, name=f"{v.name}_q")

    def qdq(self, v: Value, scale: float, zero_point: int, dtype=U8) -> Value:
        """``v`` fake-quantized: dequantize(quantize(v))."""
        q = self.quantize(v, scale, zero_point, dtype)
        s, zp = q.producer.inputs[1:]
        return self.b.op("quant.dequantize", [q, s, zp], {"dtype": dtypes.f32},
                         name=f"{v.name}_dq")

    def weight(self, w_int: np.ndarray, scale, axis: int | None, dtype=I8) -> Value:
        scale = np.asarray(scale, np.float32)
        w = self.g.add_constant(w_int.astype(dtype.numpy), "w_int", TensorType(dtype, w_int.shape))
        s = self.g.add_constant(scale, "sw")
        attrs = {"dtype": dtypes.f32} if axis is None else {"axis": axis, "dtype": dtypes.f32}
        return self.b.op("quant.dequantize", [w, s], attrs, name="w")

    def op(self, op: str, inputs, attrs=None, name: str = "") -> Value:
        return self.b.op(op, inputs, attrs or {}, name=name, source_name=name or op)

    def outputs(self, *values: Value) -> Graph:
        self.g.set_outputs(list(values))
        return self.g


def copy(graph: Graph) -> Graph:
    return parse_graph(print_graph(graph, inline_limit=1 << 40))


def lower_and_compare(graph: Graph, inputs: dict[str, np.ndarray], max_step: int = 1,
                      min_equal: float = 0.97) -> Graph:
    """Lower a copy of ``graph``; its integer outputs must be within ``max_step`` of the
    fake-quantized graph's and equal on at least ``min_equal`` of the elements."""
    lowered = copy(graph)
    lower_quantized(lowered)
    want, got = interpret(graph, inputs), interpret(lowered, inputs)
    for name, w in want.items():
        g = got[name]
        assert g.dtype == w.dtype and g.shape == w.shape
        diff = np.abs(g.astype(np.int64) - w.astype(np.int64))
        assert diff.max() <= max_step, f"{name}: max difference {diff.max()}"
        assert (diff == 0).mean() >= min_equal, f"{name}: only {(diff == 0).mean():.3f} equal"
    return lowered


def integer_ops(graph: Graph) -> set[str]:
    return {n.op for n in graph}


def assert_all_integer(graph: Graph) -> None:
    """Nothing but the input quantizers and the output dequantizers touches a float."""
    for node in graph:
        if node.op in ("quant.quantize", "quant.dequantize"):
            continue
        floats = [v for v in (*node.inputs, *node.outputs) if v is not None and v.type.dtype.is_float]
        assert not floats, f"{node!r} computes on floats"


def uniform(lo, hi, *shape) -> np.ndarray:
    return rng_uniform(RNG, lo, hi, *shape)


def rng_uniform(rng: np.random.Generator, lo, hi, *shape) -> np.ndarray:
    return rng.uniform(lo, hi, shape).astype(np.float32)


# ----- conv and matmul -------------------------------------------------------------------------
@pytest.mark.parametrize("activation", ["none", "relu", "relu6"])
def test_conv_with_bias_and_fused_activation(activation):
    q = QDQBuilder()
    x = q.input("x", 2, 4, 6, 6)
    w_int = RNG.integers(-127, 128, (6, 2, 3, 3))
    sw = RNG.uniform(0.002, 0.01, 6)
    w = q.weight(w_int, sw, axis=0)
    b_int = RNG.integers(-2000, 2000, 6).astype(np.int32)
    sb = q.g.add_constant((0.04 * sw).astype(np.float32), "sb")
    bias = q.b.op("quant.dequantize", [q.g.add_constant(b_int, "b_int"), sb],
                  {"axis": 0, "dtype": dtypes.f32})
    y = q.op("nn.conv", [q.qdq(x, 0.04, 120), w, bias], {"pads": (1, 1, 1, 1), "group": 2},
             name="conv")
    if activation == "relu":
        y = q.op("ew.relu", [y], name="relu")
    elif activation == "relu6":
        y = q.op("ew.clip", [y], {"min": 0.0, "max": 6.0}, name="relu6")
    graph = q.outputs(q.quantize(y, 0.03, 100))
    lowered = lower_and_compare(graph, {"x": uniform(-4, 6, 2, 4, 6, 6)})
    assert integer_ops(lowered) == {"quant.quantize", "quant.conv", "quant.requantize"}
    rq = next(n for n in lowered if n.op == "quant.requantize")
    qmin, qmax = {"none": (0, 255), "relu": (100, 255), "relu6": (100, 300)}[activation]
    assert (rq.attr("qmin"), rq.attr("qmax")) == (qmin, min(qmax, 255))
    assert_all_integer(lowered)


def test_matmul_with_column_bias_per_column_weights():
    q = QDQBuilder()
    x = q.input("x", 3, 5, 16)
    w = q.weight(RNG.integers(-127, 128, (16, 7)), RNG.uniform(0.005, 0.02, 7), axis=1)
    mm = q.op("linalg.matmul", [q.qdq(x, 0.05, 3, I8), w], name="fc")
    bias = q.g.add_constant(uniform(-1, 1, 7), "bias")  # a float bias is quantized in lowering
    y = q.op("ew.add", [mm, bias], name="fc_bias")
    graph = q.outputs(q.quantize(y, 0.1, -4, I8))
    lowered = lower_and_compare(graph, {"x": uniform(-5, 5, 3, 5, 16)})
    assert integer_ops(lowered) == {"quant.quantize", "quant.matmul", "quant.requantize"}


def test_activation_times_activation_matmul_keeps_both_zero_points():
    q = QDQBuilder()
    a, b = q.input("a", 4, 8, 6), q.input("b", 4, 6, 5)
    y = q.op("linalg.matmul", [q.qdq(a, 0.02, 130), q.qdq(b, 0.03, 90)], name="bmm")
    graph = q.outputs(q.quantize(y, 0.05, 128))
    lowered = lower_and_compare(graph, {"a": uniform(-2, 2, 4, 8, 6), "b": uniform(-2, 4, 4, 6, 5)})
    mm = next(n for n in lowered if n.op == "quant.matmul")
    assert (mm.attr("a_zero_point"), mm.attr("b_zero_point")) == (130, 90)


def test_accumulator_overflow_keeps_the_node_in_float_with_the_reason():
    q = QDQBuilder()
    x = q.input("x", 1, 600)
    w = q.weight(np.full((600, 2), 32767), [1e-4, 1e-4], axis=1, dtype=I16)
    y = q.op("linalg.matmul", [q.qdq(x, 0.01, 0, I16), w], name="fc")
    graph = q.outputs(q.quantize(y, 1.0, 0, I16))
    report = lower_quantized(graph)
    assert not report.created
    worst = 600 * 32767 * 32768  # K * max|w| * max|x - 0| for i16 x
    assert [str(i) for i in report.islands] == [
        f"fc (linalg.matmul): matmul accumulator can reach {worst} (>= 2**31) for some input"]
    assert "linalg.matmul" in integer_ops(graph)


# ----- conv and matmul whose result stays float -------------------------------------------------
def assert_float_agrees(graph: Graph, lowered: Graph, inputs: dict[str, np.ndarray]) -> None:
    """The integer graph's float results are the fake-quantized graph's, up to the f32
    rounding of the latter's float accumulation."""
    want, got = interpret(graph, inputs), interpret(lowered, inputs)
    for name, w in want.items():
        assert got[name].dtype == w.dtype and got[name].shape == w.shape
        np.testing.assert_allclose(got[name], w, rtol=1e-5, atol=1e-5 * np.abs(w).max(),
                                   err_msg=name)


def test_conv_whose_result_stays_float_ends_in_a_dequantize_of_the_accumulator():
    """No quantize after the conv: quant.conv (i32, with the i32 bias) and one dequantize with
    scale s_x * s_w[c] along the channels; the relu that follows stays a float op."""
    rng = np.random.default_rng(11)  # its own: the other tests' data stays as it was
    q = QDQBuilder()
    x = q.input("x", 2, 4, 5, 5)
    w_int = rng.integers(-127, 128, (6, 4, 3, 3))
    sw = rng.uniform(0.002, 0.01, 6).astype(np.float32)
    b_int = rng.integers(-3000, 3000, 6).astype(np.int32)
    sb = q.g.add_constant((np.float32(0.04) * sw).astype(np.float32), "sb")
    bias = q.b.op("quant.dequantize", [q.g.add_constant(b_int, "b_int"), sb],
                  {"axis": 0, "dtype": dtypes.f32})
    y = q.op("nn.conv", [q.qdq(x, 0.04, 120), q.weight(w_int, sw, axis=0), bias],
             {"pads": (1, 1, 1, 1)}, name="conv")
    graph = q.outputs(q.op("ew.relu", [y], name="relu"))
    inputs = {"x": rng_uniform(rng, -4, 6, 2, 4, 5, 5)}
    lowered = copy(graph)
    report = lower_quantized(lowered)
    assert report.created == {"conv": 1, "float-output": 1}
    assert [i.op for i in report.islands] == ["ew.relu"]  # a float op reading a dequantize
    assert [n.op for n in lowered] == ["quant.quantize", "quant.conv", "quant.dequantize",
                                       "ew.relu"]
    dq = next(n for n in lowered if n.op == "quant.dequantize")
    assert dq.inputs[0].type.dtype == I32 and dq.attr("axis") == 1
    np.testing.assert_array_equal(dq.inputs[1].data, np.float32(0.04) * sw)
    # exact: the i32 accumulator is the integer convolution, computed here in f64 (exact for
    # these magnitudes) from the quantized input
    codes = np.clip(np.rint(inputs["x"] / np.float32(0.04)) + 120, 0, 255) - 120
    conv = get_op("nn.conv")
    acc = conv.kernel([codes, w_int.astype(np.float64), b_int.astype(np.float64)],
                      conv.with_defaults({"pads": (1, 1, 1, 1)}))
    want = np.maximum((acc.astype(np.float32) * dq.inputs[1].data.reshape(1, 6, 1, 1)), 0)
    np.testing.assert_array_equal(interpret(lowered, inputs)["relu"], want)
    assert_float_agrees(graph, lowered, inputs)


def test_matmul_with_bias_whose_result_stays_float():
    """A linear layer feeding a residual add (float, read by a layer norm in a transformer):
    quant.matmul with the i32 bias, dequantized per column."""
    rng = np.random.default_rng(11)  # its own: the other tests' data stays as it was
    q = QDQBuilder()
    x, skip = q.input("x", 2, 5, 16), q.input("skip", 2, 5, 8)
    sw = rng.uniform(0.005, 0.02, 8).astype(np.float32)
    w_int = rng.integers(-127, 128, (16, 8))
    mm = q.op("linalg.matmul", [q.qdq(x, 0.05, 130), q.weight(w_int, sw, axis=1)], name="fc")
    bias = q.g.add_constant(rng_uniform(rng, -1, 1, 8), "bias")
    y = q.op("ew.add", [mm, bias], name="fc_bias")
    graph = q.outputs(q.op("ew.add", [y, skip], name="residual"))
    inputs = {"x": rng_uniform(rng, -6, 6, 2, 5, 16), "skip": rng_uniform(rng, -1, 1, 2, 5, 8)}
    lowered = copy(graph)
    report = lower_quantized(lowered)
    assert report.created == {"matmul": 1, "float-output": 1}
    assert integer_ops(lowered) == {"quant.quantize", "quant.matmul", "quant.dequantize",
                                    "ew.add"}
    (mm_int,) = [n for n in lowered if n.op == "quant.matmul"]
    dq = mm_int.outputs[0].users[0]
    assert dq.op == "quant.dequantize" and dq.attr("axis") == 2
    assert dq.outputs[0].name == "fc_bias"  # the bias add's result, now the dequantized one
    scale = np.float32(0.05) * sw
    # exact: integer matmul in int64, the i32 bias rounded on the accumulator scale
    codes = np.clip(np.rint(inputs["x"] / np.float32(0.05)) + 130, 0, 255).astype(np.int64)
    b_int = np.rint(bias.data.astype(np.float64) / scale.astype(np.float64)).astype(np.int64)
    acc = (codes - 130) @ w_int + b_int
    want = acc.astype(np.float32) * scale + inputs["skip"]
    np.testing.assert_array_equal(interpret(lowered, inputs)["residual"], want)
    assert_float_agrees(graph, lowered, inputs)


def test_attention_scores_matmul_stays_float_for_the_softmax():
    """Q x K^T of two quantized activations, read by a float scale and softmax: one scale
    s_q * s_k for the whole accumulator."""
    rng = np.random.default_rng(11)  # its own: the other tests' data stays as it was
    q = QDQBuilder()
    a, b = q.input("a", 2, 6, 8), q.input("b", 2, 8, 6)
    scores = q.op("linalg.matmul", [q.qdq(a, 0.03, 128), q.qdq(b, 0.02, 120)], name="qk")
    k = q.g.add_constant(np.asarray(0.35, np.float32), "k")
    scaled = q.op("ew.mul", [scores, k], name="scale")
    graph = q.outputs(q.op("reduce.softmax", [scaled], {"axis": -1}, name="softmax"))
    inputs = {"a": rng_uniform(rng, -3, 3, 2, 6, 8), "b": rng_uniform(rng, -2, 3, 2, 8, 6)}
    lowered = copy(graph)
    lower_quantized(lowered)
    dq = next(n for n in lowered if n.op == "quant.dequantize")
    assert dq.inputs[1].type.shape == () and "axis" not in dq.attrs
    assert dq.inputs[1].data == np.float32(0.03) * np.float32(0.02)
    assert_float_agrees(graph, lowered, inputs)


def test_quantize_then_lower_a_residual_block_leaves_only_the_float_ops_in_float():
    """End to end: the quantize pass leaves the linear layer's result and the residual add
    unquantized, and lowering runs everything else in integers."""
    import leptonc
    from leptonc.quant.qdq import quantize_graph

    text = """
    graph @g(%v: f32[4,16], %skip: f32[4,8]) {
      %w = const external : f32[16,8]
      %b = const external : f32[8]
      %gamma = const external : f32[8]
      %beta = const external : f32[8]
      %m = linalg.matmul(%v, %w) : f32[4,8] loc("fc")
      %y = ew.add(%m, %b) : f32[4,8] loc("fc_bias")
      %s = ew.add(%y, %skip) : f32[4,8] loc("residual")
      %n = nn.layer_norm(%s, %gamma, %beta) {axis=-1} : f32[4,8] loc("norm")
      return %n
    }"""
    rng = np.random.default_rng(4)
    graph = leptonc.parse_graph(text, external=lambda name: rng.standard_normal(
        {"w": (16, 8)}.get(name, (8,))).astype(np.float32))
    data = [{"v": rng.standard_normal((4, 16)).astype(np.float32) * 3,
             "skip": rng.standard_normal((4, 8)).astype(np.float32)} for _ in range(3)]
    quantize_graph(graph, data, progress=False)
    lowered = copy(graph)
    report = lower_quantized(lowered)
    assert report.created == {"matmul": 1, "float-output": 1}
    assert [str(i) for i in report.islands] == [
        "residual (ew.add): first operand is the float result of an i32 accumulation, not a "
        "quantized activation"]
    assert {n.op for n in lowered} == {"quant.quantize", "quant.matmul", "quant.dequantize",
                                       "ew.add", "nn.layer_norm"}
    for batch in data:
        assert_float_agrees(graph, lowered, batch)


# ----- elementwise arithmetic ------------------------------------------------------------------
def test_add_and_mul_with_broadcasting_and_mixed_types():
    q = QDQBuilder()
    a, b = q.input("a", 3, 1, 8), q.input("b", 4, 8)
    s = q.op("ew.add", [q.qdq(a, 0.05, 100), q.qdq(b, 0.08, -7, I8)], name="add")
    s_dq = q.qdq(s, 0.1, 128)
    m = q.op("ew.mul", [s_dq, q.qdq(b, 0.08, -7, I8)], name="mul")
    graph = q.outputs(q.quantize(m, 0.2, 0, I8))
    inputs = {"a": uniform(-5, 7, 3, 1, 8), "b": uniform(-8, 8, 4, 8)}
    lowered = lower_and_compare(graph, inputs, max_step=2)
    assert {"quant.add", "quant.mul"} <= integer_ops(lowered)
    assert_all_integer(lowered)


# ----- ops on integers as they are -------------------------------------------------------------
def test_pass_through_ops_are_exact_and_padding_fills_the_quantized_value():
    q = QDQBuilder()
    x = q.input("x", 1, 4, 4, 4)
    x_dq = q.qdq(x, 0.05, 100)
    pads = q.g.add_constant(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "pads")
    p = q.op("shape.pad", [x_dq, pads], {"value": 0.5}, name="pad")
    p_dq = q.qdq(p, 0.05, 100)
    mp = q.op("nn.max_pool", [p_dq], {"kernel_shape": (2, 2), "strides": (2, 2)}, name="pool")
    mp_dq = q.qdq(mp, 0.05, 100)
    t = q.op("shape.transpose", [mp_dq], {"perm": (0, 2, 3, 1)}, name="transpose")
    t_q = q.quantize(t, 0.05, 80)  # another zero point: an (exact) requantize follows
    parts = q.op("shape.split", [mp_dq], {"axis": 1, "num_outputs": 2}, name="split")
    graph = q.outputs(t_q, *(q.quantize(v, 0.05, 100) for v in parts))
    lowered = lower_and_compare(graph, {"x": uniform(-5, 8, 1, 4, 4, 4)}, max_step=0)
    pad = next(n for n in lowered if n.op == "shape.pad")
    assert pad.attr("value") == 110.0  # 0.5 / 0.05 + 100
    assert [n.op for n in lowered].count("quant.requantize") == 1
    assert_all_integer(lowered)


def test_concat_requantizes_only_inputs_with_other_parameters():
    q = QDQBuilder()
    a, b = q.input("a", 1, 2, 3), q.input("b", 1, 3, 3)
    c = q.op("shape.concat", [q.qdq(a, 0.07, 100), q.qdq(b, 0.1, 0)], {"axis": 1}, name="cat")
    graph = q.outputs(q.quantize(c, 0.1, 0))
    lowered = lower_and_compare(graph, {"a": uniform(-5, 8, 1, 2, 3), "b": uniform(0, 20, 1, 3, 3)})
    rq = [n for n in lowered if n.op == "quant.requantize"]
    assert len(rq) == 1 and rq[0].inputs[0].name == "a_q"


# ----- averages --------------------------------------------------------------------------------
def test_average_pool_global_pool_and_mean_run_as_integer_sums():
    q = QDQBuilder()
    x = q.input("x", 2, 3, 6, 6)
    x_dq = q.qdq(x, 0.05, 90)
    ap = q.op("nn.avg_pool", [x_dq], {"kernel_shape": (3, 3), "strides": (1, 1),
                                      "pads": (1, 1, 1, 1), "count_include_pad": True}, name="avg")
    gp = q.op("nn.global_avg_pool", [q.qdq(ap, 0.04, 95)], name="gap")
    mean = q.op("reduce.mean", [x_dq], {"axes": (1, 3), "keepdims": False}, name="mean")
    graph = q.outputs(q.quantize(gp, 0.02, 110), q.quantize(mean, 0.03, 100))
    lowered = lower_and_compare(graph, {"x": uniform(-4, 6, 2, 3, 6, 6)})
    assert {"quant.sum_pool", "quant.reduce_sum"} <= integer_ops(lowered)
    assert_all_integer(lowered)


def test_average_pool_with_uneven_border_windows_stays_in_float():
    q = QDQBuilder()
    x = q.input("x", 1, 2, 5, 5)
    ap = q.op("nn.avg_pool", [q.qdq(x, 0.05, 90)], {"kernel_shape": (3, 3), "pads": (1, 1, 1, 1)},
              name="avg")
    graph = q.outputs(q.quantize(ap, 0.05, 90))
    report = lower_quantized(graph)
    assert [i.reason for i in report.islands] == [
        "padded border windows average fewer values (count_include_pad=false)"]


# ----- lookup tables and clamps ----------------------------------------------------------------
@pytest.mark.parametrize("op, attrs", [
    ("ew.sigmoid", {}), ("ew.gelu", {}), ("ew.tanh", {}), ("ew.leaky_relu", {"alpha": 0.1}),
    ("ew.hard_swish", {}), ("ew.exp", {}), ("ew.elu", {}),
])
def test_lookup_tables_reproduce_the_fake_quantized_op_exactly(op, attrs):
    q = QDQBuilder()
    x = q.input("x", 4, 64)
    y = q.op(op, [q.qdq(x, 0.03, 128)], attrs, name="f")
    graph = q.outputs(q.quantize(y, 0.02, 20, I8))
    codes = np.linspace(-3.84, 3.81, 256, dtype=np.float32).reshape(4, 64)  # every u8 code
    lowered = lower_and_compare(graph, {"x": codes}, max_step=0)
    assert integer_ops(lowered) == {"quant.quantize", "quant.lut"}


def test_four_bit_lookup_table_has_sixteen_entries():
    i4 = dtypes.parse_dtype("i4")
    q = QDQBuilder()
    x = q.input("x", 2, 40)
    y = q.op("ew.tanh", [q.qdq(x, 0.25, -1, i4)], name="tanh")
    graph = q.outputs(q.quantize(y, 1 / 128, 0, I8))
    lowered = lower_and_compare(graph, {"x": uniform(-2.5, 2.5, 2, 40)}, max_step=0)
    (lut,) = [n for n in lowered if n.op == "quant.lut"]
    assert lut.inputs[1].type == TensorType(I8, (16,))


def test_wide_relu_becomes_an_exact_clamp():
    q = QDQBuilder()
    x = q.input("x", 3, 50)
    y = q.op("ew.relu", [q.qdq(x, 0.001, 5, I16)], name="relu")
    graph = q.outputs(q.quantize(y, 0.001, 5, I16))
    lowered = lower_and_compare(graph, {"x": uniform(-20, 20, 3, 50)}, max_step=0)
    (rq,) = [n for n in lowered if n.op == "quant.requantize"]
    assert rq.attr("qmin") == 5


# ----- the pass --------------------------------------------------------------------------------
def test_float_island_notes_group_repeated_reasons():
    from leptonc.passes.quant.lower_quantized import FloatIsland, island_notes

    islands = [FloatIsland(f"ln{i}", "nn.layer_norm", "no integer form") for i in range(5)]
    islands.append(FloatIsland("sm", "reduce.softmax", "no integer form"))
    assert island_notes(islands) == [
        "kept in float: nn.layer_norm x5 (ln0, ln1, ln2 and 2 more): no integer form",
        "kept in float: reduce.softmax x1 (sm): no integer form"]


def test_pass_reports_patterns_in_stats_and_float_islands_in_notes():
    q = QDQBuilder()
    x = q.input("x", 2, 10)
    x_dq = q.qdq(x, 0.05, 128)
    s = q.op("reduce.softmax", [x_dq], {"axis": 1}, name="softmax")
    r = q.op("ew.relu", [x_dq], name="relu")
    graph = q.outputs(s, q.quantize(r, 0.05, 128))
    (record,) = PassManager.from_pipeline("lower-quantized").run(graph)
    assert record.result.stats == {"lut": 1, "float-islands": 1}
    assert record.result.notes == [
        "kept in float: reduce.softmax x1 (softmax): reduce.softmax has no integer form"]


# ----- a trained model -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits():
    pytest.importorskip("sklearn")
    import make_models

    import leptonc
    from leptonc.quant.qdq import quantize_graph

    x_train, _, x_test, y_test = make_models.digits_data()
    graph = leptonc.load_onnx(make_models.digits_cnn_onnx())
    PassManager.from_pipeline("canonicalize,fold-batchnorm").run(graph)
    name = graph.inputs[0].name
    calib = [{name: x_train[i:i + 128]} for i in range(0, 512, 128)]
    quantize_graph(graph, calib, progress=False)  # u8 activations, per-channel i8 weights
    return graph, x_test, y_test, make_models


def test_digits_cnn_integer_graph_predicts_like_the_fake_quantized_graph(digits):
    fake_quant, x_test, y_test, make_models = digits
    lowered = copy(fake_quant)
    report = lower_quantized(lowered)
    assert not report.islands
    assert report.created["conv"] == 3 and report.created["matmul"] == 1
    assert_all_integer(lowered)
    want = make_models.predict(fake_quant, x_test)
    got = make_models.predict(lowered, x_test)
    assert (got == want).mean() >= 0.99
    assert (got == y_test).mean() >= 0.98


def test_a_refused_lowering_leaves_the_qdq_graph_as_it_was():
    q = QDQBuilder()
    x = q.input("x", 1, 2, 3, 3)
    w = q.weight(RNG.integers(-127, 128, (2, 2, 1, 1)), [0.01, 0.02], axis=0)
    y = q.op("nn.conv", [q.qdq(x, 0.5, 0), w], name="conv")
    graph = q.outputs(q.quantize(y, 1e-12, 0))  # s_x * s_w / s_y >= 2**30: no multiplier
    before = print_graph(graph)
    report = lower_quantized(graph)
    assert not report.created and "too large" in report.islands[0].reason
    assert print_graph(graph) == before
