"""The ``leptonc`` command line (docs/cli.md has every option, with examples).

    leptonc MODEL --emit ir -o model.lir       import a model, write its text IR
    leptonc info MODEL [--json]                 inputs, outputs, ops, parameters, MACs, memory
    leptonc run MODEL --input x=x.npy -o out/   run the reference interpreter on saved inputs

``compile`` is the default command: ``leptonc MODEL ...`` means ``leptonc compile MODEL ...``.
Errors a user can cause print one line, ``leptonc: error: <message>``, and exit non-zero;
``--debug`` adds the traceback.  Exit codes: 0 success, 1 error, 2 bad usage, 70 internal
error (a bug in leptonc), 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import ml_dtypes
import numpy as np

from leptonc import __version__
from leptonc.analysis import graph_stats
from leptonc.artifact_io import (
    ONNX_SUFFIX,
    bind_inputs,
    check_output_target,
    gather_inputs,
    load_model,
    write_ir,
    write_outputs,
)
from leptonc.errors import LeptoncError, UsageError
from leptonc.interp import run as interpret
from leptonc.ir.graph import Graph, Value
from leptonc.ir.printer import INLINE_LIMIT, format_type, print_graph

EXIT_OK = 0
EXIT_INTERNAL = 70  # EX_SOFTWARE: a bug in leptonc, not in the user's input
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE

# Agreement with onnxruntime for float32 (DESIGN.md, "Validation").
ORT_RTOL = 1e-4
ORT_ATOL = 1e-5
ORT_TOLERANCE = "rtol 1e-4 / atol 1e-5"

COMPILE_EXAMPLES = """\
examples:
  leptonc model.onnx --emit ir -o model.lir   write model.lir (+ model.lir.bin for weights)
  leptonc model.onnx                          print the text IR (weights shown as 'external')
  leptonc model.lir --emit ir -o copy.lir     re-read and rewrite a text-IR file
"""

INFO_EXAMPLES = """\
examples:
  leptonc info model.onnx
  leptonc info model.lir --json | python -m json.tool
"""

RUN_EXAMPLES = """\
examples:
  leptonc run model.onnx --input image=image.npy -o out/       writes out/<output>.npy
  leptonc run model.onnx --inputs batch.npz -o results.npz     all inputs in, all outputs out
  leptonc run model.onnx --input image=image.npy --compare-ort also run onnxruntime
  leptonc run model.lir --inputs batch.npz -o out/             the text IR runs the same

