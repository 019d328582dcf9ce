"""Reductions, arg-max/min, the softmax family, cumulative ops and the NLL / cross-entropy
losses (reduce.*) with their ONNX converters: numbers against onnxruntime across opsets,
empty-set identities, run-time axes, dtype preservation and the pre-13 softmax semantics."""

import numpy as np
import pytest
from onnx import TensorProto
from onnx_cases import BF16, assert_matches_ort, one_node, run_leptonc, run_one, run_ort

import leptonc
from leptonc.errors import ShapeError
from leptonc.ir import dtypes
from leptonc.ir.builder import Builder
from leptonc.ir.graph import Graph
from leptonc.ir.types import TensorType

RNG = np.random.default_rng(7)


def check(op_type: str, inputs: list, attrs: dict | None = None, opset: int = 21,
          rtol: float = 1e-5, atol: float = 1e-6, **kw) -> list[np.ndarray]:
    """One ONNX node through leptonc and onnxruntime: the same dtypes and shapes, every
    output within the tolerances."""
    got, _ = assert_matches_ort(*one_node(op_type, inputs, attrs, opset, **kw), rtol, atol,
                                exact=False)
    return got


def positive(*shape):
    return RNG.uniform(0.5, 2.0, shape).astype(np.float32)


# ----- reductions -----------------------------------------------------------------------------
REDUCTIONS = ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
              "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"]


def _axes_move_to_input(op_type: str, opset: int) -> bool:
    return opset >= (13 if op_type == "ReduceSum" else 18)


@pytest.mark.parametrize("opset", [11, 13, 18])
@pytest.mark.parametrize("op_type", REDUCTIONS)
@pytest.mark.parametrize("axes, keepdims", [((1,), 1), ((0, -1), 0), ((), 1)])
def test_reductions_match_onnxruntime(op_type, opset, axes, keepdims):
    x = positive(3, 4, 5)
    attrs = {"keepdims": keepdims}
    if not _axes_move_to_input(op_type, opset):
        if axes:
            attrs["axes"] = list(axes)
        check(op_type, [x], attrs, opset)
    else:
        axes_in = np.array(axes, np.int64) if axes else None
        check(op_type, [x, axes_in], attrs, opset, constants=(1,))


@pytest.mark.parametrize("op_type", REDUCTIONS)
def test_run_time_axes_input(op_type):
    x, axes = positive(2, 3, 4), np.array([2, 0], np.int64)
    model, feed = one_node(op_type, [x, axes], {"keepdims": 0}, opset=18)
    graph = leptonc.load_onnx(model)
    assert graph.outputs[0].type.shape == (None,)  # which dims go is only known at run time
    check(op_type, [x, axes], {"keepdims": 0}, opset=18)


def test_empty_run_time_axes_honours_noop_with_empty_axes():
    x, no_axes = positive(2, 3), np.zeros((0,), np.int64)
    got = check("ReduceMean", [x, no_axes], {"noop_with_empty_axes": 1}, opset=18)
    np.testing.assert_array_equal(got[0], x)
    check("ReduceMean", [x, no_axes], {"noop_with_empty_axes": 0}, opset=18)


def test_constant_empty_axes_with_noop_is_the_identity():
    x = positive(2, 3)
    model, _ = one_node("ReduceSum", [x, np.zeros((0,), np.int64)], {"noop_with_empty_axes": 1},
                        opset=13, constants=(1,))
    graph = leptonc.load_onnx(model)
    assert len(graph) == 0 and graph.outputs[0] is graph.inputs[0]


@pytest.mark.parametrize("op, identity", [
    ("reduce.sum", 0.0), ("reduce.prod", 1.0), ("reduce.max", -np.inf), ("reduce.min", np.inf),
    ("reduce.log_sum", -np.inf), ("reduce.log_sum_exp", -np.inf), ("reduce.l2", 0.0)])
def test_empty_set_reduces_to_the_identity(op, identity):
    got = run_one(op, [np.zeros((2, 0, 3), np.float32)], {"axes": (1,)})
    assert got.shape == (2, 1, 3)
    np.testing.assert_array_equal(got, np.full((2, 1, 3), identity, np.float32))


def test_empty_set_of_integers_and_bools():
    assert run_one("reduce.max", [np.zeros((0, 2), np.int32)], {"axes": (0,)}).tolist() == [
        [np.iinfo(np.int32).min] * 2]
    assert run_one("reduce.min", [np.zeros((0, 2), bool)], {"axes": (0,)}).tolist() == [[True] * 2]


