"""The options every command shares: a pass pipeline (``--passes``, ``-O<n>``, and the
pruning shorthands ``--prune``/``--sparsity`` that extend it), the instruments that watch
it (``--time-passes``, ``--print-ir-*``, ``--dump-ir``, ``--verify-each``,
``--validate-each``) and ``--debug-rules``; and the ``Optimiser`` that runs what they ask for."""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from leptonc.artifact_io import bind_inputs, gather_inputs
from leptonc.errors import LeptoncError, UsageError
from leptonc.instruments import DumpIR, PrintIR, TimePasses, ValidateEach, VerifyEach
from leptonc.ir.graph import Graph
from leptonc.pass_reference import rule_names
from leptonc.passmgr import (
    Instrument,
    Pass,
    PassError,
    PassManager,
    all_passes,
    expand_named,
    get_pass,
    named_pipelines,
    parse_pipeline,
)
from leptonc.rewrite import debug_rules


# ----- the options -----------------------------------------------------------------------------
def _opt_levels() -> list[str]:
    """The digits of the named ``O<n>`` pipelines, for ``-O<n>``."""
    return [name[1:] for name in named_pipelines() if re.fullmatch(r"O\d", name)]


def add_pass_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "passes", "Optimise the graph before anything else (every pass and pipeline:\n"
                  "leptonc --list-passes). Instruments print on standard error.")
    which = group.add_mutually_exclusive_group()
    which.add_argument("--passes", metavar="PIPELINE",
                       help="the passes to run, e.g. 'dce' or 'pass-a,pass-b{option=value}'")
    which.add_argument("-O", dest="opt_level", choices=_opt_levels(), metavar="N",
                       help="-O0 (no passes: the default), -O1, -O2 or -O3: a named pipeline")
    _add_pruning_options(group)
    _add_quant_options(parser)
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
                            "rule) did not match, in every pass that applies them (the rules "
                            "of each pass: leptonc --list-passes); repeatable")


_IMPORTANCE = ("l1", "l2", "bn-scale")


def _add_pruning_options(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--prune", metavar="RATIO",
                       help="remove this share of the channels: runs 'canonicalize,"
                            "prune-channels{ratio=RATIO}' before the pipeline (before fusion, "
                            "which hides channels)")
    group.add_argument("--prune-importance", choices=_IMPORTANCE, metavar="l1|l2|bn-scale",
                       help="how --prune ranks channels (adds importance=... to it; default l1)")
    group.add_argument("--sparsity", metavar="N:M|block=RxC|unstructured=S",
                       help="zero weights after the pipeline: N:M -> 'sparsify{pattern=N:M}', "
                            "block=RxC -> 'sparsify{block=RxC}' (half the tiles), "
                            "unstructured=S -> 'prune-magnitude{sparsity=S}'; with no other "
                            "passes 'canonicalize' runs first")


_CALIB_METHODS = ("minmax", "moving-average", "percentile", "entropy", "mse")


def _add_quant_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "quantization", "Post-training quantization (docs/quantization.md). --quantize runs\n"
                        "'canonicalize,fold-batchnorm,fuse-transformer,quantize{...}' before the\n"
                        "pipeline, then 'lower-quantized' (integer ops) unless --emit onnx\n"
                        "asks for the QDQ form.")
    group.add_argument("--quantize", metavar="SCHEME",
                       help="uint8 (u8 activations, i8 weights), int8, int16, int4-weights, "
                            "int8-weights, or wNaM / wN (N-bit weights, M-bit activations)")
    group.add_argument("--cast-float", choices=("f16", "bf16"), metavar="f16|bf16",
                       help="compute in f16/bf16 with f32 at the graph's edges and in "
                            "reductions: 'canonicalize,fold-batchnorm,cast-float{dtype=...}' "
                            "before the pipeline (instead of --quantize)")
    group.add_argument("--calib", metavar="DATA",
                       help="calibration inputs: a folder of .npy/.npz files or one .npz with "
                            "a leading sample axis (default: seeded random data, smoke tests "
                            "only)")
    group.add_argument("--calib-samples", type=int, metavar="N",
                       help="calibrate on the first N samples (default: all)")
    group.add_argument("--calib-method", choices=_CALIB_METHODS, metavar="METHOD",
                       help=f"activation ranges: {', '.join(_CALIB_METHODS)} (default minmax)")
    group.add_argument("--per-channel", action=argparse.BooleanOptionalAction, default=None,
                       help="weight scales per output channel (default) or per tensor")
    group.add_argument("--pow2-scales", action="store_true",
                       help="power-of-two scales (fixed-point arithmetic)")
    group.add_argument("--bias-correction", action="store_true",
                       help="correct biases for the mean error of weight rounding")
    group.add_argument("--smooth-quant", type=float, metavar="ALPHA",
                       help="migrate activation outliers into matmul weights first "
                            "(SmoothQuant, e.g. 0.5)")
    group.add_argument("--quantize-ignore", action="append", default=[], metavar="PATTERN",
                       help="leave nodes in float: a node name, an op type or an fnmatch "
                            "pattern of either; repeatable")
    group.add_argument("--sensitivity", metavar="FILE.json",
                       help="quantize each layer alone first: print the per-layer error table "
                            "and save it as JSON")
    group.add_argument("--max-accuracy-drop", type=float, metavar="POINTS",
                       help="accuracy-aware: keep the most sensitive layers in float until the "
                            "top-1 drop on --eval is at most POINTS; the best model found is "
                            "always written")
    group.add_argument("--eval", metavar="DATA.npz",
                       help="labelled data for --max-accuracy-drop: the model's inputs by name "
                            "plus 'labels'")


