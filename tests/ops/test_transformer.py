"""Transformer ops (nn.attention, nn.rotary_embedding, nn.swiglu, nn.causal_conv1d,
nn.linear_attention): numbers against straightforward numpy references and onnxruntime."""

import math

import ml_dtypes
import numpy as np
import pytest
from onnx import TensorProto, helper
from onnx_cases import assert_matches_ort, build_op, elem_type, node_model, run_op

import leptonc
from leptonc.analysis import node_macs
from leptonc.errors import ShapeError
from leptonc.ir import dtypes
from leptonc.ir.builder import Builder
from leptonc.ir.graph import Graph
from leptonc.ir.types import TensorType

RNG = np.random.default_rng(0)


def rand(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


# ----- attention reference: per head, written out --------------------------------------------
def reference_attention(q, k, v, bias=None, causal=False, offset=0, scale=None):
    """softmax(q k^T * scale + bias) v, one head at a time, in float64.

    ``bias`` is additive (-inf hides a key); a causal mask lets query i see key j iff
    j <= i + offset.  A query that sees no key gets a zero row.
    """
    q, k, v = (x.astype(np.float64) for x in (q, k, v))
    batch, q_heads, q_len, head_size = q.shape
    kv_heads, kv_len = k.shape[1], k.shape[2]
    scale = 1 / math.sqrt(head_size) if scale is None else scale
    full_bias = np.zeros((batch, q_heads, q_len, kv_len))
    if bias is not None:
        full_bias = full_bias + bias
    if causal:
        i, j = np.arange(q_len)[:, None], np.arange(kv_len)[None, :]
        full_bias = full_bias + np.where(j <= i + offset, 0.0, -np.inf)
    y = np.zeros((batch, q_heads, q_len, v.shape[3]))
    for b in range(batch):
        for h in range(q_heads):
            kh = h // (q_heads // kv_heads)
            s = q[b, h] @ k[b, kh].T * scale + full_bias[b, h]
            for row in range(q_len):
                if np.all(np.isneginf(s[row])):
                    continue
                p = np.exp(s[row] - s[row].max())
                y[b, h, row] = (p / p.sum()) @ v[b, kh]
    return y


def as_bias(bool_mask):
    return np.where(bool_mask, 0.0, -np.inf)


def assert_close(actual, expected, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(actual.astype(np.float64), expected, rtol=rtol, atol=atol)


# ----- nn.attention ----------------------------------------------------------------------------
def test_multi_head_attention_matches_reference():
    q, k, v = rand(2, 3, 4, 8), rand(2, 3, 6, 8), rand(2, 3, 6, 5)
    (y,) = run_op("nn.attention", [q, k, v])
    assert y.dtype == np.float32 and y.shape == (2, 3, 4, 5)
    assert_close(y, reference_attention(q, k, v))


@pytest.mark.parametrize("q_len, kv_len", [(5, 5), (3, 7)])
def test_causal_is_top_left_without_a_cache(q_len, kv_len):
    q, k, v = rand(1, 2, q_len, 4), rand(1, 2, kv_len, 4), rand(1, 2, kv_len, 4)
    (y,) = run_op("nn.attention", [q, k, v], {"is_causal": True})
    assert_close(y, reference_attention(q, k, v, causal=True))


def test_grouped_query_attention_shares_kv_heads():
    q, k, v = rand(2, 6, 4, 8), rand(2, 2, 4, 8), rand(2, 2, 4, 8)
    (y,) = run_op("nn.attention", [q, k, v], {"is_causal": True, "scale": 0.3})
    assert_close(y, reference_attention(q, k, v, causal=True, scale=0.3))
    # the same as multi-head attention with each kv head repeated for its query group
    (y_mha,) = run_op("nn.attention", [q, np.repeat(k, 3, axis=1), np.repeat(v, 3, axis=1)],
                      {"is_causal": True, "scale": 0.3})
    assert_close(y, y_mha.astype(np.float64))


def test_bert_style_additive_mask():
    """The fusion contract: [B, H, S, D] operands and a [B, 1, 1, S] additive float mask."""
    q, k, v = rand(2, 4, 5, 8), rand(2, 4, 5, 8), rand(2, 4, 5, 8)
    keep = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], np.float32)
    mask = ((1.0 - keep) * -10000.0).reshape(2, 1, 1, 5)
    (y,) = run_op("nn.attention", [q, k, v, mask], {"scale": 1 / math.sqrt(8)})
    assert_close(y, reference_attention(q, k, v, bias=mask))
    # masked keys do not matter at all
    k2, v2 = k.copy(), v.copy()
    k2[0, :, 3:], v2[0, :, 3:] = 100.0, 100.0
    (y2,) = run_op("nn.attention", [q, k2, v2, mask], {"scale": 1 / math.sqrt(8)})
    np.testing.assert_allclose(y2[0], y[0], rtol=1e-5, atol=1e-6)


