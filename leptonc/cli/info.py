"""``leptonc info MODEL``: inputs, outputs, op histogram, parameters, MACs, bytes moved and
peak activation memory, what sparse weights save (non-zeros, effective MACs, compressed
size), as text or JSON; with a pipeline, before and after it."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from leptonc.analysis import graph_stats
from leptonc.artifact_io import load_model
from leptonc.cli.exit_codes import EXIT_OK
from leptonc.cli.passes import Optimiser, add_pass_options
from leptonc.ir.graph import Graph, Value
from leptonc.ir.printer import format_type
from leptonc.sparsity import target_note

INFO_EXAMPLES = """\
examples:
  leptonc info model.onnx
  leptonc info model.lir --json | python -m json.tool
  leptonc info model.onnx -O2                 before/after: nodes, parameters, MACs, memory
  leptonc info model.onnx --sparsity 2:4      before/after: non-zeros, effective MACs, sizes
"""


def add_info(commands: Any) -> argparse.ArgumentParser:
    p = commands.add_parser(
        "info", prog="leptonc info", help="summarise a model: inputs, outputs, ops, parameters, MACs, memory",
        description="Print MODEL's inputs and outputs, op histogram, parameter count and "
                    "bytes, multiply-accumulates and peak activation memory.",
        epilog=INFO_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path, metavar="MODEL", help="an .onnx or .lir file")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object instead (with passes: {pipeline, before, after})")
    add_pass_options(p)
    p.set_defaults(handler=cmd_info)
    return p


def _shape_json(v: Value) -> list | None:
    return None if v.type.shape is None else list(v.type.shape)


def _port_json(v: Value, name: str) -> dict[str, Any]:
    return {"name": name, "dtype": v.type.dtype.name, "shape": _shape_json(v),
            "type": format_type(v.type)}


def model_info(graph: Graph, path: Path) -> dict[str, Any]:
    """Everything ``leptonc info`` reports, as plain JSON-ready data."""
    stats = graph_stats(graph)
    return {
        "model": str(path),
        "graph": graph.name,
        "metadata": dict(graph.metadata),
        "inputs": [_port_json(v, v.name) for v in graph.inputs],
        "outputs": [_port_json(v, n) for v, n in zip(graph.outputs, graph.output_names,
                                                     strict=True)],
        "nodes": stats.nodes,
        "ops": dict(stats.op_histogram.most_common()),
        "constants": len(graph.constants),
        "params": stats.params,
        "param_bytes": stats.param_bytes,
        "nonzero_params": stats.nonzero_params,
        "compressed_param_bytes": stats.compressed_param_bytes,
        "sparse_weights": dict(sorted(stats.sparse_weights.items())),
        "macs": stats.macs,
        "effective_macs": stats.effective_macs,
        # Ops count MACs only where shapes are static; say so when some are not.
        "macs_complete": all(v.type.is_static for n in graph for v in n.outputs),
        "bytes_moved": stats.bytes_moved,
        "peak_activation_bytes": stats.peak_activation_bytes,
    }


_BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def _human_bytes(n: int) -> str:
    exponent = min((n.bit_length() - 1) // 10, len(_BYTE_UNITS) - 1) if n > 0 else 0
    if exponent == 0:
        return f"{n} B"
    return f"{n / 1024 ** exponent:.1f} {_BYTE_UNITS[exponent]}"


def _human_count(n: int) -> str:
    for scale, unit in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if n >= scale:
            return f"{n:,} ({n / scale:.1f} {unit})"
    return f"{n:,}"


def _label_width(info: dict[str, Any]) -> int:
    return max([18, *(len(p["name"]) + 4 for p in info["inputs"] + info["outputs"]),
                *(len(op) + 4 for op in info["ops"])])


def format_info(info: dict[str, Any]) -> str:
    width = _label_width(info)
    meta = ", ".join(f"{k} {v}" for k, v in info["metadata"].items())
    lines = [f"{'model':<{width}}{info['model']}",
             f"{'graph':<{width}}@{info['graph']}" + (f" ({meta})" if meta else "")]
    for title, key in (("inputs", "inputs"), ("outputs", "outputs")):
        lines.append(f"{title}" + ("" if info[key] else f"{'':<{width - len(title)}}none"))
        lines += [f"  {p['name']:<{width - 2}}{p['type']}" for p in info[key]]
    lines.append(f"{'ops':<{width}}{info['nodes']} nodes")
    lines += [f"  {op:<{width - 2}}{count}" for op, count in info["ops"].items()]
    lines.append(f"{'parameters':<{width}}{_human_count(info['params'])}, "
                 f"{_human_bytes(info['param_bytes'])} in {info['constants']} constants")
    macs = _human_count(info["macs"])
    if not info["macs_complete"]:
        macs += " (ops with dynamic shapes are not counted)"
    lines.append(f"{'MACs':<{width}}{macs}")
    lines += _sparsity_lines(info, width)
    moved = info["bytes_moved"]
    moved_text = "unknown (dynamic shapes)" if moved is None else _human_bytes(moved)
    lines.append(f"{'bytes moved':<{width}}{moved_text} (every op as its own kernel)")
    peak = info["peak_activation_bytes"]
    peak_text = "unknown (dynamic shapes)" if peak is None else _human_bytes(peak)
    lines.append(f"{'peak activations':<{width}}{peak_text}")
    return "\n".join(lines) + "\n"


def _sparsity_lines(info: dict[str, Any], width: int) -> list[str]:
    """What the sparse weights save; nothing for a graph without them (any model has some
    zero parameters, but only encoded weights tell a target how to skip them)."""
    kinds = info["sparse_weights"]
    if not kinds:
        return []
    counts = ", ".join(f"{n} {kind}" for kind, n in kinds.items())
    return [f"{'sparse weights':<{width}}{counts}",
            f"{'non-zeros':<{width}}{_human_count(info['nonzero_params'])}",
            f"{'effective MACs':<{width}}{_human_count(info['effective_macs'])} "
            "(MACs scaled by weight density)",
            f"{'compressed':<{width}}{_human_bytes(info['compressed_param_bytes'])} "
            "(sparse weights in their smallest format)",
            f"{'targets':<{width}}{target_note(set(kinds))}"]


# What `info --passes` compares: (label, key in model_info, whether the numbers are bytes).
_COMPARED = (("nodes", "nodes", False), ("parameters", "params", False),
             ("non-zeros", "nonzero_params", False), ("MACs", "macs", False),
             ("effective MACs", "effective_macs", False),
             ("param bytes", "param_bytes", True), ("compressed", "compressed_param_bytes", True),
             ("bytes moved", "bytes_moved", True),
             ("peak activations", "peak_activation_bytes", True))


def _amount(n: int | None, is_bytes: bool) -> str:
    if n is None:
        return "unknown"
    return _human_bytes(n) if is_bytes else f"{n:,}"


def _change(before: int | None, after: int | None, is_bytes: bool) -> str:
    if before is None or after is None:
        return "unknown"
    if before == after:
        return "same"
    delta = after - before
    text = ("+" if delta > 0 else "-") + _amount(abs(delta), is_bytes)
    return text + (f" ({100 * delta / before:+.1f}%)" if before else "")


def format_comparison(before: dict[str, Any], after: dict[str, Any], pipeline: str) -> str:
    """The before/after table of ``leptonc info --passes``."""
    width = _label_width(after)
    rows = [("", "before", "after", "change")]
    rows += [(label, _amount(before[key], is_bytes), _amount(after[key], is_bytes),
              _change(before[key], after[key], is_bytes)) for label, key, is_bytes in _COMPARED]
    column = max(len(cell) for row in rows for cell in row[1:3]) + 3
    lines = [f"{'passes':<{width}}{pipeline}"]
    lines += [f"{label:<{width}}{b:<{column}}{a:<{column}}{change}".rstrip()
              for label, b, a, change in rows]
    if not (before["macs_complete"] and after["macs_complete"]):
        lines.append(f"{'':<{width}}(MACs leave out ops with dynamic shapes)")
    return "\n".join(lines) + "\n"


def cmd_info(args: argparse.Namespace) -> int:
    optimiser = Optimiser(args)
    graph = load_model(args.model)
    if not optimiser.given:
        info = model_info(graph, args.model)
        sys.stdout.write(json.dumps(info, indent=2) + "\n" if args.json else format_info(info))
        return EXIT_OK
    before = model_info(graph, args.model)
    optimiser.run(graph)
    after = model_info(graph, args.model)
    if args.json:
        both = {"pipeline": optimiser.spec, "before": before, "after": after}
        sys.stdout.write(json.dumps(both, indent=2) + "\n")
    else:
        sys.stdout.write(format_info(after) + format_comparison(before, after,
                                                                optimiser.describe()))
    return EXIT_OK