_QUANT_FLAGS = ("calib", "calib_samples", "calib_method", "per_channel", "smooth_quant",
                "sensitivity", "max_accuracy_drop", "eval")


def _quantize_items(args: argparse.Namespace) -> list[str]:
    """``--quantize``: calibrate and insert QDQ on the canonical graph, with batch norms
    folded and transformer blocks recognised (the fragile ones stay float), before fusion
    hides the layers; then lower to integer ops unless the QDQ form itself is wanted."""
    if args.cast_float is not None:
        if args.quantize is not None:
            raise UsageError("--cast-float and --quantize are alternatives: pick one")
        return ["canonicalize", "fold-batchnorm", f"cast-float{{dtype={args.cast_float}}}"]
    if args.quantize is None:
        given = [f"--{f.replace('_', '-')}" for f in _QUANT_FLAGS if getattr(args, f) is not None]
        given += ["--pow2-scales"] * args.pow2_scales + ["--bias-correction"] * args.bias_correction
        given += ["--quantize-ignore"] * bool(args.quantize_ignore)
        if given:
            raise UsageError(f"{given[0]} needs --quantize SCHEME")
        return []
    if (args.max_accuracy_drop is None) != (args.eval is None):
        raise UsageError("--max-accuracy-drop and --eval go together (a budget and the "
                         "labelled data to measure it on)")
    options = [f"scheme={args.quantize}"]
    for flag, key in (("calib", "calib"), ("calib_samples", "samples"),
                      ("calib_method", "method"), ("sensitivity", "sensitivity"),
                      ("max_accuracy_drop", "max-drop"),
                      ("eval", "eval")):
        if getattr(args, flag) is not None:
            options.append(f"{key}={_option_value(flag, getattr(args, flag))}")
    if args.per_channel is not None:
        options.append(f"per-channel={str(args.per_channel).lower()}")
    options += ["pow2=true"] * args.pow2_scales + ["bias-correction=true"] * args.bias_correction
    if args.quantize_ignore:
        options.append("ignore=" + ";".join(_option_value("quantize_ignore", p)
                                            for p in args.quantize_ignore))
    items = ["canonicalize", "fold-batchnorm", "fuse-transformer"]
    if args.smooth_quant is not None:
        smooth = f"smooth-quant{{alpha={args.smooth_quant!r}"
        smooth += f",calib={_option_value('calib', args.calib)}}}" if args.calib else "}"
        items.append(_checked_item("--smooth-quant", str(args.smooth_quant), smooth))
    items.append(_checked_item("--quantize", args.quantize, f"quantize{{{','.join(options)}}}"))
    if getattr(args, "emit", "ir") != "onnx":
        items.append("lower-quantized")
    return items


def _option_value(flag: str, value: object) -> str:
    """A value as a pipeline option; the pipeline syntax cannot carry ',', '{' or '}'."""
    text = str(value)
    if re.search(r"[,{}]", text):
        raise UsageError(f"--{flag.replace('_', '-')} {text}: ',', '{{' and '}}' are not "
                         "allowed here (rename the file or folder)")
    return text


# ----- checking them ---------------------------------------------------------------------------
def _user_pipeline(args: argparse.Namespace) -> str | None:
    """The pipeline asked for with ``--passes`` or ``-O<n>``; None when neither was given."""
    if args.passes is not None:
        return expand_named(args.passes)
    if args.opt_level is not None:
        return named_pipelines()[f"O{args.opt_level}"]
    return None


def _checked_item(option: str, value: str, item: str) -> str:
    """``item``, a pass written from ``option value``; its mistakes name the option."""
    try:
        parse_pipeline(item)
    except UsageError as e:
        raise UsageError(f"{option} {value}: {e}") from None
    return item


