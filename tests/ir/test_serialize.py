"""Saving and loading .lir files with their weights side file."""

import numpy as np
import pytest

from leptonc.errors import ModelLoadError
from leptonc.ir import dtypes
from leptonc.ir.builder import Builder
from leptonc.ir.graph import Graph
from leptonc.ir.printer import print_graph
from leptonc.ir.serialize import load, save
from leptonc.ir.types import TensorType


def model() -> Graph:
    g = Graph("m")
    x = g.add_input("x", TensorType(dtypes.f32, (1, 64)))
    w = Builder(g).const(np.arange(64 * 32, dtype=np.float32).reshape(64, 32), "w")
    s = Builder(g).const(np.array([2, 16], np.int64), "s")  # small: printed inline
    y = Builder(g).op("linalg.matmul", [x, w], name="y")
    g.set_outputs([Builder(g).op("shape.reshape", [y, s], name="z")])
    return g


def test_save_load_roundtrip_memory_maps_weights(tmp_path):
    g = model()
    files = save(g, tmp_path / "m.lir")
    assert [f.name for f in files] == ["m.lir", "m.lir.bin"]
    g2 = load(tmp_path / "m.lir")
    assert print_graph(g2) == print_graph(g)
    w = g2.find_value("w").data
    assert isinstance(w, np.memmap)
    np.testing.assert_array_equal(w, g.find_value("w").data)


def test_missing_or_truncated_weights(tmp_path):
    save(model(), tmp_path / "m.lir")
    weights = tmp_path / "m.lir.bin"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match="truncated"):
        load(tmp_path / "m.lir")
    weights.unlink()
    with pytest.raises(ModelLoadError, match="m.lir.bin is missing"):
        load(tmp_path / "m.lir")
    weights.write_bytes(b"garbage")
    with pytest.raises(ModelLoadError, match="not a leptonc weights file"):
        load(tmp_path / "m.lir")
