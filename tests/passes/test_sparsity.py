"""Sparsity: the pattern checks and compressed sizes of leptonc.sparsity, and the
prune-magnitude / sparsify passes on real models.

Every model pipeline runs with verify-each and validate-each (the passes are lossy, so
validate-each only checks the graph still runs with the same output types); afterwards EVERY
weight the pass touched is checked against its pattern (check_nm / check_blocks), its
measured density against the request, the encoding against the data, and the graph is saved
and loaded back with its encodings (print -> parse -> print identical).
"""

from __future__ import annotations

import math

import model_zoo
import numpy as np
import pytest
from cli_testing import assert_one_line_error

import leptonc
from leptonc import sparsity
from leptonc.errors import UsageError
from leptonc.instruments import ValidateEach, VerifyEach
from leptonc.ir import serialize
from leptonc.ir.graph import Graph
from leptonc.ir.printer import print_graph
from leptonc.passes.sparsity.weights import prunable_weights
from leptonc.passmgr import PassManager, parse_pipeline, run_pipeline


# ----- leptonc.sparsity ------------------------------------------------------------------------
def test_check_nm_counts_groups_along_the_axis_with_a_padded_tail():
    w = np.array([[1, 2, 0, 0, 3, 4],
                  [1, 0, 2, 0, 0, 5]], np.float32)
    assert sparsity.check_nm(w, 2, 4, axis=1)  # groups [1,2,0,0] [3,4] and [1,0,2,0] [0,5]
    assert not sparsity.check_nm(w, 1, 4, axis=1)
    assert not sparsity.check_nm(np.array([[1, 1, 1, 0]], np.float32), 2, 4, axis=1)
    assert sparsity.check_nm(w.T, 2, 4, axis=0)
    assert sparsity.check_nm(w, 2, 4, axis=0)  # columns hold 2 elements: one partial group
    assert sparsity.nm_max_density((2, 6), 2, 4, axis=1) == pytest.approx(4 / 6)


def test_check_blocks_accepts_whole_tiles_only():
    w = np.zeros((4, 6), np.float32)
    w[0:2, 2:4] = 1.0
    w[2:4, 4:6] = 2.0
    assert sparsity.check_blocks(w, (2, 2))
    assert not sparsity.check_blocks(w, (4, 4))  # a 4x4 tile half full
    w[0, 2] = 0.0
    assert not sparsity.check_blocks(w, (2, 2))
    edge = np.ones((3, 3), np.float32)
    edge[2, :] = 0.0  # the half-height edge tiles are all-zero
    assert sparsity.check_blocks(edge, (2, 3)) and sparsity.block_density(edge, (2, 3)) == 2 / 3


def test_compressed_sizes_follow_the_documented_formulas():
    w = np.zeros((4, 8), np.float32)
    w[:, :2] = 1.0  # 8 non-zeros, each row 2:4 in its first group
    assert sparsity.dense_bytes(w) == 128
    assert sparsity.bitmask_bytes(w) == 4 + 8 * 4
    assert sparsity.csr_bytes(w) == 8 * 4 + 8 * 4 + 5 * 4
    assert sparsity.nm_bytes(w, 2, 4, axis=1) == 8 * 2 * 4 + (8 * 2 * 2 + 7) // 8
    assert sparsity.block_bytes(w, (4, 2)) == 1 + 8 * 4
    assert sparsity.bitmask_bytes(w, bits=4) == 4 + 4  # i4 values
    assert sparsity.density(w) == 0.25


@pytest.mark.parametrize(("parse", "text", "message"), [
    (sparsity.parse_nm, "5:4", "1 <= N < M"),
    (sparsity.parse_nm, "4:4", "1 <= N < M"),
    (sparsity.parse_nm, "2-4", "not N:M"),
    (sparsity.parse_block, "4x0", "positive"),
    (sparsity.parse_block, "4by4", "not RxC"),
])
def test_bad_patterns_are_value_errors(parse, text, message):
    with pytest.raises(ValueError, match=message):
        parse(text)


# ----- options ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("pipeline", "message"), [
    ("prune-magnitude{sparsity=1.0}", "sparsity must be in [0, 1), got 1.0"),
    ("prune-magnitude{sparsity=-0.1}", "sparsity must be in [0, 1)"),
    ("sparsify{pattern=5:4}", "pattern '5:4' needs 1 <= N < M"),
    ("sparsify{block=4}", "block '4' is not RxC"),
    ("sparsify", "give exactly one of pattern=N:M or block=RxC"),
    ("sparsify{pattern=2:4,block=4x4}", "give exactly one"),
    ("sparsify{pattern=2:4,sparsity=0.7}", "sparsity applies to block=RxC only"),
    ("sparsify{block=4x4,sparsity=1.5}", "sparsity must be in [0, 1)"),
])
def test_bad_options_are_one_usage_error(pipeline, message):
    with pytest.raises(UsageError) as e:
        parse_pipeline(pipeline)
    assert message in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize(("pipeline", "mentions"), [
    ("sparsify{pattern=5:4}", ["sparsify", "5:4"]),
    ("prune-magnitude{sparsity=1.2}", ["prune-magnitude", "[0, 1)"]),
    ("prune-magnitude{scope=nosuchlayer*}", ["scope 'nosuchlayer*' matches no prunable weight"]),
])
def test_bad_options_on_the_command_line_exit_2(leptonc_cli, tmp_path, pipeline, mentions):
    model = model_zoo.model_path("mobilenet")
    result = leptonc_cli(model, "--passes", pipeline, "-o", tmp_path / "out.lir")
    assert_one_line_error(result, *mentions, code=2)
    assert not (tmp_path / "out.lir").exists()


