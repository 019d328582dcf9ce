"""Bad ONNX files: each gives ONE clear error line naming the file (and the node or tensor),
a non-zero exit, and writes nothing.

Every case runs through the command line in-process (``leptonc.cli.main``) with ``-o`` so
that "writes nothing" is checked, and through ``leptonc.load_onnx`` for the error type.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, external_data_helper, helper, numpy_helper

import leptonc
from leptonc import cli
from leptonc.errors import ModelLoadError, UnsupportedOpError

OPSET = 17


def _matmul_model() -> onnx.ModelProto:
    """y = x @ w with a 8x8 weight: large enough to be stored as external data."""
    weight = numpy_helper.from_array(np.arange(64, dtype=np.float32).reshape(8, 8), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], "mm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])], initializer=[weight])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def _assert_cli_rejects(path: Path, tmp_path: Path, capsys, *mentions: str) -> str:
    """Both `leptonc MODEL -o FILE` and `leptonc info MODEL` fail with one line, writing nothing."""
    before = _snapshot(tmp_path)
    lines = []
    for args in ([str(path), "--emit", "ir", "-o", str(tmp_path / "out.lir")],
                 ["info", str(path)]):
        code = cli.main(args)
        captured = capsys.readouterr()
        assert code == 1, captured.err
        assert captured.out == ""
        err_lines = captured.err.splitlines()
        assert len(err_lines) == 1, captured.err
        assert err_lines[0].startswith("leptonc: error: ")
        for text in mentions:
            assert text in err_lines[0], (text, err_lines[0])
        lines.append(err_lines[0])
    assert _snapshot(tmp_path) == before
    return lines[0]


# ----- unreadable files --------------------------------------------------------------------------
def test_missing_file(tmp_path: Path, capsys) -> None:
    path = tmp_path / "missing.onnx"
    _assert_cli_rejects(path, tmp_path, capsys, str(path), "no such file")
    with pytest.raises(ModelLoadError, match="no such file"):
        leptonc.load_onnx(path)


def test_directory_instead_of_file(tmp_path: Path, capsys) -> None:
    path = tmp_path / "model.onnx"
    path.mkdir()
    _assert_cli_rejects(path, tmp_path, capsys, str(path), "is a directory")
    with pytest.raises(ModelLoadError, match="is a directory"):
        leptonc.load_onnx(path)


def _truncated(model_bytes: bytes) -> bytes:
    return model_bytes[: len(model_bytes) // 2]


def _garbage(model_bytes: bytes) -> bytes:
    return np.random.default_rng(0).bytes(len(model_bytes))


@pytest.mark.parametrize("corrupt", [_truncated, _garbage], ids=["truncated", "garbage"])
def test_corrupt_protobuf(tmp_path: Path, capsys, corrupt: Callable[[bytes], bytes]) -> None:
    path = tmp_path / "corrupt.onnx"
    path.write_bytes(corrupt(_matmul_model().SerializeToString()))
    _assert_cli_rejects(path, tmp_path, capsys, str(path), "not a valid ONNX model")
    with pytest.raises(ModelLoadError, match="not a valid ONNX model"):
        leptonc.load_onnx(path)


# ----- unsupported operators ---------------------------------------------------------------------
def test_every_unsupported_op_type_is_listed_once(tmp_path: Path, capsys) -> None:
    nodes = [
        helper.make_node("FooOp", ["x"], ["a"], name="foo_first"),
        helper.make_node("Relu", ["a"], ["b"], name="supported_relu"),
        helper.make_node("FooOp", ["b"], ["c"], name="foo_second"),
        helper.make_node("BarOp", ["c"], ["d"], name="bar_only"),
        helper.make_node("FooOp", ["d"], ["e"], name="foo_third"),
        helper.make_node("Mystery", ["e"], ["y"], name="custom_domain_node",
                         domain="com.example"),
    ]
    graph = helper.make_graph(nodes, "unsupported",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET),
                                                    helper.make_opsetid("com.example", 1)])
    path = tmp_path / "unsupported.onnx"
    onnx.save(model, str(path))
    line = _assert_cli_rejects(path, tmp_path, capsys, str(path), "3 unsupported op type(s)",
                               "FooOp x3 (first: 'foo_first')", "BarOp x1 (first: 'bar_only')",
                               "com.example.Mystery x1 (first: 'custom_domain_node')")
    assert "Relu" not in line
    with pytest.raises(UnsupportedOpError, match="FooOp x3"):
        leptonc.load_onnx(path)


# ----- external data -----------------------------------------------------------------------------
def _save_with_external_data(folder: Path) -> Path:
    """The matmul model with its weight in ``weights.bin`` beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    model = _matmul_model()
    external_data_helper.convert_model_to_external_data(model, all_tensors_to_one_file=True,
                                                        location="weights.bin",
                                                        size_threshold=0)
    path = folder / "model.onnx"
    onnx.save(model, str(path))
    assert (folder / "weights.bin").is_file()
    return path


