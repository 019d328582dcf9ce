"""The compile targets on the command line: ``--target cpu|gpu`` (with ``--arch``,
``--schedule``, ``--tune``, ``--dim``, ``--verify``) for ``leptonc compile``, and running an
artifact folder with ``leptonc run OUT``.

``compile.py`` and ``run.py`` only call the hooks here (``add_target_options``,
``compile_for_target``, ``run_artifact``), so their own options stay theirs.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from leptonc.artifact_io import bind_inputs, gather_inputs, write_outputs
from leptonc.cli.exit_codes import EXIT_OK
from leptonc.errors import ArtifactMismatch, InputError, UsageError
from leptonc.interp import run as interpret
from leptonc.ir.graph import Graph

TARGET_EXAMPLES = """\
targets (TVM; docs/targets.md):
  leptonc model.onnx --target cpu -o out/ --verify   compile for this CPU, check against the interpreter
  leptonc model.onnx --target cpu -o out/ --tune --tune-budget 600   measure kernel configs first
  leptonc model.onnx --target cpu -o out/ --dim N=1  a static batch: no shape functions at run time
  leptonc model.onnx --target gpu --arch sm_80 -o out/  CUDA library + kernels/model.cu (no GPU needed)
  leptonc run out/ --input x=x.npy -o results/        run an artifact folder
"""

# f32 agreement with the interpreter (DESIGN.md).  Reductions over thousands of terms (a
# 2048-wide matmul) are summed in another order than numpy's pairwise sums; the error stays
# within this tolerance on every model of the zoo (docs/targets.md has the measurements).
VERIFY_RTOL, VERIFY_ATOL = 1e-4, 1e-5

# The tuner spends its budget heaviest kernel first, about 5 s a kernel on the 2-core host
# measured: the default covers the 50-60 heaviest kernels of a CNN.
DEFAULT_TUNE_BUDGET = 300.0


# f16 operands carry 11 significant bits: products of 2^-11-relative errors summed over a
# reduction drift to about 1e-3 relative; outputs are compared loosely enough for that.
F16_TOLERANCE = 1e-2


def add_target_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "targets", "Compile to a folder with a library instead of writing IR (-O2 unless a\n"
                   "pipeline is given; docs/targets.md).")
    group.add_argument("--target", choices=("cpu", "gpu"),
                       help="cpu: LLVM for this machine's CPU; gpu: CUDA (compiling needs no GPU)")
    group.add_argument("--arch", metavar="sm_NN", help="the CUDA architecture for --target gpu "
                                                       "(default sm_90)")
    group.add_argument("--precision", choices=("f32", "f16"), default="f32",
                       help="gpu: f16 runs convolutions and matmuls on f16 operands with f32 "
                            "accumulation (TVM mixed precision; --verify then allows rtol/atol "
                            f"{F16_TOLERANCE:g}); default f32")
    group.add_argument("--schedule", choices=("leptonc", "default"), default="leptonc",
                       help="kernel schedules: leptonc's rules (cpu) / dlight's (gpu), or TVM's "
                            "unscheduled default loops (default: leptonc)")
    group.add_argument("--tune", action="store_true",
                       help="cpu: measure schedule configs for the kernels first, within "
                            "--tune-budget; the database is kept as OUT/tuning.json and reused by "
                            "every later compile into OUT (with or without --tune)")
    group.add_argument("--tune-budget", type=float, metavar="SECONDS",
                       help=f"time for --tune (default {DEFAULT_TUNE_BUDGET:g} s)")
    group.add_argument("--dim", action="append", default=[], metavar="NAME=SIZE",
                       help="bind a symbolic input dim to a size (repeatable, e.g. --dim N=1): "
                            "static shapes, no shape function at run time; the artifact then "
                            "refuses other sizes")
    group.add_argument("--verify", action="store_true",
                       help="run the artifact and the interpreter on the same inputs and print the "
                            f"max/mean error per output; fail beyond rtol {VERIFY_RTOL:g}, atol "
                            f"{VERIFY_ATOL:g} (integers: bit-exact)")
    group.add_argument("--verify-inputs", type=Path, metavar="FILE.npz",
                       help="inputs for --verify (default: seeded sample inputs)")


def check_target_options(args: argparse.Namespace) -> None:
    """Mistakes in the target options, before any work; sets -O2 as the targets' default."""
    if args.target is None:
        for option, given in (("--arch", args.arch), ("--verify", args.verify),
                              ("--verify-inputs", args.verify_inputs), ("--tune", args.tune),
                              ("--tune-budget", args.tune_budget is not None), ("--dim", args.dim)):
            if given:
                raise UsageError(f"{option} needs --target cpu|gpu")
        return
    if args.tune_budget is not None and not args.tune:
        raise UsageError("--tune-budget needs --tune")
    if args.tune_budget is not None and not args.tune_budget > 0:
        raise UsageError(f"--tune-budget {args.tune_budget:g}: expected a positive number of seconds")
    if args.tune and args.target != "cpu":
        raise UsageError("--tune applies to --target cpu only")
    args.dim = parse_dims(args.dim)  # the NAME=SIZE texts become {name: size} here, before any work
    if args.output == "-":
        raise UsageError(f"--target {args.target} writes a folder: name it with -o OUT")
    if args.target != "gpu":
        for option, given in (("--arch", args.arch is not None), ("--precision", args.precision != "f32")):
            if given:
                raise UsageError(f"{option} applies to --target gpu only")
    if args.passes is None and args.opt_level is None:
        args.opt_level = "2"


