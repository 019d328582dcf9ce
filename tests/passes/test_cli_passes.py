"""The pass manager on the command line: pipelines, -O levels, instruments, --list-passes,
``info --passes`` and ``run --passes``.

Commands run in-process through ``leptonc.cli.main``.  The deliberately broken passes below
are registered under names of their own (``test-cli-*``) and never ship: the pass reference
in docs/passes.md lists only passes from ``leptonc.passes``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import gen_pass_docs  # tools/, importable through tests/conftest.py
import numpy as np
import pytest
from cli_testing import assert_one_line_error, snapshot

from leptonc.errors import ShapeError
from leptonc.ir.builder import Builder, Rewriter
from leptonc.ir.types import TensorType
from leptonc.pass_reference import describe_pass
from leptonc.passmgr import (
    Pass,
    PassResult,
    all_passes,
    named_pipelines,
    parse_pipeline,
    register_pass,
)
from leptonc.rewrite import Match, RewriteRule, apply_rules, op, var


# ----- deliberately broken and test-only passes ----------------------------------------------
@register_pass
@dataclass(frozen=True)
class NegateOutput(Pass):
    """Negates the first graph output ``times`` times: a broken 'optimisation' when odd."""

    name = "test-cli-negate-output"
    times: int = 1

    def run(self, graph):
        b = Builder(graph)
        out = graph.outputs[0]
        for _ in range(self.times):
            out = b.op("ew.neg", [out], name="negated")
        graph.replace_output(graph.outputs[0], out)
        return PassResult(self.times > 0, {"negated": self.times})


@register_pass
@dataclass(frozen=True)
class CorruptTypes(Pass):
    """Declares a wrong shape for the first output: IR the verifier must reject."""

    name = "test-cli-corrupt-types"

    def run(self, graph):
        out = graph.outputs[0]
        out.type = TensorType(out.type.dtype, tuple(reversed(out.type.shape)))
        return PassResult(True)


@register_pass
@dataclass(frozen=True)
class Fails(Pass):
    """Raises a user-facing error, or (``bug=true``) an internal one."""

    name = "test-cli-fails"
    bug: bool = False

    def run(self, graph):
        if self.bug:
            raise KeyError("no-such-node")
        raise ShapeError("node relu: no shape fits")


@register_pass
@dataclass(frozen=True)
class NeedsRegions(Pass):
    """Requires a property that no pass ensures."""

    name = "test-cli-needs-regions"
    requires = ("test-cli-regions",)

    def run(self, graph):
        return PassResult(False)


class DoubleNeg(RewriteRule):
    name = "double-neg"
    pattern = op("ew.neg", op("ew.neg", var("x")))

    def rewrite(self, rw: Rewriter, m: Match):
        return m["x"]


@register_pass
@dataclass(frozen=True)
class FoldDoubleNeg(Pass):
    """A rule-based pass that lists its rules in ``rules``, as real ones do."""

    name = "test-cli-fold-double-neg"
    rules: ClassVar[tuple[RewriteRule, ...]] = (DoubleNeg(),)

    def run(self, graph):
        fired = apply_rules(graph, self.rules)
        return PassResult(bool(fired), dict(fired))


# ----- helpers -------------------------------------------------------------------------------
MODEL = """\
graph @g(%x: f32[2,3]) {
  %dead = ew.neg(%x) : f32[2,3] loc("dead")
  %y = ew.relu(%x) : f32[2,3] loc("relu")
  return %y as "y"
}
"""




@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "model.lir"
    path.write_text(MODEL)
    return path


@pytest.fixture
def x_npy(tmp_path: Path) -> Path:
    path = tmp_path / "x.npy"
    np.save(path, np.random.default_rng(3).standard_normal((2, 3)).astype(np.float32))
    return path




# ----- pipelines and -O levels ------------------------------------------------------------------
def test_passes_emit_ir_with_time_passes(leptonc_cli, model: Path, tmp_path: Path) -> None:
    out = tmp_path / "opt.lir"
    result = leptonc_cli(model, "--passes", "dce", "--emit", "ir", "-o", out, "--time-passes")
    assert result.code == 0, result.err
    assert result.out == f"wrote {out}\n"
    text = out.read_text()
    assert "ew.neg" not in text and "ew.relu(%x)" in text
    table = [line.split() for line in result.err.splitlines()]
    assert table[0] == ["pass", "ms", "%", "changed"]
    assert table[1][0] == "dce" and table[1][-1] == "yes"
    assert table[-1][0] == "total"


def test_opt_levels_run_the_named_pipelines(leptonc_cli, model: Path) -> None:
    for level in ("1", "2", "3"):
        result = leptonc_cli(model, f"-O{level}", "--time-passes")
        assert result.code == 0, result.err
        ran = [line.split()[0] for line in result.err.splitlines()[1:-1]]
        expected = parse_pipeline(named_pipelines()[f"O{level}"])
        assert ran == [p.spec for p in expected]
    plain = leptonc_cli(model)
    assert plain.code == 0 and "ew.neg" in plain.out  # -O0, the default, runs no passes


def _bad_pipelines(tmp: Path) -> dict[str, tuple[list[str], list[str]]]:
    a_file = tmp / "a_file"
    a_file.write_text("")
    return {
        "unknown pass": (["--passes", "dce,dcee"], ["unknown pass 'dcee'", "did you mean 'dce'"]),
        "unknown option": (["--passes", "dce{level=2}"], ["pass 'dce'", "unknown option 'level'"]),
        "bad option value": (["--passes", "test-cli-negate-output{times=many}"],
                             ["test-cli-negate-output", "option 'times' expects int, got 'many'"]),
        "unmet requirement": (["--passes", "test-cli-needs-regions"],
                              ["pass 'test-cli-needs-regions' requires 'test-cli-regions'"]),
        "syntax": (["--passes", "dce{"], ["cannot parse at 'dce{'"]),
        "-O and --passes": (["-O2", "--passes", "dce"], ["-O", "not allowed with", "--passes"]),
        "unknown level": (["-O7"], ["-O", "invalid choice: '7'"]),
        "print-ir of an unknown pass": (["--passes", "dce", "--print-ir-before", "dce,nope"],
                                        ["--print-ir-before", "unknown pass 'nope'"]),
        "print-ir of a pass not run": (["--passes", "dce", "--print-ir-after",
                                        "test-cli-negate-output"],
                                       ["--print-ir-after", "does not run pass "
                                        "'test-cli-negate-output'"]),
        "dump-ir over a file": (["--passes", "dce", "--dump-ir", str(a_file)],
                                ["--dump-ir", "a_file", "not a folder"]),
        "unknown debug rule": (["--passes", "canonicalize", "--debug-rules", "add-zero,add-zer"],
                               ["--debug-rules", "unknown rule 'add-zer'",
                                "did you mean 'add-zero'?"]),
    }


@pytest.mark.parametrize("case", ["unknown pass", "unknown option", "bad option value",
                                  "unmet requirement", "syntax", "-O and --passes",
                                  "unknown level", "print-ir of an unknown pass",
                                  "print-ir of a pass not run", "dump-ir over a file",
                                  "unknown debug rule"])
def test_bad_pipeline_is_one_line_exit_2_and_writes_nothing(leptonc_cli, model: Path,
                                                            tmp_path: Path, case: str) -> None:
    args, mentions = _bad_pipelines(tmp_path)[case]
    before = snapshot(tmp_path)
    dump = [] if "--dump-ir" in args else ["--dump-ir", tmp_path / "dumps"]
    result = leptonc_cli(model, *args, *dump, "-o", tmp_path / "out.lir")
    assert_one_line_error(result, *mentions, code=2)
    assert result.out == ""
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("command", ["info", "run"])
def test_bad_pipeline_stops_info_and_run_too(leptonc_cli, model: Path, x_npy: Path,
                                             tmp_path: Path, command: str) -> None:
    extra = ["--input", f"x={x_npy}", "-o", tmp_path / "out"] if command == "run" else []
    before = snapshot(tmp_path)
    result = leptonc_cli(command, model, "--passes", "dcee", *extra)
    assert_one_line_error(result, "unknown pass 'dcee'", code=2)
    assert snapshot(tmp_path) == before


# ----- instruments ---------------------------------------------------------------------------
def test_print_ir_before_and_after(leptonc_cli, model: Path) -> None:
    result = leptonc_cli(model, "--passes", "dce,test-cli-negate-output{times=2}",
                         "--print-ir-after=all", "--print-ir-before", "dce")
    assert result.code == 0, result.err
    err = result.err
    assert err.count("// ----- IR after ") == 2 and err.count("// ----- IR before ") == 1
    before_dce = err.index("// ----- IR before dce -----")
    after_dce = err.index("// ----- IR after dce -----")
    after_negate = err.index("// ----- IR after test-cli-negate-output{times=2} -----")
    assert before_dce < after_dce < after_negate
    assert "ew.neg(%x)" in err[before_dce:after_dce]  # the dead node, before dce removed it
    assert "ew.neg(%x)" not in err[after_dce:after_negate]
    assert result.out.startswith("graph @g(")  # the IR itself still goes to standard output


def test_dump_ir_writes_numbered_files(leptonc_cli, model: Path, tmp_path: Path) -> None:
    dumps = tmp_path / "dumps"
    result = leptonc_cli(model, "--passes", "dce,test-cli-negate-output{times=2}",
                         "--dump-ir", dumps)
    assert result.code == 0, result.err
    assert sorted(p.name for p in dumps.iterdir()) == [
        "00-input.lir", "01-dce.lir", "02-test-cli-negate-output.lir"]
    assert "ew.neg(%x)" in (dumps / "00-input.lir").read_text()
    assert "ew.neg(%x)" not in (dumps / "01-dce.lir").read_text()
    assert (dumps / "02-test-cli-negate-output.lir").read_text().count("ew.neg") == 2


def test_validate_each_names_the_broken_pass(leptonc_cli, model: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.lir"
    pipeline = "dce,test-cli-negate-output"
    unchecked = leptonc_cli(model, "--passes", pipeline, "-o", out)
    assert unchecked.code == 0, unchecked.err  # without validation the damage goes unnoticed
    out.unlink()
    result = leptonc_cli(model, "--passes", pipeline, "--validate-each", "-o", out)
    assert_one_line_error(result, "pass 'test-cli-negate-output' changed output 'y'",
                          "max abs error", code=1)
    assert not out.exists()


def test_validate_inputs_are_the_inputs_validated_on(leptonc_cli, model: Path,
                                                     tmp_path: Path) -> None:
    # relu(x) of x <= 0 is zero, and so is its negation: on these inputs the broken pass
    # is invisible, which shows that --validate-inputs replaced the random sample inputs.
    np.savez(tmp_path / "negative.npz", x=-np.ones((2, 3), np.float32))
    result = leptonc_cli(model, "--passes", "test-cli-negate-output",
                         "--validate-inputs", tmp_path / "negative.npz")
    assert result.code == 0, result.err
    np.savez(tmp_path / "positive.npz", x=np.ones((2, 3), np.float32))
    result = leptonc_cli(model, "--passes", "test-cli-negate-output",
                         "--validate-inputs", tmp_path / "positive.npz")
    assert_one_line_error(result, "test-cli-negate-output", "max abs error 2", code=1)
    np.savez(tmp_path / "wrong.npz", z=np.ones((2, 3), np.float32))
    result = leptonc_cli(model, "--passes", "dce", "--validate-inputs", tmp_path / "wrong.npz")
    assert_one_line_error(result, "unknown input(s) 'z'", code=1)
    result = leptonc_cli(model, "--passes", "dce", "--validate-inputs", tmp_path / "none.npz")
    assert_one_line_error(result, "--validate-inputs", "none.npz", "no such file", code=1)


def test_verify_each_names_the_pass_that_breaks_the_ir(leptonc_cli, model: Path,
                                                       tmp_path: Path) -> None:
    out = tmp_path / "out.lir"
    result = leptonc_cli(model, "--passes", "dce,test-cli-corrupt-types", "--verify-each",
                         "-o", out)
    assert_one_line_error(result, "after pass 'test-cli-corrupt-types': the IR is invalid",
                          "declared f32[3,2]", code=1)
    assert not out.exists()


def test_errors_inside_a_pass_name_it(leptonc_cli, model: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.lir"
    result = leptonc_cli(model, "--passes", "dce,test-cli-fails", "-o", out)
    assert_one_line_error(result, "pass 'test-cli-fails': node relu: no shape fits", code=1)
    result = leptonc_cli(model, "--passes", "dce,test-cli-fails{bug=true}", "-o", out)
    assert_one_line_error(result, "internal error (KeyError: 'no-such-node') while running pass "
                                  "'test-cli-fails{bug=true}'; this is a bug", code=70)
    assert not out.exists()


def test_debug_rules_reach_the_passes_that_have_them(leptonc_cli, tmp_path: Path) -> None:
    model = tmp_path / "negs.lir"
    model.write_text("graph @g(%x: f32[2]) {\n  %r = ew.relu(%x) : f32[2]\n"
                     "  %n = ew.neg(%r) : f32[2]\n  return %n\n}\n")
    result = leptonc_cli(model, "--passes", "dce,test-cli-fold-double-neg",
                         "--debug-rules", "double-neg", "--time-passes")
    assert result.code == 0, result.err
    assert "rule 'double-neg' did not match at %n: %r is ew.relu, pattern wants ew.neg" in result.err
    table = [line.split() for line in result.err.splitlines() if not line.startswith("rule ")]
    assert [row[0] for row in table[1:-1]] == ["dce", "test-cli-fold-double-neg"]  # no options
    quiet = leptonc_cli(model, "--passes", "test-cli-fold-double-neg")
    assert quiet.code == 0 and "did not match" not in quiet.err
    result = leptonc_cli(model, "--passes", "test-cli-fold-double-neg", "--debug-rules", "nope")
    assert_one_line_error(result, "--debug-rules", "unknown rule 'nope'", "double-neg", "add-zero",
                          code=2)


BROADCASTING_ADD_ZERO = """\
graph @g(%x: f32[3]) {
  %zeros = const [0.0, 0.0, 0.0, 0.0, 0.0, 0.0] : f32[2,3]
  %grown = ew.add(%x, %zeros) : f32[2,3]
  return %grown
}
"""

SOFTMAX_READ_ELSEWHERE = """\
graph @g(%x: f32[2,5]) {
  %e = ew.exp(%x) : f32[2,5]
  %t = reduce.sum(%e) {axes=[-1]} : f32[2,1]
  %y = ew.div(%e, %t) : f32[2,5]
  return %y, %e
}
"""


def test_debug_rules_reach_rules_run_inside_other_passes(leptonc_cli, tmp_path: Path) -> None:
    model = tmp_path / "grown.lir"
    model.write_text(BROADCASTING_ADD_ZERO)
    result = leptonc_cli(model, "--passes", "canonicalize", "--debug-rules", "add-zero")
    assert result.code == 0, result.err
    assert result.err == ("rule 'add-zero' matched at %grown but was rejected: broadcasting "
                          "%zeros (f32[2,3]) against %x (f32[3]) changes the shape\n")
    assert "ew.add(%x, %zeros)" in result.out  # the IR alone stays on standard output
    quiet = leptonc_cli(model, "--passes", "canonicalize", "--debug-rules", "mul-one")
    assert quiet.code == 0 and quiet.err == ""


@pytest.mark.parametrize("pipeline", [["--passes", "fuse-softmax"],
                                      ["--passes", "fuse-transformer"], ["-O2"]])
def test_debug_rules_explain_fusion_rules(leptonc_cli, tmp_path: Path,
                                          pipeline: list[str]) -> None:
    model = tmp_path / "softmax.lir"
    model.write_text(SOFTMAX_READ_ELSEWHERE)
    reason = ("rule 'softmax' matched at %y but was rejected: %e has readers besides the sum "
              "and the normalisation")
    for rules in ("softmax", "all", "attention,softmax"):
        result = leptonc_cli(model, *pipeline, "--debug-rules", rules)
        assert result.code == 0, result.err
        assert reason in result.err.splitlines(), (rules, result.err)
    other = leptonc_cli(model, *pipeline, "--debug-rules", "gelu-erf")
    assert other.code == 0 and "'softmax'" not in other.err


# ----- the pass reference ------------------------------------------------------------------------
def test_list_passes(leptonc_cli) -> None:
    result = leptonc_cli("--list-passes")
    assert result.code == 0, result.err
    text = result.out
    # The summary is the first paragraph of the pass's file ("dce: ..."), the details its docstring.
    assert ("\n  dce\n    remove nodes whose results nothing reads, then constants nothing reads."
            "\n\n    Dead-code elimination:") in text
    assert "  test-cli-negate-output\n    Negates the first graph output ``times`` times" in text
    assert "    ensures    no-dead-code\n    example    leptonc MODEL --passes dce\n" in text
    assert "  test-cli-negate-output\n" in text and "    options    times: int = 1\n" in text
    assert "    requires   test-cli-regions\n" in text
    assert "  test-cli-fold-double-neg\n" in text and "    rules      double-neg\n" in text
    assert "    rules      batchnorm-into-weights, scale-shift-into-weights, decompose-batchnorm\n" in text
    for level, pipeline in named_pipelines().items():
        assert f"  -{level}  {pipeline or '(no passes)'}\n" in text


def test_list_passes_and_docs_share_every_entry(leptonc_cli) -> None:
    listing = leptonc_cli("--list-passes").out
    docs = gen_pass_docs.render()
    for name, cls in gen_pass_docs.shipped_passes().items():
        entry = describe_pass(cls)
        assert "\n".join(f"    {line}".rstrip() for line in entry) in listing, name
        assert f"### {name}\n\n```text\n" + "\n".join(entry) + "\n```" in docs, name
    assert "test-cli-" not in docs  # test passes are not shipped, so not documented
    assert set(gen_pass_docs.shipped_passes()) < set(all_passes())


def test_docs_passes_md_is_up_to_date() -> None:
    assert gen_pass_docs.DOC.read_text() == gen_pass_docs.render(), (
        "docs/passes.md is stale: run python tools/gen_pass_docs.py")


# ----- info and run ----------------------------------------------------------------------------
def test_info_passes_shows_before_and_after(leptonc_cli, model: Path) -> None:
    result = leptonc_cli("info", model, "--passes", "dce")
    assert result.code == 0, result.err
    rows = {line.split()[0]: line.split()[1:] for line in result.out.splitlines()
            if line.strip()}
    assert rows["ops"] == ["1", "nodes"]  # the summary describes the optimised graph
    assert rows["passes"] == ["dce"]
    assert rows["before"] == ["after", "change"]
    assert rows["nodes"] == ["2", "1", "-1", "(-50.0%)"]
    assert rows["MACs"] == ["0", "0", "same"]
    assert rows["bytes"] == ["moved", "96", "B", "48", "B", "-48", "B", "(-50.0%)"]
    level = leptonc_cli("info", model, "-O1")
    assert f"-O1: {named_pipelines()['O1']}" in level.out


def test_info_passes_json_gives_both(leptonc_cli, model: Path) -> None:
    result = leptonc_cli("info", model, "--passes", "dce", "--json")
    assert result.code == 0, result.err
    info = json.loads(result.out)
    assert info["pipeline"] == "dce"
    assert (info["before"]["nodes"], info["after"]["nodes"]) == (2, 1)
    assert info["before"]["ops"] == {"ew.neg": 1, "ew.relu": 1}
    assert info["after"]["ops"] == {"ew.relu": 1}
    assert json.loads(leptonc_cli("info", model, "--json").out)["nodes"] == 2  # unchanged form


def test_run_executes_the_optimised_graph(leptonc_cli, model: Path, x_npy: Path,
                                          tmp_path: Path) -> None:
    plain = leptonc_cli("run", model, "--input", f"x={x_npy}", "-o", tmp_path / "plain")
    optimised = leptonc_cli("run", model, "--input", f"x={x_npy}", "-O2", "--verify-each",
                            "--validate-each", "-o", tmp_path / "o2")
    assert plain.code == 0 and optimised.code == 0, optimised.err
    np.testing.assert_array_equal(np.load(tmp_path / "plain" / "y.npy"),
                                  np.load(tmp_path / "o2" / "y.npy"))
    negated = leptonc_cli("run", model, "--input", f"x={x_npy}",
                          "--passes", "test-cli-negate-output{times=2}", "-o", tmp_path / "neg")
    assert negated.code == 0, negated.err
    np.testing.assert_array_equal(np.load(tmp_path / "neg" / "y.npy"),
                                  np.load(tmp_path / "plain" / "y.npy"))


def test_run_validates_on_its_own_inputs(leptonc_cli, model: Path, tmp_path: Path) -> None:
    np.save(tmp_path / "neg.npy", -np.ones((2, 3), np.float32))
    np.save(tmp_path / "pos.npy", np.ones((2, 3), np.float32))
    args = ["--passes", "test-cli-negate-output", "--validate-each"]
    hidden = leptonc_cli("run", model, "--input", f"x={tmp_path / 'neg.npy'}", *args)
    assert hidden.code == 0, hidden.err  # relu(-1) = 0 = -relu(-1): nothing drifts
    before = snapshot(tmp_path)
    caught = leptonc_cli("run", model, "--input", f"x={tmp_path / 'pos.npy'}", *args,
                         "-o", tmp_path / "out")
    assert_one_line_error(caught, "test-cli-negate-output", "changed output 'y'", code=1)
    assert snapshot(tmp_path) == before


# ----- sparsity reporting and the pruning shorthands ---------------------------------------
def _matmul_model(tmp_path: Path) -> Path:
    """x[2,8] @ w[8,4] (w = ±1 .. ±32, all non-zero and distinct in magnitude), then relu:
    32 parameters, 128 B, 2*8*4 = 64 MACs."""
    values = ", ".join(f"{(i + 1) * (-1) ** i:.1f}" for i in range(32))
    path = tmp_path / "mm.lir"
    path.write_text(f"""\