def test_bool_mask_broadcasts_and_combines_with_causal():
    q, k, v = rand(2, 2, 4, 4), rand(2, 2, 4, 4), rand(2, 2, 4, 4)
    mask = RNG.random((2, 1, 4, 4)) > 0.3
    (y,) = run_op("nn.attention", [q, k, v, mask], {"is_causal": True})
    assert_close(y, reference_attention(q, k, v, bias=as_bias(mask), causal=True))


def test_narrow_mask_hides_uncovered_keys():
    q, k, v = rand(1, 2, 3, 4), rand(1, 2, 6, 4), rand(1, 2, 6, 4)
    mask = rand(3, 4)
    (y,) = run_op("nn.attention", [q, k, v, mask])
    wide = np.concatenate([mask, np.full((3, 2), -np.inf, np.float32)], axis=1)
    assert_close(y, reference_attention(q, k, v, bias=wide))


def test_fully_masked_row_is_zero_not_nan():
    q, k, v = rand(1, 1, 2, 4), rand(1, 1, 3, 4), rand(1, 1, 3, 4)
    mask = np.array([[True, False, True], [False, False, False]])
    y, probs = run_op("nn.attention", [q, k, v, mask], {"scores_output": "softmax"})
    assert not np.isnan(y).any()
    np.testing.assert_array_equal(y[0, 0, 1], 0.0)
    np.testing.assert_array_equal(probs[0, 0, 1], 0.0)
    np.testing.assert_allclose(probs[0, 0, 0].sum(), 1.0, rtol=1e-6)


def test_kv_cache_concatenates_and_offsets_the_causal_frontier():
    past_k, past_v = rand(1, 2, 5, 4), rand(1, 2, 5, 4)
    q, k, v = rand(1, 2, 3, 4), rand(1, 2, 3, 4), rand(1, 2, 3, 4)
    y, present_k, present_v = run_op("nn.attention", [q, k, v, None, past_k, past_v],
                                     {"is_causal": True})
    np.testing.assert_array_equal(present_k, np.concatenate([past_k, k], axis=2))
    np.testing.assert_array_equal(present_v, np.concatenate([past_v, v], axis=2))
    assert_close(y, reference_attention(q, present_k, present_v, causal=True, offset=5))
    # a cached step equals the last rows of causal attention over the whole sequence
    q_all = np.concatenate([rand(1, 2, 5, 4), q], axis=2)
    (y_all,) = run_op("nn.attention", [q_all, present_k, present_v], {"is_causal": True})
    np.testing.assert_allclose(y, y_all[:, :, 5:], rtol=1e-5, atol=1e-6)


def test_external_cache_ignores_padding_keys():
    q, k, v = rand(2, 2, 1, 4), rand(2, 2, 6, 4), rand(2, 2, 6, 4)
    lengths = np.array([4, 6], np.int64)
    (y,) = run_op("nn.attention", [q, k, v, None, None, None, lengths], {"is_causal": True})
    for b, n in enumerate(lengths):  # decoding: the one query sees every valid key
        assert_close(y[b:b + 1], reference_attention(q[b:b + 1], k[b:b + 1, :, :n],
                                                     v[b:b + 1, :, :n]))


def test_sliding_window():
    q, k, v = rand(1, 1, 6, 4), rand(1, 1, 6, 4), rand(1, 1, 6, 4)
    (y,) = run_op("nn.attention", [q, k, v], {"is_causal": True, "left_window": 2})
    i, j = np.arange(6)[:, None], np.arange(6)[None, :]
    assert_close(y, reference_attention(q, k, v, bias=as_bias((j <= i) & (j >= i - 2))))


