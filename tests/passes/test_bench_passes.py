"""The synthetic graphs of tools/bench_passes.py: valid, runnable, and work for -O2.

Timing is the benchmark's job (``python tools/bench_passes.py``), never a test's.
"""

from collections import Counter

import bench_passes  # tools/, importable through tests/conftest.py
import numpy as np

from leptonc.instruments import ValidateEach, VerifyEach, sample_inputs
from leptonc.interp import run as interpret
from leptonc.ir.verifier import verify
from leptonc.passmgr import PassManager

NODES = 500


def test_generator_builds_a_valid_runnable_graph():
    graph = bench_passes.build_graph(NODES, seed=1)
    assert NODES <= len(graph) < NODES + 20  # whole blocks: a few nodes over the target
    verify(graph)
    outputs = interpret(graph, sample_inputs(graph))
    assert list(outputs) == ["image_features", "tokens"]
    assert all(np.isfinite(a).all() for a in outputs.values())
    ops = Counter(node.op for node in graph)
    for op in ("nn.conv", "nn.batch_norm", "linalg.matmul", "ew.gelu", "reduce.mean",
               "shape.transpose", "shape.shape", "shape.reshape", "ew.tanh"):
        assert ops[op] > 0, f"the mix lacks {op}"


def test_generator_is_seeded():
    first = bench_passes.build_graph(200, seed=7)
    again = bench_passes.build_graph(200, seed=7)
    assert [n.op for n in first] == [n.op for n in again]
    assert [n.op for n in first] != [n.op for n in bench_passes.build_graph(200, seed=8)]


def test_o2_keeps_outputs_of_the_synthetic_graph():
    graph = bench_passes.build_graph(NODES, seed=1)
    before = len(graph)
    records = PassManager.from_pipeline("O2", [VerifyEach(), ValidateEach()]).run(graph)
    assert any(r.result.modified for r in records)
    assert len(graph) < before  # at the least, the dead branches go


def test_benchmark_fails_past_its_limits(capsys):
    small = ["--sizes", "100,200", "--repeat", "1", "--pipeline", "dce"]
    assert bench_passes.main([*small, "--max-seconds", "60", "--max-ratio", "1000"]) == 0
    assert "200/100 time ratio" in capsys.readouterr().out
    assert bench_passes.main([*small, "--max-seconds", "0"]) == 1
    assert "FAIL: 200 nodes took" in capsys.readouterr().err
    assert bench_passes.main([*small, "--max-ratio", "0"]) == 1
    assert "FAIL: time grew" in capsys.readouterr().err
    assert bench_passes.main([*small[:-1], "dcee"]) == 1
    assert "FAIL: unknown pass 'dcee'" in capsys.readouterr().err
