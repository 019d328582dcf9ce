"""Benchmark a pass pipeline on large synthetic graphs: does -O2 scale linearly?

    python tools/bench_passes.py                        # -O2 on 5k, 10k and 20k nodes
    python tools/bench_passes.py --pipeline O3 --repeat 5
    python tools/bench_passes.py --sizes 10000,20000,40000 --max-seconds 60
    python tools/bench_passes.py --no-gc                # algorithmic scaling alone

For each size it builds a fresh graph per run (construction is not timed), runs the
pipeline, and reports the median time, the node counts before and after, and each pass's
share.  It fails (exit 1) when the largest graph takes ``--max-seconds`` or more, or when the
time grows by ``--max-ratio`` or more from the second-largest size to the largest (sizes
double by default, so linear passes give a ratio near 2).

The graphs mix what real models hand an optimiser, so that every -O2 pass has work: conv +
batch-norm + ReLU6 blocks with residual adds, matmul + bias + GELU (the op, or spelled out
with erf), self-attention with a spelled-out softmax, layer norms spelled out as
reduce/sub/mul/sqrt/div chains, reshape/transpose chains that cancel, duplicated
subexpressions, dead branches, shape arithmetic on static shapes, and identity ops.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from leptonc.errors import LeptoncError
from leptonc.instruments import VerifyEach
from leptonc.ir import dtypes
from leptonc.ir.builder import Builder
from leptonc.ir.graph import Graph, Value
from leptonc.ir.types import TensorType
from leptonc.ir.verifier import verify
from leptonc.passmgr import PassManager, PassRecord, expand_named

CHANNELS, SIDE = 4, 6  # the image stream: f32[1, 4, 6, 6]
TOKENS, WIDTH = 8, 16  # the token stream: f32[8, 16]
HEADS = 2


class SyntheticNet:
    """Grows a two-stream network (image and tokens) block by block, with seeded weights."""

    def __init__(self, seed: int = 0):
        self.graph = Graph("synthetic")
        self.b = Builder(self.graph)
        self.rng = np.random.default_rng(seed)
        self.image = self.graph.add_input("image", TensorType(dtypes.f32, (1, CHANNELS, SIDE, SIDE)))
        self.tokens = self.graph.add_input("tokens", TensorType(dtypes.f32, (TOKENS, WIDTH)))

    # ----- helpers -------------------------------------------------------------------------
    def weight(self, shape: tuple[int, ...], scale: float, name: str) -> Value:
        return self.b.const((self.rng.standard_normal(shape) * scale).astype(np.float32), name)

    def vector(self, n: int, low: float, high: float, name: str) -> Value:
        return self.b.const(self.rng.uniform(low, high, n).astype(np.float32), name)

    def i64(self, values: list[int] | int, name: str) -> Value:
        return self.b.const(np.asarray(values, np.int64), name)

    def op(self, op: str, *inputs: Value | None, **attrs) -> Value:
        return self.b.op(op, list(inputs), attrs, name=op.split(".")[-1])

    # ----- image blocks --------------------------------------------------------------------
    def conv_bn(self, x: Value, with_bias: bool) -> Value:
        w = self.weight((CHANNELS, CHANNELS, 3, 3), 0.5 / np.sqrt(CHANNELS * 9), "conv.w")
        bias = self.vector(CHANNELS, -0.1, 0.1, "conv.b") if with_bias else None
        y = self.op("nn.conv", x, w, bias, pads=[1, 1, 1, 1])
        norm = [self.vector(CHANNELS, 0.5, 1.5, "bn.scale"), self.vector(CHANNELS, -0.1, 0.1, "bn.bias"),
                self.vector(CHANNELS, -0.1, 0.1, "bn.mean"), self.vector(CHANNELS, 0.5, 1.5, "bn.var")]
        return self.op("nn.batch_norm", y, *norm)

    def residual_block(self) -> None:
        """conv-bn-relu, conv-bn, + skip, ReLU6 (bounded, so deep graphs stay finite)."""
        x = self.image
        y = self.op("ew.relu", self.conv_bn(x, with_bias=True))
        y = self.op("ew.add", self.conv_bn(y, with_bias=False), x)
        self.image = self.op("ew.clip", y, min=0.0, max=6.0)

    def image_to_tokens(self) -> None:
        """Global pool, flatten through shape arithmetic, project, add to every token."""
        pooled = self.op("nn.global_avg_pool", self.image)
        flat = self.op("shape.reshape", pooled, self.i64([1, CHANNELS], "flat.shape"))
        proj = self.op("linalg.matmul", flat, self.weight((CHANNELS, WIDTH), 0.1, "proj.w"))
        self.tokens = self.op("ew.add", self.tokens, proj)

    # ----- token blocks --------------------------------------------------------------------
    def scalar(self, value: float, name: str) -> Value:
        return self.b.const(np.float32(value), name)

    def projection(self, t: Value, name: str) -> Value:
        return self.op("linalg.matmul", t, self.weight((WIDTH, WIDTH), 1 / np.sqrt(WIDTH), name))

    def erf_gelu(self, x: Value) -> Value:
        """GELU as exporters without a GELU op write it: x/2 * (1 + erf(x / sqrt 2))."""
        erf = self.op("ew.erf", self.op("ew.mul", x, self.scalar(1 / np.sqrt(2), "inv.sqrt2")))
        half = self.op("ew.mul", x, self.scalar(0.5, "half"))
        return self.op("ew.mul", half, self.op("ew.add", erf, self.scalar(1.0, "one")))

    def mlp_block(self) -> None:
        """matmul + bias + GELU (the op, or spelled out with erf) with a residual add."""
        t = self.tokens
        h = self.op("ew.add", self.projection(t, "fc.w"), self.vector(WIDTH, -0.1, 0.1, "fc.b"))
        h = self.op("ew.gelu", h) if self.rng.random() < 0.5 else self.erf_gelu(h)
        self.tokens = self.op("ew.add", t, h)

    def split_heads(self, x: Value, perm: list[int]) -> Value:
        heads = self.op("shape.reshape", x, self.i64([1, TOKENS, HEADS, WIDTH // HEADS], "heads"))
        return self.op("shape.transpose", heads, perm=perm)

    def softmax(self, x: Value) -> Value:
        """The numerically stable softmax, spelled out."""
        shifted = self.op("ew.exp", self.op("ew.sub", x, self.op("reduce.max", x, axes=[-1])))
        return self.op("ew.div", shifted, self.op("reduce.sum", shifted, axes=[-1]))

    def attention_block(self) -> None:
        """Two-head self-attention on [batch, heads, tokens, dims] as BERT exports it: scaled
        scores, softmax, weighted values, merged heads, output projection."""
        t = self.tokens
        q = self.split_heads(self.projection(t, "q.w"), [0, 2, 1, 3])
        k = self.split_heads(self.projection(t, "k.w"), [0, 2, 3, 1])
        v = self.split_heads(self.projection(t, "v.w"), [0, 2, 1, 3])
        scores = self.op("ew.mul", self.op("linalg.matmul", q, k),
                         self.scalar(1 / np.sqrt(WIDTH // HEADS), "scale"))
        mixed = self.op("linalg.matmul", self.softmax(scores), v)
        merged = self.op("shape.transpose", mixed, perm=[0, 2, 1, 3])
        merged = self.op("shape.reshape", merged, self.i64([TOKENS, WIDTH], "merge"))
        self.tokens = self.op("ew.add", t, self.projection(merged, "o.w"))

    def layer_norm_chain(self) -> None:
        """LayerNorm as exporters spell it out; alternates d*d and d^2."""
        t = self.tokens
        mean = self.op("reduce.mean", t, axes=[-1], keepdims=True)
        d = self.op("ew.sub", t, mean)
        if self.rng.random() < 0.5:
            square = self.op("ew.mul", d, d)
        else:
            square = self.op("ew.pow", d, self.scalar(2.0, "two"))
        var = self.op("reduce.mean", square, axes=[-1], keepdims=True)
        eps = self.scalar(1e-5, "eps")
        normed = self.op("ew.div", d, self.op("ew.sqrt", self.op("ew.add", var, eps)))
        scaled = self.op("ew.mul", normed, self.vector(WIDTH, 0.8, 1.2, "ln.gamma"))
        self.tokens = self.op("ew.add", scaled, self.vector(WIDTH, -0.1, 0.1, "ln.beta"))

    def reshape_transpose_chain(self) -> None:
        """Split heads and merge them back: reshapes that fold, transposes that cancel."""
        heads = self.op("shape.reshape", self.tokens, self.i64([2, TOKENS // 2, WIDTH], "heads"))
        swapped = self.op("shape.transpose", heads, perm=[0, 2, 1])
        back = self.op("shape.transpose", swapped, perm=[0, 2, 1])
        flat = self.op("shape.reshape", back, self.i64([TOKENS * WIDTH], "flat"))
        self.tokens = self.op("shape.reshape", flat, self.i64([TOKENS, WIDTH], "tokens.shape"))

    def duplicated_subexpressions(self) -> None:
        """The same gate computed twice, as unrolled or copy-pasted model code does."""
        k = self.scalar(0.5, "k")
        first = self.op("ew.tanh", self.op("ew.mul", self.tokens, k))
        second = self.op("ew.tanh", self.op("ew.mul", self.tokens, k))
        self.tokens = self.op("ew.add", first, second)

    def shape_arithmetic(self) -> None:
        """Reshape to a target computed from shape.shape: constant, since shapes are static."""
        t = self.tokens
        dims = self.op("shape.shape", t)
        rows = self.op("shape.gather", dims, self.i64(0, "row.axis"), axis=0)
        cols = self.op("shape.gather", dims, self.i64(1, "col.axis"), axis=0)
        total = self.op("shape.unsqueeze", self.op("ew.mul", rows, cols), axes=[0])
        flat = self.op("shape.reshape", t, total)
        target = self.op("shape.concat", self.op("shape.unsqueeze", rows, axes=[0]),
                         self.i64([-1], "minus.one"), axis=0)
        self.tokens = self.op("shape.reshape", flat, target)

    def identities(self) -> None:
        """Multiplying by ones and adding zeros of the same shape: no-ops to remove."""
        ones = self.b.const(np.ones((TOKENS, WIDTH), np.float32), "ones")
        zeros = self.b.const(np.zeros((TOKENS, WIDTH), np.float32), "zeros")
        self.tokens = self.op("ew.add", self.op("ew.mul", self.tokens, ones), zeros)

    def dead_branches(self) -> None:
        """Results nothing reads: a debugging head and an unused feature map."""
        self.op("ew.log", self.op("reduce.sum", self.op("ew.exp", self.tokens), axes=[-1]))
        self.op("ew.relu", self.conv_bn(self.image, with_bias=True))

    # ----- the whole graph -----------------------------------------------------------------
    def blocks(self) -> list[Callable[[], None]]:
        # Weighted like a hybrid CNN/transformer: residual blocks and MLPs dominate.
        return [self.residual_block, self.mlp_block, self.layer_norm_chain, self.residual_block,
                self.attention_block, self.reshape_transpose_chain, self.mlp_block,
                self.duplicated_subexpressions, self.shape_arithmetic, self.layer_norm_chain,
                self.identities, self.dead_branches, self.image_to_tokens]

    def build(self, nodes: int) -> Graph:
        """Add blocks, in a seeded order, until the graph has at least ``nodes`` nodes."""
        blocks = self.blocks()
        while len(self.graph) < nodes:
            blocks[self.rng.integers(len(blocks))]()
        self.graph.set_outputs([self.image, self.tokens], ["image_features", "tokens"])
        return self.graph


def build_graph(nodes: int, seed: int = 0) -> Graph:
    """A synthetic network of at least ``nodes`` nodes (a few more: blocks are whole)."""
    return SyntheticNet(seed).build(nodes)


# ----- timing --------------------------------------------------------------------------------
@dataclass
class Timing:
    seconds: float  # the median over the runs
    nodes_before: int
    nodes_after: int
    pass_seconds: dict[str, list[float]]  # "NN. spec" -> one time per run
    records: list[PassRecord]  # what each pass did in the first run


def time_pipeline(pipeline: str, nodes: int, repeat: int, seed: int = 0,
                  collect: bool = True) -> Timing:
    """Run ``pipeline`` on ``repeat`` fresh graphs of ``nodes`` nodes; only the passes are
    timed, with Python's cyclic garbage collector on unless ``collect`` is false.  The first
    result is verified, outside the timed region."""
    totals: list[float] = []
    pass_seconds: dict[str, list[float]] = defaultdict(list)
    for run in range(repeat):
        graph = build_graph(nodes, seed)
        before = len(graph)
        manager = PassManager.from_pipeline(pipeline)
        gc.collect()  # the garbage of building the graph is not the passes' to collect
        if not collect:
            gc.disable()
        start = time.perf_counter()
        try:
            records = manager.run(graph)
        finally:
            gc.enable()
        totals.append(time.perf_counter() - start)
        for index, record in enumerate(records):
            pass_seconds[f"{index + 1:2d}. {record.spec}"].append(record.seconds)
        if run == 0:
            _check_result(graph, pipeline, nodes, seed)
            first = Timing(0.0, before, len(graph), pass_seconds, records)
    first.seconds = statistics.median(totals)
    return first


def _check_result(graph: Graph, pipeline: str, nodes: int, seed: int) -> None:
    """Verify the optimised graph; when it is broken, rerun with verify-each to name the pass."""
    try:
        verify(graph)
    except LeptoncError as e:
        PassManager.from_pipeline(pipeline, [VerifyEach()]).run(build_graph(nodes, seed))
        raise LeptoncError(f"the pipeline produced invalid IR: {e}") from None


def _pass_table(sizes: list[int], timings: dict[int, Timing]) -> list[str]:
    names = list(timings[sizes[-1]].pass_seconds)
    width = max([4, *map(len, names)]) + 2
    lines = [f"{'pass':<{width}}" + "".join(f"{n:>10,}" for n in sizes) + "   ratio"]
    for name in names:
        medians = [statistics.median(timings[n].pass_seconds[name]) for n in sizes]
        ratio = medians[-1] / medians[-2] if len(sizes) > 1 and medians[-2] > 0 else float("nan")
        lines.append(f"{name:<{width}}" + "".join(f"{m:10.3f}" for m in medians) + f"{ratio:8.2f}")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pipeline", default="O2", help="a pipeline string or level (default: O2)")
    ap.add_argument("--sizes", default="5000,10000,20000",
                    help="comma-separated node counts, ascending (default: 5000,10000,20000)")
    ap.add_argument("--repeat", type=int, default=5,
                    help="runs per size, each on a fresh graph; the median counts (default: 5)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-gc", action="store_true",
                    help="keep Python's cyclic garbage collector off while passes run, to tell "
                         "algorithmic scaling from collection cost (the IR is full of cycles)")
    ap.add_argument("--max-seconds", type=float, default=20.0,
                    help="fail when the largest size takes this long or longer (default: 20)")
    ap.add_argument("--max-ratio", type=float, default=2.5,
                    help="fail when time(largest) / time(second largest) reaches this "
                         "(default: 2.5)")
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    try:
        return _bench(args)
    except LeptoncError as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1


def _bench(args: argparse.Namespace) -> int:
    sizes = sorted(int(s) for s in args.sizes.split(","))
    print(f"pipeline: {expand_named(args.pipeline) or '(no passes)'}")
    gc_note = ", garbage collector off" if args.no_gc else ""
    print(f"{'nodes':>8} {'after':>8} {'seconds':>9}   (median of {args.repeat}{gc_note})")
    timings: dict[int, Timing] = {}
    for n in sizes:
        t = timings[n] = time_pipeline(args.pipeline, n, args.repeat, args.seed,
                                       collect=not args.no_gc)
        print(f"{t.nodes_before:8,} {t.nodes_after:8,} {t.seconds:9.3f}", flush=True)
    print("\nseconds per pass")
    print("\n".join(_pass_table(sizes, timings)))
    records = timings[sizes[-1]].records
    print("\nwork on the largest graph")
    for index, record in enumerate(records):
        stats = ", ".join(f"{k} {v}" for k, v in record.result.stats.items() if v)
        print(f"{index + 1:2d}. {record.spec}: {stats or 'nothing'}")
    idle = [r.spec for r in records if not r.result.modified]
    if idle:
        print(f"\nnote: {', '.join(idle)} changed nothing on the largest graph (earlier passes "
              "did its work, or the generator gives it none)")
    seconds = {n: t.seconds for n, t in timings.items()}
    return _verdict(sizes, seconds, args.max_seconds, args.max_ratio)


def _verdict(sizes: list[int], seconds: dict[int, float], max_seconds: float,
             max_ratio: float) -> int:
    failures = []
    largest = sizes[-1]
    if seconds[largest] >= max_seconds:
        failures.append(f"{largest:,} nodes took {seconds[largest]:.2f} s (limit {max_seconds:g} s)")
    if len(sizes) > 1:
        previous = sizes[-2]
        ratio = seconds[largest] / max(seconds[previous], 1e-9)
        print(f"\n{largest:,}/{previous:,} time ratio: {ratio:.2f} (limit {max_ratio:g}); "
              f"{largest:,} nodes: {seconds[largest]:.2f} s (limit {max_seconds:g} s)")
        if ratio >= max_ratio:
            failures.append(f"time grew {ratio:.2f}x from {previous:,} to {largest:,} nodes "
                            f"(limit {max_ratio:g}x)")
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
