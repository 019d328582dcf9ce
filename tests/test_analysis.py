"""Graph statistics: MACs, bytes moved, parameters, peak activation memory."""

import numpy as np

from leptonc.analysis import graph_stats
from leptonc.ir import dtypes
from leptonc.ir.builder import Builder
from leptonc.ir.graph import Graph
from leptonc.ir.types import TensorType


def test_counts_on_a_hand_checked_graph():
    g = Graph()
    x = g.add_input("x", TensorType(dtypes.f32, (2, 4)))
    b = Builder(g)
    w = b.const(np.ones((4, 3), np.float32), "w")
    y = b.op("linalg.matmul", [x, w], name="y")  # reads 32 + 48 B, writes 24 B, 24 MACs
    z = b.op("ew.relu", [y], name="z")  # reads 24 B, writes 24 B
    g.set_outputs([z])
    stats = graph_stats(g)
    assert (stats.nodes, stats.macs, stats.params, stats.param_bytes) == (2, 24, 12, 48)
    assert stats.bytes_moved == 32 + 48 + 24 + 24 + 24
    assert stats.peak_activation_bytes == 32 + 24  # x and y at the matmul; x is dead by relu
    assert dict(stats.op_histogram) == {"linalg.matmul": 1, "ew.relu": 1}


def test_dynamic_shapes_leave_memory_unknown():
    g = Graph()
    x = g.add_input("x", TensorType(dtypes.f32, ("N", 4)))
    g.set_outputs([Builder(g).op("ew.relu", [x], name="y")])
    stats = graph_stats(g)
    assert stats.bytes_moved is None and stats.peak_activation_bytes is None
