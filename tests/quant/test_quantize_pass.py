"""The quantize pass: options -> QuantConfig, calibration data sources, samples, stats."""

import warnings

import numpy as np
import pytest

import leptonc
from leptonc.errors import UsageError
from leptonc.ir import dtypes
from leptonc.passmgr import parse_pipeline, run_pipeline

TEXT = """
graph @g(%v: f32[N,4]) {
  %w = const [0.5, -0.25, 0.125, 1.0, -0.5, 0.75, 0.25, 0.0, -1.0, -0.3, 0.6, 0.2] : f32[4,3]
  %b = const [0.1, -0.2, 0.3] : f32[3]
  %m = linalg.matmul(%v, %w) : f32[N,3] loc("fc")
  %y = ew.add(%m, %b) : f32[N,3] loc("fc_bias")
  %r = ew.relu(%y) : f32[N,3] loc("relu")
  return %r
}
"""


def samples(n=10, seed=0):
    return np.random.default_rng(seed).standard_normal((n, 4)).astype(np.float32)


def test_options_become_the_quant_config():
    (p,) = parse_pipeline("quantize{scheme=int8,method=entropy,bins=512,per-channel=false,"
                          "symmetric=true,pow2=true,ignore=fc; ew.*;head?,bias-correction=true,"
                          "keep-fragile=false}")
    c = p.config()
    assert (c.activations, c.weights) == (dtypes.i8, dtypes.i8)
    assert (c.method, c.bins, c.per_channel, c.symmetric_activations, c.pow2_scales) == (
        "entropy", 512, False, True, True)
    assert c.ignore == ("fc", "ew.*", "head?") and c.bias_correction
    assert not c.keep_fragile_in_float
    (p,) = parse_pipeline("quantize{scheme=w6a12}")
    assert (p.config().weights.name, p.config().activations.name) == ("i6", "i12")


@pytest.mark.parametrize("spec, message", [
    ("quantize{scheme=int3}", "unknown quantization scheme 'int3'"),
    ("quantize{method=kl}", "unknown calibration method 'kl'"),
    ("quantize{samples=-1}", "samples and batch-size must be at least 0"),
])
def test_bad_options_are_usage_errors_naming_the_pass(spec, message):
    with pytest.raises(UsageError, match=f"pass 'quantize': {message}"):
        parse_pipeline(spec)


def test_npz_samples_are_cut_into_batches_and_limited(tmp_path):
    np.savez(tmp_path / "calib.npz", v=samples(10))
    g = leptonc.parse_graph(TEXT)
    (record,) = run_pipeline(g, f"quantize{{calib={tmp_path / 'calib.npz'},batch-size=4,"
                                f"samples=6}}")
    assert record.result.stats["calibration-batches"] == 2  # 4 + 2 samples
    assert record.result.stats == {"quantized-nodes": 3, "float-nodes": 0, "activations": 2,
                                   "weights": 1, "biases": 1, "calibration-batches": 2}
    leptonc.verify(g)


def test_folder_of_npy_batches(tmp_path):
    for i in range(3):
        np.save(tmp_path / f"b{i}.npy", samples(5, seed=i))
    g = leptonc.parse_graph(TEXT)
    (record,) = run_pipeline(g, f"quantize{{calib={tmp_path}}}")
    assert record.result.stats["calibration-batches"] == 3


def test_missing_calibration_data_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        run_pipeline(leptonc.parse_graph(TEXT), f"quantize{{calib={tmp_path / 'nope'}}}")


def test_random_data_warns_and_weight_only_needs_no_data():
    with pytest.warns(UserWarning, match="random data"):
        run_pipeline(leptonc.parse_graph(TEXT), "quantize")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = leptonc.parse_graph(TEXT)
        (record,) = run_pipeline(g, "quantize{scheme=int8-weights}")
    assert record.result.stats["weights"] == 1 and record.result.stats["activations"] == 0


def test_quantized_graph_prints_and_parses_back(tmp_path):
    np.savez(tmp_path / "calib.npz", v=samples(8))
    g = leptonc.parse_graph(TEXT)
    run_pipeline(g, f"quantize{{calib={tmp_path / 'calib.npz'},scheme=int8,pow2=true}}")
    text = leptonc.print_graph(g)
    assert leptonc.print_graph(leptonc.parse_graph(text)) == text
    x = samples(4, seed=7)
    np.testing.assert_array_equal(leptonc.run(g, {"v": x})["r"],
                                  leptonc.run(leptonc.parse_graph(text), {"v": x})["r"])
