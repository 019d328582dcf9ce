"""The verifier catches each kind of ill-formed graph."""

import numpy as np
import pytest

from leptonc.errors import VerifyError
from leptonc.ir import dtypes
from leptonc.ir.builder import Builder
from leptonc.ir.graph import Graph, Node
from leptonc.ir.types import TensorType
from leptonc.ir.verifier import verify


def base():
    g = Graph()
    x = g.add_input("x", TensorType(dtypes.f32, (2, 3)))
    y = Builder(g).op("ew.relu", [x], name="y")
    g.set_outputs([y])
    return g, x, y


def test_valid_graph_passes():
    verify(base()[0])


def test_use_before_definition():
    g, x, y = base()
    z = Builder(g).op("ew.neg", [y], name="z")
    g.unlink(z.producer)
    g.insert_before(y.producer, z.producer)
    with pytest.raises(VerifyError, match="not defined before use"):
        verify(g)


def test_declared_type_contradicting_inference():
    g, x, y = base()
    y.type = TensorType(dtypes.f32, (2, 4))
    with pytest.raises(VerifyError, match="declared f32\\[2,4\\], inferred f32\\[2,3\\]"):
        verify(g)


def test_attribute_checks():
    g, x, y = base()
    node = Builder(g).node("ew.cast", [x], {"to": dtypes.f16})
    node.attrs["to"] = "oops"
    with pytest.raises(VerifyError, match="attribute 'to' should be dtype"):
        verify(g)
    node.attrs = {"to": dtypes.f16, "bogus": 1}
    with pytest.raises(VerifyError, match="unknown attribute 'bogus'"):
        verify(g)
    node.attrs = {}
    with pytest.raises(VerifyError, match="missing required attribute 'to'"):
        verify(g)


def test_stale_use_list():
    g, x, y = base()
    x._uses.clear()
    with pytest.raises(VerifyError, match="use list of %x"):
        verify(g)


def test_unknown_op_and_arity():
    g, x, y = base()
    bad = Node("ew.nope", [x])
    g.make_outputs(bad, [x.type], ["bad"])
    g.append(bad)
    with pytest.raises(VerifyError, match="unknown op 'ew.nope'"):
        verify(g)
    g2, x2, _ = base()
    wrong = Node("ew.add", [x2])
    g2.make_outputs(wrong, [x2.type], ["w"])
    g2.append(wrong)
    with pytest.raises(VerifyError, match="1 inputs do not fit ew.add"):
        verify(g2)


def test_constant_shape_must_match_type():
    g, x, y = base()
    c = g.add_constant(np.zeros(3, np.float32), "c")
    c.type = TensorType(dtypes.f32, (4,))
    with pytest.raises(VerifyError, match="data shape"):
        verify(g)
