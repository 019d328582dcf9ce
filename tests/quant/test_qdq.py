"""quantize_graph: the QDQ form it writes, its parameters, its decisions, bias correction, and
the digits CNN's accuracy after quantization."""

import numpy as np
import pytest

import leptonc
from leptonc.errors import UsageError
from leptonc.ir import dtypes
from leptonc.quant import QuantConfig, quantize_graph, scheme_config
from leptonc.quant.qdq import power_of_two

CNN = """
graph @g(%x: f32[N,2,4,4]) {
  %w = const external : f32[3,2,3,3]
  %b = const [0.1, -0.2, 0.3] : f32[3]
  %shape = const [-1, 12] : i64[2]
  %fc = const external : f32[12,4]
  %fc.b = const [0.05, -0.1, 0.2, 0.0] : f32[4]
  %c = nn.conv(%x, %w, %b) {pads=[1, 1, 1, 1]} : f32[N,3,4,4] loc("conv")
  %r = ew.relu(%c) : f32[N,3,4,4] loc("relu")
  %p = nn.max_pool(%r) {kernel_shape=[2, 2], strides=[2, 2]} : f32[N,3,2,2] loc("pool")
  %f = shape.reshape(%p, %shape) : f32[?,12] loc("flatten")
  %m = linalg.matmul(%f, %fc) : f32[?,4] loc("fc")
  %logits = ew.add(%m, %fc.b) : f32[?,4] loc("fc_bias")
  %probs = reduce.softmax(%logits) {axis=-1} : f32[?,4] loc("softmax")
  return %logits as "logits", %probs as "probs"
}
"""


def parse(text: str, seed: int = 0, **shapes: tuple[int, ...]) -> leptonc.Graph:
    """The graph with its external constants (shapes by name) drawn from N(0, 0.5^2)."""
    rng = np.random.default_rng(seed)
    return leptonc.parse_graph(
        text, external=lambda name: (rng.standard_normal(shapes[name]) * 0.5).astype(np.float32))


def cnn() -> leptonc.Graph:
    return parse(CNN, w=(3, 2, 3, 3), fc=(12, 4))


def batches(count=4, n=8, seed=1):
    rng = np.random.default_rng(seed)
    return [{"x": rng.standard_normal((n, 2, 4, 4)).astype(np.float32)} for _ in range(count)]


def node(g, op, label=None):
    found = [n for n in g if n.op == op and (label is None or n.source_name == label)]
    assert len(found) == 1, f"{op} {label}: {found}"
    return found[0]


def qdq_source(v):
    """(quantize node, dequantize node) a value is read through."""
    dq = v.producer
    assert dq.op == "quant.dequantize"
    return dq.inputs[0].producer, dq


def test_qdq_form_of_a_small_cnn():
    g = cnn()
    report = quantize_graph(g, batches(), progress=False)
    leptonc.verify(g)
    conv, mm = node(g, "nn.conv"), node(g, "linalg.matmul")
    # activation input: quantize/dequantize of the graph input with u8 parameters
    q, _ = qdq_source(conv.inputs[0])
    assert q.inputs[0] is g.inputs[0] and q.attrs["dtype"] == dtypes.u8
    # weights: per-channel i8 (axis 0 for conv, the columns for matmul), symmetric
    w_dq = conv.inputs[1].producer
    assert w_dq.inputs[0].type.dtype == dtypes.i8 and w_dq.attrs["axis"] == 0
    assert w_dq.inputs[1].data.shape == (3,) and not w_dq.inputs[2].data.any()
    assert mm.inputs[1].producer.attrs["axis"] == 1
    # conv bias: i32 with scale x_scale * w_scale
    b_dq = conv.inputs[2].producer
    assert b_dq.inputs[0].type.dtype == dtypes.i32
    np.testing.assert_array_equal(b_dq.inputs[1].data,
                                  (q.inputs[1].data * w_dq.inputs[1].data).astype(np.float32))
    # the relu is inside the conv unit: its input is not quantized, its output is
    relu = node(g, "ew.relu")
    assert relu.inputs[0] is conv.outputs[0]
    # max pool and flatten reuse the relu's scale/zero-point constants
    pool_q, _ = qdq_source(node(g, "shape.reshape").inputs[0])
    relu_q, _ = qdq_source(node(g, "nn.max_pool").inputs[0])
    assert pool_q.inputs[1] is relu_q.inputs[1] and pool_q.inputs[2] is relu_q.inputs[2]
    # the matmul absorbs its bias add; the softmax head stays float
    add = node(g, "ew.add")
    assert add.inputs[0] is mm.outputs[0]
    assert add.inputs[1].producer.inputs[0].type.dtype == dtypes.i32
    assert report.decision("softmax").reason.startswith("kept in float")
    # the logits output keeps its public and its value name, now on the dequantized value
    assert g.output_names == ["logits", "probs"]
    assert g.outputs[0].name == "logits" and g.outputs[0].producer.op == "quant.dequantize"
    assert report.stats["weights"] == 2 and report.stats["biases"] == 2


