"""leptonc's CPU schedule rules against numpy, on small shapes.

Each case builds a Relax function, legalizes and fuses it the way the build does, schedules
it with ``cpu_schedule_pass`` and checks that (a) every kernel was scheduled by the rule the
case is about -- a case passing on TVM's unscheduled loops would prove nothing -- and (b)
the compiled result matches numpy.  Shapes are chosen so the tiles do not divide evenly
where that matters (prime extents, a GEMV with 37 columns) and so every config knob the
tuner can pick is exercised on at least one conv.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

tvm = pytest.importorskip("tvm")
from tvm import relax  # noqa: E402

from leptonc.errors import UsageError  # noqa: E402
from leptonc.targets.tvm.build import cpu_target  # noqa: E402
from leptonc.targets.tvm.schedules import (  # noqa: E402
    ContractionConfig,
    ScheduleReport,
    cpu_schedule_pass,
)
from leptonc.targets.tvm.schedules.config import from_json, to_json  # noqa: E402
from leptonc.targets.tvm.tuner import ScheduleDatabase, kernel_key, tune_module, tuning  # noqa: E402

TARGET = cpu_target(2).target
RNG = np.random.default_rng(7)


def _rand(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


# ----- numpy references ---------------------------------------------------------------------------
def conv2d_ref(x, w, stride=1, pad=0, groups=1):
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    n, c, _, _ = x.shape
    oc, cg, kh, kw = w.shape
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]
    win = win.reshape(n, groups, c // groups, *win.shape[2:])  # n g cg oh ow kh kw
    wg = w.reshape(groups, oc // groups, cg, kh, kw)
    out = np.einsum("ngchwij,gocij->ngohw", win, wg)
    return out.reshape(n, oc, *out.shape[3:])


def pool_ref(x, size, stride, pad, kind):
    fill = -np.inf if kind == "max" else 0.0
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=fill)
    win = np.lib.stride_tricks.sliding_window_view(x, (size, size), axis=(2, 3))[:, :, ::stride, ::stride]
    return win.max(axis=(-2, -1)) if kind == "max" else win.mean(axis=(-2, -1))


def softmax_ref(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def layer_norm_ref(x, gamma, beta, eps=1e-5):
    mean = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


# ----- building and running -----------------------------------------------------------------------
def build_module(inputs: dict[str, np.ndarray], body) -> tvm.IRModule:
    """A Relax module ``main(*inputs) -> body(*vars)``, legalized and fused like a build does."""
    bb = relax.BlockBuilder()
    params = [relax.Var(name, relax.TensorType(a.shape, str(a.dtype))) for name, a in inputs.items()]
    with bb.function("main", params):
        with bb.dataflow():
            out = bb.emit_output(body(bb, *params))
        bb.emit_func_output(out)
    T = relax.transform
    passes = [T.LegalizeOps(), T.AnnotateTIROpPattern(), T.FuseOps(), T.FuseTIR(), T.DeadCodeElimination()]
    return tvm.transform.Sequential(passes)(bb.get())


def schedule_and_run(mod: tvm.IRModule, inputs: dict[str, np.ndarray], database=None):
    report = ScheduleReport()
    mod = cpu_schedule_pass(TARGET, database=database, report=report)(mod)
    executable = tvm.compile(mod, TARGET)
    vm = relax.VirtualMachine(executable, tvm.cpu())
    result = vm["main"](*(tvm.runtime.tensor(a) for a in inputs.values()))
    return result.numpy(), report


def check(inputs, body, expected, kinds: set[str], rtol=1e-4, atol=1e-4, database=None):
    got, report = schedule_and_run(build_module(inputs, body), inputs, database)
    assert report.kernels, "no kernel went through the schedule pass"
    assert not report.unscheduled(), [(k.name, k.note) for k in report.unscheduled()]
    assert kinds <= {k.kind for k in report.kernels}
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)
    return report


def conv_body(stride=1, pad=0, groups=1, relu=True, residual=False):
    def body(bb, x, w, b, *rest):
        y = bb.emit(relax.op.nn.conv2d(x, w, strides=stride, padding=pad, groups=groups))
        y = bb.emit(relax.op.add(y, b))
        if residual:
            y = bb.emit(relax.op.add(y, rest[0]))
        return relax.op.nn.relu(y) if relu else y
    return body


def conv_case(n, c, h, w, oc, k, stride=1, pad=0, groups=1, residual=False):
    x, wt, b = _rand(n, c, h, w), _rand(oc, c // groups, k, k), _rand(1, oc, 1, 1)
    ref = conv2d_ref(x, wt, stride, pad, groups) + b
    inputs = {"x": x, "w": wt, "b": b}
    if residual:
        inputs["r"] = _rand(*ref.shape)
        ref = ref + inputs["r"]
    return inputs, np.maximum(ref, 0)


# ----- contraction rule ---------------------------------------------------------------------------
def test_matmul_with_bias_and_relu_epilogue():
    a, b, bias = _rand(24, 48), _rand(48, 40), _rand(40)
    report = check({"a": a, "b": b, "bias": bias},
                   lambda bb, a, b, bias: relax.op.nn.relu(relax.op.add(relax.op.matmul(a, b), bias)),
                   np.maximum(a @ b + bias, 0), {"contraction"})
    assert len(report.kernels) == 1  # the epilogue lives in the matmul's kernel


def test_gemv_with_prime_width():
    a, b = _rand(1, 64), _rand(64, 37)
    check({"a": a, "b": b}, lambda bb, a, b: relax.op.matmul(a, b), a @ b, {"contraction"})


def test_batch_matmul():
    a, b = _rand(3, 16, 24), _rand(3, 24, 20)
    check({"a": a, "b": b}, lambda bb, a, b: relax.op.matmul(a, b), a @ b, {"contraction"})


@pytest.mark.parametrize("shape", [
    dict(n=1, c=16, h=9, w=9, oc=24, k=1),                     # 1x1
    dict(n=1, c=8, h=10, w=10, oc=16, k=3, pad=1),             # 3x3 padded
    dict(n=1, c=6, h=13, w=13, oc=8, k=3, stride=2, pad=1),    # strided, odd size
    dict(n=2, c=4, h=7, w=11, oc=12, k=5, pad=2),              # batch 2, 5x5, non-square
    dict(n=1, c=16, h=7, w=7, oc=24, k=1),                     # a 7-wide row: vectors of 7
], ids=["1x1", "3x3-pad", "3x3-stride2", "5x5-batch2", "1x1-7x7"])
def test_conv2d(shape):
    inputs, ref = conv_case(**shape)
    check(inputs, conv_body(shape.get("stride", 1), shape.get("pad", 0)), ref, {"contraction"})


def test_conv2d_with_residual_add_epilogue():
    inputs, ref = conv_case(1, 8, 12, 12, 16, 3, pad=1, residual=True)
    report = check(inputs, conv_body(pad=1, residual=True), ref, {"contraction"})
    assert len(report.kernels) == 1


def test_depthwise_conv():
    inputs, ref = conv_case(1, 16, 14, 14, 16, 3, pad=1, groups=16)
    check(inputs, conv_body(pad=1, groups=16), ref, {"contraction"})


def test_grouped_conv_blocks_output_channels_within_a_group():
    inputs, ref = conv_case(1, 16, 9, 9, 32, 1, groups=4)
    check(inputs, conv_body(groups=4), ref, {"contraction"})


@pytest.mark.parametrize("config", [
    ContractionConfig(vector_tile=8, row_tile=1, row2_tile=1),
    ContractionConfig(vector_tile=64, row_tile=16, row2_tile=7),
    ContractionConfig(inline_padding=True, unroll_reduction=3),
    ContractionConfig(vector_tile=32, row_tile=6, row2_tile=3, unroll_reduction=7),
], ids=["smallest", "largest", "inline-pad-unroll", "odd-tiles"])
def test_conv2d_every_config_is_correct(config):
    """What the tuner may pick must compute the same conv."""
    inputs, ref = conv_case(1, 8, 14, 14, 24, 3, pad=1)
    mod = build_module(inputs, conv_body(pad=1))

    class Fixed:
        def lookup(self, func):
            return config

    got, report = schedule_and_run(mod, inputs, database=Fixed())
    assert [k.config for k in report.kernels if k.kind == "contraction"] == [config]
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool(kind):
    x = _rand(1, 8, 15, 15)
    op = relax.op.nn.max_pool2d if kind == "max" else relax.op.nn.avg_pool2d
    check({"x": x}, lambda bb, x: op(x, pool_size=3, strides=2, padding=1, count_include_pad=True)
          if kind == "avg" else op(x, pool_size=3, strides=2, padding=1),
          pool_ref(x, 3, 2, 1, kind), {"contraction"})


def test_global_average_pool():
    x = _rand(1, 32, 7, 7)
    check({"x": x}, lambda bb, x: relax.op.mean(x, axis=[2, 3], keepdims=True),
          x.mean(axis=(2, 3), keepdims=True), {"contraction"})


def test_symbolic_batch_is_scheduled_and_correct():
    a, b = _rand(3, 32), _rand(32, 16)
    n = tvm.tirx.Var("n", "int64")
    bb = relax.BlockBuilder()
    x = relax.Var("a", relax.TensorType([n, 32], "float32"))
    y = relax.Var("b", relax.TensorType([32, 16], "float32"))
    with bb.function("main", [x, y]):
        with bb.dataflow():
            out = bb.emit_output(relax.op.nn.relu(relax.op.matmul(x, y)))
        bb.emit_func_output(out)
    T = relax.transform
    mod = tvm.transform.Sequential([T.LegalizeOps(), T.AnnotateTIROpPattern(), T.FuseOps(),
                                    T.FuseTIR()])(bb.get())
    got, report = schedule_and_run(mod, {"a": a, "b": b})
    assert not report.unscheduled()
    np.testing.assert_allclose(got, np.maximum(a @ b, 0), rtol=1e-4, atol=1e-4)


# ----- row reductions and elementwise -------------------------------------------------------------
def test_softmax():
    x = _rand(2, 3, 17, 40)
    check({"x": x}, lambda bb, x: relax.op.nn.softmax(x, axis=-1), softmax_ref(x), {"row_reduction"})


def test_layer_norm():
    x, g, b = _rand(1, 20, 48), _rand(48), _rand(48)
    check({"x": x, "g": g, "b": b},
          lambda bb, x, g, b: relax.op.nn.layer_norm(x, g, b, axes=[-1], epsilon=1e-5),
          layer_norm_ref(x, g, b), {"row_reduction"}, atol=2e-4)


def test_elementwise_transpose_add():
    x, y = _rand(4, 6, 130), _rand(130, 6, 4)
    check({"x": x, "y": y},
          lambda bb, x, y: relax.op.add(relax.op.permute_dims(x, [2, 1, 0]), y),
          x.transpose(2, 1, 0) + y, {"elementwise"})


def test_padding_larger_than_a_register_row():
    x = _rand(1, 3, 300, 5)
    check({"x": x}, lambda bb, x: relax.op.nn.relu(relax.op.permute_dims(x, [0, 1, 3, 2])),
          np.maximum(x.transpose(0, 1, 3, 2), 0), {"elementwise"})


# ----- configs and the tuner ----------------------------------------------------------------------
def test_config_json_round_trip_and_errors():
    config = ContractionConfig(vector_tile=32, row_tile=4, inline_padding=True)
    assert from_json(json.loads(json.dumps(to_json(config)))) == config
    with pytest.raises(UsageError, match="unknown rule kind"):
        from_json({"kind": "winograd"})
    with pytest.raises(UsageError, match="unknown fields"):
        from_json({**to_json(config), "tile_k": 3})


def test_tuner_keeps_best_config_and_database_is_reused(tmp_path):
    a, b = _rand(32, 64), _rand(64, 48)
    mod = build_module({"a": a, "b": b}, lambda bb, a, b: relax.op.matmul(a, b))
    db = ScheduleDatabase.load(tmp_path / "tuning.json", TARGET)
    lines: list[str] = []
    tuned = tune_module(mod, TARGET, db, budget_s=3.0, log=lines.append)
    assert len(tuned) == 1 and tuned[0].trials >= 2
    assert tuned[0].latency_us <= tuned[0].default_us
    assert any("tune [1/1]" in line for line in lines)  # progress is shown

    again = ScheduleDatabase.load(tmp_path / "tuning.json", TARGET)
    func = next(f for _, f in mod.functions_items() if isinstance(f, tvm.tirx.PrimFunc))
    assert again.lookup(func) == tuned[0].config
    assert kernel_key(func) in json.loads((tmp_path / "tuning.json").read_text())["kernels"]
    assert tune_module(mod, TARGET, again, budget_s=3.0, log=lines.append) == []  # nothing left to tune

    report = ScheduleReport()
    with tuning(again):
        scheduled = cpu_schedule_pass(TARGET, report=report)(mod)
    assert [k.tuned for k in report.kernels] == [True]
    vm = relax.VirtualMachine(tvm.compile(scheduled, TARGET), tvm.cpu())
    got = vm["main"](tvm.runtime.tensor(a), tvm.runtime.tensor(b)).numpy()
    np.testing.assert_allclose(got, a @ b, rtol=1e-4, atol=1e-4)


def test_database_of_another_version_is_refused(tmp_path):
    path = tmp_path / "tuning.json"
    path.write_text(json.dumps({"version": 999, "target": str(TARGET), "kernels": {}}))
    with pytest.raises(UsageError, match="version"):
        ScheduleDatabase.load(path, TARGET)


def test_database_for_another_cpu_is_ignored(tmp_path):
    path = tmp_path / "tuning.json"
    entry = {"name": "k", "config": to_json(ContractionConfig()), "latency_us": 1.0, "default_us": 2.0,
             "trials": 2}
    path.write_text(json.dumps({"version": 1, "target": "llvm -mcpu=other", "kernels": {"00": entry}}))
    assert ScheduleDatabase.load(path, TARGET).entries == {}


def test_stale_config_of_another_kind_is_not_applied():
    x = _rand(2, 40)

    class Stale:
        def lookup(self, func):
            return dataclasses.replace(ContractionConfig(), vector_tile=8)

    check({"x": x}, lambda bb, x: relax.op.nn.softmax(x, axis=-1), softmax_ref(x), {"row_reduction"},
          database=Stale())


@pytest.mark.parametrize("extent, target, expected", [
    (112, 16, 16), (56, 16, 8), (28, 32, 14), (7, 16, 7), (1000, 16, 8), (128, 64, 64), (24, 32, 8),
])
def test_vector_tile_is_whole_registers_or_one_register(extent, target, expected):
    from leptonc.targets.tvm.schedules.tiles import pick_vector_tile

    assert pick_vector_tile(extent, target, lanes=16) == expected
