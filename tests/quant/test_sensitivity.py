"""Per-layer sensitivity: layers, the weight-error columns, ranking, the table's text and JSON."""

import json

import numpy as np
import pytest

import leptonc
from leptonc.errors import UsageError
from leptonc.ir import dtypes
from leptonc.ir.builder import Builder
from leptonc.ir.graph import Graph
from leptonc.ir.printer import print_graph
from leptonc.ir.types import TensorType
from leptonc.ir.verifier import verify
from leptonc.quant.config import scheme_config
from leptonc.quant.sensitivity import (
    clone_graph,
    quantizable_layers,
    relative_l2,
    sensitivity,
    weight_error,
)

ROWS, FEATURES, HIDDEN, CLASSES = 16, 6, 12, 4


def mlp(outlier_column: bool = False, seed: int = 0) -> Graph:
    """x -> fc1 (+bias, relu) -> fc2 (+bias) -> logits; fc2's weight optionally has one column
    200x the others, which a per-tensor scale (or few bits) cannot serve."""
    rng = np.random.default_rng(seed)
    g = Graph("mlp")
    x = g.add_input("x", TensorType(dtypes.f32, ("N", FEATURES)))
    b = Builder(g)

    def const(shape, name):
        return b.const(rng.normal(size=shape).astype(np.float32), name)

    h = b.op("ew.relu", [b.op("ew.add", [b.op("linalg.matmul", [x, const((FEATURES, HIDDEN), "w1")],
                                              source_name="fc1"), const((HIDDEN,), "b1")],
                              source_name="fc1")], source_name="relu1")
    w2 = const((HIDDEN, CLASSES), "w2")
    if outlier_column:
        w2.data[:, 0] *= 200.0
    logits = b.op("ew.add", [b.op("linalg.matmul", [h, w2], source_name="fc2"),
                             const((CLASSES,), "b2")], source_name="fc2")
    g.set_outputs([logits], ["logits"])
    return g


def batches(n: int = 3, seed: int = 1) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [{"x": rng.normal(size=(ROWS, FEATURES)).astype(np.float32)} for _ in range(n)]


def test_clone_is_an_independent_equal_graph():
    g = mlp()
    copy = clone_graph(g)
    verify(copy)
    assert print_graph(copy) == print_graph(g)
    assert all(a is not b for a, b in zip(g.nodes, copy.nodes, strict=True))
    assert all(a is not b for a, b in zip(g.values(), copy.values(), strict=True))
    before = print_graph(g)
    copy.nodes[0].set_input(0, copy.constants["w1"])  # rewiring the copy leaves g alone
    assert print_graph(g) == before


def test_layers_are_units_with_their_bias_and_activation():
    g = mlp()
    layers = quantizable_layers(g, scheme_config("uint8"))
    assert [(layer.name, layer.op) for layer in layers] == [("fc1", "linalg.matmul"),
                                                            ("fc2", "linalg.matmul")]
    # ``only`` gets result names: the bias add shares the matmul's source name
    assert [g.find_value(name).producer.op for name in layers[0].nodes] == [
        "linalg.matmul", "ew.add", "ew.relu"]


def test_weight_error_per_tensor_loses_the_small_channels():
    # a depthwise-like weight: 8 output channels whose magnitudes span 1000x
    rng = np.random.default_rng(2)
    w = rng.normal(size=(8, 1, 3, 3)) * np.logspace(-3, 0, 8)[:, None, None, None]
    config = scheme_config("int8")
    per_tensor, per_channel = weight_error(w, config, None, 0), weight_error(w, config, 0, 0)
    assert per_channel.worst_channel < 0.01
    assert per_tensor.worst_channel == pytest.approx(1.0)  # the smallest channel rounds to 0
    assert per_channel.overall < per_tensor.overall


def test_relative_l2_over_all_float_outputs():
    ref = [{"a": np.array([3.0, 4.0]), "i": np.array([1])}]
    got = [{"a": np.array([3.0, 4.5]), "i": np.array([2])}]  # integer outputs do not count
    assert relative_l2(ref, got) == pytest.approx(0.1)
    assert relative_l2(ref, ref) == 0.0


def test_the_layer_with_the_bad_weight_ranks_first(tmp_path):
    g = mlp(outlier_column=True)
    data = batches()
    labels = np.concatenate([leptonc.run(g, b)["logits"].argmax(1) for b in data])
    table = sensitivity(g, data, scheme_config("w4a8", per_channel=False), labels=labels)
    assert table.names() == ["fc2", "fc1"]
    fc2, fc1 = table.rows
    assert fc2.error > 2 * fc1.error and fc2.sqnr_db < fc1.sqnr_db
    assert fc2.weight_worst_channel_per_tensor > 5 * fc2.weight_worst_channel_per_channel
    assert fc2.top1_accuracy == fc2.top1_agreement  # labels are the float predictions
    assert table.float_top1_accuracy == 1.0
    assert g.nodes[0].op == "linalg.matmul"  # the analysed graph stays float
    text = table.format()
    assert text.index("fc2") < text.index("fc1") and "w err tensor/chan" in text.lower()
    table.save(tmp_path / "s.json")
    saved = json.loads((tmp_path / "s.json").read_text())
    assert [r["name"] for r in saved["layers"]] == ["fc2", "fc1"]
    assert saved["layers"][0]["error"] == pytest.approx(fc2.error)


def test_custom_metric_and_errors():
    g = mlp()

    def max_abs(reference, quantized):
        return max(float(np.abs(r["logits"] - q["logits"]).max())
                   for r, q in zip(reference, quantized, strict=True))

    table = sensitivity(g, batches(1), scheme_config("uint8"), metric=max_abs)
    assert table.metric == "max_abs" and all(r.sqnr_db is None for r in table.rows)
    with pytest.raises(UsageError, match="no batches"):
        sensitivity(g, [], scheme_config("uint8"))
    with pytest.raises(UsageError, match="quantizes no layer"):
        sensitivity(g, batches(1), scheme_config("uint8", ignore=("*",)))
    with pytest.raises(UsageError, match="labels"):
        sensitivity(g, batches(1), scheme_config("uint8"), labels=np.zeros(3, np.int64))