def _point_external_data_at(path: Path, location: str) -> None:
    model = onnx.load(str(path), load_external_data=False)
    (weight,) = model.graph.initializer
    assert weight.data_location == TensorProto.EXTERNAL
    for entry in weight.external_data:
        if entry.key == "location":
            entry.value = location
    onnx.save(model, str(path))


def test_valid_external_data_loads(tmp_path: Path) -> None:
    path = _save_with_external_data(tmp_path / "models")
    x = np.ones((1, 8), np.float32)
    out = leptonc.run(leptonc.load_onnx(path), {"x": x})["y"]
    np.testing.assert_array_equal(out, x @ np.arange(64, dtype=np.float32).reshape(8, 8))


@pytest.mark.parametrize("location", ["../../etc/passwd", "/etc/passwd", "../weights.bin"],
                         ids=["traversal", "absolute", "parent-folder"])
def test_external_data_outside_the_model_folder_is_refused(tmp_path: Path, capsys,
                                                           location: str) -> None:
    path = _save_with_external_data(tmp_path / "a" / "b")
    # A real file where the escaping path points, so only the confinement check can stop it.
    (tmp_path / "a" / "weights.bin").write_bytes((tmp_path / "a" / "b" / "weights.bin")
                                                  .read_bytes())
    _point_external_data_at(path, location)
    _assert_cli_rejects(path, tmp_path, capsys, str(path), "initializer 'w'", f"'{location}'",
                        "outside the model's folder")
    with pytest.raises(ModelLoadError, match="outside the model's folder"):
        leptonc.load_onnx(path)


def test_missing_external_data_file(tmp_path: Path, capsys) -> None:
    path = _save_with_external_data(tmp_path / "models")
    (tmp_path / "models" / "weights.bin").unlink()
    _assert_cli_rejects(path, tmp_path, capsys, str(path), "'weights.bin'", "initializer 'w'",
                        "does not exist")
    with pytest.raises(ModelLoadError, match="does not exist"):
        leptonc.load_onnx(path)


def test_truncated_external_data_file(tmp_path: Path, capsys) -> None:
    path = _save_with_external_data(tmp_path / "models")
    weights = tmp_path / "models" / "weights.bin"
    weights.write_bytes(weights.read_bytes()[:100])
    _assert_cli_rejects(path, tmp_path, capsys, str(path), "'weights.bin'", "too short",
                        "initializer 'w'")


def test_in_memory_model_with_external_data_is_refused(tmp_path):
    w = numpy_helper.from_array(np.ones((64, 64), np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64])], [w])
    model = helper.make_model(graph)
    onnx.save(model, tmp_path / "m.onnx", save_as_external_data=True, location="m.data",
              size_threshold=0)
    in_memory = onnx.load(tmp_path / "m.onnx", load_external_data=False)
    with pytest.raises(ModelLoadError, match="in-memory model refers to external data"):
        leptonc.load_onnx(in_memory)
