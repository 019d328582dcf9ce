"""Golden text tests for passes: each ``golden/<pass>/<case>.lir`` starts with
``# RUN: <pipeline>``; the pipeline runs with verify-each and validate-each, and the printed
result must equal ``<case>.expected.lir`` exactly.

Regenerate expectations after an intended change with ``LEPTONC_UPDATE_GOLDEN=1 pytest ...``
and review the diff.
"""

import os
import re
from pathlib import Path

import pytest

from leptonc.instruments import ValidateEach, VerifyEach
from leptonc.ir.parser import parse_graph
from leptonc.ir.printer import print_graph
from leptonc.passmgr import PassManager

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p for p in GOLDEN.rglob("*.lir") if not p.name.endswith(".expected.lir"))


def run_golden(path: Path) -> str:
    text = path.read_text()
    run = re.search(r"^# RUN: (.*)$", text, re.MULTILINE)
    assert run, f"{path} has no '# RUN: <pipeline>' line"
    graph = parse_graph(text, str(path))
    PassManager.from_pipeline(run.group(1), [VerifyEach(), ValidateEach()]).run(graph)
    return print_graph(graph)


def test_every_shipped_pass_has_golden_tests():
    from leptonc.passmgr import all_passes

    shipped = [n for n, c in all_passes().items() if c.__module__.startswith("leptonc.passes.")]
    assert shipped and not [n for n in shipped if not list((GOLDEN / n).glob("*.lir"))]


@pytest.mark.parametrize("path", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_golden(path):
    expected_path = path.with_name(path.stem + ".expected.lir")
    actual = run_golden(path)
    if os.environ.get("LEPTONC_UPDATE_GOLDEN"):
        expected_path.write_text(actual)
    assert expected_path.exists(), f"missing {expected_path.name} (run with LEPTONC_UPDATE_GOLDEN=1)"
    assert actual == expected_path.read_text()
