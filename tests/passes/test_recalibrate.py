"""recalibrate-batchnorm: after recalibration every batch norm's mean/var constants are the
per-channel statistics its input has on the calibration data (a chain of two batch norms,
so the second one must see the first one's new statistics), streaming over batches gives
the statistics of the whole data, the pass reads .npz archives, and on the trained digits
CNN it recovers most of what channel pruning lost."""

from __future__ import annotations

import numpy as np
import pytest

import leptonc
from leptonc.errors import UsageError
from leptonc.instruments import ValidateEach, VerifyEach
from leptonc.ir import dtypes
from leptonc.ir.builder import Builder
from leptonc.ir.graph import Graph
from leptonc.ir.types import TensorType
from leptonc.passes.pruning.recalibrate_batchnorm import recalibrate_batchnorm
from leptonc.passmgr import PassManager, parse_pipeline, run_pipeline


def _conv_bn_chain() -> Graph:
    """conv-BN-relu-conv-BN with stale statistics (mean 0, var 1) in both batch norms."""
    rng = np.random.default_rng(7)
    graph = Graph("conv_bn")
    b = Builder(graph)
    x = graph.add_input("x", TensorType(dtypes.f32, ("N", 3, 5, 5)))
    for i, (cin, cout) in enumerate(((3, 4), (4, 6))):
        w = b.const(rng.normal(0.5, 1.0, (cout, cin, 3, 3)).astype(np.float32), f"w{i}")
        c = b.op("nn.conv", [x, w, None], {"pads": [1, 1, 1, 1]}, source_name=f"conv{i}")
        params = [b.const(v.astype(np.float32), f"{k}{i}") for k, v in (
            ("gamma", rng.uniform(0.5, 1.5, cout)), ("beta", rng.normal(0, 0.1, cout)),
            ("mean", np.zeros(cout)), ("var", np.ones(cout)))]
        x = b.op("nn.batch_norm", [c, *params], source_name=f"bn{i}")
        if i == 0:
            x = b.op("ew.relu", [x], source_name="relu0")
    graph.set_outputs([x], ["y"])
    return graph


def _data(n: int = 64) -> np.ndarray:
    return np.random.default_rng(n).normal(1.0, 2.0, (n, 3, 5, 5)).astype(np.float32)


def _bn_inputs(graph: Graph, x: np.ndarray) -> dict[str, np.ndarray]:
    """What each batch norm reads when the graph runs on ``x``, by batch-norm source name."""
    seen: dict[int, np.ndarray] = {}
    leptonc.run(graph, {"x": x}, observers=[lambda v, a: seen.__setitem__(id(v), a)])
    return {n.source_name: seen[id(n.inputs[0])] for n in graph if n.op == "nn.batch_norm"}


def _stored(graph: Graph, source_name: str) -> tuple[np.ndarray, np.ndarray]:
    node = next(n for n in graph if n.source_name == source_name)
    return node.inputs[3].data, node.inputs[4].data


def test_statistics_match_the_batch_norm_inputs_after_recalibration():
    graph, x = _conv_bn_chain(), _data()
    stats = recalibrate_batchnorm(graph, [{"x": x}])
    assert stats == {"batch-norms": 2, "recalibrated": 2, "skipped": 0, "batches": 1}
    for name, seen in _bn_inputs(graph, x).items():
        mean, var = _stored(graph, name)
        np.testing.assert_allclose(mean, seen.mean(axis=(0, 2, 3)), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(var, seen.var(axis=(0, 2, 3)), rtol=1e-4)
    # and the outputs are now normalised: per-channel mean beta, std |gamma|
    y = leptonc.run(graph, {"x": x})["y"]
    bn1 = next(n for n in graph if n.source_name == "bn1")
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), bn1.inputs[2].data, atol=1e-3)
    np.testing.assert_allclose(y.std(axis=(0, 2, 3)), np.abs(bn1.inputs[1].data), rtol=1e-3)


def test_streaming_batches_give_the_statistics_of_the_whole_data():
    x = _data(96)
    whole, streamed = _conv_bn_chain(), _conv_bn_chain()
    recalibrate_batchnorm(whole, [{"x": x}])
    recalibrate_batchnorm(streamed, ({"x": x[i:i + 24]} for i in range(0, 96, 24)))
    # the first batch norm's input does not depend on any statistics: exact
    for a, b in zip(_stored(whole, "bn0"), _stored(streamed, "bn0"), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5)
    # the second one saw batches normalised by their own statistics: close, not exact
    for a, b in zip(_stored(whole, "bn1"), _stored(streamed, "bn1"), strict=True):
        np.testing.assert_allclose(a, b, rtol=0.1, atol=0.05)


def test_pass_reads_batches_from_an_npz_archive(tmp_path):
    x = _data(32)
    path = tmp_path / "calib.npz"
    np.savez(path, x=x.reshape(4, 8, 3, 5, 5))  # a stack of four batches of eight
    graph = _conv_bn_chain()
    [record] = PassManager(parse_pipeline(f"recalibrate-batchnorm{{data={path},batches=2}}"),
                                  [VerifyEach(), ValidateEach()]).run(graph)
    assert record.result.modified and record.result.stats["batches"] == 2
    expected = _conv_bn_chain()
    recalibrate_batchnorm(expected, [{"x": x[:8]}, {"x": x[8:16]}])
    for a, b in zip(_stored(graph, "bn0"), _stored(expected, "bn0"), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    # one array of the input's rank is a single batch; fold-batchnorm may follow
    np.savez(path, x=x)
    graph = _conv_bn_chain()
    run_pipeline(graph, f"recalibrate-batchnorm{{data={path}}},fold-batchnorm")
    assert not [n for n in graph if n.op == "nn.batch_norm"]


def test_missing_data_file_is_a_one_line_error_naming_it(tmp_path):
    missing = tmp_path / "nowhere.npz"
    with pytest.raises(UsageError, match="nowhere.npz' does not exist") as err:
        run_pipeline(_conv_bn_chain(), f"recalibrate-batchnorm{{data={missing}}}")
    assert "\n" not in str(err.value)
    with pytest.raises(UsageError, match="data=FILE.npz is required"):
        parse_pipeline("recalibrate-batchnorm")


def test_recalibration_recovers_digits_accuracy_after_channel_pruning():
    pytest.importorskip("sklearn")
    import make_models

    x_train, _, x_test, y_test = make_models.digits_data()
    dense = make_models.accuracy(make_models.digits_cnn_onnx(), x_test, y_test)
    graph = leptonc.load_onnx(make_models.digits_cnn_onnx())
    run_pipeline(graph, "canonicalize,prune-channels{ratio=0.3}")
    pruned = make_models.accuracy(graph, x_test, y_test)
    recalibrate_batchnorm(graph, ({"input": x_train[i:i + 256]} for i in range(0, len(x_train), 256)))
    recalibrated = make_models.accuracy(graph, x_test, y_test)
    assert pruned < dense - 0.05  # pruning without fine-tuning costs accuracy...
    assert recalibrated - pruned >= 0.5 * (dense - pruned)  # ...recalibration wins most back