def test_fake_quant_outputs_stay_within_a_few_steps_of_float():
    ref = leptonc.run(cnn(), batches(1, 32, seed=9)[0])["logits"]
    g = cnn()
    report = quantize_graph(g, batches(), progress=False)
    out = leptonc.run(g, batches(1, 32, seed=9)[0])["logits"]
    step = float(report.tensor("logits").scale)
    err = np.abs(out - ref)
    assert 0 < err.mean() < 2 * step and err.max() < 8 * step


def test_every_reader_of_a_quantized_value_reads_the_dequantized_one():
    g = cnn()
    quantize_graph(g, batches(), progress=False)
    for n in g:
        if n.op == "quant.quantize":
            x = n.inputs[0]
            assert [u.op for u in x.users] == ["quant.quantize"], x


def test_already_quantized_graph_is_refused():
    g = cnn()
    quantize_graph(g, batches(), progress=False)
    with pytest.raises(UsageError, match="already quantized"):
        quantize_graph(g, batches(), progress=False)


def test_ignore_by_name_op_type_and_pattern_and_only():
    g = cnn()
    report = quantize_graph(g, batches(), QuantConfig(ignore=("conv", "nn.max_pool", "fc*")),
                            progress=False)
    reasons = {d.node: d.reason for d in report.nodes}
    assert reasons["conv"] == "ignored by pattern 'conv'"
    assert reasons["pool"] == "ignored by pattern 'nn.max_pool'"
    assert reasons["fc"] == reasons["fc_bias"] == "ignored by pattern 'fc*'"
    assert node(g, "nn.conv").inputs[1].is_constant  # float weight
    # the relu between the ignored conv and pool would be dequantized at once
    assert report.decision("relu").reason == "kept in float: read only by float ops (nn.max_pool)"
    assert not [n for n in g if n.op.startswith("quant.")]
    g = cnn()
    report = quantize_graph(g, batches(), QuantConfig(ignore=("conv",)), progress=False)
    assert report.decision("relu").reason == "quantized"  # on its own, not fused
    g = cnn()
    report = quantize_graph(g, batches(), QuantConfig(only=frozenset({"fc"})), progress=False)
    assert [d.node for d in report.nodes if d.quantized] == ["fc"]
    assert report.decision("fc_bias").reason == "not selected (only)"


def test_sigmoid_head_is_fragile_unless_asked():
    text = """
    graph @g(%v: f32[2,4]) {
      %w = const [0.5, -0.25, 0.125, 1.0, -0.5, 0.75, 0.25, 0.0] : f32[4,2]
      %m = linalg.matmul(%v, %w) : f32[2,2] loc("fc")
      %s = ew.sigmoid(%m) : f32[2,2] loc("head")
      return %s
    }"""
    data = [{"v": np.linspace(-2, 2, 8, dtype=np.float32).reshape(2, 4)}]
    report = quantize_graph(leptonc.parse_graph(text), data, progress=False)
    assert "sigmoid head" in report.decision("head").reason
    report = quantize_graph(leptonc.parse_graph(text), data,
                            QuantConfig(keep_fragile_in_float=False), progress=False)
    assert report.decision("head").quantized
    int16 = scheme_config("int16", keep_fragile_in_float=False)
    report = quantize_graph(leptonc.parse_graph(text), data, int16, progress=False)
    assert "lookup table" in report.decision("head").reason


RESIDUAL = """
graph @g(%v: f32[2,4], %skip: f32[2,4]) {
  %w = const external : f32[4,4]
  %b = const [0.1, 0.2, 0.3, 0.4] : f32[4]
  %gamma = const [1.0, 1.0, 1.0, 1.0] : f32[4]
  %beta = const [0.0, 0.0, 0.0, 0.0] : f32[4]
  %m = linalg.matmul(%v, %w) : f32[2,4] loc("fc")
  %y = ew.add(%m, %b) : f32[2,4] loc("fc_bias")
  %s = ew.add(%y, %skip) : f32[2,4] loc("residual")
  %n = nn.layer_norm(%s, %gamma, %beta) {axis=-1} : f32[2,4] loc("norm")
  return %n
}"""


def residual_data():
    rng = np.random.default_rng(0)
    return [{"v": rng.standard_normal((2, 4)).astype(np.float32),
             "skip": rng.standard_normal((2, 4)).astype(np.float32)}]


