"""int8 against f32 on ``--target cpu``: latency, and the integer graph's bit-exactness.

    python tools/bench_int8.py                       # digits CNN (batch 64) and MiniLM (seq 128)
    python tools/bench_int8.py --models minilm --runs 50

Everything runs in ONE process with the same thread count (two TVM threads by default):

* f32: the ONNX model through ``-O2``, compiled with leptonc's cpu target.
* int8: ``canonicalize`` (+ ``fold-batchnorm``), ``quantize_graph`` (u8 activations, per
  channel i8 weights, min-max over a few real inputs: digits training images, MiniLM
  sentences), ``lower_quantized``, then ``-O2`` for the float islands it leaves (layer
  norms, softmaxes); the same compile.

Exactness is checked two ways against the reference interpreter running the SAME integer
graph: the model's outputs, and every integer kernel on its own (each integer node is given
the inputs the interpreter computed for it, and its compiled result must be equal bit for
bit).  The outputs are bit-exact for MiniLM too, although float islands (layer norm,
softmax, attention, the output normalisation) sit between its integer layers: f32 islands
sum in f64 and round once, in the interpreter and in the compiled kernels alike, so a
different summation order cannot flip a quantized value downstream.  Any difference is
reported, not hidden.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TVM_NUM_THREADS", "2")  # before TVM starts its thread pool

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

import leptonc  # noqa: E402
from leptonc.interp import Interpreter  # noqa: E402
from leptonc.ir.builder import Builder  # noqa: E402
from leptonc.ir.graph import Graph, Node, Value  # noqa: E402
from leptonc.passes.quant.lower_quantized import lower_quantized  # noqa: E402
from leptonc.passmgr import PassManager, run_pipeline  # noqa: E402
from leptonc.quant.qdq import quantize_graph  # noqa: E402

MODELS = ("digits", "minilm")


@dataclass(slots=True)
class Case:
    name: str
    f32: Graph
    int8: Graph
    feeds: dict[str, np.ndarray]


# ----- the models --------------------------------------------------------------------------------
def _static_batch(onnx_path: Path, batch: int):
    import onnx

    model = onnx.load(str(onnx_path))
    for value in model.graph.input:
        value.type.tensor_type.shape.dim[0].dim_value = batch
    return model


def _quantized(graph: Graph, calibration: list[dict[str, np.ndarray]], prepare: str) -> Graph:
    PassManager.from_pipeline(prepare).run(graph)
    quantize_graph(graph, calibration, progress=False)
    report = lower_quantized(graph)
    if report.islands:
        ops = Counter(island.op for island in report.islands)
        print(f"  {len(report.islands)} float islands: " + ", ".join(f"{op} x{n}" for op, n in ops.items()))
    run_pipeline(graph, "O2")
    return graph


def digits_case(batch: int) -> Case:
    import make_models

    x_train, _, x_test, _ = make_models.digits_data()
    model = _static_batch(make_models.digits_cnn_onnx(), batch)
    f32 = leptonc.load_onnx(model)
    run_pipeline(f32, "O2")
    name = f32.inputs[0].name
    calibration = [{name: x_train[i:i + batch]} for i in range(0, 512, batch)]
    int8 = _quantized(leptonc.load_onnx(model), calibration, "canonicalize,fold-batchnorm")
    return Case(f"digits CNN (batch {batch})", f32, int8, {name: x_test[:batch]})


def minilm_case(seq_len: int) -> Case:
    import minilm

    path = minilm.minilm_onnx(seq_len, 1)
    f32 = leptonc.load_onnx(path)
    run_pipeline(f32, "O2")
    calibration = [minilm.minilm_inputs(seq_len, 1, [s]) for s in minilm.SENTENCES[:4]]
    int8 = _quantized(leptonc.load_onnx(path), calibration, "canonicalize")
    feeds = minilm.minilm_inputs(seq_len, 1, [minilm.SENTENCES[5]])
    return Case(f"MiniLM (seq {seq_len})", f32, int8, feeds)


# ----- compiling and timing ------------------------------------------------------------------------
def compile_cpu(graph: Graph, threads: int) -> tuple[Callable[..., dict[str, np.ndarray]], float]:
    """The compiled graph as ``run(**feeds) -> outputs``, and its compile time."""
    import tvm
    from tvm import relax

    from leptonc.targets.tvm.build import cpu_target
    from leptonc.targets.tvm.driver import compile_graph

    _, built, seconds = compile_graph(graph, cpu_target(threads=threads))
    vm = relax.VirtualMachine(built.executable, tvm.cpu())
    names = [v.name for v in graph.inputs]

    def run(**feeds: np.ndarray) -> dict[str, np.ndarray]:
        args = [tvm.runtime.tensor(np.ascontiguousarray(feeds[n])) for n in names]
        results = vm["main"](*args)
        return {name: r.numpy() for name, r in zip(graph.output_names, results, strict=True)}

    return run, seconds


def median_ms(run: Callable[..., object], feeds: dict[str, np.ndarray], runs: int) -> float:
    for _ in range(3):
        run(**feeds)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run(**feeds)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


# ----- exactness -----------------------------------------------------------------------------------
def _is_integer_kernel(node: Node) -> bool:
    """Nodes whose compiled result must equal the interpreter's bit for bit: the integer ops
    and quantize/dequantize, and data movement on integers."""
    if node.op.startswith("quant."):
        return True
    return bool(node.outputs) and all(v.type.dtype.is_integer for v in node.outputs) and all(
        v is None or v.type.dtype.is_integer for v in node.inputs) and not node.op.startswith("fused.")


def kernel_probe(graph: Graph, feeds: dict[str, np.ndarray]) -> tuple[Graph, dict[str, np.ndarray]]:
    """A graph of every integer node of ``graph``, each fed (as graph inputs) the values the
    interpreter computed for its run-time operands, each result a graph output."""
    wanted = {id(v) for node in graph if _is_integer_kernel(node) for v in node.inputs
              if v is not None and v.data is None}
    seen: dict[int, np.ndarray] = {}

    def keep(v: Value, array: np.ndarray) -> None:
        if id(v) in wanted:
            seen[id(v)] = array

    Interpreter(graph, [keep]).run(feeds)
    probe, probe_feeds = Graph(f"{graph.name}_kernels"), {}
    builder, outputs = Builder(probe), []
    for node in graph:
        if not _is_integer_kernel(node):
            continue
        operands = []
        for i, v in enumerate(node.inputs):
            if v is None:
                operands.append(None)
            elif v.data is not None:
                operands.append(probe.add_constant(v.data, f"{v.name}_c", v.type))
            else:
                name = f"in{len(probe_feeds)}_{i}"
                probe_feeds[name] = seen[id(v)]
                operands.append(probe.add_input(name, v.type))
        outputs.append(builder.op(node.op, operands, dict(node.attrs), name=node.outputs[0].name))
    probe.set_outputs(outputs)
    return probe, probe_feeds


def _differences(want: dict[str, np.ndarray], got: dict[str, np.ndarray]) -> tuple[int, float]:
    """(outputs that are not bit-identical, the largest absolute difference)."""
    unequal, worst = 0, 0.0
    for name, w in want.items():
        g = got[name]
        if g.dtype != w.dtype or g.shape != w.shape or g.tobytes() != w.tobytes():
            unequal += 1
            worst = max(worst, float(np.abs(g.astype(np.float64) - w.astype(np.float64)).max()))
    return unequal, worst


def exactness(case: Case, run_int8: Callable[..., dict[str, np.ndarray]], threads: int) -> str:
    model_unequal, model_worst = _differences(leptonc.run(case.int8, case.feeds), run_int8(**case.feeds))
    probe, probe_feeds = kernel_probe(case.int8, case.feeds)
    run_probe, _ = compile_cpu(probe, threads)
    unequal, _ = _differences(leptonc.run(probe, probe_feeds), run_probe(**probe_feeds))
    kernels = f"{len(probe.outputs) - unequal}/{len(probe.outputs)} integer kernels bit-exact"
    model = "outputs bit-exact" if not model_unequal else f"outputs max |diff| {model_worst:.3g}"
    return f"{kernels}; {model}"


# ----- the table -----------------------------------------------------------------------------------
def bench(case: Case, runs: int, threads: int) -> list[str]:
    run_f32, compile_f32 = compile_cpu(case.f32, threads)
    run_int8, compile_int8 = compile_cpu(case.int8, threads)
    f32_ms = median_ms(run_f32, case.feeds, runs)
    int8_ms = median_ms(run_int8, case.feeds, runs)
    exact = exactness(case, run_int8, threads)
    return [case.name, f"{f32_ms:.2f}", f"{int8_ms:.2f}", f"{f32_ms / int8_ms:.2f}x",
            f"{compile_f32:.1f} / {compile_int8:.1f}", exact]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma list of {', '.join(MODELS)}")
    parser.add_argument("--runs", type=int, default=30, help="timed runs per model (median)")
    parser.add_argument("--batch", type=int, default=64, help="digits CNN batch")
    parser.add_argument("--seq-len", type=int, default=128, help="MiniLM sequence length")
    args = parser.parse_args(argv)
    threads = int(os.environ["TVM_NUM_THREADS"])
    makers = {"digits": lambda: digits_case(args.batch), "minilm": lambda: minilm_case(args.seq_len)}
    unknown = set(args.models.split(",")) - set(makers)
    if unknown:
        parser.error(f"unknown models {sorted(unknown)}; choose from {', '.join(MODELS)}")
    header = ["model", "f32 ms", "int8 ms", "f32/int8", "compile s (f32 / int8)", "int8 vs interpreter"]
    rows = [bench(makers[m](), args.runs, threads) for m in args.models.split(",")]
    print(f"\nleptonc --target cpu, {threads} threads, median of {args.runs} runs\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
