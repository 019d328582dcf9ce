"""The ``leptonc`` command line (docs/cli.md has every option, with examples).

    leptonc MODEL --emit ir -o model.lir       import a model, write its text IR
    leptonc info MODEL [--json]                 inputs, outputs, ops, parameters, MACs, memory
    leptonc run MODEL --input x=x.npy -o out/   run the reference interpreter on saved inputs
    leptonc --list-passes                       every pass, its options, and -O0..-O3

Each command can first optimise the graph with a pass pipeline (``--passes``, ``-O2``) and
watch it with instruments (``--time-passes``, ``--print-ir-after``, ``--validate-each``, ...).

``compile`` is the default command: ``leptonc MODEL ...`` means ``leptonc compile MODEL ...``.
Errors a user can cause print one line, ``leptonc: error: <message>``, and exit non-zero;
``--debug`` adds the traceback.  Exit codes: 0 success, 1 error, 2 bad usage, 70 internal
error (a bug in leptonc), 130 interrupted.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
import json
import os
import re
import shlex
import sys
import textwrap
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
from leptonc.instruments import DumpIR, PrintIR, TimePasses, ValidateEach, VerifyEach
from leptonc.interp import run as interpret
from leptonc.ir.graph import Graph, Value
from leptonc.ir.printer import INLINE_LIMIT, format_type, print_graph
from leptonc.passmgr import (
    Instrument,
    Pass,
    PassError,
    PassManager,
    all_passes,
    get_pass,
    named_pipelines,
    parse_pipeline,
    pass_options,
)

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
  leptonc model.onnx -O2 -o opt.lir           optimise with the -O2 pipeline, then write
  leptonc model.onnx --passes dce --time-passes --print-ir-after=all
  leptonc model.onnx -O2 --verify-each --validate-each --dump-ir dumps/
"""

INFO_EXAMPLES = """\
examples:
  leptonc info model.onnx
  leptonc info model.lir --json | python -m json.tool
  leptonc info model.onnx -O2                 before/after: nodes, parameters, MACs, memory
"""