def test_softcap_and_score_outputs():
    q, k, v = rand(1, 2, 3, 4), rand(1, 2, 5, 4), rand(1, 2, 5, 4)
    mask = rand(3, 5)
    qk = np.einsum("bhqd,bhkd->bhqk", q.astype(np.float64), k) * 0.5
    capped = 2.0 * np.tanh(qk / 2.0)
    expected = {"qk": qk, "softcap": capped, "bias": capped + mask}
    for name, want in expected.items():
        y, scores = run_op("nn.attention", [q, k, v, mask],
                           {"scale": 0.5, "softcap": 2.0, "scores_output": name})
        assert_close(scores, want)
    e = np.exp(capped + mask - (capped + mask).max(-1, keepdims=True))
    assert_close(y, (e / e.sum(-1, keepdims=True)) @ v.astype(np.float64))


@pytest.mark.parametrize("dtype", [np.float16, dtypes.bf16.numpy])
def test_low_precision_is_computed_wide_and_returned_narrow(dtype):
    q, k, v = (rand(1, 2, 4, 8).astype(dtype) for _ in range(3))
    (y,) = run_op("nn.attention", [q, k, v], {"is_causal": True})
    assert y.dtype == dtype
    exact = reference_attention(q.astype(np.float32), k.astype(np.float32), v.astype(np.float32),
                                causal=True)
    # only the final rounding to the narrow type: within one unit in the last place
    ulp = float(ml_dtypes.finfo(dtype).eps) * np.maximum(np.abs(exact), 2.0 ** -14)
    assert np.all(np.abs(y.astype(np.float64) - exact) <= ulp)


def test_attention_types_with_symbolic_dims():
    g = Graph()
    f32 = dtypes.f32
    q = g.add_input("q", TensorType(f32, ("B", 8, "S", 16)))
    k = g.add_input("k", TensorType(f32, ("B", 2, "S", 16)))
    v = g.add_input("v", TensorType(f32, ("B", 2, "S", 32)))
    past = g.add_input("past", TensorType(f32, ("B", 2, "P", 16)))
    past_v = g.add_input("past_v", TensorType(f32, ("B", 2, "P", 32)))
    y, pk, pv, scores = Builder(g).op("nn.attention", [q, k, v, None, past, past_v],
                                      {"scores_output": "softmax"})
    assert y.type.shape == ("B", 8, "S", 32)
    assert pk.type.shape == ("B", 2, None, 16) and pv.type.shape == ("B", 2, None, 32)
    assert scores.type.shape == ("B", 8, "S", None)


def test_attention_macs():
    g = build_op("nn.attention", [rand(2, 4, 3, 8), rand(2, 2, 5, 8), rand(2, 2, 5, 6)])
    assert node_macs(g.nodes[0]) == 2 * 4 * 3 * 5 * (8 + 6)


def test_attention_text_round_trip():
    g = build_op("nn.attention", [rand(1, 2, 3, 4), rand(1, 2, 3, 4), rand(1, 2, 3, 4)],
              {"is_causal": True, "softmax_dtype": dtypes.f64, "scores_output": "bias"})
    text = leptonc.print_graph(g)
    assert "softmax_dtype=f64" in text
    assert leptonc.print_graph(leptonc.parse_graph(text)) == text


@pytest.mark.parametrize("shapes, attrs, message", [
    ([(1, 3, 2, 4), (1, 2, 2, 4), (1, 2, 2, 4)], {}, "not a multiple of 2 key/value heads"),
    ([(1, 2, 2, 4), (1, 2, 2, 8), (1, 2, 2, 4)], {}, "head size"),
    ([(1, 2, 2, 4), (1, 2, 3, 4), (1, 2, 2, 4)], {}, "sequence length"),
    ([(2, 4), (2, 4), (2, 4)], {}, r"must be \[batch, heads, seq, head_size\]"),
    ([(1, 2, 2, 4)] * 3, {"scores_output": "logits"}, "scores_output must be one of"),
])
def test_attention_shape_errors(shapes, attrs, message):
    with pytest.raises(ShapeError, match=message):
        build_op("nn.attention", [rand(*s) for s in shapes], attrs)


