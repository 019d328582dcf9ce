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

This package: ``compile``, ``info`` and ``run`` each hold one command (its options, examples
and handler); ``passes`` the pipeline and instrument options they share; ``compare_ort`` the
check of ``run --compare-ort``; ``exit_codes`` the exit codes.  The pass reference printed by
``--list-passes`` is ``leptonc.pass_reference``.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import NoReturn

from leptonc import __version__
from leptonc.cli.compile import add_compile
from leptonc.cli.exit_codes import EXIT_BROKEN_PIPE, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK
from leptonc.cli.info import add_info
from leptonc.cli.run import add_run
from leptonc.errors import LeptoncError, UsageError
from leptonc.pass_reference import format_pass_list
from leptonc.passmgr import all_passes

__all__ = ["COMMANDS", "EXIT_BROKEN_PIPE", "EXIT_INTERNAL", "EXIT_INTERRUPTED", "EXIT_OK",
           "build_parser", "main", "one_line", "with_default_command"]


# ----- the parser ----------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose mistakes are one-line UsageErrors, like every other error."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _add_debug_option(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS keeps the top-level --debug when the command does not repeat it.
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the full traceback of an error")


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
    for add_command in (add_compile, add_info, add_run):
        _add_debug_option(add_command(commands))
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
