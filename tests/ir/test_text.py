"""The text IR: printer and parser round-trip exactly; errors name the line."""

import ml_dtypes
import numpy as np
import pytest

from leptonc.errors import ParseError
from leptonc.ir import dtypes
from leptonc.ir.builder import Builder
from leptonc.ir.graph import Graph
from leptonc.ir.parser import parse_graph
from leptonc.ir.printer import print_graph
from leptonc.ir.types import QuantParams, SparseEncoding, TensorType
from leptonc.ir.verifier import verify


def roundtrip(g: Graph) -> Graph:
    text = print_graph(g)
    g2 = parse_graph(text, external=lambda name: g.find_value(name).data)
    assert print_graph(g2) == text
    return g2


def test_every_type_form_roundtrips():
    g = Graph("types")
    quant = QuantParams((0.5,), (3,), dtypes.i8)
    per_axis = QuantParams((0.5, 0.25), (0, 0), dtypes.parse_dtype("i4"), axis=1)
    forms = [
        TensorType(dtypes.f32, ("N", 3, None)),
        TensorType(dtypes.bf16, None),
        TensorType(dtypes.f16, ()),
        TensorType(dtypes.i8, (1, 2), quant),
        TensorType(dtypes.f32, (4, 2), per_axis),
        TensorType(dtypes.f32, (8, 8), encoding=SparseEncoding("nm", 0.5, n=2, m=4, axis=1)),
        TensorType(dtypes.f32, (8, 8), encoding=SparseEncoding("block", 0.25, block=(4, 4))),
        TensorType(dtypes.parse_dtype("u7"), (3,)),
    ]
    for i, t in enumerate(forms):
        g.add_input(f"x{i}", t)
    g.set_outputs([g.inputs[0]])
    g2 = roundtrip(g)
    assert [v.type for v in g2.inputs] == forms


def test_constants_attrs_names_and_regions_roundtrip():
    g = Graph("my net")
    g.metadata["producer"] = "test \"quoted\""
    x = g.add_input("input.1", TensorType(dtypes.f32, ("N", 3, 8, 8)))
    b = Builder(g, source_name="/block/conv")
    w = b.const(np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    bias = b.const(np.array([0.1, -2.5e-8, np.inf, 1.0], np.float32), "bias")
    b.const(np.array([True, False]), "flags")
    b.const(np.array([1.5, -2.0], ml_dtypes.bfloat16), "half")
    b.const(np.array(["a", "b\n"], dtype=object), "words")
    y = b.op("nn.conv", [x, w, bias], {"pads": [1, 1, 1, 1], "strides": (1, 1)}, name="y")
    c = b.op("ew.cast", [y], {"to": dtypes.f16}, name="c w/ space")
    body = Graph("body")
    p = body.add_input("p", TensorType(dtypes.f16, ("N", 4, 8, 8)))
    r = Builder(body).op("ew.relu", [p], name="r")
    body.set_outputs([r])
    region = b.op("fused.region", [c], {"body": body, "kind": "relu"}, name="region")
    g.set_outputs([region, y], ["out", "y"])
    verify(g)
    g2 = roundtrip(g)
    verify(g2)
    assert g2.find_value("c w/ space").producer.source_name == "/block/conv"
    np.testing.assert_array_equal(g2.find_value("w").data, w.data)
    assert g2.output_names == ["out", "y"]


def test_optional_inputs_and_multiple_results_roundtrip():
    text = """graph @g(%x: f32[2,3], %y: f32[2,3]) {
  %s = ew.add(%x, %y) : f32[2,3]
  %t = nn.conv(%x, %y, _) {group=1} : f32[2,2,1]
  return %s
}
"""
    with pytest.raises(Exception):  # noqa: B017 - conv of a rank-2 input fails verification
        verify(parse_graph(text))
    ok = text.replace("  %t = nn.conv(%x, %y, _) {group=1} : f32[2,2,1]\n", "")
    assert print_graph(parse_graph(ok)) == ok


@pytest.mark.parametrize("text, message", [
    ("graph @g(%x: f32[2]) {\n  return %y\n}\n", "2: use of undefined value %y"),
    ("graph @g(%x: f99[2]) {\n  return %x\n}\n", "unknown dtype 'f99'"),
    ("graph @g(%x: f32[2]) {\n  %x = ew.relu(%x) : f32[2]\n  return %x\n}\n", "defined twice"),
    ("graph @g(%x: f32[2]) {\n  %w = const external : f32[40]\n  return %x\n}\n",
     "external but no weights"),
    ("graph @g(%x: f32[2]) {\n  %c = const [1, 2, 3] : i64[2]\n  return %x\n}\n",
     "does not fit"),
    ("graph @g(%x: f32[2]) {\n  return %x\n}\nextra", "text after the end"),
    ("graph @g(%x: f32[2]) {\n  %y = ew.frob(%x) : f32[2]\n  return %y\n}\n",
     "m.lir:2: unknown op 'ew.frob'"),
])
def test_parse_errors_name_the_line(text, message):
    with pytest.raises(ParseError, match=message):
        parse_graph(text, "m.lir")
