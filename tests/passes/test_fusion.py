"""Fusion passes on real models (fold-batchnorm, fuse-epilogue, fuse-elementwise) and the
region builder they share.

Every pipeline runs with verify-each (types, SSA, topological order: a fused graph with a
cycle cannot be ordered) and validate-each (the interpreter before and after each pass, on
the model's sample inputs, within each pass's declared tolerance); the end result is
compared with the unfused model once more.
"""

from __future__ import annotations

from collections import Counter

import model_zoo
import numpy as np
import pytest

import leptonc
from leptonc.errors import UsageError
from leptonc.instruments import ValidateEach, VerifyEach
from leptonc.ir import dtypes
from leptonc.ir.builder import Builder
from leptonc.ir.graph import Graph
from leptonc.ir.types import TensorType
from leptonc.passes.fusion.regions import make_region, region_boundary
from leptonc.passmgr import PassManager, parse_pipeline

# model: (nodes before, nodes after "fold-batchnorm,fuse-epilogue", region kinds)
EPILOGUE = {
    "resnet50": (177, 58, {"conv+bias+relu": 33, "conv+bias+add+relu": 16, "matmul+bias": 1}),
    "squeezenet": (67, 41, {"conv+bias+relu": 26}),
    "shufflenet": (204, 111, {"conv+bias+relu": 17, "conv+bias+add+relu": 13, "matmul+bias": 1}),
    "inception_v2": (372, 95, {"conv+bias+relu": 69, "matmul+bias": 1}),
    "mobilenet": (29, 12, {"conv+bias+relu6": 8, "matmul+bias": 1}),
    "unet": (28, 18, {"conv+bias+relu": 10}),
}
# model: (nodes after "fuse-elementwise" alone, region kinds)
ELEMENTWISE = {
    "resnet50": (161, {"elementwise:2": 16}),  # residual add + relu
    "shufflenet": (191, {"elementwise:2": 13}),
    "inception_v2": (234, {"elementwise:3": 69}),  # Caffe2's scale, shift, relu
    "vit": (54, {"elementwise:2": 4, "elementwise:6": 2}),  # bias + residual; bias + erf gelu
    "squeezenet": (67, {}),  # every relu follows a conv: nothing to group
}


def _compile(name: str, pipeline: str) -> tuple[Graph, int]:
    """The model after ``pipeline`` (checked on the way) and its node count before."""
    graph = leptonc.load_onnx(model_zoo.model_path(name))
    inputs = model_zoo.sample_inputs(name)
    want = leptonc.run(graph, inputs)
    before = len(graph)
    manager = PassManager.from_pipeline(pipeline, [VerifyEach(), ValidateEach(inputs)])
    manager.run(graph)
    got = leptonc.run(graph, inputs)
    rtol = max(p.rtol for p in manager.passes)
    atol = max(p.atol for p in manager.passes)
    for out_name, expected in want.items():
        np.testing.assert_allclose(got[out_name], expected, rtol=rtol, atol=atol, err_msg=out_name)
    return graph, before


def _kinds(graph: Graph) -> Counter:
    return Counter(n.attr("kind") for n in graph if n.op == "fused.region")


@pytest.mark.parametrize("name", sorted(EPILOGUE))
def test_fold_and_fuse_epilogue_on_models(name: str) -> None:
    nodes_before, nodes_after, kinds = EPILOGUE[name]
    graph, before = _compile(name, "fold-batchnorm,fuse-epilogue")
    assert (before, len(graph)) == (nodes_before, nodes_after)
    assert _kinds(graph) == Counter(kinds)
    assert not any(n.op == "nn.batch_norm" for n in graph)
    for region in (n for n in graph if n.op == "fused.region"):
        body = list(region.attr("body"))
        anchor = {"conv": "nn.conv", "matmul": "linalg.matmul"}[region.attr("kind").split("+")[0]]
        assert body[0].op == anchor
        assert all(n.op.startswith("ew.") for n in body[1:])


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_fuse_elementwise_on_models(name: str) -> None:
    nodes_after, kinds = ELEMENTWISE[name]
    graph, _ = _compile(name, "fuse-elementwise")
    assert len(graph) == nodes_after
    assert _kinds(graph) == Counter(kinds)
    for region in (n for n in graph if n.op == "fused.region"):
        body = region.attr("body")
        shapes = {n.output.type.shape for n in body}
        assert len(shapes) == 1, "a group spans one iteration space"
        assert all(n.op.startswith("ew.") for n in body)


def test_full_fusion_pipeline_leaves_no_fusible_pairs() -> None:
    """After epilogue fusion, fuse-elementwise finds nothing more in a CNN."""
    graph, _ = _compile("resnet50", "fold-batchnorm,fuse-epilogue,fuse-elementwise")
    assert _kinds(graph)["elementwise:2"] == 0
    assert len(graph) == EPILOGUE["resnet50"][1]


