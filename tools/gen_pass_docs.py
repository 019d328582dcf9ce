"""Write docs/passes.md, the pass reference, from the pass registry.

    python tools/gen_pass_docs.py            # rewrite docs/passes.md
    python tools/gen_pass_docs.py --check    # exit 1 when docs/passes.md is out of date

Each entry is exactly what ``leptonc --list-passes`` prints for the pass (both come from
``leptonc.pass_reference.describe_pass``): the summary its file starts with (``<name>:
<summary>``), its docstring, its options with types and defaults, the rewrite rules it
applies, the properties it requires and ensures, and an example pipeline.  Only passes
shipped in ``leptonc.passes`` are documented, so passes that tests or plugins register do
not leak into the file.
"""

from __future__ import annotations

import sys
from pathlib import Path

from docgen import docs_main

from leptonc.pass_reference import (
    describe_named_pipelines,
    describe_pass,
    family_summary,
    pass_family,
    pass_summary,
    passes_by_family,
)
from leptonc.passmgr import Pass, all_passes

DOC = Path(__file__).resolve().parent.parent / "docs" / "passes.md"

INTRO = """\
A pipeline is a comma-separated list of passes, run in order, each with optional
`{option=value,...}`: `leptonc model.onnx --passes 'pass-a,pass-b{option=value}'`.
Boolean options take `true`/`false`; name lists are written `a:b:c`. `-O0` .. `-O3` name
the pipelines below (`--passes O2` is the same as `-O2`). A pass may require graph
properties that an earlier pass ensures; a pipeline that leaves a requirement unmet is
refused before anything runs. Instruments (`--time-passes`, `--print-ir-after`,
`--dump-ir`, `--verify-each`, `--validate-each`) are described in [cli.md](cli.md).
`--debug-rules RULE` explains on standard error why a rewrite rule listed under *rules*
did not match, in every pass that applies it.

`--validate-each` runs the reference interpreter before and after every pass that changes
the graph; a pass that changes float rounding declares the drift it may cause (its
*tolerance*), every other pass must keep outputs within rtol 1e-4 / atol 1e-5."""


def shipped_passes() -> dict[str, type[Pass]]:
    return {name: cls for name, cls in all_passes().items()
            if cls.__module__.startswith("leptonc.passes.")}


def _text_block(lines: list[str]) -> list[str]:
    return ["```text", *(line.rstrip() for line in lines), "```"]


def _index(passes: dict[str, type[Pass]]) -> list[str]:
    rows = ["| pass | family | summary |", "|---|---|---|"]
    for name, cls in passes.items():
        summary = pass_summary(cls).replace("|", "\\|")
        rows.append(f"| [`{name}`](#{name}) | {pass_family(cls)} | {summary} |")
    return rows


def render() -> str:
    passes = shipped_passes()
    lines = ["# Passes", "",
             "Generated from the pass registry by `python tools/gen_pass_docs.py`; do not edit.",
             "`leptonc --list-passes` prints the same entries.", "", INTRO, "",
             "## Named pipelines", "", *_text_block(describe_named_pipelines()), "",
             "## Index", "", *_index(passes), ""]
    for family, members in passes_by_family(passes).items():
        lines += [f"## {family}", ""]
        if summary := family_summary(family):
            lines += [summary, ""]
        for cls in members:
            lines += [f"### {cls.name}", "", *_text_block(describe_pass(cls)), ""]
    return "\n".join(lines)


def main() -> int:
    return docs_main(DOC, render, __doc__)


if __name__ == "__main__":
    sys.exit(main())
