"""Pass instruments, each switched on by a CLI flag: ``--time-passes``, ``--print-ir-before``,
``--print-ir-after``, ``--dump-ir``, ``--verify-each`` and ``--validate-each``."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

import numpy as np

from leptonc.errors import LeptoncError
from leptonc.interp import run as interpret
from leptonc.ir.graph import Graph
from leptonc.ir.printer import print_graph
from leptonc.ir.verifier import verify
from leptonc.passmgr import Instrument, Pass, PassError, PassResult


class TimePasses(Instrument):
    """Collects each pass's own wall time (not the other instruments'); ``table()`` formats it."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, float, bool]] = []

    def run_after_pass(self, p: Pass, graph: Graph, result: PassResult, index: int) -> None:
        self.rows.append((p.spec, result.seconds, result.modified))

    def table(self) -> str:
        total = sum(s for _, s, _ in self.rows) or 1e-12
        lines = [f"{'pass':<40} {'ms':>10} {'%':>6}  changed"]
        for spec, seconds, modified in self.rows:
            lines.append(f"{spec:<40} {seconds * 1e3:10.2f} {100 * seconds / total:6.1f}  "
                         f"{'yes' if modified else 'no'}")
        lines.append(f"{'total':<40} {total * 1e3:10.2f}")
        return "\n".join(lines)


class PrintIR(Instrument):
    """Prints the IR before/after the named passes (``"all"`` for every pass)."""

    def __init__(self, before: set[str] = frozenset(), after: set[str] = frozenset(),
                 stream: TextIO | None = None):
        self.before, self.after = set(before), set(after)
        self.stream = stream or sys.stderr

    def _wanted(self, names: set[str], p: Pass) -> bool:
        return "all" in names or p.name in names

    def run_before_pass(self, p: Pass, graph: Graph, index: int) -> None:
        if self._wanted(self.before, p):
            self.stream.write(f"// ----- IR before {p.spec} -----\n{print_graph(graph)}")

    def run_after_pass(self, p: Pass, graph: Graph, result: PassResult, index: int) -> None:
        if self._wanted(self.after, p):
            self.stream.write(f"// ----- IR after {p.spec} -----\n{print_graph(graph)}")


class DumpIR(Instrument):
    """Writes ``00-input.lir`` and ``NN-<pass>.lir`` after every pass into a folder (text only:
    large constants appear as ``external``)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def run_before_pipeline(self, graph: Graph) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "00-input.lir").write_text(print_graph(graph))

    def run_after_pass(self, p: Pass, graph: Graph, result: PassResult, index: int) -> None:
        (self.folder / f"{index + 1:02d}-{p.name}.lir").write_text(print_graph(graph))


class VerifyEach(Instrument):
    """Runs the verifier after every pass; a failure names the pass."""

    def run_before_pipeline(self, graph: Graph) -> None:
        verify(graph)

    def run_after_pass(self, p: Pass, graph: Graph, result: PassResult, index: int) -> None:
        try:
            verify(graph)
        except LeptoncError as e:
            raise PassError(f"after pass '{p.spec}': the IR is invalid: {e}") from None


def sample_inputs(graph: Graph, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded inputs for validation: N(0, 1) floats, zeros for integers (valid indices),
    True for bools; symbolic and unknown dims become 1."""
    rng = np.random.default_rng(seed)
    out = {}
    for v in graph.inputs:
        shape = tuple(d if isinstance(d, int) else 1 for d in (v.type.shape or ()))
        dtype = v.type.dtype
        if dtype.is_float:
            out[v.name] = rng.standard_normal(shape).astype(dtype.numpy)
        elif dtype.kind == "bool":
            out[v.name] = np.ones(shape, dtype.numpy)
        else:
            out[v.name] = np.zeros(shape, dtype.numpy)
    return out


class ValidateEach(Instrument):
    """Runs the interpreter before and after every pass on the same inputs and names the
    first pass whose outputs drift beyond that pass's declared tolerance."""

    def __init__(self, inputs: Mapping[str, np.ndarray] | None = None):
        self.inputs = inputs
        self._previous: dict[str, np.ndarray] = {}

    def run_before_pipeline(self, graph: Graph) -> None:
        if self.inputs is None:
            self.inputs = sample_inputs(graph)
        self._previous = interpret(graph, self.inputs)

    def run_after_pass(self, p: Pass, graph: Graph, result: PassResult, index: int) -> None:
        if not result.modified:
            return
        current = interpret(graph, self.inputs)
        for name, before in self._previous.items():
            after = current.get(name)
            problem = _drift(before, after, p.rtol, p.atol)
            if problem:
                raise PassError(f"pass '{p.spec}' changed output '{name}': {problem} "
                                f"(allowed rtol {p.rtol:g}, atol {p.atol:g})")
        self._previous = current


def _drift(before: np.ndarray, after: np.ndarray | None, rtol: float, atol: float) -> str | None:
    if after is None:
        return "the output disappeared"
    if before.shape != after.shape or before.dtype != after.dtype:
        return f"{before.dtype}{list(before.shape)} became {after.dtype}{list(after.shape)}"
    if before.dtype.kind not in "fc":
        return None if np.array_equal(before, after) else "integer values differ"
    a, b = after.astype(np.float64), before.astype(np.float64)
    if np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True):
        return None
    return f"max abs error {np.nanmax(np.abs(a - b)):.3g}"
