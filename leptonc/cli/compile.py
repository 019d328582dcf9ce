"""``leptonc [compile] MODEL``: import a model (.onnx or .lir), optionally optimise it, and
write it in the form ``--emit`` names (text IR or ONNX), or compile it for a ``--target``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from leptonc.artifact_io import load_model, write_ir
from leptonc.cli.exit_codes import EXIT_OK
from leptonc.cli.passes import Optimiser, add_pass_options
from leptonc.cli.targets import (
    TARGET_EXAMPLES,
    add_target_options,
    bind_target_dims,
    check_target_options,
    compile_for_target,
)
from leptonc.errors import UsageError
from leptonc.export import save_onnx
from leptonc.ir.graph import Graph
from leptonc.ir.printer import INLINE_LIMIT, print_graph

COMPILE_EXAMPLES = """\
examples:
  leptonc model.onnx --emit ir -o model.lir   write model.lir (+ model.lir.bin for weights)
  leptonc model.onnx                          print the text IR (weights shown as 'external')
  leptonc model.lir --emit ir -o copy.lir     re-read and rewrite a text-IR file
  leptonc model.onnx -O2 -o opt.lir           optimise with the -O2 pipeline, then write
  leptonc model.onnx --passes dce --time-passes --print-ir-after=all
  leptonc model.onnx -O2 --verify-each --validate-each --dump-ir dumps/
  leptonc model.onnx --quantize uint8 --calib calib/ -o model.int8.lir   integer ops
  leptonc model.onnx --quantize uint8 --calib calib.npz --emit onnx -o model.qdq.onnx
  leptonc model.onnx --quantize w4a8 --calib calib.npz --max-accuracy-drop 0.5 --eval test.npz

""" + TARGET_EXAMPLES


def add_compile(commands: Any) -> argparse.ArgumentParser:
    p = commands.add_parser(
        "compile", prog="leptonc compile",
        help="import a model and write what --emit asks for (the default command)",
        description="Import MODEL (.onnx or .lir) and write it in the form --emit names.",
        epilog=COMPILE_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path, metavar="MODEL", help="an .onnx or .lir file")
    p.add_argument("--emit", choices=["ir", "onnx"], default="ir",
                   help="what to write: 'ir' is leptonc's text IR (default), 'onnx' an ONNX "
                        "model (with --quantize: the QDQ form onnxruntime runs)")
    p.add_argument("-o", "--output", metavar="FILE", default="-",
                   help="where to write; '-' (the default) prints to standard output; with "
                        "--target, the artifact folder")
    add_pass_options(p)
    add_target_options(p)
    p.set_defaults(handler=cmd_compile)
    return p


def _external_count(graph: Graph) -> int:
    """How many constants print as ``external``, fused sub-graphs included."""
    count = sum(1 for v in graph.constants.values() if v.data.size > INLINE_LIMIT)
    for node in graph:
        count += sum(_external_count(a) for a in node.attrs.values() if isinstance(a, Graph))
    return count


def cmd_compile(args: argparse.Namespace) -> int:
    check_target_options(args)
    optimiser = Optimiser(args)
    graph = load_model(args.model)
    bind_target_dims(args, graph)
    optimiser.run(graph)
    if args.target is not None:
        return compile_for_target(args, graph, optimiser.describe())
    if args.emit == "onnx":
        return _write_onnx(graph, args.output)
    if args.output == "-":
        sys.stdout.write(print_graph(graph))
        if count := _external_count(graph):
            print(f"leptonc: note: {count} large constant(s) printed as 'external'; no weights "
                  "file was written (use -o FILE.lir to write one)", file=sys.stderr)
        return EXIT_OK
    written = write_ir(graph, Path(args.output))
    print("wrote " + ", ".join(str(p) for p in written))
    return EXIT_OK


def _write_onnx(graph: Graph, output: str) -> int:
    if output == "-":
        raise UsageError("--emit onnx writes a binary file: give -o FILE.onnx")
    written = save_onnx(graph, Path(output))
    print(f"wrote {written}")
    return EXIT_OK
