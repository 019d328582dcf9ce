"""The reference interpreter: observers, input checking, memory, fused regions."""

import numpy as np
import pytest

import leptonc
from leptonc.errors import InputError
from leptonc.interp import Interpreter
from leptonc.ir import dtypes
from leptonc.ir.builder import Builder
from leptonc.ir.graph import Graph
from leptonc.ir.types import TensorType


def chain() -> Graph:
    g = Graph()
    x = g.add_input("x", TensorType(dtypes.f32, ("N", 3)))
    b = Builder(g)
    y = b.op("ew.relu", [x], name="y")
    z = b.op("ew.add", [y, b.const(np.float32(1.0), "one")], name="z")
    g.set_outputs([z], ["out"])
    return g


def test_runs_and_observes_every_value():
    seen = []
    x = np.array([[-1.0, 0.5, 2.0]], np.float32)
    out = Interpreter(chain(), [lambda v, a: seen.append((v.name, a.copy()))]).run({"x": x})
    np.testing.assert_array_equal(out["out"], [[1.0, 1.5, 3.0]])
    assert [name for name, _ in seen] == ["x", "y", "z"]


@pytest.mark.parametrize("inputs, message", [
    ({}, "missing input\\(s\\): x"),
    ({"x": np.zeros((1, 3), np.float32), "q": 1}, "unknown input\\(s\\) q"),
    ({"x": np.zeros((1, 3), np.float64)}, "input 'x' has dtype float64, the model expects f32"),
    ({"x": np.zeros((1, 4), np.float32)}, "input 'x' has shape \\[1, 4\\], the model expects \\[N,3\\]"),
])
def test_bad_inputs_are_reported(inputs, message):
    with pytest.raises(InputError, match=message):
        leptonc.run(chain(), inputs)


def test_fused_region_runs_its_body():
    body = chain()
    g = Graph("outer")
    x = g.add_input("x", TensorType(dtypes.f32, (2, 3)))
    r = Builder(g).op("fused.region", [x], {"body": body, "kind": "relu_add"}, name="r")
    g.set_outputs([r])
    leptonc.verify(g)
    x_val = np.array([[-1, 2, 3], [4, -5, 6]], np.float32)
    np.testing.assert_array_equal(leptonc.run(g, {"x": x_val})["r"], np.maximum(x_val, 0) + 1)


def test_intermediate_values_are_freed():
    g = chain()
    interp = Interpreter(g)
    freed = {v.name for vs in interp._last_use.values() for v in vs}
    assert freed == {"y"}  # z is a graph output and must survive


def test_symbolic_dims_must_agree_across_inputs():
    g = Graph()
    a = g.add_input("a", TensorType(dtypes.f32, ("N", 3)))
    b = g.add_input("b", TensorType(dtypes.f32, ("N", 3)))
    g.set_outputs([Builder(g).op("ew.add", [a, b], name="s")])
    with pytest.raises(InputError, match="dim N is 2 in input 'a' but 5 in input 'b'"):
        leptonc.run(g, {"a": np.zeros((2, 3), np.float32), "b": np.zeros((5, 3), np.float32)})
