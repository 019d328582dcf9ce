"""Accuracy-aware quantization: the search keeps sensitive layers in float until the budget
fits, records every trial, keeps (and saves) the best model, and says whether it met."""

import numpy as np
import pytest
from test_sensitivity import batches, mlp

import leptonc
from leptonc.errors import InputError, UsageError
from leptonc.ir import dtypes
from leptonc.ir.builder import Builder
from leptonc.ir.graph import Graph
from leptonc.ir.serialize import load
from leptonc.ir.types import TensorType
from leptonc.quant.config import scheme_config
from leptonc.quant.search import labelled_evaluator, quantize_with_accuracy_budget
from leptonc.quant.sensitivity import relative_l2, run_batches, sensitivity

CONFIG = scheme_config("w4a8", per_channel=False)


def fidelity(reference: Graph, data):
    """A score in [.., 100]: 100 minus 100x the relative L2 error against the float graph."""
    expected = run_batches(reference, data)

    def evaluate(graph: Graph) -> float:
        return 100.0 * (1.0 - relative_l2(expected, run_batches(graph, data)))

    return evaluate


@pytest.fixture(scope="module")
def setup():
    g, data = mlp(outlier_column=True), batches()
    return g, data, sensitivity(g, data, CONFIG)


@pytest.mark.parametrize("strategy", ["linear", "bisect"])
def test_keeps_the_most_sensitive_layer_in_float(setup, strategy, tmp_path):
    g, data, table = setup
    evaluate = fidelity(g, data)
    full = quantize_with_accuracy_budget(g, data, CONFIG, evaluate, max_drop=100.0, table=table)
    assert full.met and full.float_layers == () and len(full.trials) == 1
    drop_all = full.best.drop
    # a budget between "fc2 in float" and "everything quantized" needs exactly fc2 in float
    out = tmp_path / "best.lir"
    result = quantize_with_accuracy_budget(g, data, CONFIG, evaluate, max_drop=drop_all / 2,
                                           out_path=out, table=table, strategy=strategy)
    assert result.met and result.float_layers == ("fc2",)
    assert result.best.drop <= drop_all / 2 and result.float_score == pytest.approx(100.0)
    assert result.trials[0].float_layers == () and result.layers == 2
    assert result.saved_to == out
    saved = load(out)
    assert any(n.op == "quant.dequantize" for n in saved)
    np.testing.assert_allclose(evaluate(saved), result.best.score)
    assert "fc2" in result.format() and "(met)" in result.format()
    assert all(n.op != "quant.quantize" for n in g)  # the input graph stays float


def test_unmet_budget_still_returns_and_saves_the_best(setup, tmp_path):
    g, data, table = setup
    result = quantize_with_accuracy_budget(g, data, CONFIG, fidelity(g, data), max_drop=0.0,
                                           out_path=tmp_path / "best.lir", table=table,
                                           max_float_layers=1)
    assert not result.met and "NOT met" in result.format()
    assert [t.float_layers for t in result.trials] == [(), ("fc2",)]
    assert result.best is min(result.trials, key=lambda t: t.drop)
    assert (tmp_path / "best.lir").is_file()


def test_option_errors(setup):
    g, data, table = setup
    evaluate = fidelity(g, data)
    with pytest.raises(UsageError, match="at least 0"):
        quantize_with_accuracy_budget(g, data, CONFIG, evaluate, max_drop=-1.0)
    with pytest.raises(UsageError, match="strategy"):
        quantize_with_accuracy_budget(g, data, CONFIG, evaluate, 1.0, strategy="random")
    with pytest.raises(UsageError, match=".onnx or .lir"):
        quantize_with_accuracy_budget(g, data, CONFIG, evaluate, 100.0, out_path="model.txt")


def _argmax_model() -> Graph:
    """logits = x (a [N, 3] input passed through a 1x multiply): top-1 is argmax of x."""
    g = Graph("id")
    x = g.add_input("x", TensorType(dtypes.f32, ("N", 3)))
    b = Builder(g)
    g.set_outputs([b.op("ew.mul", [x, b.const(np.float32(1.0), "one")])], ["logits"])
    return g


def test_labelled_evaluator_gives_top1_percent(tmp_path):
    x = np.eye(3, dtype=np.float32)[[0, 1, 2, 2, 1]]
    np.savez(tmp_path / "eval.npz", x=x, labels=np.array([0, 1, 2, 0, 0]))
    evaluate = labelled_evaluator(tmp_path / "eval.npz", batch_size=2)
    assert evaluate(_argmax_model()) == pytest.approx(60.0)
    np.savez(tmp_path / "nolabels.npz", x=x)
    with pytest.raises(UsageError, match="no 'labels'"):
        labelled_evaluator(tmp_path / "nolabels.npz")
    np.savez(tmp_path / "short.npz", x=x[:2], labels=np.zeros(5))
    with pytest.raises(InputError, match="one row per label"):
        labelled_evaluator(tmp_path / "short.npz")(_argmax_model())


def test_digits_evaluator_agrees_with_make_models(tmp_path):
    make_models = pytest.importorskip("make_models")
    _, _, x_test, y_test = make_models.digits_data()
    np.savez(tmp_path / "eval.npz", input=x_test[:200], labels=y_test[:200])
    graph = leptonc.load_onnx(make_models.digits_cnn_onnx())
    expected = 100.0 * make_models.accuracy(graph, x_test[:200], y_test[:200])
    assert labelled_evaluator(tmp_path / "eval.npz")(graph) == pytest.approx(expected)
