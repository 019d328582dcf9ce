"""The QDQ graph quantize writes, exported to ONNX, runs in onnxruntime and agrees with
leptonc's fake-quant interpreter within one quantization step of the output (issue 4,
must-show 5)."""

import numpy as np
import pytest

import leptonc
from leptonc.export import export_onnx
from leptonc.passmgr import run_pipeline
from leptonc.quant import quantize_graph, scheme_config

ort = pytest.importorskip("onnxruntime")


@pytest.mark.parametrize("scheme, options", [
    ("uint8", {}),
    ("int8", {"per_channel": False, "symmetric_activations": True}),
])
def test_digits_cnn_qdq_export_matches_onnxruntime_within_one_step(scheme, options):
    from make_models import digits_cnn_onnx, digits_data

    x, _, x_test, _ = digits_data()
    g = leptonc.load_onnx(digits_cnn_onnx())
    run_pipeline(g, "fold-batchnorm,canonicalize")
    report = quantize_graph(g, [{"input": x[i:i + 64]} for i in range(0, 256, 64)],
                            scheme_config(scheme, **options), progress=False)
    session = ort.InferenceSession(export_onnx(g).SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    ours = leptonc.run(g, {"input": x_test})["logits"]
    theirs = session.run(["logits"], {"input": x_test})[0]
    step = float(report.tensor("logits").scale)
    # Both sides sit on the same output grid; a different float summation order may move an
    # element across one rounding boundary, never more.
    assert np.all(np.abs(ours - theirs) <= step * (1 + 1e-5))
    assert np.mean(ours == theirs) > 0.99