def test_attention_rejects_half_a_cache_and_wide_masks():
    q = rand(1, 2, 2, 4)
    with pytest.raises(ShapeError, match="past_key and past_value must be given together"):
        build_op("nn.attention", [q, q, q, None, rand(1, 2, 3, 4)])
    with pytest.raises(ShapeError, match="mask covers 5 keys, attention has only 2"):
        build_op("nn.attention", [q, q, q, rand(2, 5)])


# ----- nn.rotary_embedding ---------------------------------------------------------------------
def reference_rope(x_bhsd, cos, sin, rotary, interleaved):
    """Rotate feature pairs as complex numbers: (a + ib) * (cos + i sin)."""
    x = x_bhsd.astype(np.float64)
    rot = x[..., :rotary]
    if interleaved:
        z = rot[..., 0::2] + 1j * rot[..., 1::2]
    else:
        z = rot[..., :rotary // 2] + 1j * rot[..., rotary // 2:]
    z = z * (cos + 1j * sin)[:, None]  # [B, S, R/2] -> [B, 1, S, R/2]
    out = x.copy()
    if interleaved:
        out[..., 0:rotary:2], out[..., 1:rotary:2] = z.real, z.imag
    else:
        out[..., :rotary // 2], out[..., rotary // 2:rotary] = z.real, z.imag
    return out


@pytest.mark.parametrize("interleaved", [False, True])
@pytest.mark.parametrize("rotary", [0, 4])
def test_rotary_embedding_matches_complex_rotation(interleaved, rotary):
    x = rand(2, 3, 5, 8)
    half = (rotary or 8) // 2
    angles = RNG.random((10, half)) * 6
    cos, sin = np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)
    positions = RNG.integers(0, 10, (2, 5))
    (y,) = run_op("nn.rotary_embedding", [x, cos, sin, positions],
                  {"interleaved": interleaved, "rotary_dim": rotary})
    assert_close(y, reference_rope(x, cos[positions], sin[positions], rotary or 8, interleaved))


def test_rotary_embedding_packed_layout_without_positions():
    x = rand(2, 5, 3 * 8)  # [B, S, H*D]
    angles = RNG.random((2, 5, 4))
    cos, sin = np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)
    (y,) = run_op("nn.rotary_embedding", [x, cos, sin], {"num_heads": 3})
    x4 = x.reshape(2, 5, 3, 8).transpose(0, 2, 1, 3)
    expected = reference_rope(x4, cos, sin, 8, False).transpose(0, 2, 1, 3).reshape(2, 5, 24)
    assert_close(y, expected)


def test_rotary_embedding_errors():
    with pytest.raises(ShapeError, match="needs num_heads"):
        build_op("nn.rotary_embedding", [rand(2, 5, 24), rand(2, 5, 4), rand(2, 5, 4)])
    with pytest.raises(ShapeError, match="last dim 2"):
        build_op("nn.rotary_embedding", [rand(1, 2, 5, 8), rand(9, 4), rand(9, 4),
                                         np.zeros((1, 5), np.int64)], {"rotary_dim": 4})


# ----- gated activations and state-space blocks -----------------------------------------------
def test_swiglu():
    a, b = rand(3, 8), rand(3, 8)
    (y,) = run_op("nn.swiglu", [a, b], {"alpha": 1.5})
    a64 = a.astype(np.float64)
    assert_close(y, a64 / (1 + np.exp(-1.5 * a64)) * b)
    with pytest.raises(ShapeError, match="equal shapes"):
        build_op("nn.swiglu", [rand(3, 8), rand(1, 8)])


