"""``--tune`` (the tuning database kept in, and reused from, the artifact folder) and ``--dim``
(symbolic input dims bound to sizes before lowering), on the command line and in Python."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("tvm")

from cli_testing import assert_one_line_error  # noqa: E402

from leptonc.errors import InputError, ShapeError, UsageError  # noqa: E402
from leptonc.ir import dtypes  # noqa: E402
from leptonc.ir.builder import Builder  # noqa: E402
from leptonc.ir.graph import Graph  # noqa: E402
from leptonc.ir.parser import parse_graph  # noqa: E402
from leptonc.ir.types import TensorType  # noqa: E402
from leptonc.passmgr import run_pipeline  # noqa: E402
from leptonc.targets.tvm.artifact import load_artifact  # noqa: E402
from leptonc.targets.tvm.dims import bind_dims  # noqa: E402
from leptonc.targets.tvm.driver import compile_to_folder  # noqa: E402

MATMUL = """graph @mm(%x: f32[N,4]) {
  %w = const [0.5, -1.0, 0.25, 2.0, 1.5, 0.0, -0.5, 1.0] : f32[4,2]
  %y = linalg.matmul(%x, %w) : f32[N,2]
  %z = ew.relu(%y) : f32[N,2]
  return %z as "scores"
}"""
W = np.array([[0.5, -1.0], [0.25, 2.0], [1.5, 0.0], [-0.5, 1.0]], np.float32)


@pytest.fixture(scope="module")
def digits_onnx():
    make_models = pytest.importorskip("make_models")
    return make_models.digits_cnn_onnx()


def _manifest(folder):
    return json.loads((folder / "manifest.json").read_text())


# ----- --tune -------------------------------------------------------------------------------------
def test_tune_keeps_its_database_in_the_artifact_and_the_next_compile_reuses_it(leptonc_cli, digits_onnx,
                                                                                tmp_path):
    out = tmp_path / "digits"
    result = leptonc_cli(digits_onnx, "--target", "cpu", "-o", out, "--tune", "--tune-budget", "2",
                         "--dim", "N=1", "--verify")
    assert result.code == 0, result.err
    assert "tune: 7 kernels, 0 in the database, budget 2 s" in result.err  # progress is shown
    tuning = _manifest(out)["tuning"]
    assert tuning["budget_seconds"] == 2 and tuning["tuned_kernels"]
    database = json.loads((out / "tuning.json").read_text())
    assert len(database["kernels"]) == tuning["database_kernels"] >= 1
    assert "(tuned)" in (out / "report.md").read_text()
    assert f"{len(tuning['tuned_kernels'])} tuned kernels" in result.out

    # Without --tune: the folder's database is used as it is, and carried into the new artifact.
    again = leptonc_cli(digits_onnx, "--target", "cpu", "-o", out, "--dim", "N=1")
    assert again.code == 0 and "tune:" not in again.err
    assert _manifest(out)["tuning"]["tuned_kernels"] == tuning["tuned_kernels"]
    assert json.loads((out / "tuning.json").read_text()) == database

    # --tune again: the known kernels are not measured a second time.
    third = leptonc_cli(digits_onnx, "--target", "cpu", "-o", out, "--dim", "N=1", "--tune",
                        "--tune-budget", "1")
    assert third.code == 0 and f"{len(database['kernels'])} in the database" in third.err


def test_an_untuned_compile_writes_no_database(tmp_path):
    out = compile_to_folder(parse_graph(MATMUL), "cpu", tmp_path / "a").folder
    assert not (out / "tuning.json").exists() and "tuning" not in _manifest(out)


@pytest.mark.parametrize("args, message", [
    (["--tune-budget", "5"], "--tune-budget needs --tune"),
    (["--tune", "--tune-budget", "-1"], "--tune-budget -1"),
    (["--tune", "--schedule", "default"], "--tune applies to --target cpu with leptonc's schedules"),
    (["--dim", "N"], "--dim N: expected NAME=SIZE"),
    (["--dim", "N=0"], "--dim N=0"),
    (["--dim", "N=1", "--dim", "N=2"], "--dim N is given twice"),
    (["--dim", "B=1"], "no symbolic dim 'B' (symbolic dims: N)"),
])
def test_tune_and_dim_mistakes_are_one_line(leptonc_cli, digits_onnx, tmp_path, args, message):
    result = leptonc_cli(digits_onnx, "--target", "cpu", "-o", tmp_path / "o", *args)
    assert_one_line_error(result, message, code=2)
    assert not (tmp_path / "o").exists()


def test_tune_on_gpu_or_without_a_target_is_refused(leptonc_cli, digits_onnx, tmp_path):
    assert_one_line_error(leptonc_cli(digits_onnx, "--target", "gpu", "-o", tmp_path / "g", "--tune"),
                          "--tune applies to --target cpu only", code=2)
    assert_one_line_error(leptonc_cli(digits_onnx, "--dim", "N=1"), "--dim needs --target", code=2)


# ----- --dim --------------------------------------------------------------------------------------
def test_bound_dims_give_static_shapes_no_shape_function_and_refuse_other_sizes(tmp_path):
    graph = parse_graph(MATMUL)
    bind_dims(graph, {"N": 3})
    assert graph.inputs[0].type.shape == (3, 4) and graph.outputs[0].type.shape == (3, 2)
    out = compile_to_folder(graph, "cpu", tmp_path / "a", bound_dims={"N": 3}).folder
    manifest = _manifest(out)
    assert manifest["bound_dims"] == {"N": 3}
    assert manifest["inputs"][0]["shape"] == [3, 4] and manifest["outputs"][0]["shape"] == [3, 2]
    assert "host (shape computation)" not in (out / "report.md").read_text()

    model = load_artifact(out)
    x = np.arange(12, dtype=np.float32).reshape(3, 4) - 5
    np.testing.assert_allclose(model(x=x)["scores"], np.maximum(x @ W, 0), rtol=1e-6)
    with pytest.raises(InputError) as err:
        model(x=np.zeros((2, 4), np.float32))
    assert "compiled for [3,4] (--dim N=3)" in str(err.value) and "\n" not in str(err.value)


def test_binding_makes_dims_derived_from_the_symbol_static_in_region_bodies_too():
    g = Graph("t")
    x = g.add_input("x", TensorType(dtypes.f32, ("N", 4)))
    b = Builder(g)
    y = b.op("ew.relu", [b.op("ew.add", [x, x])])
    g.set_outputs([b.op("shape.reshape", [y, b.const(np.array([-1], np.int64), "shape")])])
    run_pipeline(g, "fuse-elementwise")
    region = next(n for n in g if n.op == "fused.region")
    assert g.outputs[0].type.shape == (None,)
    bind_dims(g, {"N": 3})
    assert g.outputs[0].type.shape == (12,)  # a reshape's unknown dim, computable now
    body = region.attrs["body"]
    assert all(v.type.shape == (3, 4) for v in [*body.inputs, *body.outputs, region.output])


def test_a_size_the_graph_cannot_take_names_the_node():
    g = Graph("t")
    x = g.add_input("x", TensorType(dtypes.f32, ("N", 4)))
    b = Builder(g)
    g.set_outputs([b.op("shape.reshape", [x, b.const(np.array([-1, 8], np.int64), "shape")],
                        source_name="to_pairs")])
    with pytest.raises(ShapeError, match="node 'to_pairs'"):
        bind_dims(g, {"N": 3})  # 12 elements into rows of 8


def test_binding_an_unknown_dim_is_a_usage_error():
    with pytest.raises(UsageError, match="symbolic dims: N"):
        bind_dims(parse_graph(MATMUL), {"B": 2})