def test_what_only_float_ops_read_is_not_quantized():
    """The residual add only feeds a LayerNorm: it stays float; the matmul unit (with its
    bias add, which is part of it) keeps quantized inputs, weight and i32 bias, but its
    result, read only by that float add, gets no quantize/dequantize."""
    g = parse(RESIDUAL, w=(4, 4))
    report = quantize_graph(g, residual_data(), progress=False)
    assert report.decision("residual").reason == \
        "kept in float: read only by float ops (nn.layer_norm)"
    assert report.decision("fc").reason == \
        "quantized, output stays float: read only by float ops (ew.add)"
    assert report.decision("fc_bias").reason == "quantized (fused into fc)"
    add = node(g, "ew.add", "fc_bias")
    assert add.inputs[1].producer.inputs[0].type.dtype == dtypes.i32  # the bias is i32
    assert [u.op for u in add.outputs[0].users] == ["ew.add"]  # read as it is: no QDQ
    assert {t.name for t in report.tensors_of("activation")} == {"v"}
    assert report.stats["quantized-nodes"] == 2


CHAIN = """
graph @g(%v: f32[2,8]) {
  %w = const external : f32[8,8]
  %k = const [0.5] : f32[]
  %shape = const [2, 2, 4] : i64[3]
  %m = linalg.matmul(%v, %w) : f32[2,8] loc("fc")
  %r = shape.reshape(%m, %shape) : f32[2,2,4] loc("heads")
  %t = shape.transpose(%r) {perm=[1, 0, 2]} : f32[2,2,4] loc("swap")
  %x = ew.mul(%t, %k) : f32[2,2,4] loc("scale")
  %p = reduce.softmax(%x) {axis=-1} : f32[2,2,4] loc("softmax")
  %e = ew.exp(%t) : f32[2,2,4] loc("exp")
  return %p, %e
}"""


def test_float_readers_propagate_back_until_a_quantized_reader_or_output():
    """scale only feeds the softmax, so it stays float; swap is read by it and by exp, which
    produces a graph output and so keeps today's quantization: swap, heads and the matmul's
    result stay quantized.  Without exp nothing after the matmul is quantized."""
    data = [{"v": np.linspace(-2, 2, 16, dtype=np.float32).reshape(2, 8)}]
    report = quantize_graph(parse(CHAIN, w=(8, 8)), data, progress=False)
    reasons = {d.node: d.reason for d in report.nodes}
    assert reasons["scale"] == "kept in float: read only by float ops (reduce.softmax)"
    assert reasons["exp"] == reasons["swap"] == reasons["heads"] == reasons["fc"] == "quantized"
    assert report.tensor("e").dtype == "u8"

    exp = '  %e = ew.exp(%t) : f32[2,2,4] loc("exp")\n'
    g = parse(CHAIN.replace(exp, "").replace("return %p, %e", "return %p"), w=(8, 8))
    report = quantize_graph(g, data, progress=False)
    reasons = {d.node: d.reason for d in report.nodes}
    assert reasons["swap"] == "kept in float: read only by float ops (ew.mul)"
    assert reasons["heads"] == "kept in float: read only by float ops (shape.transpose)"
    assert reasons["fc"] == "quantized, output stays float: read only by float ops (shape.reshape)"
    assert [t.name for t in report.tensors_of("activation")] == ["v"]
    assert node(g, "shape.reshape").inputs[0] is node(g, "linalg.matmul").outputs[0]


def test_only_quantizes_a_layer_as_the_whole_configuration_would():
    """The sensitivity analysis quantizes one layer at a time with ``only``: the readers it
    leaves out do not count as float ops, so fc keeps its output quantization when alone
    exactly when it has it in the full model."""
    g = cnn()
    report = quantize_graph(g, batches(), QuantConfig(only=frozenset({"m", "logits"})),
                            progress=False)
    assert report.decision("fc").reason == "quantized"
    assert report.decision("pool").reason == "not selected (only)"
    assert report.tensor("logits").role == "activation"  # a graph output: quantized
    g = parse(RESIDUAL, w=(4, 4))
    report = quantize_graph(g, residual_data(), QuantConfig(only=frozenset({"m", "y"})),
                            progress=False)
    assert report.decision("fc").reason.startswith("quantized, output stays float")
    assert report.decision("residual").reason.startswith("kept in float: read only")


def test_weight_only_never_reads_data():
    class NoData:
        def __iter__(self):
            raise AssertionError("weight-only quantization must not calibrate")

    g = cnn()
    report = quantize_graph(g, NoData(), scheme_config("int4-weights"), progress=False)
    assert not [n for n in g if n.op == "quant.quantize"]
    assert node(g, "nn.conv").inputs[1].producer.inputs[0].type.dtype == dtypes.parse_dtype("i4")
    assert report.decision("relu").reason.startswith("weight-only")
    assert report.batches == 0