Every model input must be given; none is made up.  Output names become file names after
replacing characters other than letters, digits, '.', '_' and '-' with '_'.
"""


# ----- the parser ----------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose mistakes are one-line UsageErrors, like every other error."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _add_common(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS keeps the top-level --debug when the command does not repeat it.
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the full traceback of an error")


def _add_compile(commands: Any) -> None:
    p = commands.add_parser(
        "compile", prog="leptonc compile",
        help="import a model and write what --emit asks for (the default command)",
        description="Import MODEL (.onnx or .lir) and write it in the form --emit names.",
        epilog=COMPILE_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path, metavar="MODEL", help="an .onnx or .lir file")
    p.add_argument("--emit", choices=["ir"], default="ir",
                   help="what to write: 'ir' is leptonc's text IR (default: ir)")
    p.add_argument("-o", "--output", metavar="FILE", default="-",
                   help="where to write; '-' (the default) prints to standard output")
    _add_common(p)
    p.set_defaults(handler=cmd_compile)


def _add_info(commands: Any) -> None:
    p = commands.add_parser(
        "info", prog="leptonc info", help="summarise a model: inputs, outputs, ops, parameters, MACs, memory",
        description="Print MODEL's inputs and outputs, op histogram, parameter count and "
                    "bytes, multiply-accumulates and peak activation memory.",
        epilog=INFO_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path, metavar="MODEL", help="an .onnx or .lir file")
    p.add_argument("--json", action="store_true", help="print one JSON object instead")
    _add_common(p)
    p.set_defaults(handler=cmd_info)


def _add_run(commands: Any) -> None:
    p = commands.add_parser(
        "run", prog="leptonc run", help="run a model on inputs saved with numpy (reference interpreter)",
        description="Run MODEL with leptonc's reference interpreter on inputs from .npy/.npz "
                    "files and save the outputs.",
        epilog=RUN_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path, metavar="MODEL", help="an .onnx or .lir file")
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
    _add_common(p)
    p.set_defaults(handler=cmd_run)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="leptonc",
        usage="leptonc [compile] MODEL [--emit ir] [-o FILE]\n"
              "       leptonc info MODEL [--json]\n"
              "       leptonc run MODEL (--input NAME=FILE.npy ... | --inputs FILE.npz) [-o OUT]",
        description="leptonc: an ahead-of-time compiler for neural networks.",
        epilog="Run 'leptonc COMMAND --help' for a command's options and examples.\n"
               "exit codes: 0 success, 1 error, 2 bad usage, 70 internal error, 130 interrupted",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"leptonc {__version__}")
    parser.add_argument("--debug", action="store_true", default=False,
                        help="show the full traceback of an error")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _add_compile(commands)
    _add_info(commands)
    _add_run(commands)
    return parser


COMMANDS = ("compile", "info", "run")
_TOP_LEVEL_FLAGS = ("--debug", "-h", "--help", "--version")


def with_default_command(argv: Sequence[str]) -> list[str]:
    """Insert ``compile`` where the command is left out (``leptonc model.onnx ...``)."""
    argv = list(argv)
    for i, arg in enumerate(argv):
        if arg in _TOP_LEVEL_FLAGS:
            continue
        return argv if arg in COMMANDS else [*argv[:i], "compile", *argv[i:]]
    if not any(flag in argv for flag in ("-h", "--help", "--version")):
        raise UsageError("no model given (see 'leptonc --help')")
    return argv


# ----- compile -------------------------------------------------------------------------------
def _external_count(graph: Graph) -> int:
    """How many constants print as ``external``, fused sub-graphs included."""
    count = sum(1 for v in graph.constants.values() if v.data.size > INLINE_LIMIT)
    for node in graph:
        count += sum(_external_count(a) for a in node.attrs.values() if isinstance(a, Graph))
    return count


def cmd_compile(args: argparse.Namespace) -> int:
    graph = load_model(args.model)
    if args.output == "-":
        sys.stdout.write(print_graph(graph))
        if count := _external_count(graph):
            print(f"leptonc: note: {count} large constant(s) printed as 'external'; no weights "
                  "file was written (use -o FILE.lir to write one)", file=sys.stderr)
        return EXIT_OK
    written = write_ir(graph, Path(args.output))
    print("wrote " + ", ".join(str(p) for p in written))
    return EXIT_OK


# ----- info ----------------------------------------------------------------------------------
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
        "macs": stats.macs,
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


def format_info(info: dict[str, Any]) -> str:
    width = max([16, *(len(p["name"]) + 4 for p in info["inputs"] + info["outputs"]),
                 *(len(op) + 4 for op in info["ops"])])
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
    moved = info["bytes_moved"]
    moved_text = "unknown (dynamic shapes)" if moved is None else _human_bytes(moved)
    lines.append(f"{'bytes moved':<{width}}{moved_text} (every op as its own kernel)")
    peak = info["peak_activation_bytes"]
    peak_text = "unknown (dynamic shapes)" if peak is None else _human_bytes(peak)
    lines.append(f"{'peak activations':<{width}}{peak_text}")
    return "\n".join(lines) + "\n"


def cmd_info(args: argparse.Namespace) -> int:
    info = model_info(load_model(args.model), args.model)
    sys.stdout.write(json.dumps(info, indent=2) + "\n" if args.json else format_info(info))
    return EXIT_OK


# ----- run -----------------------------------------------------------------------------------
def _check_run_options(args: argparse.Namespace) -> None:
    if args.compare_ort and args.model.suffix.lower() != ONNX_SUFFIX:
        raise UsageError(f"--compare-ort needs an {ONNX_SUFFIX} model; {args.model} is not one")
    if args.output is not None:
        check_output_target(args.output)


def cmd_run(args: argparse.Namespace) -> int:
    _check_run_options(args)
    graph = load_model(args.model)
    feeds = bind_inputs(graph, gather_inputs(args.input, args.inputs))
    outputs = interpret(graph, feeds)
    if args.compare_ort:
        compare_with_onnxruntime(args.model, feeds, outputs)
    written = write_outputs(outputs, args.output) if args.output is not None else {}
    for name, array in outputs.items():
        where = f" -> {written[name]}" if name in written else ""
        print(f"{name}: {array.dtype}{list(array.shape)}{where}")
    return EXIT_OK


def _is_float(dtype: np.dtype) -> bool:
    return dtype.kind in "fc" or dtype == ml_dtypes.bfloat16


def _errors(actual: np.ndarray, expected: np.ndarray) -> tuple[float, float, bool]:
    """Max absolute and relative error, and whether every element is within tolerance."""
    if not (_is_float(actual.dtype) and _is_float(expected.dtype)):
        same = bool(np.array_equal(actual, expected))
        return (0.0 if same else float("inf")), (0.0 if same else float("inf")), same
    a, e = actual.astype(np.float64), expected.astype(np.float64)
    both_nan = np.isnan(a) & np.isnan(e)
    diff = np.where(both_nan, 0.0, np.abs(a - e))
    nonzero = np.abs(e) > 0
    max_rel = float(np.max(diff[nonzero] / np.abs(e[nonzero]))) if nonzero.any() else 0.0
    max_abs = float(np.max(diff)) if diff.size else 0.0
    ok = bool(np.all(diff <= ORT_ATOL + ORT_RTOL * np.abs(e)))  # NaN anywhere else fails
    return max_abs, max_rel, ok


def _run_onnxruntime(model: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    try:
        import onnxruntime
    except ImportError:
        raise UsageError("--compare-ort needs onnxruntime (pip install onnxruntime)") from None
    try:
        session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()]
        return dict(zip(names, session.run(names, feeds), strict=True))
    except Exception as e:  # onnxruntime raises its own unrelated exception types
        raise LeptoncError(f"onnxruntime could not run {model}: {e}") from None


def compare_with_onnxruntime(model: Path, feeds: dict[str, np.ndarray],
                             outputs: dict[str, np.ndarray]) -> None:
    """Print the error of every output against onnxruntime; raise unless all are in tolerance."""
    reference = _run_onnxruntime(model, feeds)
    print(f"compared with onnxruntime ({ORT_TOLERANCE}):")
    failed = []
    for name, actual in outputs.items():
        expected = np.asarray(reference[name])
        if actual.shape != expected.shape:
            print(f"  {name}: shape {list(actual.shape)}, onnxruntime {list(expected.shape)}"
                  "  MISMATCH")
            failed.append(name)
            continue
        max_abs, max_rel, ok = _errors(actual, expected)
        print(f"  {name}: max abs {max_abs:.3g}  max rel {max_rel:.3g}  "
              f"{'ok' if ok else 'MISMATCH'}")
        if not ok:
            failed.append(name)
    if failed:
        raise LeptoncError(f"{len(failed)} output(s) differ from onnxruntime beyond "
                           f"{ORT_TOLERANCE}: {', '.join(failed)}")


# ----- main ----------------------------------------------------------------------------------
def one_line(text: str) -> str:
    """Messages from libraries may span lines; an error report is always one."""
    return "; ".join(line.strip() for line in text.splitlines() if line.strip()) or "(no message)"


def _report(message: str) -> None:
    print(f"leptonc: error: {one_line(message)}", file=sys.stderr)


def _silence_stdout() -> None:
    # After a broken pipe, Python's final flush of stdout would fail again and print a
    # traceback; point the file descriptor at /dev/null instead.
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a real file (e.g. captured in tests): nothing will flush to a pipe
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def _dispatch(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(with_default_command(argv))
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        return _dispatch(argv)
    except SystemExit as e:  # --help and --version exit through argparse
        return e.code if isinstance(e.code, int) else EXIT_OK
    except KeyboardInterrupt:
        print("leptonc: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except LeptoncError as e:
        if debug:
            traceback.print_exc()
        _report(str(e))
        return e.exit_code
    except Exception as e:
        if debug:
            traceback.print_exc()
        _report(f"internal error ({e.__class__.__name__}: {e}); this is a bug in leptonc; "
                "rerun with --debug for the traceback and report it")
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
