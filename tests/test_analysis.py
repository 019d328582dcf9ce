"""Graph statistics: MACs, bytes moved, parameters, peak activation memory."""

import numpy as np
import pytest

from leptonc import sparsity
from leptonc.analysis import graph_stats
from leptonc.ir import dtypes
from leptonc.ir.builder import Builder
from leptonc.ir.graph import Graph
from leptonc.ir.types import SparseEncoding, TensorType


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


def _matmul_graph(weight: np.ndarray, encoding=None) -> Graph:
    g = Graph()
    x = g.add_input("x", TensorType(dtypes.f32, (2, weight.shape[0])))
    b = Builder(g)
    w = g.add_constant(weight, "w", TensorType(dtypes.f32, weight.shape, encoding=encoding))
    g.set_outputs([b.op("linalg.matmul", [x, w], name="y")])
    return g


def test_sparse_weights_count_non_zeros_effective_macs_and_compressed_bytes():
    weight = np.arange(1, 33, dtype=np.float32).reshape(8, 4)
    weight[::2] = 0  # 16 of 32 left: density 0.5
    stats = graph_stats(_matmul_graph(weight, SparseEncoding("unstructured", 0.5)))
    assert (stats.params, stats.nonzero_params, stats.macs, stats.effective_macs) == (32, 16, 64, 32)
    # bitmask: 32 bits + 16 f32 values = 4 + 64 B (CSR: 64 + 16*4 + 9*4 = 164 B; dense 128 B)
    assert stats.compressed_param_bytes == 68
    assert dict(stats.sparse_weights) == {"unstructured": 1}


def test_zeros_without_an_encoding_stay_dense():
    weight = np.zeros((8, 4), np.float32)
    weight[0] = 1
    stats = graph_stats(_matmul_graph(weight))
    assert stats.nonzero_params == 4  # the zeros are counted ...
    assert (stats.effective_macs, stats.compressed_param_bytes) == (64, 128)  # ... not skipped
    assert not stats.sparse_weights


def test_fused_regions_count_their_body_with_the_callers_densities():
    # The body's weight input is typed dense (as when a region is fused before sparsify):
    # what counts is the density of the constant the region reads.
    body = Graph()
    x_in, w_in = (body.add_input(n, TensorType(dtypes.f32, s)) for n, s in (("x", (2, 8)),
                                                                            ("w", (8, 4))))
    body.set_outputs([Builder(body).op("linalg.matmul", [x_in, w_in], name="y")])
    weight = np.ones((8, 4), np.float32)
    weight[:, :3] = 0  # density 0.25
    g = _matmul_graph(weight, SparseEncoding("unstructured", 0.25))
    matmul = g.outputs[0]
    region = Builder(g).op("fused.region", [g.inputs[0], g.constants["w"]],
                           {"body": body, "kind": "matmul"}, name="r")
    g.set_outputs([matmul, region])
    stats = graph_stats(g)
    assert (stats.macs, stats.effective_macs) == (2 * 64, 2 * 16)


@pytest.mark.parametrize(("rows", "encoding", "expected"), [
    # Rows 0 and 4 of [8, 4]: one non-zero per group of 4 along K (axis 0).  1:4 stores 8
    # f32 slots + 2-bit positions = 32 + 2 B, below the bitmask's 4 + 32 B.
    ((0, 4), SparseEncoding("nm", 0.25, n=1, m=4, axis=0), ("nm", 34)),
    # Rows 0 and 1: 4 whole [2, 1] tiles of 16.  One bit per tile + 8 f32 = 2 + 32 B.
    ((0, 1), SparseEncoding("block", 0.25, block=(2, 1)), ("block", 34)),
    # Unstructured: the bitmask beats CSR (32 + 32 + 36 B) and dense (128 B).
    ((0, 1), SparseEncoding("unstructured", 0.25), ("bitmask", 36)),
    # Nearly dense: every compressed format costs more than the plain bytes.
    ((0, 1, 2, 3, 4, 5, 6, 7), SparseEncoding("unstructured", 1.0), ("dense", 128)),
])
def test_smallest_format_of_each_encoding(rows, encoding, expected):
    weight = np.zeros((8, 4), np.float32)
    weight[list(rows)] = 1
    assert sparsity.smallest_format(weight, encoding) == expected


def test_target_note_names_what_gains():
    assert sparsity.target_note(set()) == ""
    unstructured = sparsity.target_note({"unstructured"})
    assert "no speedup on cpu, gpu or llvm" in unstructured and "tensor cores" not in unstructured
    assert "sparse tensor cores (not implemented yet)" in sparsity.target_note({"nm", "block"})