def test_per_tensor_weights():
    g = cnn()
    quantize_graph(g, batches(), QuantConfig(per_channel=False), progress=False)
    w_dq = node(g, "nn.conv").inputs[1].producer
    assert w_dq.inputs[1].data.shape == () and "axis" not in w_dq.attrs


def test_pow2_scales_are_powers_of_two_and_clip_nothing_more():
    g = cnn()
    report = quantize_graph(g, batches(), QuantConfig(pow2_scales=True), progress=False)
    for t in report.tensors:
        exponent = np.log2(np.asarray(t.scale, np.float64))
        np.testing.assert_array_equal(exponent, np.round(exponent))
    # the grid covers at least the range the unrounded parameters covered
    rng = np.random.default_rng(3)
    lo, hi = -rng.random(100) * 5, rng.random(100) * 7
    for dtype in (dtypes.u8, dtypes.i8, dtypes.parse_dtype("i4")):
        from leptonc.quant.observers import range_qparams

        scale, zp = range_qparams(lo, hi, dtype, symmetric=False)
        s2, z2 = power_of_two(scale, zp, dtype)
        covered_lo = s2 * (dtype.min - z2.astype(np.float64))
        covered_hi = s2 * (dtype.max - z2.astype(np.float64))
        old_lo = scale * (dtype.min - zp.astype(np.float64))
        old_hi = scale * (dtype.max - zp.astype(np.float64))
        grew = s2 > scale * (1 + 1e-6)  # equal scales keep the exact grid
        assert np.all(covered_lo[grew] <= old_lo[grew] + 1e-6 * s2[grew])
        assert np.all(covered_hi[grew] >= old_hi[grew] - 1e-6 * s2[grew])


BIAS_CASES = {
    "grouped-conv": ("""
    graph @g(%x: f32[N,4,3,3]) {
      %w = const external : f32[6,2,1,1]
      %y = nn.conv(%x, %w) {group=2} : f32[N,6,3,3] loc("conv")
      return %y
    }""", (6, 2, 1, 1), (16, 4, 3, 3), (0, 2, 3)),
    "matmul": ("""
    graph @g(%x: f32[N,7]) {
      %w = const external : f32[7,5]
      %y = linalg.matmul(%x, %w) : f32[N,5] loc("fc")
      return %y
    }""", (7, 5), (16, 7), (0,)),
}


@pytest.mark.parametrize("case", BIAS_CASES)
def test_bias_correction_removes_the_mean_output_error_of_weight_rounding(case):
    """Weight-only 4-bit: y_q - y = (W_q - W) x + correction, whose mean over the calibration
    data is zero after correction (1x1 convs and matmuls have no padding to blur it)."""
    text, w_shape, x_shape, axes = BIAS_CASES[case]
    rng = np.random.default_rng(6)
    data = [{"x": (rng.standard_normal(x_shape) + 1.5).astype(np.float32)} for _ in range(3)]

    def mean_error(correct):
        g, ref = parse(text, 5, w=w_shape), parse(text, 5, w=w_shape)
        quantize_graph(g, data, scheme_config("w4", bias_correction=correct), progress=False)
        errors = [(leptonc.run(g, b)["y"] - leptonc.run(ref, b)["y"]).astype(np.float64).mean(axes)
                  for b in data]
        return float(np.abs(np.mean(errors, axis=0)).max())

    assert mean_error(False) > 1e-2
    assert mean_error(True) < 1e-5


def test_report_lists_every_node_and_serialises():
    g = cnn()
    report = quantize_graph(g, batches(), progress=False)
    assert [d.node for d in report.nodes] == ["conv", "relu", "pool", "flatten", "fc", "fc_bias",
                                               "softmax"]
    j = report.to_json()
    assert j["stats"]["activations"] == len(report.tensors_of("activation")) == 5
    assert {t["name"] for t in j["tensors"] if t["role"] == "activation"} == {
        "x", "r", "p", "f", "logits"}
    text = report.format()
    assert "fused into conv" in text and "same as %r" in text
    assert report.float_reasons() == {
        "kept in float (keep_fragile_in_float): fragile op": 1}


@pytest.mark.slow
def test_digits_cnn_uint8_per_channel_within_half_a_point_of_float():
    from make_models import accuracy, digits_cnn_onnx, digits_data

    from leptonc.passmgr import run_pipeline

    x, _, x_test, y_test = digits_data()
    g = leptonc.load_onnx(digits_cnn_onnx())
    run_pipeline(g, "fold-batchnorm,canonicalize")
    float_acc = accuracy(g, x_test, y_test)
    quantize_graph(g, [{"input": x[i:i + 64]} for i in range(0, 320, 64)],
                   scheme_config("uint8"), progress=False)
    assert accuracy(g, x_test, y_test) >= float_acc - 0.005