# ----- real models -----------------------------------------------------------------------------
def _run(name: str, pipeline: str, prepare: str = "") -> tuple[Graph, dict[str, np.ndarray], dict]:
    """The model after ``prepare`` then ``pipeline``, the dense weights ``pipeline`` started
    with, and the last pass's stats."""
    graph = leptonc.load_onnx(model_zoo.model_path(name))
    inputs = model_zoo.sample_inputs(name)
    if prepare:
        run_pipeline(graph, prepare, [VerifyEach()])
    dense = {w.value.name: np.array(w.value.data) for w in prunable_weights(graph)}
    records = PassManager.from_pipeline(pipeline, [VerifyEach(), ValidateEach(inputs)]).run(graph)
    outputs = leptonc.run(graph, inputs)
    assert all(np.isfinite(v).all() for v in outputs.values())
    return graph, dense, records[-1].result.stats


def _encoded(graph: Graph, dense: dict[str, np.ndarray]) -> list:
    """The weights that received an encoding, checked against their data and dense origin."""
    encoded = [v for v in graph.constants.values() if v.type.encoding is not None]
    for v in encoded:
        assert v.name in dense, f"%{v.name} is not a prunable weight"
        assert v.type.encoding.density == sparsity.density(v.data)
        kept = v.data != 0
        np.testing.assert_array_equal(v.data[kept], dense[v.name][kept])  # zeroed, never changed
    return encoded


def _round_trips(graph: Graph, tmp_path) -> None:
    serialize.save(graph, tmp_path / "m.lir")
    loaded = serialize.load(tmp_path / "m.lir")
    assert print_graph(loaded) == print_graph(graph)
    for name, v in graph.constants.items():
        assert loaded.constants[name].type == v.type


MODELS = ["resnet50", "mobilenet", "vit"]


@pytest.mark.parametrize("name", MODELS)
def test_nm_on_every_weight(name, tmp_path):
    graph, dense, stats = _run(name, "sparsify{pattern=2:4}", prepare="fold-batchnorm")
    encoded = _encoded(graph, dense)
    assert len(encoded) == stats["weights"] > 0
    for v in encoded:
        e = v.type.encoding
        assert (e.kind, e.n, e.m) == ("nm", 2, 4)
        assert sparsity.check_nm(v.data, 2, 4, e.axis), v.name
        assert v.data.shape[e.axis] > 2
        assert e.density == pytest.approx(sparsity.nm_max_density(v.data.shape, 2, 4, e.axis))
    skipped = [v for v in graph.constants.values() if v.name in dense and v.type.encoding is None]
    assert len(skipped) == stats["skipped"]
    assert all(v.data.shape[1] <= 2 for v in skipped)  # depthwise convs: nothing to thin
    _round_trips(graph, tmp_path)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize(("block", "share"), [("4x4", 0.5), ("1x16", 0.75)])
def test_blocks_on_every_weight(name, block, share, tmp_path):
    graph, dense, stats = _run(name, f"sparsify{{block={block},sparsity={share}}}")
    encoded = _encoded(graph, dense)
    assert len(encoded) == len(dense) == stats["weights"]
    rows, cols = sparsity.parse_block(block)
    for v in encoded:
        e = v.type.encoding
        assert e.kind == "block" and math.prod(e.block) == rows * cols
        assert sparsity.check_blocks(v.data, e.block), v.name
        tile = math.prod(e.block) / v.data.size  # one tile's share of the weight
        assert 1 - share <= e.density <= 1 - share + tile + 1e-9, v.name
    if name == "vit":
        _round_trips(graph, tmp_path)


@pytest.mark.parametrize("name", MODELS)
def test_prune_per_layer_hits_the_requested_density(name):
    graph, dense, _ = _run(name, "prune-magnitude{sparsity=0.8}")
    for v in _encoded(graph, dense):
        assert v.type.encoding.kind == "unstructured"
        assert sparsity.nonzeros(v.data) == v.data.size - round(0.8 * v.data.size)


@pytest.mark.parametrize("name", MODELS)
def test_prune_global_threshold_is_one_threshold(name, tmp_path):
    graph, dense, stats = _run(name, "prune-magnitude{sparsity=0.8,global=true}")
    encoded = _encoded(graph, dense)
    total = sum(v.data.size for v in encoded)
    assert sum(sparsity.nonzeros(v.data) for v in encoded) == total - round(0.8 * total)
    assert stats["zeroed"] == round(0.8 * total)
    smallest_kept = min(np.abs(v.data[v.data != 0]).min() for v in encoded)
    largest_zeroed = max(np.abs(dense[v.name][v.data == 0]).max() for v in encoded
                         if (v.data == 0).any())
    assert largest_zeroed <= smallest_kept
    if name != "resnet50":
        _round_trips(graph, tmp_path)


def test_pruning_a_sparsified_weight_keeps_the_nm_pattern():
    graph, dense, _ = _run("vit", "sparsify{pattern=2:4},prune-magnitude{sparsity=0.75}")
    for v in _encoded(graph, dense):
        e = v.type.encoding
        assert e.kind == "nm" and sparsity.check_nm(v.data, 2, 4, e.axis)
        assert e.density == pytest.approx(0.25, abs=1 / v.data.size)


def test_scope_selects_by_op_type_and_fused_regions_count():
    graph = leptonc.load_onnx(model_zoo.model_path("mobilenet"))
    run_pipeline(graph, "fold-batchnorm,fuse-epilogue,sparsify{pattern=2:4,scope=linalg.matmul}")
    encoded = [v for v in graph.constants.values() if v.type.encoding is not None]
    assert len(encoded) == 1 and encoded[0].type.encoding.axis == 0  # the classifier's [K, N]
    assert any(node.op == "fused.region" for v in encoded for node in v.users)