graph @g(%x: f32[2,8]) {{
  %w = const [{values}] : f32[8,4]
  %y = linalg.matmul(%x, %w) : f32[2,4] loc("fc")
  %z = ew.relu(%y) : f32[2,4] loc("relu")
  return %z as "z"
}}
""")
    return path


_SPARSE_KEYS = ("params", "nonzero_params", "macs", "effective_macs", "param_bytes",
                "compressed_param_bytes", "sparse_weights")


@pytest.mark.parametrize(("passes", "after"), [
    # Half the elements zeroed: 16 non-zeros, 32 effective MACs; the bitmask is smallest:
    # 32 bits + 16 f32 = 4 + 64 B (CSR: 64 + 16*4 + 9*4 = 164 B).
    ("prune-magnitude{sparsity=0.5}", (32, 16, 64, 32, 128, 68, {"unstructured": 1})),
    # 2:4 along K (8 -> 2 groups per column): 16 slots of f32 + 2-bit positions = 64 + 4 B
    # (the bitmask ties at 68 B).
    ("sparsify{pattern=2:4}", (32, 16, 64, 32, 128, 68, {"nm": 1})),
    # 1x2 blocks are [2, 1] tensor tiles: 8 of 16 kept, 1 bit per tile + 16 f32 = 2 + 64 B.
    ("sparsify{block=1x2}", (32, 16, 64, 32, 128, 66, {"block": 1})),
    # 1:4 after fusion: 25% density reaches the matmul inside the region; 8 slots = 32 + 2 B.
    (f"{named_pipelines()['O2']},sparsify{{pattern=1:4}}", (32, 8, 64, 16, 128, 34, {"nm": 1})),
])
def test_info_reports_what_sparsity_saves(leptonc_cli, tmp_path: Path, passes: str,
                                          after: tuple) -> None:
    model = _matmul_model(tmp_path)
    result = leptonc_cli("info", model, "--passes", passes, "--json")
    assert result.code == 0, result.err
    info = json.loads(result.out)
    assert tuple(info["before"][k] for k in _SPARSE_KEYS) == (32, 32, 64, 64, 128, 128, {})
    assert tuple(info["after"][k] for k in _SPARSE_KEYS) == after


def test_info_table_compares_sparsity_and_names_the_targets(leptonc_cli, tmp_path: Path) -> None:
    result = leptonc_cli("info", _matmul_model(tmp_path), "--passes", "sparsify{pattern=2:4}")
    assert result.code == 0, result.err
    rows = {line.split()[0]: line.split()[1:] for line in result.out.splitlines()
            if line.strip()}
    assert rows["non-zeros"] == ["32", "16", "-16", "(-50.0%)"]
    assert rows["MACs"] == ["64", "64", "same"]
    assert rows["effective"] == ["MACs", "64", "32", "-32", "(-50.0%)"]
    assert rows["param"] == ["bytes", "128", "B", "128", "B", "same"]
    assert rows["compressed"] == ["128", "B", "68", "B", "-60", "B", "(-46.9%)"]
    targets = next(line for line in result.out.splitlines() if line.startswith("targets"))
    assert "nm sparsity: no speedup on cpu, gpu or llvm" in targets
    assert "sparse tensor cores (not implemented yet)" in targets
    assert "fpga and asic/npu will skip zeros (planned)" in targets
    dense = leptonc_cli("info", _matmul_model(tmp_path))
    assert "targets" not in dense.out and "effective MACs" not in dense.out


def _o(level: str) -> str:
    return named_pipelines()[level]


@pytest.mark.parametrize(("args", "pipeline"), [
    (["--prune", "0.5"], "canonicalize,prune-channels{ratio=0.5}"),
    (["--prune", "0.3", "--prune-importance", "bn-scale", "-O2"],
     f"canonicalize,prune-channels{{ratio=0.3,importance=bn-scale}},{_o('O2')}"),
    (["--sparsity", "2:4"], "canonicalize,sparsify{pattern=2:4}"),
    (["-O1", "--sparsity", "unstructured=0.8"], f"{_o('O1')},prune-magnitude{{sparsity=0.8}}"),
    (["--prune", "0.5", "--passes", "dce", "--sparsity", "block=4x4"],
     "canonicalize,prune-channels{ratio=0.5},dce,sparsify{block=4x4}"),
    (["-O0", "--sparsity", "1:2"], "canonicalize,sparsify{pattern=1:2}"),
])
def test_pruning_shorthands_expand_as_documented(leptonc_cli, tmp_path: Path, args: list[str],
                                                 pipeline: str) -> None:
    model = _matmul_model(tmp_path)
    result = leptonc_cli("info", model, *args, "--json")
    assert result.code == 0, result.err
    expected = ",".join(p.spec for p in parse_pipeline(pipeline))  # defaults left out
    assert json.loads(result.out)["pipeline"] == expected


@pytest.mark.parametrize("command", ["compile", "run"])
def test_compile_and_run_take_the_shorthands(leptonc_cli, tmp_path: Path, x_npy: Path,
                                             command: str) -> None:
    np.save(x_npy, np.ones((2, 8), np.float32))
    extra = ["--input", f"x={x_npy}"] if command == "run" else []
    result = leptonc_cli(command, _matmul_model(tmp_path), *extra, "--sparsity", "2:4",
                         "--time-passes")
    assert result.code == 0, result.err
    assert "sparsify" in result.err  # the time table lists the expanded pipeline
    if command == "compile":
        assert "!sparse<nm, density=0.5, n=2, m=4, axis=0>" in result.out


@pytest.mark.parametrize(("args", "mentions"), [
    (["--prune", "1.5"], ["--prune 1.5", "ratio must be in [0, 1)"]),
    (["--prune", "half"], ["--prune", "'half' is not a number"]),
    (["--prune", "0.5},dce{"], ["--prune", "is not a number"]),
    (["--prune-importance", "l2"], ["--prune-importance needs --prune"]),
    (["--prune", "0.5", "--prune-importance", "l3"], ["--prune-importance", "l3"]),
    (["--sparsity", "4:4"], ["--sparsity 4:4", "needs 1 <= N < M"]),
    (["--sparsity", "50%"], ["--sparsity", "'50%' is not N:M"]),
    (["--sparsity", "block=0x4"], ["--sparsity block=0x4", "positive sides"]),
    (["--sparsity", "block=4x4,dce"], ["--sparsity", "is not N:M"]),
    (["--sparsity", "unstructured=1.2"], ["--sparsity unstructured=1.2", "sparsity must be"]),
])
def test_bad_shorthand_values_are_one_line_usage_errors(leptonc_cli, tmp_path: Path,
                                                        args: list[str], mentions: list[str]
                                                        ) -> None:
    model = _matmul_model(tmp_path)
    before = snapshot(tmp_path)
    result = leptonc_cli(model, *args, "-o", tmp_path / "out.lir")
    assert_one_line_error(result, *mentions, code=2)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("command", ["compile", "info", "run"])
def test_help_documents_the_shorthand_expansion(leptonc_cli, command: str) -> None:
    result = leptonc_cli(command, "--help")
    assert result.code == 0
    text = " ".join(result.out.split())  # argparse wraps lines anywhere
    for shown in ("--prune RATIO", "'canonicalize,prune-channels{ratio=RATIO}' before the pipeline",
                  "--prune-importance l1|l2|bn-scale", "--sparsity N:M|block=RxC|unstructured=S",
                  "N:M -> 'sparsify{pattern=N:M}'", "unstructured=S -> 'prune-magnitude{sparsity=S}'"):
        assert shown in text, shown