@pytest.mark.parametrize("dtype", [np.float16, BF16, np.float64])
@pytest.mark.parametrize("op", ["reduce.sum", "reduce.mean", "reduce.log_sum_exp", "reduce.l2"])
def test_reductions_keep_narrow_and_wide_float_dtypes(op, dtype):
    x = positive(8, 300).astype(dtype)
    got = run_one(op, [x], {"axes": (1,), "keepdims": False})
    want = run_one(op, [x.astype(np.float32)], {"axes": (1,), "keepdims": False})
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got.astype(np.float32), want, rtol=1e-2)


def test_integer_sum_keeps_its_type():
    x = np.arange(12, dtype=np.int32).reshape(3, 4)
    check("ReduceSum", [x, np.array([1], np.int64)], {"keepdims": 0}, opset=13, constants=(1,))
    check("ReduceMax", [x.astype(np.int8)], {"axes": [0]}, opset=13)


def test_bool_max_is_any():
    x = np.array([[True, False], [False, False]])
    got = run_one("reduce.max", [x], {"axes": (1,), "keepdims": False})
    assert got.dtype == bool and got.tolist() == [True, False]


def test_reduction_shapes_with_symbolic_dims():
    g = Graph()
    x = g.add_input("x", TensorType(dtypes.f32, ("N", 4, None)))
    y = Builder(g).op("reduce.mean", [x], {"axes": (1,), "keepdims": True})
    assert y.type.shape == ("N", 1, None)
    z = Builder(g).op("reduce.sum", [x], {"axes": (-1,), "keepdims": False})
    assert z.type.shape == ("N", 4)


def test_axes_out_of_range_is_a_shape_error():
    g = Graph()
    x = g.add_input("x", TensorType(dtypes.f32, (2, 3)))
    with pytest.raises(ShapeError, match="out of range"):
        Builder(g).op("reduce.sum", [x], {"axes": (2,)})


# ----- arg-max / arg-min ----------------------------------------------------------------------
@pytest.mark.parametrize("op_type", ["ArgMax", "ArgMin"])
@pytest.mark.parametrize("attrs", [{}, {"axis": -1, "keepdims": 0}, {"axis": 1},
                                   {"axis": 0, "select_last_index": 1},
                                   {"axis": 2, "keepdims": 0, "select_last_index": 1}])
@pytest.mark.parametrize("opset", [11, 13])
def test_arg_extrema_match_onnxruntime(op_type, attrs, opset):
    if opset < 12 and "select_last_index" in attrs:
        pytest.skip("select_last_index arrived in opset 12")
    x = RNG.integers(0, 3, (3, 4, 5)).astype(np.float32)  # many ties
    got = check(op_type, [x], attrs, opset, out_elems=[TensorProto.INT64])
    assert got[0].dtype == np.int64


# ----- softmax family -------------------------------------------------------------------------
@pytest.mark.parametrize("op_type", ["Softmax", "LogSoftmax", "Hardmax"])
@pytest.mark.parametrize("opset", [11, 13])
@pytest.mark.parametrize("axis", [None, 0, 1, 2, -1, -3])
def test_softmax_family_matches_onnxruntime(op_type, opset, axis):
    x = RNG.standard_normal((2, 3, 4)).astype(np.float32) * 3
    if op_type == "Hardmax":
        x = np.round(x)  # ties: the first maximum wins
    check(op_type, [x], {} if axis is None else {"axis": axis}, opset)


def test_pre13_softmax_normalises_all_trailing_dims_together():
    x = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    model, feed = one_node("Softmax", [x], {"axis": 1}, opset=11)
    graph = leptonc.load_onnx(model)
    assert [n.op for n in graph] == ["shape.reshape", "reduce.softmax", "shape.reshape"]
    y = leptonc.run(graph, feed)["y0"]
    np.testing.assert_allclose(y.sum(axis=(1, 2)), np.ones(2), rtol=1e-6)


def test_pre13_softmax_with_symbolic_leading_dims():
    x = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    model, feed = one_node("LogSoftmax", [x], {"axis": 1}, opset=11, shapes={0: ("batch", 3, 4)})
    got, want = run_leptonc(model, feed), run_ort(model, feed)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-6)


def test_softmax_on_last_axis_before_13_needs_no_reshape():
    model, _ = one_node("Softmax", [np.zeros((2, 5), np.float32)], {}, opset=9)
    assert [n.op for n in leptonc.load_onnx(model)] == ["reduce.softmax"]