def parse_dims(texts: list[str]) -> dict[str, int]:
    """``["N=1", "S=128"]`` -> ``{"N": 1, "S": 128}``; anything else is a UsageError."""
    dims: dict[str, int] = {}
    for text in texts:
        name, _, size = text.partition("=")
        name, size = name.strip(), size.strip()
        if not name or not size.isdigit() or int(size) < 1:
            raise UsageError(f"--dim {text}: expected NAME=SIZE with a positive integer size, e.g. N=1")
        if name in dims and dims[name] != int(size):
            raise UsageError(f"--dim {name} is given twice ({dims[name]} and {size})")
        dims[name] = int(size)
    return dims


def _verify_inputs(graph: Graph, path: Path | None) -> dict[str, np.ndarray]:
    from leptonc.instruments import sample_inputs

    if path is None:
        return sample_inputs(graph)
    return bind_inputs(graph, gather_inputs([], path, archive_option="--verify-inputs"))


def _compare(name: str, got: np.ndarray, want: np.ndarray, rtol: float, atol: float) -> tuple[str, bool]:
    if got.shape != want.shape or got.dtype != want.dtype:
        return (f"{name}: {got.dtype}{list(got.shape)} but the interpreter gives "
                f"{want.dtype}{list(want.shape)}", False)
    if not np.issubdtype(want.dtype, np.floating):
        wrong = int(np.count_nonzero(got != want))
        return (f"{name}: bit-exact" if not wrong else f"{name}: {wrong} of {want.size} values differ",
                not wrong)
    error = np.abs(got.astype(np.float64) - want.astype(np.float64))
    ok = bool(np.allclose(got, want, rtol=rtol, atol=atol, equal_nan=True))
    return (f"{name}: max abs error {error.max(initial=0):.3g}, mean {error.mean() if error.size else 0:.3g}"
            f"{'' if ok else ' -- beyond tolerance'}", ok)


def verify_artifact(graph: Graph, folder: Path, inputs: Mapping[str, np.ndarray]) -> list[str]:
    """Run artifact and interpreter on ``inputs``; one line per output, raising on mismatch."""
    from leptonc.targets.tvm.artifact import load_artifact

    model = load_artifact(folder)
    f16 = model.manifest.get("precision") == "f16"
    rtol, atol = (F16_TOLERANCE, F16_TOLERANCE) if f16 else (VERIFY_RTOL, VERIFY_ATOL)
    got = model(**inputs)
    want = interpret(graph, inputs)
    lines, failed = [], []
    for name, expected in want.items():
        line, ok = _compare(name, got[name], expected, rtol, atol)
        lines.append(line)
        if not ok:
            failed.append(name)
    if failed:
        raise ArtifactMismatch(f"--verify: {folder} disagrees with the interpreter on "
                               f"{', '.join(failed)} ({'; '.join(lines)})")
    return lines


def bind_target_dims(args: argparse.Namespace, graph: Graph) -> None:
    """``--dim NAME=SIZE``: bind symbolic input dims before the passes, so that fusion and the
    lowering see static shapes (and --verify's inputs take the bound shapes)."""
    if args.target is not None and args.dim:
        from leptonc.targets.tvm.dims import bind_dims

        bind_dims(graph, args.dim)


def compile_for_target(args: argparse.Namespace, graph: Graph, pipeline: str) -> int:
    """``leptonc MODEL --target cpu|gpu -o OUT``: ``graph`` is already optimised."""
    from leptonc.targets.tvm.driver import compile_to_folder

    out = Path(args.output)
    inputs = _verify_inputs(graph, args.verify_inputs) if args.verify else None  # bad files fail early
    budget = None
    if args.tune:
        budget = DEFAULT_TUNE_BUDGET if args.tune_budget is None else args.tune_budget
    result = compile_to_folder(graph, args.target, out, arch=args.arch, pipeline=pipeline,
                               schedule=args.schedule, precision=args.precision, tune_budget=budget,
                               bound_dims=args.dim)
    tuned = f", {result.tuned_kernels} tuned kernels" if result.tuned_kernels else ""
    print(f"wrote {out}/ ({args.target}, {result.kernels} kernels{tuned}, "
          f"compiled in {result.seconds:.1f} s)")
    if inputs is None:
        return EXIT_OK
    if args.target == "gpu":
        from leptonc.targets.tvm.artifact import load_artifact

        load_artifact(out)  # says, as an error, that this machine has no GPU to run it
    for line in verify_artifact(graph, out, inputs):
        print(f"verify: {line}")
    return EXIT_OK


def run_artifact(args: argparse.Namespace) -> int:
    """``leptonc run OUT --input ...`` where OUT is an artifact folder."""
    from leptonc.targets.tvm.artifact import load_artifact

    if args.compare_ort:
        raise UsageError(f"--compare-ort needs an .onnx model; {args.model} is an artifact folder")
    if args.passes is not None or args.opt_level is not None:
        raise UsageError(f"{args.model} is compiled already: pass options do not apply to it")
    model = load_artifact(args.model)
    given = gather_inputs(args.input, args.inputs)
    for name, item in given.items():
        try:
            model.check_input(name, item.array)
        except InputError as e:
            raise InputError(f"{item.source}: {e}") from None
    outputs = model(**{name: item.array for name, item in given.items()})
    written = write_outputs(outputs, args.output) if args.output is not None else {}
    for name, array in outputs.items():
        where = f" -> {written[name]}" if name in written else ""
        print(f"{name}: {array.dtype}{list(array.shape)}{where}")
    return EXIT_OK
