"""Write docs/ops.md, the canonical op set, from the op registry.

    python tools/gen_op_docs.py            # rewrite docs/ops.md
    python tools/gen_op_docs.py --check    # exit 1 when docs/ops.md is out of date
"""

from __future__ import annotations

import sys
from pathlib import Path

from docgen import docs_main

from leptonc.ir.printer import format_attr
from leptonc.ops.registry import REQUIRED, all_ops

DOC = Path(__file__).resolve().parent.parent / "docs" / "ops.md"


def _ports(ports) -> str:
    return ", ".join(("*" if p.variadic else "") + p.name + ("?" if p.optional else "")
                     for p in ports)


def _attrs(opdef) -> str:
    parts = []
    for name, spec in opdef.attrs.items():
        if spec.default is REQUIRED:
            default = ""
        elif spec.default is None:
            default = " (optional)"
        else:
            default = f" = {format_attr(spec.default)}"
        parts.append(f"`{name}: {spec.kind}{default}`")
    return "<br>".join(parts)


def render() -> str:
    ops = all_ops()
    lines = ["# Canonical op set", "",
             "Generated from the op registry by `python tools/gen_op_docs.py`; do not edit.",
             f"{len(ops)} ops. Inputs marked `?` are optional, `*` variadic. Every op has a type",
             "inference function and a numpy reference kernel; ops that multiply declare MACs.", ""]
    family = None
    for name, opdef in ops.items():
        if opdef.family != family:
            family = opdef.family
            lines += ["", f"## {family}", "", "| op | inputs -> outputs | attributes | semantics |",
                      "|---|---|---|---|"]
        doc = opdef.doc.replace("|", "\\|").replace("\n", " ")
        lines.append(f"| `{name}` | {_ports(opdef.inputs)} -> {_ports(opdef.outputs)} | "
                     f"{_attrs(opdef)} | {doc} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    return docs_main(DOC, render, __doc__)


if __name__ == "__main__":
    sys.exit(main())
