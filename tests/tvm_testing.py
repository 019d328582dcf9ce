"""Running a graph on leptonc's cpu target in tests, for comparison with the interpreter."""

from __future__ import annotations

import numpy as np
import tvm
from tvm import relax

from leptonc.ir.graph import Graph
from leptonc.targets.tvm.build import cpu_target
from leptonc.targets.tvm.driver import compile_graph


def run_cpu(graph: Graph, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Compile ``graph`` for this machine's CPU (leptonc's schedules, two threads) and run it
    once on ``feeds``: outputs by name."""
    _, built, _ = compile_graph(graph, cpu_target(threads=2))
    vm = relax.VirtualMachine(built.executable, tvm.cpu())
    results = vm["main"](*(tvm.runtime.tensor(feeds[v.name]) for v in graph.inputs))
    return {v.name: r.numpy() for v, r in zip(graph.outputs, results, strict=True)}