def _prune_items(args: argparse.Namespace) -> list[str]:
    """``--prune``: channel pruning, on the canonical, unfused graph it needs (fusion hides
    channels in regions, and folding batch norms loses the bn-scale importance)."""
    if args.prune is None:
        if args.prune_importance is not None:
            raise UsageError("--prune-importance needs --prune RATIO")
        return []
    try:
        ratio = float(args.prune)
    except ValueError:
        raise UsageError(f"--prune: '{args.prune}' is not a number (a share of channels "
                         "in [0, 1), e.g. 0.5)") from None
    options = f"ratio={ratio!r}" + (f",importance={args.prune_importance}"
                                    if args.prune_importance else "")
    return ["canonicalize", _checked_item("--prune", args.prune, f"prune-channels{{{options}}}")]


_SPARSITY_FORMS = "N:M (e.g. 2:4), block=RxC (e.g. block=4x4) or unstructured=S (e.g. 0.8)"


def _sparsity_item(text: str) -> str:
    """``--sparsity``: the pass that gives weights that pattern."""
    kind, eq, value = (part.strip() for part in text.partition("="))
    if not eq and re.fullmatch(r"\d+:\d+", kind):
        item = f"sparsify{{pattern={kind}}}"
    elif eq and kind == "block" and re.fullmatch(r"\d+x\d+", value):
        item = f"sparsify{{block={value}}}"
    elif eq and kind == "unstructured" and re.fullmatch(r"[0-9.eE+-]+", value):
        item = f"prune-magnitude{{sparsity={value}}}"
    else:
        raise UsageError(f"--sparsity: '{text}' is not {_SPARSITY_FORMS}")
    return _checked_item("--sparsity", text, item)


def _pipeline_text(args: argparse.Namespace) -> str | None:
    """The whole pipeline: ``--prune``'s passes, then ``--passes``/``-O<n>``, then
    ``--sparsity``'s pass (after fusion, whose batch-norm folding rewrites the weights and
    would drop their encodings); None when nothing was asked for."""
    user = _user_pipeline(args)
    prune = _prune_items(args)
    quantize = _quantize_items(args)
    sparse = [_sparsity_item(args.sparsity)] if args.sparsity is not None else []
    if not prune and not sparse and not quantize:
        return user
    if sparse and not prune and not user and not quantize:
        prune = ["canonicalize"]  # folds transposed and reshaped weights into constants
    return ",".join(item for item in (*prune, *quantize, user, *sparse) if item)


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


def _debugged_rules(values: Sequence[str]) -> list[str]:
    """The rule names of repeatable, comma-separated ``--debug-rules`` options ('all' allowed).

    Every name must be a rule of some pass: a misspelt one would silently explain nothing.
    Rules reach every pass that applies them, also inside other passes (canonicalize runs
    simplify-algebra), so the pipeline itself need not list the pass."""
    names = _split_names(values)
    if not names:
        return names
    known = sorted({rule for cls in all_passes().values() for rule in rule_names(cls)})
    for name in names:
        if name != "all" and name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"rules: {', '.join(known)}"
            raise UsageError(f"--debug-rules: unknown rule '{name}' ({hint})")
    return names


# ----- running them ----------------------------------------------------------------------------
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
        self.passes = parse_pipeline(text or "")
        self.rules_to_debug = _debugged_rules(args.debug_rules)
        PassManager(self.passes).check_requirements()
        self.spec = ",".join(p.spec for p in self.passes)
        # With shorthands the pipeline is no longer the level's alone: show it spelled out.
        shorthand = any(v is not None for v in (args.prune, args.sparsity, args.quantize,
                                                   args.cast_float))
        self.level = None if shorthand else args.opt_level
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
            with debug_rules(self.rules_to_debug):
                records = PassManager(self.passes, instruments).run(graph)
        except PassError:
            raise  # its message names the pass already
        except LeptoncError as e:
            if tracker.spec is None or str(e).startswith("pass '"):
                raise  # no pass running, or the message names it already
            raise type(e)(f"pass '{tracker.spec}': {e}") from None
        except Exception as e:  # a bug: say where, for the report
            if tracker.spec is not None:
                e.add_note(f"while running pass '{tracker.spec}'")
            raise
        if timing is not None:
            print(timing.table(), file=sys.stderr)
        for record in records:
            for note in record.result.notes:
                print(f"leptonc: note: {record.spec}: {note}", file=sys.stderr)

    def _instruments(self, graph: Graph, feeds: dict[str, np.ndarray] | None,
                     timing: TimePasses | None) -> list[Instrument]:
        # Timing reads each pass's own time, so its place does not matter; printing and
        # dumping come before verifying, so that a broken graph is shown before it stops the
        # pipeline.
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
