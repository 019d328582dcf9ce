"""`leptonc MODEL --quantize ...`: the pipeline the flags build, the forms written, and the
one-line errors for flags that do not go together."""

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from leptonc.ir.serialize import load

pytest.importorskip("sklearn")
import make_models  # noqa: E402  (tools/ is on sys.path in tests)


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """The digits CNN, calibration samples and labelled held-out data as files."""
    folder = tmp_path_factory.mktemp("digits")
    x_train, _, x_test, y_test = make_models.digits_data()
    model = make_models.digits_cnn_onnx()
    np.savez(folder / "calib.npz", input=x_train[:128])
    np.savez(folder / "eval.npz", input=x_test, labels=y_test)
    return Path(model), folder, x_test, y_test


def test_quantize_writes_the_integer_graph(leptonc_cli, digits, tmp_path):
    model, folder, _, _ = digits
    out = tmp_path / "q.lir"
    result = leptonc_cli(model, "--quantize", "uint8", "--calib", folder / "calib.npz", "-o", out)
    assert result.code == 0, result.err
    ops = {node.op for node in load(out)}
    assert {"quant.conv", "quant.matmul", "quant.requantize"} <= ops
    assert not ops & {"nn.conv", "linalg.matmul"}  # nothing heavy left in float


def test_emit_onnx_writes_the_qdq_form_onnxruntime_runs(leptonc_cli, digits, tmp_path):
    model, folder, x_test, y_test = digits
    out = tmp_path / "q.onnx"
    result = leptonc_cli(model, "--quantize", "uint8", "--calib", folder / "calib.npz",
                         "--calib-method", "entropy", "--emit", "onnx", "-o", out)
    assert result.code == 0, result.err
    session = ort.InferenceSession(str(out))
    logits = session.run(None, {"input": x_test})[0]
    assert (logits.argmax(1) == y_test).mean() >= 0.985


def test_accuracy_aware_mode_reports_the_budget_and_writes_the_model(leptonc_cli, digits,
                                                                     tmp_path):
    model, folder, _, _ = digits
    out = tmp_path / "q.lir"
    result = leptonc_cli(model, "--quantize", "w3a8", "--calib", folder / "calib.npz",
                         "--max-accuracy-drop", "0.5", "--eval", folder / "eval.npz", "-o", out)
    assert result.code == 0, result.err
    assert "accuracy budget 0.5 points met" in result.err
    assert "layers in float" in result.err and out.exists()


@pytest.mark.parametrize("args, message", [
    (["--calib", "x.npz"], "--calib needs --quantize SCHEME"),
    (["--cast-float", "f16", "--quantize", "uint8"], "--cast-float and --quantize are alternatives"),
    (["--quantize", "int9"], "unknown quantization scheme 'int9'"),
    (["--quantize", "uint8", "--max-accuracy-drop", "1"], "--max-accuracy-drop and --eval go together"),
    (["--quantize", "uint8", "--calib", "a,b.npz"], "',', '{' and '}' are not allowed"),
])
def test_bad_quantization_flags_are_one_line_errors(leptonc_cli, digits, args, message):
    model, _, _, _ = digits
    result = leptonc_cli(model, *args)
    assert result.code == 2, result.err
    assert message in result.err and result.err.count("\n") == 1


def test_sensitivity_table_is_printed_and_saved(leptonc_cli, digits, tmp_path):
    model, folder, _, _ = digits
    table = tmp_path / "sensitivity.json"
    result = leptonc_cli(model, "--quantize", "uint8", "--calib", folder / "calib.npz",
                         "--sensitivity", table, "-o", tmp_path / "q.lir")
    assert result.code == 0, result.err
    layers = json.loads(table.read_text())["layers"]
    assert {"conv0", "conv1", "conv2", "fc"} <= {row["name"] for row in layers}
    errors = [row["error"] for row in layers]
    assert errors == sorted(errors, reverse=True) and errors[0] > 0
    assert "per-layer sensitivity" in result.err


def test_cast_float_writes_a_half_precision_graph(leptonc_cli, digits, tmp_path):
    model, _, _, _ = digits
    out = tmp_path / "f16.lir"
    assert leptonc_cli(model, "--cast-float", "f16", "-o", out).code == 0
    graph = load(out)
    conv = next(n for n in graph if n.op == "nn.conv")
    assert str(conv.outputs[0].type.dtype) == "f16"
    assert [str(v.type.dtype) for v in (*graph.inputs, *graph.outputs)] == ["f32", "f32"]


def test_sensitivity_and_accuracy_budget_together_report_both(leptonc_cli, digits, tmp_path):
    model, folder, _, _ = digits
    result = leptonc_cli(model, "--quantize", "w3a8", "--calib", folder / "calib.npz",
                         "--sensitivity", tmp_path / "s.json", "--max-accuracy-drop", "0.5",
                         "--eval", folder / "eval.npz", "-o", tmp_path / "q.lir")
    assert result.code == 0, result.err
    assert "sensitivity table of" in result.err and "accuracy budget 0.5 points met" in result.err
    assert result.err.count("per-layer sensitivity") == 1  # one analysis serves both
