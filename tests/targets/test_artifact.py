"""The cpu/gpu artifact folder: its layout and manifest, written whole or not at all, and one
clear error for every way a folder or an input can be wrong."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

pytest.importorskip("tvm")

from cli_testing import assert_one_line_error, snapshot  # noqa: E402

from leptonc.errors import InputError, ModelLoadError, UnsupportedOpError, UsageError  # noqa: E402
from leptonc.ir.parser import parse_graph  # noqa: E402
from leptonc.targets.tvm.artifact import THREAD_POOL_DEFAULTS, load_artifact  # noqa: E402
from leptonc.targets.tvm.driver import compile_to_folder  # noqa: E402

SMALL = """graph @small(%x: f32[N,4], %k: i32[2]) {
  %w = const [0.5, -1.0, 0.25, 2.0, 1.5, 0.0, -0.5, 1.0] : f32[4,2]
  %y = linalg.matmul(%x, %w) : f32[N,2]
  %z = ew.relu(%y) : f32[N,2]
  %j = ew.add(%k, %k) : i32[2]
  return %z as "scores", %j as "twice"
}"""


def _small():
    return parse_graph(SMALL)


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    out = tmp_path_factory.mktemp("art") / "small"
    compile_to_folder(_small(), "cpu", out, pipeline="(no passes)", schedule="default")
    return out


def _copy(artifact, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(artifact, folder)
    return folder


def _inputs(batch=3):
    return {"x": np.arange(batch * 4, dtype=np.float32).reshape(batch, 4) - 5,
            "k": np.array([3, -4], np.int32)}


def test_layout_manifest_and_results(artifact):
    assert sorted(p.name for p in artifact.iterdir()) == ["manifest.json", "model.so", "report.md"]
    manifest = json.loads((artifact / "manifest.json").read_text())
    assert manifest["format"] == "leptonc-tvm-artifact" and manifest["format_version"] == 1
    assert manifest["tvm_target"].startswith('{"kind":"llvm"') and manifest["cpu_features"]
    assert manifest["outputs"] == [
        {"name": "scores", "dtype": "f32", "shape": ["N", 2], "quant": None},
        {"name": "twice", "dtype": "i32", "shape": [2], "quant": None}]
    assert set(manifest["versions"]) == {"leptonc", "tvm"}
    results = load_artifact(artifact)(**_inputs())
    np.testing.assert_array_equal(results["twice"], [6, -8])
    x = _inputs()["x"]
    w = np.array([[0.5, -1.0], [0.25, 2.0], [1.5, 0.0], [-0.5, 1.0]], np.float32)
    np.testing.assert_allclose(results["scores"], np.maximum(x @ w, 0), rtol=1e-6)


@pytest.mark.parametrize("call, message", [
    (lambda m: m(x=_inputs()["x"]), "missing input(s) 'k'"),
    (lambda m: m(**_inputs(), extra=1), "unknown input(s) 'extra'"),
    (lambda m: m(x=_inputs()["x"].astype(np.float64), k=_inputs()["k"]), "has dtype float64"),
    (lambda m: m(x=np.zeros((2, 5), np.float32), k=_inputs()["k"]), "has shape [2, 5]"),
])
def test_bad_inputs_are_one_clear_error(artifact, call, message):
    with pytest.raises(InputError) as err:
        call(load_artifact(artifact))
    assert message in str(err.value) and "\n" not in str(err.value)


def _garble(folder):
    (folder / "manifest.json").write_text("{not json")


def _wrong_version(folder):
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["format_version"] = 99
    (folder / "manifest.json").write_text(json.dumps(manifest))


def _foreign_library(folder):
    (folder / "model.so").write_bytes(b"\x7fELF not this artifact's library")


def _gpu_manifest(folder):
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["target"] = "gpu"
    (folder / "manifest.json").write_text(json.dumps(manifest))


def _needs_unknown_cpu_feature(folder):
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["cpu_features"].append("+amx-tile-of-the-future")
    (folder / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("damage, message", [
    (lambda f: (f / "manifest.json").unlink(), "not a leptonc artifact (no manifest.json)"),
    (_garble, "unreadable manifest"),
    (_wrong_version, "format version 99"),
    (lambda f: (f / "model.so").unlink(), "the library model.so is missing"),
    (_foreign_library, "does not match the manifest"),
    (_gpu_manifest, "no CUDA GPU"),
    (_needs_unknown_cpu_feature, "which this one lacks"),
])
def test_damaged_or_foreign_folder_is_one_clear_error(artifact, tmp_path, damage, message):
    folder = _copy(artifact, tmp_path)
    damage(folder)
    with pytest.raises(ModelLoadError) as err:
        load_artifact(folder)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_cli_errors_are_one_line(leptonc_cli, artifact, tmp_path):
    np.save(tmp_path / "x.npy", _inputs()["x"].astype(np.float64))
    np.save(tmp_path / "k.npy", _inputs()["k"])
    assert_one_line_error(leptonc_cli("run", artifact, "--input", f"x={tmp_path / 'x.npy'}",
                                      "--input", f"k={tmp_path / 'k.npy'}"), "x.npy", "float64")
    assert_one_line_error(leptonc_cli("run", artifact, "--input", f"k={tmp_path / 'k.npy'}"),
                          "missing input(s) 'x'")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    assert_one_line_error(leptonc_cli("run", foreign, "--input", f"k={tmp_path / 'k.npy'}"),
                          "not a leptonc artifact")


def test_recompiling_replaces_an_artifact_and_never_clobbers_other_folders(artifact, tmp_path):
    folder = _copy(artifact, tmp_path)
    compile_to_folder(_small(), "cpu", folder, schedule="default")
    assert load_artifact(folder)(**_inputs())["twice"].tolist() == [6, -8]
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(UsageError, match="not a leptonc artifact"):
        compile_to_folder(_small(), "cpu", other, schedule="default")
    assert snapshot(other) == {"notes.txt": b"keep me"}


def test_unsupported_graph_writes_nothing(tmp_path):
    graph = parse_graph("""graph @g(%x: f32[4]) {
      %y = reduce.cumsum(%x) : f32[4] loc("running_total")
      return %y
    }""")
    with pytest.raises(UnsupportedOpError, match="'running_total' \\(reduce.cumsum\\)"):
        compile_to_folder(graph, "cpu", tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_results_never_alias_the_inputs_or_each_other(tmp_path):
    graph = parse_graph("""graph @pass_through(%x: f32[N,4]) {
  %y = ew.relu(%x) : f32[N,4]
  return %x as "same", %y as "relu"
}""")
    compile_to_folder(graph, "cpu", tmp_path / "a")
    model = load_artifact(tmp_path / "a")
    x = np.arange(-8, 16, dtype=np.float32).reshape(6, 4)[::2]  # strided: copied to an aligned buffer
    first = model(x=x)
    second = model(x=x[::-1])
    np.testing.assert_array_equal(first["same"], x)
    np.testing.assert_array_equal(first["relu"], np.maximum(x, 0))
    aligned = np.ascontiguousarray(x)
    same = model(x=aligned)["same"]
    assert not np.may_share_memory(same, aligned)  # a returned input is the caller's buffer: copied
    same[...] = 7  # results are the caller's to write
    np.testing.assert_array_equal(aligned, x)
    np.testing.assert_array_equal(second["relu"], np.maximum(x[::-1], 0))
    np.testing.assert_array_equal(first["relu"], np.maximum(x, 0))  # a later call left it alone


def test_loading_sets_the_thread_pool_defaults_unless_the_environment_has_its_own(artifact, monkeypatch):
    monkeypatch.delenv("TVM_BIND_THREADS", raising=False)
    monkeypatch.setenv("TVM_THREAD_POOL_SPIN_COUNT", "5")
    load_artifact(artifact)
    assert os.environ["TVM_BIND_THREADS"] == THREAD_POOL_DEFAULTS["TVM_BIND_THREADS"]
    assert os.environ["TVM_THREAD_POOL_SPIN_COUNT"] == "5"
