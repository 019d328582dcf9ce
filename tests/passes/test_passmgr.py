"""Pass registry, pipeline strings, requirements and instruments."""

import io
from dataclasses import dataclass

import numpy as np
import pytest

from leptonc.errors import UsageError
from leptonc.instruments import DumpIR, PrintIR, TimePasses, ValidateEach, VerifyEach
from leptonc.ir import dtypes
from leptonc.ir.builder import Builder
from leptonc.ir.graph import Graph
from leptonc.ir.types import TensorType
from leptonc.passmgr import (
    Pass,
    PassError,
    PassManager,
    PassResult,
    all_passes,
    parse_pipeline,
    register_pass,
)


def graph_with_dead_code() -> Graph:
    g = Graph()
    x = g.add_input("x", TensorType(dtypes.f32, (2, 3)))
    b = Builder(g)
    b.op("ew.neg", [x], name="dead")
    g.set_outputs([b.op("ew.relu", [x], name="y")])
    return g


@register_pass
@dataclass(frozen=True)
class ScaleOutputs(Pass):
    """Test pass: multiplies the first output by ``factor`` (a broken 'optimisation')."""

    name = "test-scale-outputs"
    factor: float = 1.0
    note: str = ""
    repeat: int = 1
    enabled: bool = True

    def run(self, graph):
        if not self.enabled or self.factor == 1.0:
            return PassResult(False)
        out = graph.outputs[0]
        b = Builder(graph)
        scaled = b.op("ew.mul", [out, b.const(np.float32(self.factor), "factor")], name="scaled")
        graph.replace_output(out, scaled)
        return PassResult(True, {"scaled": 1})


@register_pass
@dataclass(frozen=True)
class NeedsFolding(Pass):
    name = "test-needs-folding"
    requires = ("bn-folded",)

    def run(self, graph):
        return PassResult(False)


def test_pipeline_strings_build_typed_options():
    passes = parse_pipeline("dce, test-scale-outputs{factor=2.5,note=hi,repeat=3,enabled=false},dce")
    assert [p.name for p in passes] == ["dce", "test-scale-outputs", "dce"]
    scale = passes[1]
    assert (scale.factor, scale.note, scale.repeat, scale.enabled) == (2.5, "hi", 3, False)
    assert scale.spec == "test-scale-outputs{factor=2.5,note=hi,repeat=3,enabled=false}"
    assert parse_pipeline("") == []


@pytest.mark.parametrize("pipeline, message", [
    ("dce,dcee", "unknown pass 'dcee' \\(did you mean 'dce'\\?\\)"),
    ("test-scale-outputs{factr=2}", "pass 'test-scale-outputs': unknown option 'factr' "
                                    "\\(options: factor, note, repeat, enabled\\)"),
    ("test-scale-outputs{repeat=two}", "option 'repeat' expects int, got 'two'"),
    ("test-scale-outputs{enabled=maybe}", "option 'enabled' expects bool, got 'maybe'"),
    ("test-scale-outputs{factor}", "option 'factor' needs a value"),
    ("dce{", "cannot parse at 'dce{'"),
    ("test-needs-folding", "pass 'test-needs-folding' requires 'bn-folded', which no earlier "
                           "pass ensures"),
])
def test_bad_pipelines_give_one_clear_error(pipeline, message):
    with pytest.raises(UsageError, match=message):
        PassManager.from_pipeline(pipeline).run(graph_with_dead_code())


def test_validate_each_names_the_pass_that_breaks_outputs():
    pm = PassManager.from_pipeline("dce,test-scale-outputs{factor=1.001},dce",
                                   [VerifyEach(), ValidateEach()])
    with pytest.raises(PassError, match="pass 'test-scale-outputs\\{factor=1.001\\}' changed "
                                        "output 'y': max abs error"):
        pm.run(graph_with_dead_code())


def test_instruments_time_print_and_dump(tmp_path):
    timing, stream = TimePasses(), io.StringIO()
    g = graph_with_dead_code()
    records = PassManager.from_pipeline("dce", [timing, PrintIR({"dce"}, {"all"}, stream),
                                               DumpIR(tmp_path)]).run(g)
    assert records[0].result.stats == {"nodes-removed": 1, "constants-removed": 0}
    assert "dce" in timing.table() and "total" in timing.table()
    text = stream.getvalue()
    assert "IR before dce" in text and "IR after dce" in text and "ew.neg" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["00-input.lir", "01-dce.lir"]
    assert "ew.neg" not in (tmp_path / "01-dce.lir").read_text()


def test_registry_lists_real_passes():
    assert "dce" in all_passes()
