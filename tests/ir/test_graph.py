"""Value/Node/Graph bookkeeping, the Builder and the Rewriter."""

import numpy as np
import pytest

from leptonc.errors import ShapeError
from leptonc.ir import dtypes
from leptonc.ir.builder import Builder, Rewriter
from leptonc.ir.graph import Graph
from leptonc.ir.types import TensorType
from leptonc.ir.verifier import verify


def small_graph():
    g = Graph("g")
    x = g.add_input("x", TensorType(dtypes.f32, ("N", 4)))
    b = Builder(g)
    w = b.const(np.ones((4, 3), np.float32), "w")
    y = b.op("linalg.matmul", [x, w], name="y")
    z = b.op("ew.relu", [y], name="z")
    g.set_outputs([z])
    return g, x, w, y, z


def test_builder_infers_types_and_keeps_uses():
    g, x, w, y, z = small_graph()
    assert y.type == TensorType(dtypes.f32, ("N", 3))
    assert z.type == y.type
    assert [n for n, _ in x.uses] == [y.producer]
    assert [(n, i) for n, i in w.uses] == [(y.producer, 1)]
    assert y.users == [z.producer]
    verify(g)


def test_builder_rejects_bad_shapes_and_leaves_no_uses():
    g = Graph()
    a = g.add_input("a", TensorType(dtypes.f32, (2, 3)))
    b = g.add_input("b", TensorType(dtypes.f32, (4, 5)))
    with pytest.raises(ShapeError, match="inner dims"):
        Builder(g).op("linalg.matmul", [a, b])
    assert not a.uses and not b.uses and len(g) == 0


def test_rewriter_replace_and_erase_keep_graph_valid():
    g, x, w, y, z = small_graph()
    rw = Rewriter(g, before=z.producer)
    t = rw.op("ew.tanh", [y], name="t")
    rw.replace_node(z.producer, [t])
    assert g.outputs == [t] and g.output_names == ["z"]
    assert [n.op for n in g] == ["linalg.matmul", "ew.tanh"]
    verify(g)


def test_erase_refuses_used_values():
    g, x, w, y, z = small_graph()
    with pytest.raises(ValueError, match="still used"):
        g.erase(y.producer)


def test_insert_before_and_after_order():
    g, x, w, y, z = small_graph()
    b = Builder(g, before=y.producer)
    n = b.op("ew.neg", [x], name="first")
    assert g.nodes[0] is n.producer
    c = Builder(g)
    tail = c.node("ew.abs", [z])
    g.unlink(tail)
    g.insert_after(y.producer, tail)
    assert g.nodes[2] is tail
    assert len(g) == 4


def test_fresh_names_are_unique():
    g = Graph()
    names = {g.fresh_name("conv") for _ in range(5)}
    assert names == {"conv", "conv_1", "conv_2", "conv_3", "conv_4"}
    assert g.fresh_name("conv_2") == "conv_5"


def test_erasing_inside_iteration_is_safe():
    g, x, w, y, z = small_graph()
    rw = Rewriter(g)
    for node in g:
        if node.op == "ew.relu":
            rw.replace_node(node, [y])
    assert [n.op for n in g] == ["linalg.matmul"]
    verify(g)


def test_reinfer_after_input_change():
    g, x, w, y, z = small_graph()
    w2 = g.add_constant(np.ones((4, 7), np.float32), "w2")
    y.producer.set_input(1, w2)
    rw = Rewriter(g)
    rw.reinfer(y.producer)
    rw.reinfer(z.producer)
    assert z.type.shape == ("N", 7)
    g.remove_constant(w)
    verify(g)