@pytest.mark.parametrize("with_past", [False, True])
def test_causal_conv1d_streams_like_one_long_conv(with_past):
    x, w, bias = rand(2, 3, 7), rand(3, 1, 4), rand(3)
    past = rand(2, 3, 3) if with_past else np.zeros((2, 3, 3), np.float32)
    y, state = run_op("nn.causal_conv1d", [x, w, bias, past if with_past else None],
                      {"activation": "silu"})
    full = np.concatenate([past, x], axis=2).astype(np.float64)
    conv = np.stack([[np.convolve(full[b, c], w[c, 0, ::-1], mode="valid") for c in range(3)]
                     for b in range(2)]) + bias[None, :, None]
    assert_close(y, conv / (1 + np.exp(-conv)))
    np.testing.assert_array_equal(state, full[:, :, -3:].astype(np.float32))
    # two chunks carried through the state give the same result as one
    y1, s1 = run_op("nn.causal_conv1d", [x[:, :, :4], w, bias, past])
    y2, s2 = run_op("nn.causal_conv1d", [x[:, :, 4:], w, bias, s1])
    (y_whole, s_whole) = run_op("nn.causal_conv1d", [x, w, bias, past])
    np.testing.assert_allclose(np.concatenate([y1, y2], axis=2), y_whole, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(s2, s_whole)


def reference_linear_attention(q, k, v, heads, decay=None, beta=None):
    """One (batch, head) at a time, one step at a time, decay per key feature."""
    batch, steps, _ = q.shape
    q, k, v = (x.reshape(batch, steps, heads, -1).astype(np.float64) for x in (q, k, v))
    scale = 1 / math.sqrt(q.shape[-1])
    y = np.zeros(v.shape)
    for b in range(batch):
        for h in range(heads):
            s = np.zeros((q.shape[-1], v.shape[-1]))
            for t in range(steps):
                if decay is not None:
                    s = np.exp(decay.reshape(batch, steps, heads, -1)[b, t, h])[:, None] * s
                write = v[b, t, h]
                if beta is not None:
                    write = beta[b, t, h] * (write - s.T @ k[b, t, h])
                s = s + np.outer(k[b, t, h], write)
                y[b, t, h] = scale * q[b, t, h] @ s
    return y.reshape(batch, steps, -1), s


@pytest.mark.parametrize("rule", ["linear", "gated", "delta", "gated_delta"])
def test_linear_attention_rules(rule):
    q, k, v = rand(1, 5, 2 * 4), rand(1, 5, 2 * 4) * 0.5, rand(1, 5, 2 * 3)
    decay = -RNG.random((1, 5, 2 * 4)).astype(np.float32) if "gated" in rule else None
    beta = RNG.random((1, 5, 2)).astype(np.float32) if "delta" in rule else None
    y, state = run_op("nn.linear_attention", [q, k, v, None, decay, beta],
                      {"q_heads": 2, "kv_heads": 2, "update_rule": rule})
    want_y, _ = reference_linear_attention(q, k, v, 2, decay, beta)
    assert_close(y, want_y)
    assert state.shape == (1, 2, 4, 3)


def test_linear_attention_state_carries_across_calls():
    q, k, v = rand(2, 6, 8 * 2), rand(2, 6, 4 * 2) * 0.5, rand(2, 6, 4 * 3)
    decay, beta = -RNG.random((2, 6, 4)).astype(np.float32), RNG.random((2, 6, 4)).astype(
        np.float32)
    attrs = {"q_heads": 8, "kv_heads": 4}
    y, state = run_op("nn.linear_attention", [q, k, v, None, decay, beta], attrs)
    y1, s1 = run_op("nn.linear_attention", [q[:, :4], k[:, :4], v[:, :4], None, decay[:, :4],
                                            beta[:, :4]], attrs)
    y2, s2 = run_op("nn.linear_attention", [q[:, 4:], k[:, 4:], v[:, 4:], s1, decay[:, 4:],
                                            beta[:, 4:]], attrs)
    np.testing.assert_allclose(np.concatenate([y1, y2], axis=1), y, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s2, state, rtol=1e-5, atol=1e-6)


def test_linear_attention_checks_rule_inputs():
    q = rand(1, 2, 8)
    with pytest.raises(ShapeError, match="'gated' needs decay"):
        build_op("nn.linear_attention", [q, q, q], {"q_heads": 2, "kv_heads": 2, "update_rule": "gated"})
    with pytest.raises(ShapeError, match="'linear' forbids beta"):
        build_op("nn.linear_attention", [q, q, q, None, None, rand(1, 2, 2)],
                 {"q_heads": 2, "kv_heads": 2, "update_rule": "linear"})


# ----- through the ONNX frontend, against onnxruntime -----------------------------------------
def onnx_model(op: str, feeds: dict, outputs: list[str], opset: int = 23, **attrs):
    """A one-node model and its feed; the outputs are declared with the first input's type."""
    out_elem = elem_type(next(iter(feeds.values())).dtype)
    return node_model(op, feeds, outputs, attrs, opset, out_elems=[out_elem] * len(outputs))


@pytest.mark.parametrize("case", ["mha", "gqa_causal", "float_mask", "bool_mask", "softcap",
                                  "scores"])
def test_onnx_attention_4d_matches_onnxruntime(case):
    heads = 6 if case == "gqa_causal" else 2
    feeds = {"Q": rand(2, heads, 4, 8), "K": rand(2, 2, 4, 8), "V": rand(2, 2, 4, 6)}
    attrs, outputs = {}, ["Y"]
    if case == "gqa_causal":
        attrs["is_causal"] = 1
    if case == "float_mask":
        feeds["attn_mask"] = rand(2, 1, 4, 4)
    if case == "bool_mask":
        feeds["attn_mask"] = RNG.random((4, 4)) > 0.3
        feeds["attn_mask"][:, 0] = True
    if case == "softcap":
        attrs["softcap"] = 1.5
    if case == "scores":
        feeds["attn_mask"] = rand(4, 4)
        attrs["qk_matmul_output_mode"] = 2
        outputs = ["Y", "", "", "qk"]
    assert_matches_ort(*onnx_model("Attention", feeds, outputs, **attrs))


def test_onnx_attention_3d_with_kv_cache_matches_onnxruntime():
    feeds = {"Q": rand(1, 3, 4 * 8), "K": rand(1, 3, 2 * 8), "V": rand(1, 3, 2 * 8),
             "attn_mask": rand(3, 8), "past_key": rand(1, 2, 5, 8), "past_value": rand(1, 2, 5, 8)}
    assert_matches_ort(*onnx_model("Attention", feeds, ["Y", "present_key", "present_value"],
                                   q_num_heads=4, kv_num_heads=2, is_causal=1))


def test_onnx_attention_fp16_matches_onnxruntime():
    feeds = {n: rand(1, 2, 4, 8, dtype=np.float16) for n in ("Q", "K", "V")}
    assert_matches_ort(*onnx_model("Attention", feeds, ["Y"], is_causal=1), rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize("attrs", [{}, {"interleaved": 1}, {"rotary_embedding_dim": 4},
                                   {"interleaved": 1, "rotary_embedding_dim": 4}])
def test_onnx_rotary_embedding_matches_onnxruntime(attrs):
    half = attrs.get("rotary_embedding_dim", 8) // 2
    angles = RNG.random((16, half))
    feeds = {"X": rand(2, 3, 5, 8), "cos_cache": np.cos(angles).astype(np.float32),
             "sin_cache": np.sin(angles).astype(np.float32),
             "position_ids": RNG.integers(0, 16, (2, 5))}
    assert_matches_ort(*onnx_model("RotaryEmbedding", feeds, ["Y"], **attrs))


def test_onnx_rotary_embedding_packed_matches_onnxruntime():
    angles = RNG.random((16, 4))
    feeds = {"X": rand(2, 5, 3 * 8), "cos_cache": np.cos(angles).astype(np.float32),
             "sin_cache": np.sin(angles).astype(np.float32),
             "position_ids": RNG.integers(0, 16, (2, 5))}
    assert_matches_ort(*onnx_model("RotaryEmbedding", feeds, ["Y"], num_heads=3))


def test_onnx_attention_3d_needs_head_counts():
    feeds = {n: rand(1, 3, 8) for n in ("Q", "K", "V")}
    with pytest.raises(leptonc.LeptoncError, match="q_num_heads and kv_num_heads"):
        leptonc.load_onnx(onnx_model("Attention", feeds, ["Y"])[0])


def test_onnx_attention_3d_symbolic_keeps_head_sizes_static():
    node = helper.make_node("Attention", ["Q", "K", "V"], ["Y"], q_num_heads=4, kv_num_heads=2)
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", "S", width])
              for n, width in (("Q", 32), ("K", 16), ("V", 16))]
    graph = helper.make_graph([node], "g", inputs,
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)])
    g = leptonc.load_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 23)]))
    (attention,) = [n for n in g if n.op == "nn.attention"]
    assert attention.inputs[0].type.shape == ("N", 4, "S", 8)
    assert attention.attrs == {"scale": 1 / math.sqrt(8)}  # defaults are left out
    assert g.outputs[0].type.shape == ("N", "S", 32)
