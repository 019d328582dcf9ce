"""tools/make_models.py: the digits CNN and MLP train reproducibly into the cache, import into
leptonc, agree with onnxruntime, and classify the held-out split well."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

pytest.importorskip("sklearn")

import make_models  # noqa: E402 - needs sklearn

import leptonc  # noqa: E402


@pytest.fixture(scope="module")
def data():
    return make_models.digits_data()


def test_digits_split_is_fixed_and_nchw(data):
    x_train, y_train, x_test, y_test = data
    assert x_train.dtype == np.float32 and x_train.shape[1:] == (1, 8, 8)
    assert len(x_test) == 540 and len(x_train) + len(x_test) == 1797
    assert 0.0 <= x_train.min() and x_train.max() <= 1.0
    assert set(np.unique(y_test)) == set(range(10))
    again = make_models.digits_data()
    assert all(np.array_equal(a, b) for a, b in zip(data, again, strict=True))


@pytest.mark.parametrize("make", [make_models.digits_cnn_onnx, make_models.digits_mlp_onnx],
                         ids=["cnn", "mlp"])
def test_digits_models_are_cached_and_accurate(make, data):
    path = make()
    assert path.parent == make_models.model_zoo.cache_dir() and path.name.endswith(
        f"-v{make_models.DIGITS_VERSION}.onnx")
    stamp = path.stat().st_mtime_ns
    assert make() == path and path.stat().st_mtime_ns == stamp  # reused, not retrained
    model = onnx.load(str(path))
    assert model.opset_import[0].version == make_models.OPSET
    _, _, x_test, y_test = data
    assert make_models.accuracy(path, x_test, y_test) > 0.9


def test_cnn_keeps_batch_norms_with_trained_statistics():
    graph = leptonc.load_onnx(make_models.digits_cnn_onnx())
    norms = [n for n in graph if n.op == "nn.batch_norm"]
    assert len(norms) == 3
    for node in norms:
        mean, var = node.inputs[3].data, node.inputs[4].data
        assert np.abs(mean).max() > 1e-3 and not np.allclose(var, 1.0)


def test_leptonc_agrees_with_onnxruntime(data):
    ort = pytest.importorskip("onnxruntime")
    x = data[2][:64]
    for path in (make_models.digits_cnn_onnx(), make_models.digits_mlp_onnx()):
        expected = ort.InferenceSession(str(path)).run(None, {"input": x})[0]
        actual = leptonc.run(leptonc.load_onnx(path), {"input": x})["logits"]
        np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4)


def test_cnn_training_is_reproducible():
    a, b = make_models.train_cnn(epochs=1), make_models.train_cnn(epochs=1)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