def test_inception_scale_shift_folds_into_convs() -> None:
    """Caffe2's per-channel Mul/Add after each BatchNorm fold along with it."""
    graph, _ = _compile("inception_v2", "fold-batchnorm")
    ops = Counter(n.op for n in graph)
    assert ops["ew.mul"] == 0 and ops["ew.add"] == 1  # the classifier's bias
    assert ops["nn.conv"] == 69


# ----- the region builder ------------------------------------------------------------------------
def _small_graph() -> tuple[Graph, list]:
    """x -> mul(x, w) -> relu -> neg, with the mul result also read after the relu."""
    g = Graph()
    x = g.add_input("x", TensorType(dtypes.f32, (2, 3)))
    b = Builder(g)
    w = b.const(np.full((3,), 2.0, np.float32), "w")
    m = b.op("ew.mul", [x, w], name="m")
    r = b.op("ew.relu", [m], name="r")
    n = b.op("ew.add", [m, r], name="n")
    g.set_outputs([n, r], ["out", "relu_out"])
    return g, [m.producer, r.producer]


def test_region_boundary() -> None:
    g, nodes = _small_graph()
    inputs, outputs = region_boundary(g, nodes)
    assert [v.name for v in inputs] == ["x", "w"]  # constants come in as inputs
    assert [v.name for v in outputs] == ["m", "r"]  # read outside; returned by the graph


def test_make_region_replaces_nodes_and_keeps_names() -> None:
    g, nodes = _small_graph()
    inputs = {"x": np.arange(-3, 3, dtype=np.float32).reshape(2, 3)}
    want = leptonc.run(g, inputs)
    region = make_region(g, nodes, "mul+relu")
    leptonc.verify(g)
    assert [n.op for n in g] == ["fused.region", "ew.add"]
    assert [v.name for v in region.outputs] == ["m", "r"]
    assert g.output_names == ["out", "relu_out"] and g.outputs[1] is region.outputs[1]
    body = region.attr("body")
    assert [v.name for v in body.inputs] == ["x", "w"] and not body.constants
    assert region.source_name == nodes[0].source_name
    got = leptonc.run(g, inputs)
    for name, expected in want.items():
        np.testing.assert_array_equal(got[name], expected)


def test_make_region_rejects_bad_sets() -> None:
    g, nodes = _small_graph()
    with pytest.raises(ValueError, match="at least one node"):
        make_region(g, [], "empty")
    with pytest.raises(ValueError, match="distinct"):
        make_region(g, [nodes[0], nodes[0]], "twice")
    other, foreign = _small_graph()
    with pytest.raises(ValueError, match="distinct"):
        make_region(g, foreign, "foreign")


@pytest.mark.parametrize("pipeline", ["fuse-elementwise{min-ops=0}",
                                      "fuse-elementwise{min-ops=5,max-ops=4}",
                                      "fuse-epilogue{max-ops=0}"])
def test_bad_options(pipeline: str) -> None:
    with pytest.raises(UsageError):
        parse_pipeline(pipeline)


def _random_graph(seed: int, size: int = 120) -> Graph:
    """Elementwise ops over [2, 3] and [2, 1] woven with reductions (which switch shape and
    give paths that leave a group and come back), reading random earlier values."""
    rng = np.random.default_rng(seed)
    g = Graph(f"random{seed}")
    b = Builder(g)
    wide = [g.add_input("x", TensorType(dtypes.f32, (2, 3)))]
    narrow = [g.add_input("u", TensorType(dtypes.f32, (2, 1)))]
    for _ in range(size):
        pool = wide if rng.random() < 0.7 else narrow
        pick = pool[int(rng.integers(max(0, len(pool) - 6), len(pool)))]  # mostly recent values
        kind = rng.random()
        if kind < 0.4:
            pool.append(b.op(str(rng.choice(["ew.tanh", "ew.neg", "ew.sigmoid", "ew.relu"])), [pick]))
        elif kind < 0.85:
            other = narrow[int(rng.integers(len(narrow)))] if rng.random() < 0.3 else \
                pool[int(rng.integers(len(pool)))]
            pool.append(b.op(str(rng.choice(["ew.add", "ew.mul", "ew.sub"])), [pick, other]))
        elif pool is wide:
            narrow.append(b.op("reduce.sum", [pick], {"axes": [1]}))
        else:
            wide.append(b.op("ew.add", [wide[-1], pick]))
    g.set_outputs([wide[-1], narrow[-1]], ["wide", "narrow"])
    return g


@pytest.mark.parametrize("seed", range(6))
def test_fuse_elementwise_random_graphs_stay_acyclic(seed: int) -> None:
    """verify-each rejects a fused graph that cannot be ordered; validate-each checks values."""
    graph = _random_graph(seed)
    records = PassManager.from_pipeline("dce,fuse-elementwise{max-ops=6}",
                                        [VerifyEach(), ValidateEach()]).run(graph)
    assert records[1].result.stats["regions"] > 0
    for region in (n for n in graph if n.op == "fused.region"):
        assert 2 <= len(region.attr("body")) <= 6
