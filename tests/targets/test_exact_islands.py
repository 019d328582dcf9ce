"""The float islands of an int8 graph on ``--target cpu`` give the interpreter's bits.

f32 softmax, log-softmax and LayerNorm compute in f64 and round to f32 once, in the
interpreter and in the TVM lowering alike, so their different summation orders cannot show in
the result.  That matters because an island's output is quantized again: one ulp of
difference moves a value across a rounding boundary and the integer layers after it spread
the flip.  Checked per op on random rows, and end to end on a small quantized graph whose
softmax and LayerNorm sit between integer matmuls.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

pytest.importorskip("tvm")

from tvm_testing import run_cpu  # noqa: E402  (tests/ is on sys.path)

import leptonc  # noqa: E402
from leptonc.interp import run as interpret  # noqa: E402
from leptonc.ir import dtypes  # noqa: E402
from leptonc.ir.builder import Builder  # noqa: E402
from leptonc.ir.graph import Graph  # noqa: E402
from leptonc.ir.types import TensorType  # noqa: E402
from leptonc.passes.quant.lower_quantized import lower_quantized  # noqa: E402
from leptonc.passmgr import run_pipeline  # noqa: E402
from leptonc.quant.qdq import quantize_graph  # noqa: E402

F32 = dtypes.f32
RNG = np.random.default_rng(5)


def assert_same_bits(graph: Graph, feeds: dict[str, np.ndarray]) -> None:
    want, got = interpret(graph, feeds), run_cpu(graph, feeds)
    for name, w in want.items():
        g = got[name]
        assert g.dtype == w.dtype and g.shape == w.shape, name
        unequal = int(np.count_nonzero(g.view(np.uint32) != w.view(np.uint32)))
        assert unequal == 0, f"{name}: {unequal} of {w.size} values differ, max |diff| " \
                             f"{np.max(np.abs(g.astype(np.float64) - w)):.3g}"


def one_op_graph(op: str, x: np.ndarray, params: list[np.ndarray], attrs: dict) -> Graph:
    graph = Graph(op.replace(".", "_"))
    operands = [graph.add_input("x", TensorType(F32, x.shape))]
    operands += [graph.add_constant(p, f"p{i}", TensorType(F32, p.shape)) for i, p in enumerate(params)]
    graph.set_outputs([Builder(graph).op(op, operands, attrs, name="y")])
    return graph


ROWS = (RNG.standard_normal((6, 40, 96)) * 4).astype(np.float32)
GAMMA, BETA = RNG.standard_normal(96).astype(np.float32), RNG.standard_normal(96).astype(np.float32)


@pytest.mark.parametrize("op, params, attrs", [
    ("reduce.softmax", [], {"axis": -1}),
    ("reduce.softmax", [], {"axis": 1}),
    ("reduce.log_softmax", [], {"axis": -1}),
    ("nn.layer_norm", [GAMMA, BETA], {"axis": -1}),
    ("nn.layer_norm", [GAMMA], {"axis": -1, "epsilon": 1e-12}),
    # two normalised axes; the scale broadcasts over the first of them
    ("nn.layer_norm", [GAMMA.reshape(1, 96)], {"axis": 1}),
], ids=["softmax", "softmax_middle_axis", "log_softmax", "layer_norm", "layer_norm_no_bias",
        "layer_norm_two_axes"])
def test_f32_island_op_matches_the_interpreter_bit_for_bit(op, params, attrs):
    assert_same_bits(one_op_graph(op, ROWS, params, attrs), {"x": ROWS})


@pytest.mark.parametrize("op", ["reduce.softmax", "reduce.log_softmax"])
@pytest.mark.parametrize("axis", [-1, 0])
def test_softmax_rows_with_infinities_and_nan_match_the_interpreter(op, axis):
    x = RNG.standard_normal((4, 6, 5)).astype(np.float32)
    x[0, 0, :] = -np.inf  # a row with nothing finite: NaN, as numpy gives
    x[1, 1, 2], x[2, 2, 1], x[3, 3, 3] = -np.inf, np.inf, np.nan
    graph = one_op_graph(op, x, [], {"axis": axis})
    want, got = interpret(graph, {"x": x})["y"], run_cpu(graph, {"x": x})["y"]
    same = (want.view(np.uint32) == got.view(np.uint32)) | (np.isnan(want) & np.isnan(got))
    assert same.all(), f"{np.count_nonzero(~same)} values differ"


def test_interpreter_softmax_is_the_f64_result_rounded_once():
    got = interpret(one_op_graph("reduce.softmax", ROWS, [], {"axis": -1}), {"x": ROWS})["y"]
    wide = ROWS.astype(np.float64)
    exps = np.exp(wide - wide.max(-1, keepdims=True))
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, (exps / exps.sum(-1, keepdims=True)).astype(np.float32))


def test_f64_layer_norm_computes_in_f64():
    """TVM's own layer_norm takes only f32/f16: f64 (and an f32 stash under f64 values, which
    the interpreter widens) goes through the spelled-out f64 kernel."""
    graph = Graph("layer_norm_f64")
    x = graph.add_input("x", TensorType(dtypes.f64, ROWS.shape))
    gamma = graph.add_constant(GAMMA.astype(np.float64), "gamma", TensorType(dtypes.f64, GAMMA.shape))
    graph.set_outputs([Builder(graph).op("nn.layer_norm", [x, gamma], {"axis": -1}, name="y")])
    feeds = {"x": ROWS.astype(np.float64)}
    np.testing.assert_allclose(run_cpu(graph, feeds)["y"], interpret(graph, feeds)["y"], rtol=0, atol=1e-13)


INT8_ISLANDS = """
graph @islands(%x: f32[2,48,64]) {
  %w1 = const external : f32[64,64]
  %w2 = const external : f32[64,64]
  %w3 = const external : f32[64,32]
  %gamma = const external : f32[64]
  %beta = const external : f32[64]
  %scores = linalg.matmul(%x, %w1) : f32[2,48,64] loc("scores")
  %probs = reduce.softmax(%scores) {axis=-1} : f32[2,48,64] loc("softmax")
  %mixed = linalg.matmul(%probs, %w2) : f32[2,48,64] loc("mix")
  %normed = nn.layer_norm(%mixed, %gamma, %beta) {axis=-1} : f32[2,48,64] loc("norm")
  %y = linalg.matmul(%normed, %w3) : f32[2,48,32] loc("out")
  return %y
}"""


def test_int8_graph_with_softmax_and_layer_norm_islands_is_bit_exact():
    shapes = {"w1": (64, 64), "w2": (64, 64), "w3": (64, 32)}
    graph = leptonc.parse_graph(INT8_ISLANDS, external=lambda name: (
        RNG.standard_normal(shapes.get(name, (64,))) * (0.3 if name in shapes else 1)).astype(np.float32))
    batches = [{"x": RNG.standard_normal((2, 48, 64)).astype(np.float32) * 2} for _ in range(3)]
    quantize_graph(graph, batches, progress=False)
    report = lower_quantized(graph)
    islands = Counter(island.op for island in report.islands)
    assert islands["reduce.softmax"] == 1 and islands["nn.layer_norm"] == 1, islands
    assert Counter(n.op for n in graph)["quant.matmul"] == 3
    run_pipeline(graph, "O2")
    # The islands' own f32 results are outputs too: a flip of the quantized values after them
    # is rare on a graph this small, an ulp of difference in the islands is not.
    island_results = [n.outputs[0] for n in graph if n.op in ("reduce.softmax", "nn.layer_norm")]
    assert len(island_results) == 2
    graph.set_outputs(list(graph.outputs) + island_results)
    assert_same_bits(graph, {"x": RNG.standard_normal((2, 48, 64)).astype(np.float32) * 2})


ATTENTION_ISLAND = """
graph @attention(%x: f32[1,2,16,8]) {
  %wq = const external : f32[8,8]
  %wk = const external : f32[8,8]
  %wv = const external : f32[8,8]
  %wo = const external : f32[8,8]
  %q = linalg.matmul(%x, %wq) : f32[1,2,16,8] loc("q")
  %k = linalg.matmul(%x, %wk) : f32[1,2,16,8] loc("k")
  %v = linalg.matmul(%x, %wv) : f32[1,2,16,8] loc("v")
  %a = nn.attention(%q, %k, %v) : f32[1,2,16,8] loc("attention")
  %y = linalg.matmul(%a, %wo) : f32[1,2,16,8] loc("out")
  return %y
}"""


def test_attention_island_of_an_int8_graph_is_widened_and_bit_exact():
    graph = leptonc.parse_graph(ATTENTION_ISLAND, external=lambda name: (
        RNG.standard_normal((8, 8)) * 0.5).astype(np.float32))
    batches = [{"x": RNG.standard_normal((1, 2, 16, 8)).astype(np.float32)} for _ in range(3)]
    quantize_graph(graph, batches, progress=False)
    lower_quantized(graph)
    (attention,) = [n for n in graph if n.op == "nn.attention"]
    assert attention.attr("softmax_dtype") == dtypes.f64  # one rounding, whatever the order
    assert Counter(n.op for n in graph)["quant.matmul"] == 4
    graph.set_outputs(list(graph.outputs) + [attention.outputs[0]])
    assert_same_bits(graph, {"x": RNG.standard_normal((1, 2, 16, 8)).astype(np.float32)})