RUN_EXAMPLES = """\
examples:
  leptonc run model.onnx --input image=image.npy -o out/       writes out/<output>.npy
  leptonc run model.onnx --inputs batch.npz -o results.npz     all inputs in, all outputs out
  leptonc run model.onnx --input image=image.npy --compare-ort also run onnxruntime
  leptonc run model.lir --inputs batch.npz -o out/             the text IR runs the same
  leptonc run model.onnx --inputs batch.npz -O2 --validate-each  run the optimised graph

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


def _opt_levels() -> list[str]:
    """The digits of the named ``O<n>`` pipelines, for ``-O<n>``."""
    return [name[1:] for name in named_pipelines() if re.fullmatch(r"O\d", name)]


def _add_passes(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "passes", "Optimise the graph before anything else (every pass and pipeline:\n"
                  "leptonc --list-passes). Instruments print on standard error.")
    which = group.add_mutually_exclusive_group()
    which.add_argument("--passes", metavar="PIPELINE",
                       help="the passes to run, e.g. 'dce' or 'pass-a,pass-b{option=value}'")
    which.add_argument("-O", dest="opt_level", choices=_opt_levels(), metavar="N",
                       help="-O0 (no passes: the default), -O1, -O2 or -O3: a named pipeline")
    group.add_argument("--time-passes", action="store_true", help="print the time of each pass")
    for when in ("before", "after"):
        group.add_argument(f"--print-ir-{when}", action="append", default=[],
                           metavar="PASS[,PASS...]",
                           help=f"print the IR {when} these passes ('all': every pass); "
                                "repeatable")
    group.add_argument("--dump-ir", type=Path, metavar="DIR",
                       help="write the IR before the first pass and after every pass as "
                            "DIR/NN-<pass>.lir")
    group.add_argument("--verify-each", action="store_true",
                       help="run the IR verifier after every pass")
    group.add_argument("--validate-each", action="store_true",
                       help="run the interpreter before and after every pass that changes the "
                            "graph; fail naming the first pass whose outputs drift")
    group.add_argument("--validate-inputs", type=Path, metavar="FILE.npz",
                       help="inputs for --validate-each (implies it; default: seeded random "
                            "inputs, or the inputs of 'run')")
    group.add_argument("--debug-rules", action="append", default=[], metavar="RULE[,RULE...]",
                       help="explain on standard error why these rewrite rules ('all': every "
                            "rule) did not match, in the passes that have them; repeatable")


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
    _add_passes(p)
    _add_common(p)
    p.set_defaults(handler=cmd_compile)


def _add_info(commands: Any) -> None:
    p = commands.add_parser(
        "info", prog="leptonc info", help="summarise a model: inputs, outputs, ops, parameters, MACs, memory",
        description="Print MODEL's inputs and outputs, op histogram, parameter count and "
                    "bytes, multiply-accumulates and peak activation memory.",
        epilog=INFO_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path, metavar="MODEL", help="an .onnx or .lir file")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object instead (with passes: {pipeline, before, after})")
    _add_passes(p)
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
    _add_passes(p)
    _add_common(p)
    p.set_defaults(handler=cmd_run)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="leptonc",
        usage="leptonc [compile] MODEL [--emit ir] [-o FILE] [PASSES]\n"
              "       leptonc info MODEL [--json] [PASSES]\n"
              "       leptonc run MODEL (--input NAME=FILE.npy ... | --inputs FILE.npz) [-o OUT] "
              "[PASSES]\n"
              "       leptonc --list-passes\n"
              "PASSES: --passes PIPELINE | -O0..-O3, and instruments (see 'leptonc COMMAND --help')",
        description="leptonc: an ahead-of-time compiler for neural networks.",
        epilog="Run 'leptonc COMMAND --help' for a command's options and examples.\n"
               "exit codes: 0 success, 1 error, 2 bad usage, 70 internal error, 130 interrupted",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"leptonc {__version__}")
    parser.add_argument("--list-passes", action="store_true",
                        help="describe every pass (options, requirements, example) and the "
                             "named pipelines -O0..-O3")
    parser.add_argument("--debug", action="store_true", default=False,
                        help="show the full traceback of an error")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _add_compile(commands)
    _add_info(commands)
    _add_run(commands)
    return parser


COMMANDS = ("compile", "info", "run")
_TOP_LEVEL_FLAGS = ("--debug", "-h", "--help", "--version", "--list-passes")
_STANDALONE_FLAGS = ("-h", "--help", "--version", "--list-passes")  # need no model


def with_default_command(argv: Sequence[str]) -> list[str]:
    """Insert ``compile`` where the command is left out (``leptonc model.onnx ...``)."""
    argv = list(argv)
    for i, arg in enumerate(argv):
        if arg in _TOP_LEVEL_FLAGS:
            continue
        return argv if arg in COMMANDS else [*argv[:i], "compile", *argv[i:]]
    if not any(flag in argv for flag in _STANDALONE_FLAGS):
        raise UsageError("no model given (see 'leptonc --help')")
    return argv


# ----- pass pipelines and instruments ----------------------------------------------------------
def _pipeline_text(args: argparse.Namespace) -> str | None:
    """The pipeline asked for with ``--passes`` or ``-O<n>``; None when neither was given."""
    if args.passes is not None:
        return args.passes
    if args.opt_level is not None:
        return named_pipelines()[f"O{args.opt_level}"]
    return None


def _split_names(values: Sequence[str]) -> list[str]:
    """Names from repeatable options that also take comma-separated lists."""
    names = (name.strip() for value in values for name in value.split(","))
    return list(dict.fromkeys(name for name in names if name))


def _watched_passes(values: Sequence[str], option: str, passes: Sequence[Pass]) -> set[str]:
    """The pass names of repeatable, comma-separated ``--print-ir-*`` options ('all' allowed).

    A name the pipeline does not run is an error: it would silently print nothing."""
    names = set(_split_names(values))
    running = {p.name for p in passes}
    for name in sorted(names - {"all"}):
        try:
            get_pass(name)
        except UsageError as e:
            raise UsageError(f"{option}: {e}") from None
        if name not in running:
            raise UsageError(f"{option}: the pipeline does not run pass '{name}' "
                             f"({', '.join(sorted(running)) or 'no passes'})")
    return names


def _has_rule(p: Pass, rule: str) -> bool:
    # A rule-based pass checks the names in its `debug` option against its own rules.
    try:
        dataclasses.replace(p, debug=(rule,))
    except ValueError:
        return False
    return True


def _with_debug_rules(passes: list[Pass], rules: list[str]) -> list[Pass]:
    """Give each rule named by --debug-rules to the passes of the pipeline that have it, through
    their ``debug`` option (the same as writing ``pass{debug=rule}`` in the pipeline)."""
    claimed: set[str] = set()
    result, with_rules = [], []
    for p in passes:
        if pass_options(type(p)).get("debug", (None,))[0] != tuple[str, ...]:
            result.append(p)
            continue
        with_rules.append(p.name)
        mine = [rule for rule in rules if _has_rule(p, rule)]
        claimed.update(mine)
        result.append(dataclasses.replace(p, debug=tuple(dict.fromkeys((*p.debug, *mine))))
                      if mine else p)
    if unclaimed := [rule for rule in rules if rule not in claimed]:
        where = (f"passes with rules: {', '.join(with_rules)}; see their 'debug' option in "
                 "leptonc --list-passes") if with_rules else "none of its passes has rules"
        raise UsageError(f"--debug-rules: no pass in the pipeline has a rule '{unclaimed[0]}' "
                         f"({where})")
    return result


class _CurrentPass(Instrument):
    """Remembers the pass that ran last, so that an error it causes can name it."""

    def __init__(self) -> None:
        self.spec: str | None = None

    def run_before_pass(self, p: Pass, graph: Graph, index: int) -> None:
        self.spec = p.spec


class Optimiser:
    """The pass pipeline and instruments that the command line asks for.

    Built before the model is read, so that every mistake in them (an unknown pass, a bad
    option, an unmet requirement, a bad instrument flag) stops the command before any work
    is done or any file is written."""

    def __init__(self, args: argparse.Namespace):
        text = _pipeline_text(args)
        self.given = text is not None
        self.passes = _with_debug_rules(parse_pipeline(text or ""), _split_names(args.debug_rules))
        PassManager(self.passes).check_requirements()
        self.spec = ",".join(p.spec for p in self.passes)
        self.level = args.opt_level
        self.print_before = _watched_passes(args.print_ir_before, "--print-ir-before", self.passes)
        self.print_after = _watched_passes(args.print_ir_after, "--print-ir-after", self.passes)
        if args.dump_ir is not None and args.dump_ir.exists() and not args.dump_ir.is_dir():
            raise UsageError(f"--dump-ir {args.dump_ir}: exists and is not a folder")
        self.dump_dir: Path | None = args.dump_ir
        self.time, self.verify = args.time_passes, args.verify_each
        self.validate = args.validate_each or args.validate_inputs is not None
        self.validate_inputs: Path | None = args.validate_inputs

    def describe(self) -> str:
        """The pipeline as a user reads it: ``-O2: dce`` or ``dce``."""
        spec = self.spec or "(no passes)"
        return f"-O{self.level}: {spec}" if self.level is not None else spec

    def run(self, graph: Graph, feeds: dict[str, np.ndarray] | None = None) -> None:
        """Optimise ``graph`` in place; ``feeds`` (a run's own inputs) serve --validate-each."""
        timing = TimePasses() if self.time else None
        tracker = _CurrentPass()
        instruments = [tracker, *self._instruments(graph, feeds, timing)]
        try:
            PassManager(self.passes, instruments).run(graph)
        except PassError:
            raise  # its message names the pass already
        except LeptoncError as e:
            if tracker.spec is None:
                raise
            raise type(e)(f"pass '{tracker.spec}': {e}") from None
        except Exception as e:  # a bug: say where, for the report
            if tracker.spec is not None:
                e.add_note(f"while running pass '{tracker.spec}'")
            raise
        if timing is not None:
            print(timing.table(), file=sys.stderr)

    def _instruments(self, graph: Graph, feeds: dict[str, np.ndarray] | None,
                     timing: TimePasses | None) -> list[Instrument]:
        # Timing comes first so that its clock stops before the slower checks run; printing
        # and dumping come before verifying, so that a broken graph is shown before it stops
        # the pipeline.
        instruments: list[Instrument] = [timing] if timing is not None else []
        if self.print_before or self.print_after:
            instruments.append(PrintIR(self.print_before, self.print_after))
        if self.dump_dir is not None:
            instruments.append(DumpIR(self.dump_dir))
        if self.verify:
            instruments.append(VerifyEach())
        if self.validate:
            instruments.append(ValidateEach(self._validation_inputs(graph, feeds)))
        return instruments

    def _validation_inputs(self, graph: Graph, feeds: dict[str, np.ndarray] | None
                           ) -> dict[str, np.ndarray] | None:
        """--validate-inputs, else the run's inputs, else None (seeded sample inputs)."""
        if self.validate_inputs is not None:
            given = gather_inputs([], self.validate_inputs, archive_option="--validate-inputs")
            return bind_inputs(graph, given)
        return feeds


# ----- the pass reference: `leptonc --list-passes` and docs/passes.md --------------------------
REFERENCE_WIDTH = 92
_DEFAULT_TOLERANCE = (Pass.rtol, Pass.atol)


def pass_family(cls: type[Pass]) -> str:
    """The folder under ``passes/`` a pass lives in (``canonical``, ``fusion``, ...)."""
    parts = cls.__module__.split(".")
    return parts[2] if parts[:2] == ["leptonc", "passes"] and len(parts) > 3 else "other"


def family_summary(family: str) -> str:
    """The first line of the family package's docstring ('' for passes from elsewhere)."""
    try:
        doc = importlib.import_module(f"leptonc.passes.{family}").__doc__ or ""
    except ImportError:
        return ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def _docstring(cls: type[Pass]) -> str:
    doc = cls.__doc__ or ""
    # A dataclass without a docstring gets its signature as one, which documents nothing.
    generated = cls.__name__ + str(inspect.signature(cls)).replace(" -> None", "")
    return "" if doc == generated else inspect.cleandoc(doc)


def _module_summary(cls: type[Pass]) -> str:
    """The summary a pass's file starts with, by convention ``<pass name>: <summary>``."""
    module = sys.modules.get(cls.__module__)
    first = inspect.cleandoc(getattr(module, "__doc__", None) or "").split("\n\n")[0]
    head, colon, summary = first.partition(":")
    return " ".join(summary.split()) if colon and head.strip() == cls.name else ""


def _summary_and_details(cls: type[Pass]) -> tuple[str, list[str]]:
    """The one-paragraph summary and the paragraphs of detail of a pass: the summary of its
    file and its docstring, or else the docstring's first paragraph and the rest."""
    paragraphs = [p for p in _docstring(cls).split("\n\n") if p.strip()]
    if summary := _module_summary(cls):
        return summary, paragraphs
    if not paragraphs:
        return "(undocumented)", []
    return " ".join(paragraphs[0].split()), paragraphs[1:]


def pass_summary(cls: type[Pass]) -> str:
    """What a pass does, in one paragraph on one line."""
    return _summary_and_details(cls)[0]


def _type_name(kind: Any) -> str:
    if kind == tuple[str, ...]:
        return "names (a:b:c)"
    return getattr(kind, "__name__", str(kind))


def _default_text(value: Any) -> str:
    if value is dataclasses.MISSING:
        return "(required)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        value = ":".join(map(str, value))
    return '""' if value == "" else str(value)


def _option_lines(cls: type[Pass]) -> list[str]:
    return [f"{name}: {_type_name(kind)} = {_default_text(default)}"
            for name, (kind, default) in pass_options(cls).items()] or ["none"]


def _field(label: str, lines: Sequence[str]) -> list[str]:
    return [f"{label if i == 0 else '':<11}{line}" for i, line in enumerate(lines)]


def describe_pass(cls: type[Pass]) -> list[str]:
    """A pass's reference entry: summary, details, options, properties, example."""
    summary, details = _summary_and_details(cls)
    lines = textwrap.wrap(summary, REFERENCE_WIDTH - 4)
    for paragraph in details:  # kept as written: they may hold lists or code
        lines += ["", *paragraph.splitlines()]
    lines.append("")
    lines += _field("options", _option_lines(cls))
    for label, names in (("requires", cls.requires), ("ensures", cls.ensures),
                         ("invalidates", cls.invalidates)):
        if names or label != "invalidates":
            lines += _field(label, [", ".join(names) or "none"])
    if (cls.rtol, cls.atol) != _DEFAULT_TOLERANCE:
        lines += _field("tolerance", [f"rtol {cls.rtol:g}, atol {cls.atol:g} "
                                      "(--validate-each allows this drift)"])
    example = cls.example or cls.name
    lines += _field("example", [f"leptonc MODEL --passes {shlex.quote(example)}"])
    return lines


def describe_named_pipelines() -> list[str]:
    """One line per named pipeline: how to ask for it, and its passes."""
    flags = {name: f"-{name}" if re.fullmatch(r"O\d", name) else f"--passes {name}"
             for name in named_pipelines()}
    width = max(map(len, flags.values())) + 2
    return [f"{flags[name]:<{width}}{pipeline or '(no passes)'}"
            for name, pipeline in named_pipelines().items()]


def passes_by_family(passes: dict[str, type[Pass]]) -> dict[str, list[type[Pass]]]:
    """Passes grouped by family, families sorted by name, passes kept in their order."""
    by_family: dict[str, list[type[Pass]]] = {}
    for cls in passes.values():
        by_family.setdefault(pass_family(cls), []).append(cls)
    return dict(sorted(by_family.items()))


def format_pass_list(passes: dict[str, type[Pass]]) -> str:
    """What ``leptonc --list-passes`` prints: every pass, by family, then the named pipelines."""
    lines = ["Passes run in the order given: --passes 'pass-a,pass-b{option=value,...}'.",
             "Boolean options take true/false; name lists are written a:b:c."]
    for family, members in passes_by_family(passes).items():
        summary = family_summary(family)
        lines += ["", f"{family}" + (f": {summary}" if summary else "")]
        for cls in members:
            lines += ["", f"  {cls.name}"]
            lines += [f"    {line}".rstrip() for line in describe_pass(cls)]
    lines += ["", "Named pipelines (-O<n>)"]
    lines += [f"  {line}" for line in describe_named_pipelines()]
    return "\n".join(lines) + "\n"


# ----- compile -------------------------------------------------------------------------------
def _external_count(graph: Graph) -> int:
    """How many constants print as ``external``, fused sub-graphs included."""
    count = sum(1 for v in graph.constants.values() if v.data.size > INLINE_LIMIT)
    for node in graph:
        count += sum(_external_count(a) for a in node.attrs.values() if isinstance(a, Graph))
    return count


def cmd_compile(args: argparse.Namespace) -> int:
    optimiser = Optimiser(args)
    graph = load_model(args.model)
    optimiser.run(graph)
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
    moved = info["bytes_moved"]
    moved_text = "unknown (dynamic shapes)" if moved is None else _human_bytes(moved)
    lines.append(f"{'bytes moved':<{width}}{moved_text} (every op as its own kernel)")
    peak = info["peak_activation_bytes"]
    peak_text = "unknown (dynamic shapes)" if peak is None else _human_bytes(peak)
    lines.append(f"{'peak activations':<{width}}{peak_text}")
    return "\n".join(lines) + "\n"


# What `info --passes` compares: (label, key in model_info, whether the numbers are bytes).
_COMPARED = (("nodes", "nodes", False), ("parameters", "params", False),
             ("MACs", "macs", False), ("bytes moved", "bytes_moved", True),
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


# ----- run -----------------------------------------------------------------------------------
def _check_run_options(args: argparse.Namespace) -> None:
    if args.compare_ort and args.model.suffix.lower() != ONNX_SUFFIX:
        raise UsageError(f"--compare-ort needs an {ONNX_SUFFIX} model; {args.model} is not one")
    if args.output is not None:
        check_output_target(args.output)


def cmd_run(args: argparse.Namespace) -> int:
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
    if args.list_passes:
        sys.stdout.write(format_pass_list(all_passes()))
        return EXIT_OK
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
        where = "".join(f" {note}" for note in getattr(e, "__notes__", ()))
        _report(f"internal error ({e.__class__.__name__}: {e}){where}; this is a bug in leptonc; "
                "rerun with --debug for the traceback and report it")
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
