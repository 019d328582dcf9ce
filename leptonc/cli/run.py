"""``leptonc run MODEL``: run the reference interpreter on inputs saved with numpy and save
the outputs, optionally after a pipeline and checked against onnxruntime."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from leptonc.artifact_io import (
    ONNX_SUFFIX,
    bind_inputs,
    check_output_target,
    gather_inputs,
    load_model,
    write_outputs,
)
from leptonc.cli.compare_ort import ORT_TOLERANCE, compare_with_onnxruntime
from leptonc.cli.exit_codes import EXIT_OK
from leptonc.cli.passes import Optimiser, add_pass_options
from leptonc.cli.targets import run_artifact
from leptonc.errors import UsageError
from leptonc.interp import run as interpret

RUN_EXAMPLES = """\
examples:
  leptonc run model.onnx --input image=image.npy -o out/       writes out/<output>.npy
  leptonc run model.onnx --inputs batch.npz -o results.npz     all inputs in, all outputs out
  leptonc run model.onnx --input image=image.npy --compare-ort also run onnxruntime
  leptonc run model.lir --inputs batch.npz -o out/             the text IR runs the same
  leptonc run model.onnx --inputs batch.npz -O2 --validate-each  run the optimised graph
  leptonc run out/ --inputs batch.npz -o results/               run a compiled artifact folder

Every model input must be given; none is made up.  Output names become file names after
replacing characters other than letters, digits, '.', '_' and '-' with '_'.
"""


def add_run(commands: Any) -> argparse.ArgumentParser:
    p = commands.add_parser(
        "run", prog="leptonc run", help="run a model on inputs saved with numpy (reference interpreter)",
        description="Run MODEL with leptonc's reference interpreter on inputs from .npy/.npz "
                    "files and save the outputs.",
        epilog=RUN_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path, metavar="MODEL",
                   help="an .onnx or .lir file, or an artifact folder (leptonc MODEL --target ...)")
    p.add_argument("--input", action="append", default=[], metavar="NAME=FILE.npy",
                   help="one model input from a .npy file (repeat for each input)")
    p.add_argument("--inputs", type=Path, metavar="FILE.npz",
                   help="an .npz archive holding inputs by name")
    p.add_argument("-o", "--output", type=Path, metavar="OUT",
                   help="a folder for <output>.npy files, or a file ending in .npz; "
                        "without -o only a summary is printed")
    p.add_argument("--compare-ort", action="store_true",
                   help=f"also run onnxruntime (.onnx models only) and fail unless every output "
                        f"agrees within {ORT_TOLERANCE}")
    add_pass_options(p)
    p.set_defaults(handler=cmd_run)
    return p


def _check_run_options(args: argparse.Namespace) -> None:
    if args.compare_ort and args.model.suffix.lower() != ONNX_SUFFIX:
        raise UsageError(f"--compare-ort needs an {ONNX_SUFFIX} model; {args.model} is not one")
    if args.output is not None:
        check_output_target(args.output)


def cmd_run(args: argparse.Namespace) -> int:
    if args.model.is_dir():  # an artifact folder, or a folder that load_artifact explains
        return run_artifact(args)
    optimiser = Optimiser(args)
    _check_run_options(args)
    graph = load_model(args.model)
    feeds = bind_inputs(graph, gather_inputs(args.input, args.inputs))
    optimiser.run(graph, feeds)
    outputs = interpret(graph, feeds)
    if args.compare_ort:
        compare_with_onnxruntime(args.model, feeds, outputs)
    written = write_outputs(outputs, args.output) if args.output is not None else {}
    for name, array in outputs.items():
        where = f" -> {written[name]}" if name in written else ""
        print(f"{name}: {array.dtype}{list(array.shape)}{where}")
    return EXIT_OK
