"""Lowering leptonc graphs to Relax: op coverage (each case compiled for cpu and compared
with the interpreter), fused regions as one kernel, and the one error that lists every
unsupported node."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tvm")

from leptonc.errors import UnsupportedOpError  # noqa: E402
from leptonc.instruments import sample_inputs  # noqa: E402
from leptonc.interp import run as interpret  # noqa: E402
from leptonc.ir import dtypes  # noqa: E402
from leptonc.ir.builder import Builder  # noqa: E402
from leptonc.ir.graph import Graph  # noqa: E402
from leptonc.ir.parser import parse_graph  # noqa: E402
from leptonc.ir.types import TensorType  # noqa: E402
from leptonc.ir.verifier import verify  # noqa: E402
from leptonc.passmgr import run_pipeline  # noqa: E402
from leptonc.targets.tvm.build import build, cpu_target  # noqa: E402
from leptonc.targets.tvm.lower import lower_graph, unsupported_nodes  # noqa: E402

RNG = np.random.default_rng(7)


def _run_compiled(graph: Graph, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    import tvm
    from tvm import relax

    built = build(lower_graph(graph).module, cpu_target(schedule="default"))
    vm = relax.VirtualMachine(built.executable, tvm.cpu())
    results = vm["main"](*(tvm.runtime.tensor(inputs[v.name]) for v in graph.inputs))
    return [r.numpy() for r in results]


def _check_matches(graph: Graph, inputs: dict[str, np.ndarray] | None = None) -> None:
    verify(graph)
    inputs = inputs if inputs is not None else sample_inputs(graph, seed=3)
    want = interpret(graph, inputs)
    got = _run_compiled(graph, inputs)
    for (name, expected), actual in zip(want.items(), got, strict=True):
        assert actual.dtype == expected.dtype, name
        if np.issubdtype(expected.dtype, np.floating):
            np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5, err_msg=name)
        else:
            np.testing.assert_array_equal(actual, expected, err_msg=name)


def _graph(inputs: dict[str, tuple[str, tuple]]) -> tuple[Graph, Builder, dict]:
    g = Graph("t")
    values = {n: g.add_input(n, TensorType(getattr(dtypes, dt), shape)) for n, (dt, shape) in inputs.items()}
    return g, Builder(g), values


def _weights(shape: tuple[int, ...]) -> np.ndarray:
    return (RNG.standard_normal(shape) * 0.3).astype(np.float32)


CONV_CASES = [
    {"pads": [1, 1, 1, 1]},
    {"strides": [2, 2], "pads": [0, 1, 1, 0]},
    {"group": 4, "pads": [1, 1, 1, 1]},
    {"dilations": [2, 2], "pads": [2, 2, 2, 2]},
]


@pytest.mark.parametrize("attrs", CONV_CASES, ids=lambda a: ",".join(f"{k}={v}" for k, v in a.items()))
def test_conv2d_variants(attrs):
    g, b, x = _graph({"x": ("f32", (1, 8, 9, 9))})
    w = b.const(_weights((8, 8 // attrs.get("group", 1), 3, 3)), "w")
    bias = b.const(_weights((8,)), "b")
    g.set_outputs([b.op("nn.conv", [x["x"], w, bias], attrs)])
    _check_matches(g)


def test_conv1d_pools_and_global_pools():
    g, b, x = _graph({"x": ("f32", (1, 4, 10, 10))})
    y = b.op("nn.max_pool", [x["x"]], {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [0, 0, 1, 1]})
    z = b.op("nn.avg_pool", [x["x"]], {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1],
                                       "count_include_pad": True})
    a = b.op("nn.avg_pool", [x["x"]], {"kernel_shape": [2, 2], "strides": [2, 2]})
    gap, gmp = b.op("nn.global_avg_pool", [x["x"]]), b.op("nn.global_max_pool", [x["x"]])
    g2, b2, x2 = _graph({"s": ("f32", (2, 3, 16))})
    w1 = b2.const(_weights((5, 3, 3)), "w")
    c1 = b2.op("nn.conv", [x2["s"], w1, None], {"pads": [1, 1], "strides": [2]})
    g.set_outputs([y, z, a, gap, gmp])
    g2.set_outputs([c1])
    _check_matches(g)
    _check_matches(g2)


def test_matmul_norms_softmax_reductions():
    g, b, x = _graph({"x": ("f32", (2, 5, 16))})
    m = b.op("linalg.matmul", [x["x"], b.const(_weights((16, 8)), "w")])
    ln = b.op("nn.layer_norm", [x["x"], b.const(_weights((16,)), "s"), b.const(_weights((16,)), "b")],
              {"epsilon": 1e-5})
    ln_nobias = b.op("nn.layer_norm", [x["x"], b.const(_weights((16,)), "s2"), None])
    sm = b.op("reduce.softmax", [m], {"axis": -1})
    lsm = b.op("reduce.log_softmax", [m], {"axis": 1})
    s = b.op("reduce.sum", [x["x"]], {"axes": [1], "keepdims": False})
    mx = b.op("reduce.max", [x["x"]], {"axes": [-1]})
    l2 = b.op("reduce.l2", [x["x"]], {"axes": [2]})
    mean = b.op("reduce.mean", [x["x"]])
    g.set_outputs([sm, lsm, ln, ln_nobias, s, mx, l2, mean])
    _check_matches(g)


def test_batch_norm():
    g, b, x = _graph({"x": ("f32", (1, 3, 4, 4))})
    params = [b.const(np.abs(_weights((3,))) + 0.5, n) for n in ("s", "b", "m", "v")]
    g.set_outputs([b.op("nn.batch_norm", [x["x"], *params])])
    _check_matches(g)


def test_elementwise_and_casts():
    g, b, x = _graph({"x": ("f32", (3, 4)), "y": ("f32", (4,)), "i": ("i32", (3, 4))})
    xs, ys = x["x"], x["y"]
    outs = [b.op(op, [xs, ys]) for op in ("ew.add", "ew.sub", "ew.mul", "ew.div", "ew.max", "ew.min")]
    outs += [b.op(op, [xs]) for op in ("ew.relu", "ew.sigmoid", "ew.tanh", "ew.exp", "ew.erf", "ew.neg",
                                       "ew.abs", "ew.gelu", "ew.hard_swish")]
    outs.append(b.op("ew.gelu", [xs], {"approximate": "tanh"}))
    outs.append(b.op("ew.clip", [xs], {"min": -0.5, "max": 0.25}))
    outs.append(b.op("ew.leaky_relu", [xs], {"alpha": 0.1}))
    cond = b.op("ew.greater", [xs, ys])
    outs.append(b.op("ew.where", [cond, xs, ys]))
    outs.append(b.op("ew.cast", [xs], {"to": dtypes.i32}))
    outs.append(b.op("ew.add", [x["i"], b.op("ew.cast", [xs], {"to": dtypes.i32})]))
    g.set_outputs(outs)
    inputs = sample_inputs(g, seed=5)
    inputs["i"] = RNG.integers(-50, 50, (3, 4)).astype(np.int32)
    _check_matches(g, inputs)


def test_shape_ops():
    g, b, x = _graph({"x": ("f32", (2, 3, 4)), "ids": ("i64", (2, 5))})
    r = b.op("shape.reshape", [x["x"], b.const(np.array([0, -1], np.int64), "shape")])
    t = b.op("shape.transpose", [x["x"]], {"perm": [2, 0, 1]})
    c = b.op("shape.concat", [x["x"], x["x"]], {"axis": 1})
    u = b.op("shape.unsqueeze", [x["x"]], {"axes": [-1]})
    sq = b.op("shape.squeeze", [u], {"axes": [3]})
    e = b.op("shape.expand", [b.const(_weights((1, 4)), "row")], {"shape": [3, 4]})
    sl = b.op("shape.slice", [x["x"]], {"starts": [1, 0], "ends": [3, 100], "axes": [1, 2], "steps": [1, 2]})
    parts = b.op("shape.split", [x["x"]], {"axis": 2, "split": [1, 3]})
    p = b.op("shape.pad", [x["x"]], {"pads": [0, 1, 2, 0, 0, 1], "value": 0.5})
    table = b.const(_weights((10, 6)), "table")
    gather = b.op("shape.gather", [table, x["ids"]], {"axis": 0})
    g.set_outputs([r, t, c, sq, e, sl, *parts, p, gather])
    inputs = sample_inputs(g, seed=1)
    inputs["ids"] = RNG.integers(-10, 10, (2, 5)).astype(np.int64)  # negative: from the end
    _check_matches(g, inputs)


@pytest.mark.parametrize("mask", ["none", "float", "bool"])
def test_attention(mask):
    g, b, x = _graph({"q": ("f32", (1, 2, 6, 8)), "k": ("f32", (1, 2, 6, 8)), "v": ("f32", (1, 2, 6, 8))})
    m = None
    if mask == "float":
        m = b.const(np.where(RNG.random((1, 1, 1, 6)) < 0.3, -1e4, 0).astype(np.float32), "m")
    elif mask == "bool":
        keep = RNG.random((1, 1, 6, 6)) < 0.6
        keep[0, 0, 2] = False  # a query that sees no key: zeros, as the interpreter
        m = b.const(keep, "m")
    g.set_outputs([b.op("nn.attention", [x["q"], x["k"], x["v"], m], {"scale": 0.3})])
    _check_matches(g)


def test_symbolic_batch_dim():
    g = parse_graph("""graph @g(%x: f32[N,3]) {
      %s = const [-1, 1, 3] : i64[3]
      %y = shape.reshape(%x, %s) : f32[?,1,3]
      %z = ew.relu(%y) : f32[?,1,3]
      return %z
    }""")
    for batch in (1, 5):
        _check_matches(g, {"x": RNG.standard_normal((batch, 3)).astype(np.float32)})


def test_each_fused_region_is_one_kernel():
    g, b, x = _graph({"x": ("f32", (1, 4, 6, 6))})
    y = b.op("nn.conv", [x["x"], b.const(_weights((4, 4, 3, 3)), "w"), b.const(_weights((4,)), "b")],
             {"pads": [1, 1, 1, 1]})
    y = b.op("ew.relu", [b.op("ew.add", [y, x["x"]])])
    g.set_outputs([y])
    run_pipeline(g, "O2")
    regions = [n for n in g if n.op == "fused.region"]
    assert len(regions) == 1 and len(regions[0].attrs["body"]) == 3
    lowered = lower_graph(g)
    assert len(lowered.kernels) == 1 and lowered.kernels[0].name.startswith("fused_")
    assert lowered.kernels[0].ops == ("nn.conv", "ew.add", "ew.relu")
    built = build(lowered.module, cpu_target(schedule="default"))
    fused = [name for name in built.kernel_names if name.startswith("fused_")]
    assert fused == [lowered.kernels[0].name]  # one PrimFunc: conv, bias, add and relu together
    _check_matches(g)


def test_every_unsupported_node_is_named_in_one_error():
    gb, b, x = _graph({"x": ("f32", (4,))})
    a = b.op("ew.mod", [x["x"], x["x"]], source_name="the_mod")
    ints = b.op("ew.cast", [a], {"to": dtypes.i32})
    t = b.op("ew.div", [ints, ints], source_name="int_div")
    k = b.op("reduce.cumsum", [a], source_name="running")
    gb.set_outputs([t, k])
    problems = unsupported_nodes(gb)
    assert len(problems) == 3, problems
    with pytest.raises(UnsupportedOpError) as err:
        lower_graph(gb)
    message = str(err.value)
    assert "3 node(s)" in message and "\n" not in message
    for name in ("'the_mod' (ew.mod)", "'int_div' (ew.div): integer operands", "'running' (reduce.cumsum)"):
        assert name in message


@pytest.mark.parametrize("dtype", ["f16", "bf16"])
def test_half_precision_graphs_keep_their_dtype(dtype):
    g = parse_graph(f"""graph @g(%x: {dtype}[4,8], %y: {dtype}[8,3]) {{
      %m = linalg.matmul(%x, %y) : {dtype}[4,3]
      %r = ew.relu(%m) : {dtype}[4,3]
      %s = reduce.softmax(%r) : {dtype}[4,3]
      return %r, %s
    }}""")
    inputs = sample_inputs(g, seed=2)
    want = interpret(g, inputs)
    got = _run_compiled(g, inputs)
    for (name, expected), actual in zip(want.items(), got, strict=True):
        assert actual.dtype == expected.dtype
        # Both sides round to the half type at each op, in possibly different orders.
        np.testing.assert_allclose(actual.astype(np.float32), expected.astype(np.float32),
                                   rtol=2e-2, atol=2e-2, err_msg=name)


def test_integer_max_pools_are_exact():
    g = parse_graph("""graph @g(%x: i8[1,2,5,5]) {
      %p = nn.max_pool(%x) {kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]} : i8[1,2,3,3]
      %q = nn.global_max_pool(%x) : i8[1,2,1,1]
      return %p, %q
    }""")
    _check_matches(g, {"x": RNG.integers(-128, 128, (1, 2, 5, 5)).astype(np.int8)})
