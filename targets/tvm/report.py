"""``report.md`` of a cpu/gpu artifact: what was compiled into which kernel, and how."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from leptonc.targets.tvm.lower import Kernel


def _row(cells: Sequence[object]) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


def kernel_report(title: str, target: str, kernels: Sequence[Kernel], rules: Mapping[str, str],
                  compile_seconds: float, notes: Sequence[str] = ()) -> str:
    """Markdown: one row per leptonc node (a fused region is one kernel), then every TVM kernel
    with the schedule rule that shaped it; ``notes`` are lines for the summary (tuning)."""
    total = sum(k.macs for k in kernels)
    lines = [f"# {title}: {target} artifact", "",
             f"{len(kernels)} leptonc kernels, {total:,} MACs, {len(rules)} TVM PrimFuncs, "
             f"compiled in {compile_seconds:.1f} s.", "", *(f"{note}\n" for note in notes),
             "## Kernels (graph order)", "",
             _row(["kernel", "node", "op(s)", "result shape(s)", "MACs", "schedule rule"]),
             _row(["---"] * 6)]
    for k in kernels:
        rule = rules.get(k.name, "-")
        lines.append(_row([f"`{k.name}`", k.node, ", ".join(k.ops), ", ".join(k.shapes),
                           f"{k.macs:,}", rule]))
    lines += ["", "Fused regions are one kernel each (`fused_*`); other nodes are TVM's "
              "legalized ops, listed below by TVM's names.", "",
              "## TVM PrimFuncs", "", _row(["PrimFunc", "schedule rule"]), _row(["---"] * 2)]
    lines += [_row([f"`{name}`", rule]) for name, rule in sorted(rules.items())]
    return "\n".join(lines) + "\n"