@pytest.mark.parametrize("dtype", [np.float16, np.float64])
def test_softmax_keeps_dtype(dtype):
    check("Softmax", [RNG.standard_normal((3, 7)).astype(dtype)], {}, 13, rtol=1e-3, atol=1e-4)


def test_softmax_of_bf16_stays_bf16():
    x = RNG.standard_normal((3, 7)).astype(BF16)
    got = run_one("reduce.softmax", [x], {"axis": -1})
    assert got.dtype == BF16
    np.testing.assert_allclose(got.astype(np.float32).sum(-1), np.ones(3), rtol=2e-2)


# ----- cumulative sum / product ---------------------------------------------------------------
@pytest.mark.parametrize("exclusive", [0, 1])
@pytest.mark.parametrize("reverse", [0, 1])
@pytest.mark.parametrize("axis", [0, -1])
def test_cumsum_matches_onnxruntime(exclusive, reverse, axis):
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    attrs = {"exclusive": exclusive, "reverse": reverse}
    axis_in = np.array(axis, np.int64)
    check("CumSum", [x, axis_in], attrs, opset=14, constants=(1,))
    check("CumSum", [x, axis_in], attrs, opset=14)  # the axis as a run-time input


def test_cumsum_of_integers_keeps_type():
    check("CumSum", [np.arange(6, dtype=np.int32).reshape(2, 3), np.array(1, np.int32)],
          {"exclusive": 1}, opset=11, constants=(1,))


@pytest.mark.parametrize("exclusive, reverse, want", [
    (0, 0, [2, 6, 24]), (1, 0, [1, 2, 6]), (0, 1, [24, 12, 4]), (1, 1, [12, 4, 1])])
def test_cumprod_by_hand(exclusive, reverse, want):
    got = run_one("reduce.cumprod", [np.array([2, 3, 4], np.int64)],
                  {"axis": 0, "exclusive": bool(exclusive), "reverse": bool(reverse)})
    assert got.tolist() == want


def test_exclusive_scan_of_an_empty_axis():
    got = run_one("reduce.cumsum", [np.zeros((2, 0), np.float32)], {"axis": 1, "exclusive": True})
    assert got.shape == (2, 0)


# ----- losses ---------------------------------------------------------------------------------
LOSS_CASES = [{"reduction": "mean"}, {"reduction": "sum"}, {"reduction": "none"},
              {"reduction": "mean", "ignore_index": 1}, {"reduction": "none", "ignore_index": -1}]


@pytest.mark.parametrize("attrs", LOSS_CASES)
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss_matches_onnxruntime(attrs, weighted):
    x = RNG.standard_normal((3, 5, 2)).astype(np.float32)
    target = RNG.integers(0, 5, (3, 2)).astype(np.int64)
    target[0, 0] = attrs.get("ignore_index", 0)
    weight = RNG.uniform(0.2, 1.0, 5).astype(np.float32) if weighted else None
    check("NegativeLogLikelihoodLoss", [x, target, weight], attrs, opset=13)


@pytest.mark.parametrize("attrs", LOSS_CASES)
def test_softmax_cross_entropy_matches_onnxruntime(attrs):
    scores = RNG.standard_normal((4, 3)).astype(np.float32)
    labels = np.array([0, 2, 1, 1], np.int64)
    weights = np.array([0.3, 1.0, 2.0], np.float32)
    check("SoftmaxCrossEntropyLoss", [scores, labels, weights], attrs, opset=13, n_outputs=2)


def test_softmax_cross_entropy_decomposes_into_log_softmax_and_nll():
    model, _ = one_node("SoftmaxCrossEntropyLoss", [np.zeros((2, 3), np.float32),
                                                    np.zeros(2, np.int64)], opset=13)
    assert [n.op for n in leptonc.load_onnx(model)] == ["reduce.log_softmax", "reduce.nll_loss"]


def test_nll_loss_without_weight_in_f16():
    x = RNG.standard_normal((3, 4)).astype(np.float16)
    target = np.array([0, 3, 1], np.int64)
    got = run_one("reduce.nll_loss", [x, target])
    assert got.dtype == np.float16 and got.shape == ()
    want = -x.astype(np.float32)[np.arange(3), target].mean()
    np.testing.assert_allclose(np.float32(got), want, rtol=1e-3)


def test_nll_loss_rejects_mismatched_target_rank():
    g = Graph()
    x = g.add_input("x", TensorType(dtypes.f32, (2, 3, 4)))
    t = g.add_input("t", TensorType(dtypes.i64, (2,)))
    with pytest.raises(ShapeError, match="target rank"):
        Builder(g).op("reduce.nll_loss", [x, t])
