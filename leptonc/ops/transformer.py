"""Transformer building blocks kept whole (``nn.attention``, ``nn.rotary_embedding``), so
that fusion and targets see them as single kernels.

Low-precision inputs (f16, bf16) are computed in f32 and the results cast back to the input
dtype: attention's softmax and its two contractions are where half precision loses most.
"""

from __future__ import annotations

import math

import numpy as np

from leptonc.errors import ShapeError
from leptonc.ir import dtypes
from leptonc.ir.types import Dim, Shape, TensorType, dims_compatible
from leptonc.ops.infer_utils import broadcast_shapes
from leptonc.ops.registry import attr, defop

SCORE_OUTPUTS = ("none", "qk", "softcap", "bias", "softmax")


def compute_dtype(*types: np.dtype) -> np.dtype:
    """f64 when any operand asks for it, else f32 (f16/bf16 are widened)."""
    return np.dtype(np.float64) if any(np.dtype(t) == np.float64 for t in types) else np.dtype(
        np.float32)


def _add_dims(a: Dim, b: Dim) -> Dim:
    return a + b if isinstance(a, int) and isinstance(b, int) else None


def _check_dim(a: Dim, b: Dim, what: str) -> None:
    if not dims_compatible(a, b):
        raise ShapeError(f"{what}: {a} != {b}")


def _shapes_compatible(a: Shape | None, b: Shape | None) -> bool:
    """Could two shapes be equal at run time?"""
    if a is None or b is None:
        return True
    return len(a) == len(b) and all(dims_compatible(x, y) for x, y in zip(a, b, strict=True))


# ----- nn.attention: type inference ------------------------------------------------------------
def _rank4(t: TensorType, what: str) -> tuple[Dim, ...]:
    if t.shape is None:
        return (None,) * 4
    if len(t.shape) != 4:
        raise ShapeError(f"{what} must be [batch, heads, seq, head_size], got {t}")
    return t.shape


def _check_heads(q_heads: Dim, kv_heads: Dim) -> None:
    if isinstance(q_heads, int) and isinstance(kv_heads, int) and (
            kv_heads == 0 or q_heads % kv_heads):
        raise ShapeError(f"{q_heads} query heads are not a multiple of {kv_heads} key/value heads")


def _check_mask(mask: TensorType, q: TensorType, scores: tuple[Dim, ...]) -> None:
    if mask.dtype != dtypes.boolean and mask.dtype != q.dtype:
        raise ShapeError(f"mask must be bool or {q.dtype}, got {mask.dtype}")
    if mask.shape is None:
        return
    if len(mask.shape) > 4:
        raise ShapeError(f"mask of rank {len(mask.shape)} does not broadcast to rank 4")
    width, total = (mask.shape[-1] if mask.shape else 1), scores[-1]
    if isinstance(width, int) and isinstance(total, int) and width > total:
        raise ShapeError(f"mask covers {width} keys, attention has only {total}")
    broadcast_shapes(mask.shape[:-1], scores[:-1])


def _check_cache(ins: list, k: tuple[Dim, ...], v: tuple[Dim, ...]) -> tuple[Dim, Dim]:
    """Validate past_key/past_value/kv_seqlen; return the present key and value lengths."""
    past_key, past_value, kv_seqlen = (ins + [None] * 7)[4:7]
    if (past_key is None) != (past_value is None):
        raise ShapeError("past_key and past_value must be given together")
    if kv_seqlen is not None:
        if past_key is not None:
            raise ShapeError("kv_seqlen describes an external cache; it excludes past_key")
        if not kv_seqlen.type.dtype.is_integer or kv_seqlen.type.rank not in (None, 1):
            raise ShapeError(f"kv_seqlen must be a 1-D integer tensor, got {kv_seqlen.type}")
    if past_key is None:
        return k[2], v[2]
    pk, pv = _rank4(past_key.type, "past_key"), _rank4(past_value.type, "past_value")
    for i, name in ((0, "batch"), (1, "key/value heads"), (3, "head size")):
        _check_dim(pk[i], k[i], f"past_key and key differ in {name}")
        _check_dim(pv[i], v[i], f"past_value and value differ in {name}")
    return _add_dims(pk[2], k[2]), _add_dims(pv[2], v[2])


def _attention_infer(ins, attrs) -> list[TensorType]:
    q_t, k_t, v_t = (v.type for v in ins[:3])
    if not q_t.dtype.is_float or q_t.dtype != k_t.dtype or not v_t.dtype.is_float:
        raise ShapeError(f"q and k must share a float dtype and v be float, got {q_t.dtype}, "
                         f"{k_t.dtype}, {v_t.dtype}")
    if attrs["scores_output"] not in SCORE_OUTPUTS:
        raise ShapeError(f"scores_output must be one of {', '.join(SCORE_OUTPUTS)}")
    if min(attrs["left_window"], attrs["right_window"]) < -1:
        raise ShapeError("window sizes must be -1 (unbounded) or >= 0")
    q, k, v = _rank4(q_t, "q"), _rank4(k_t, "k"), _rank4(v_t, "v")
    _check_dim(q[0], k[0], "q and k differ in batch")
    _check_dim(k[0], v[0], "k and v differ in batch")
    _check_dim(q[3], k[3], "q and k differ in head size")
    _check_dim(k[1], v[1], "k and v differ in heads")
    _check_dim(k[2], v[2], "k and v differ in sequence length")
    _check_heads(q[1], k[1])
    total_k, total_v = _check_cache(list(ins), k, v)
    scores = (q[0], q[1], q[2], total_k)
    mask = ins[3] if len(ins) > 3 else None
    if mask is not None:
        _check_mask(mask.type, q_t, scores)
    outs = [TensorType(q_t.dtype, (q[0], q[1], q[2], v[3]))]
    if len(ins) > 4 and ins[4] is not None:
        outs += [TensorType(k_t.dtype, (k[0], k[1], total_k, k[3])),
                 TensorType(v_t.dtype, (v[0], v[1], total_v, v[3]))]
    if attrs["scores_output"] != "none":
        outs.append(TensorType(q_t.dtype, scores))
    return outs


# ----- nn.attention: kernel --------------------------------------------------------------------
def _query_offsets(past_len: int, kv_seqlen: np.ndarray | None, q_len: int) -> np.ndarray:
    """Absolute key position of query 0, [batch or 1, 1, 1, 1].

    An internal cache puts the queries right after the past keys; an external cache
    (``kv_seqlen``) right before each batch's first padding key; no cache at key 0.
    """
    if kv_seqlen is not None:
        return (kv_seqlen.astype(np.int64) - q_len).reshape(-1, 1, 1, 1)
    return np.full((1, 1, 1, 1), past_len, dtype=np.int64)


def _allowed_keys(q_len: int, kv_len: int, offsets: np.ndarray, kv_seqlen: np.ndarray | None,
                  attrs: dict) -> np.ndarray | None:
    """Boolean [batch or 1, 1, q, kv] of keys each query may see from position rules
    (causal frontier, sliding window, external-cache padding); None when none apply."""
    left, right = attrs["left_window"], attrs["right_window"]
    if not (attrs["is_causal"] or left >= 0 or right >= 0 or kv_seqlen is not None):
        return None
    keys = np.arange(kv_len)
    distance = offsets + np.arange(q_len).reshape(q_len, 1) - keys  # query pos - key pos
    allowed = np.ones(distance.shape, dtype=bool)
    if attrs["is_causal"]:
        allowed &= distance >= 0
    if left >= 0:
        allowed &= distance <= left
    if right >= 0:
        allowed &= distance >= -right
    if kv_seqlen is not None:
        allowed &= keys < kv_seqlen.reshape(-1, 1, 1, 1)
    return allowed


def _padded_mask(mask: np.ndarray, kv_len: int) -> np.ndarray:
    """A mask narrower than the key axis hides the keys it does not cover."""
    missing = kv_len - mask.shape[-1]
    if missing <= 0:
        return mask
    fill = False if mask.dtype == np.bool_ else -np.inf
    return np.pad(mask, [(0, 0)] * (mask.ndim - 1) + [(0, missing)], constant_values=fill)


def _attention_bias(mask: np.ndarray | None, allowed: np.ndarray | None, kv_len: int,
                    ct: np.dtype) -> np.ndarray | None:
    """Additive bias (0 / -inf for hidden keys, plus a float mask), broadcastable to scores."""
    float_mask = None
    if mask is not None:
        mask = _padded_mask(mask, kv_len)
        if mask.dtype == np.bool_:
            allowed = mask if allowed is None else allowed & mask
        else:
            float_mask = mask.astype(ct)
    if allowed is None:
        return float_mask
    bias = np.where(allowed, ct.type(0), ct.type(-np.inf))
    return bias if float_mask is None else bias + float_mask


def _softmax_rows(scores: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """Softmax over keys; a query whose bias hides every key gets an all-zero row."""
    peak = np.max(scores, axis=-1, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0)
    e = np.exp(scores - peak)
    total = np.sum(e, axis=-1, keepdims=True)
    probs = e / np.where(total == 0, 1, total)
    if bias is not None:
        hidden_rows = np.isneginf(np.max(bias, axis=-1, keepdims=True))
        probs = np.where(hidden_rows, probs.dtype.type(0), probs)
    return probs


def _grouped_scores(q: np.ndarray, k: np.ndarray, scale: float, ct: np.dtype) -> np.ndarray:
    """(q*scale) k^T as [B, Hq, Sq, Skv].

    Grouped-query attention without copying k: query heads [g*G, (g+1)*G) share key head g,
    so the group folds into the query rows of one batched matmul.
    """
    batch, q_heads, q_len, head_size = q.shape
    kv_heads, kv_len = k.shape[1], k.shape[2]
    if q_heads % kv_heads:
        raise ShapeError(f"{q_heads} query heads are not a multiple of {kv_heads} key/value heads")
    rows = (q.astype(ct) * ct.type(scale)).reshape(batch, kv_heads, -1, head_size)
    return np.matmul(rows, k.astype(ct).swapaxes(-1, -2)).reshape(batch, q_heads, q_len, kv_len)


def _grouped_values(probs: np.ndarray, v: np.ndarray, ct: np.dtype) -> np.ndarray:
    """probs [B, Hq, Sq, Skv] @ v [B, Hkv, Skv, Dv] -> [B, Hq, Sq, Dv], grouped like the scores."""
    batch, q_heads, q_len, kv_len = probs.shape
    rows = probs.reshape(batch, v.shape[1], -1, kv_len)
    return np.matmul(rows, v.astype(ct)).reshape(batch, q_heads, q_len, v.shape[3])


def _attention_kernel(xs, attrs):
    q, k, v, mask, past_key, past_value, kv_seqlen = (list(xs) + [None] * 7)[:7]
    if past_key is not None:
        k = np.concatenate([past_key, k], axis=2)
        v = np.concatenate([past_value, v], axis=2)
    ct = compute_dtype(q.dtype, attrs["softmax_dtype"].numpy)
    wanted, kept = attrs["scores_output"], None
    scores = _grouped_scores(q, k, attrs["scale"] or 1.0 / math.sqrt(q.shape[3]), ct)
    if wanted == "qk":
        kept = scores
    if attrs["softcap"] > 0:
        cap = ct.type(attrs["softcap"])
        scores = cap * np.tanh(scores / cap)
    if wanted == "softcap":
        kept = scores
    offsets = _query_offsets(0 if past_key is None else past_key.shape[2], kv_seqlen, q.shape[2])
    allowed = _allowed_keys(q.shape[2], k.shape[2], offsets, kv_seqlen, attrs)
    bias = _attention_bias(mask, allowed, k.shape[2], ct)
    if bias is not None:
        scores = scores + bias
    if wanted == "bias":
        kept = scores
    probs = _softmax_rows(scores, bias)
    if wanted == "softmax":
        kept = probs
    outs = [_grouped_values(probs, v, ct).astype(q.dtype)]
    if past_key is not None:
        outs += [k, v]
    if kept is not None:
        outs.append(kept.astype(q.dtype))
    return tuple(outs) if len(outs) > 1 else outs[0]


def _attention_macs(ins, outs, attrs) -> int:
    y, q = outs[0], ins[0].type
    total = outs[-1].shape[-1] if attrs["scores_output"] != "none" else None
    if total is None:
        k_len = ins[1].type.shape[2] if ins[1].type.shape else None
        past = ins[4].type.shape[2] if len(ins) > 4 and ins[4] is not None else 0
        total = _add_dims(k_len, past)
    if not (y.is_static and q.is_static and isinstance(total, int)):
        return 0
    batch, heads, q_len, v_size = y.shape
    return batch * heads * q_len * total * (q.shape[3] + v_size)


@defop("nn.attention", inputs="q, k, v, mask?, past_key?, past_value?, kv_seqlen?",
       outputs="y, present_key?, present_value?, scores?",
       attrs={"scale": attr("float", 0.0), "is_causal": attr("bool", False),
              "left_window": attr("int", -1), "right_window": attr("int", -1),
              "softcap": attr("float", 0.0), "softmax_dtype": attr("dtype", dtypes.f32),
              "scores_output": attr("str", "none")},
       doc="softmax(q k^T * scale [softcap] + mask) v over [B, H, S, D], grouped-query, KV cache")
class Attention:
    """Scaled dot-product attention, ONNX Attention semantics on 4-D operands.

    Operands: ``q`` [B, Hq, Sq, D], ``k`` [B, Hkv, Skv, D], ``v`` [B, Hkv, Skv, Dv] with
    ``Hq % Hkv == 0`` (grouped-query: query head h reads key/value head ``h // (Hq/Hkv)``).
    Result ``y`` [B, Hq, Sq, Dv].  The 3-D packed layout [B, S, H*D] is a reshape/transpose
    around this op, emitted by the frontend.

    Steps: ``s = (q*scale) k^T`` (``scale`` 0 means ``1/sqrt(D)``); ``softcap`` > 0 applies
    ``softcap*tanh(s/softcap)``; then the bias is added; softmax over keys (in ``softmax_dtype``
    or wider: never below f32); ``y = p v``.  A query whose bias hides every key yields a zero
    row (not NaN).

    Bias: ``mask`` broadcasts right-aligned to [B, Hq, Sq, S_total]; bool means "may attend"
    (False -> -inf), a float mask (q's dtype) is added; a mask narrower than S_total hides the
    keys it does not cover.  ``is_causal`` lets query i see key j iff ``j <= i + offset``, and
    ``left_window``/``right_window`` (-1: unbounded) restrict keys to
    ``[i + offset - left, i + offset + right]``, where ``offset`` is the past length with a KV
    cache, ``kv_seqlen[b] - Sq`` with an external cache, else 0.

    KV cache: ``past_key``/``past_value`` are concatenated in front of ``k``/``v`` along the
    sequence axis and returned as ``present_key``/``present_value`` (these two outputs exist
    exactly when the past inputs are given).  ``kv_seqlen`` [B] (external cache) hides keys
    at positions >= kv_seqlen[b].

    ``scores_output`` adds a last output [B, Hq, Sq, S_total] holding the scores after the
    named step: ``qk`` (scaled q k^T), ``softcap``, ``bias`` or ``softmax`` (probabilities).

    Fusion contract: a decomposed BERT-style self-attention on projected, head-split
    operands ``q, k, v`` [B, H, S, Dh] with an additive float mask ``m`` (typically
    [B, 1, 1, S], ``(1 - attention_mask) * -10000``)::

        p = Softmax(MatMul(q, Transpose(k, perm=[0,1,3,2])) * c + m, axis=-1)   # or / d
        y = MatMul(p, v)

    becomes ``nn.attention(q, k, v, m) {scale=c}`` (``c = 1/d`` for a division; a scale
    applied to q or k before the matmul multiplies into ``scale``).  When the key arrives
    already transposed from [B, S, H, Dh] (``perm=[0,2,3,1]``), the pass feeds
    ``Transpose(k_bshd, perm=[0,2,1,3])`` instead.  The surrounding head split/merge
    (Reshape + Transpose) stays outside the op.
    """

    infer = _attention_infer
    kernel = _attention_kernel
    macs = _attention_macs


# ----- nn.rotary_embedding ---------------------------------------------------------------------
def _rope_head_size(x: TensorType, num_heads: int) -> Dim:
    """Head size of x in either supported layout."""
    if x.shape is None:
        return None
    if len(x.shape) == 4:
        return x.shape[3]
    if len(x.shape) != 3:
        raise ShapeError(f"x must be [B, H, S, D] or [B, S, H*D], got {x}")
    if num_heads <= 0:
        raise ShapeError("a 3-D x needs num_heads")
    hidden = x.shape[2]
    if isinstance(hidden, int) and hidden % num_heads:
        raise ShapeError(f"hidden size {hidden} is not a multiple of {num_heads} heads")
    return hidden // num_heads if isinstance(hidden, int) else None


def _rope_infer(ins, attrs) -> list[TensorType]:
    x, cos, sin = (v.type for v in ins[:3])
    positions = ins[3] if len(ins) > 3 else None
    if not x.dtype.is_float or cos.dtype != x.dtype or sin.dtype != x.dtype:
        raise ShapeError(f"x, cos and sin must share a float dtype, got {x.dtype}, {cos.dtype}, "
                         f"{sin.dtype}")
    head_size = _rope_head_size(x, attrs["num_heads"])
    rotary = attrs["rotary_dim"] or head_size
    if isinstance(rotary, int):
        if rotary % 2 or (isinstance(head_size, int) and rotary > head_size):
            raise ShapeError(f"rotary_dim {rotary} must be even and at most head size {head_size}")
        want_rank = 2 if positions is not None else 3
        for name, t in (("cos", cos), ("sin", sin)):
            if t.shape is not None and (len(t.shape) != want_rank or not dims_compatible(
                    t.shape[-1], rotary // 2)):
                raise ShapeError(f"{name} must be rank {want_rank} with last dim {rotary // 2}, "
                                 f"got {t}")
    if positions is not None and not positions.type.dtype.is_integer:
        raise ShapeError(f"position_ids must be integers, got {positions.type.dtype}")
    return [TensorType(x.dtype, x.shape)]


def _rotate(x: np.ndarray, cos: np.ndarray, sin: np.ndarray, rotary: int,
            interleaved: bool) -> np.ndarray:
    """Rotate the first ``rotary`` features of x [B, S, H, D] by (cos, sin) [B, S, 1, rotary/2]."""
    out = x.copy()
    pairs = (slice(0, rotary, 2), slice(1, rotary, 2)) if interleaved else (
        slice(0, rotary // 2), slice(rotary // 2, rotary))
    x1, x2 = x[..., pairs[0]], x[..., pairs[1]]
    out[..., pairs[0]] = cos * x1 - sin * x2
    out[..., pairs[1]] = sin * x1 + cos * x2
    return out


def _rope_kernel(xs, attrs):
    x, cos, sin, positions = (list(xs) + [None])[:4]
    ct = compute_dtype(x.dtype)
    if x.ndim == 4:  # [B, H, S, D] -> [B, S, H, D]
        x4 = x.astype(ct, copy=False).transpose(0, 2, 1, 3)
    else:
        x4 = x.astype(ct, copy=False).reshape(x.shape[0], x.shape[1], attrs["num_heads"], -1)
    rotary = attrs["rotary_dim"] or x4.shape[-1]
    if positions is not None:
        cos, sin = cos[positions], sin[positions]
    if cos.shape[-1] != rotary // 2 or sin.shape[-1] != rotary // 2:
        raise ShapeError(f"cos/sin have {cos.shape[-1]}/{sin.shape[-1]} features, rotary_dim "
                         f"{rotary} needs {rotary // 2}")
    out = _rotate(x4, cos.astype(ct)[:, :, None], sin.astype(ct)[:, :, None], rotary,
                  attrs["interleaved"])
    out = out.transpose(0, 2, 1, 3) if x.ndim == 4 else out.reshape(x.shape)
    return out.astype(x.dtype)


@defop("nn.rotary_embedding", inputs="x, cos, sin, position_ids?",
       attrs={"interleaved": attr("bool", False), "rotary_dim": attr("int", 0),
              "num_heads": attr("int", 0)},
       doc="rotary position embedding (RoPE) of x [B, H, S, D] or [B, S, H*D]")
class RotaryEmbedding:
    """ONNX RotaryEmbedding: rotates feature pairs of each head by position-dependent angles.

    ``x`` is [B, H, S, D], or [B, S, H*D] with ``num_heads``.  The first ``rotary_dim``
    features (0: all) are rotated, the rest pass through.  Pairs are (i, i + rotary_dim/2)
    or, with ``interleaved``, (2i, 2i + 1).  ``cos``/``sin`` are [max_position, rotary_dim/2]
    tables indexed by ``position_ids`` [B, S], or [B, S, rotary_dim/2] without them.
    """

    infer = _rope_infer
    kernel = _rope_kernel


# ----- gated activations and state-space blocks ------------------------------------------------
def _sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function without overflow warnings for large |x|."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _same_float_types(ins, names: str) -> TensorType:
    types = [v.type for v in ins if v is not None]
    first = types[0]
    if not first.dtype.is_float or any(t.dtype != first.dtype for t in types):
        raise ShapeError(f"{names} must share a float dtype, got "
                         f"{', '.join(str(t.dtype) for t in types)}")
    return first


@defop("nn.swiglu", inputs="a, b", attrs={"alpha": attr("float", 1.0)},
       doc="a * sigmoid(alpha * a) * b (gated FFN activation; equal shapes, no broadcast)")
class SwiGLU:
    def infer(ins, attrs):
        a = _same_float_types(ins, "a and b")
        b = ins[1].type
        if not _shapes_compatible(a.shape, b.shape):
            raise ShapeError(f"swiglu needs equal shapes, got {a} and {b}")
        return [TensorType(a.dtype, a.shape if a.shape is not None else b.shape)]

    def kernel(xs, attrs):
        a, b = xs
        if a.shape != b.shape:
            raise ShapeError(f"swiglu needs equal shapes, got {list(a.shape)} and {list(b.shape)}")
        ct = compute_dtype(a.dtype)
        af = a.astype(ct)
        return (af * _sigmoid(ct.type(attrs["alpha"]) * af) * b.astype(ct)).astype(a.dtype)

    def macs(ins, outs, attrs):
        return outs[0].num_elements or 0


def _causal_conv_infer(ins, attrs) -> list[TensorType]:
    x = _same_float_types(ins, "x, w, bias and past_state")
    w = ins[1].type
    if attrs["activation"] not in ("none", "silu"):
        raise ShapeError(f"activation must be 'none' or 'silu', got '{attrs['activation']}'")
    if x.rank not in (None, 3) or w.rank not in (None, 3):
        raise ShapeError(f"x must be [B, C, L] and w [C, 1, K], got {x} and {w}")
    x_shape = x.shape or (None,) * 3
    w_shape = w.shape or (None,) * 3
    _check_dim(x_shape[1], w_shape[0], "x channels and w channels differ")
    _check_dim(w_shape[1], 1, "w must be depthwise [C, 1, K]")
    taps = w_shape[2]
    state = TensorType(x.dtype, (x_shape[0], x_shape[1], taps - 1 if isinstance(taps, int) else None))
    past = ins[3] if len(ins) > 3 else None
    if past is not None and not _shapes_compatible(past.type.shape, state.shape):
        raise ShapeError(f"past_state must be {state}, got {past.type}")
    return [TensorType(x.dtype, x.shape), state]


def _causal_conv_kernel(xs, attrs):
    x, w, bias, past = (list(xs) + [None] * 2)[:4]
    batch, channels, length = x.shape
    taps = w.shape[2]
    ct = compute_dtype(x.dtype)
    if past is None:
        past = np.zeros((batch, channels, taps - 1), dtype=x.dtype)
    padded = np.concatenate([past, x], axis=2)
    wf, pf = w.astype(ct), padded.astype(ct)
    y = np.zeros((batch, channels, length), dtype=ct)
    for tap in range(taps):
        y += wf[None, :, 0, tap, None] * pf[:, :, tap:tap + length]
    if bias is not None:
        y += bias.astype(ct)[None, :, None]
    if attrs["activation"] == "silu":
        y = y * _sigmoid(y)
    return y.astype(x.dtype), padded[:, :, padded.shape[2] - (taps - 1):]


@defop("nn.causal_conv1d", inputs="x, w, bias?, past_state?", outputs="y, present_state",
       attrs={"activation": attr("str", "none")},
       doc="stateful causal depthwise 1-D conv (Mamba/DeltaNet), optional fused SiLU")
class CausalConv1d:
    """ONNX CausalConvWithState: ``x`` [B, C, L], depthwise ``w`` [C, 1, K], ``bias`` [C].

    The input is left-extended by ``past_state`` [B, C, K-1] (zeros when absent) and convolved
    without padding, so position t sees inputs t-K+1..t.  ``present_state`` holds the last K-1
    positions of the extended input, the carry for the next decode step.  ``activation``
    ``silu`` applies y * sigmoid(y).
    """

    infer = _causal_conv_infer
    kernel = _causal_conv_kernel

    def macs(ins, outs, attrs):
        w, y = ins[1].type, outs[0]
        return y.num_elements * w.shape[2] if y.is_static and w.is_static else 0


# ----- nn.linear_attention ---------------------------------------------------------------------
_UPDATE_RULES = {"linear": (False, False), "gated": (True, False), "delta": (False, True),
                 "gated_delta": (True, True)}  # rule -> (uses decay, uses beta)


def _per_head(dim: Dim, heads: int, what: str) -> Dim:
    if not isinstance(dim, int):
        return None
    if dim % heads:
        raise ShapeError(f"{what} width {dim} is not a multiple of {heads} heads")
    return dim // heads


def _check_gate(name: str, gate, needed: bool, rule: str, widths: tuple[Dim, ...]) -> None:
    """decay/beta: present exactly when the update rule uses it, [B, T, one of widths]."""
    if (gate is not None) != needed:
        raise ShapeError(f"update_rule '{rule}' {'needs' if needed else 'forbids'} {name}")
    shape = None if gate is None else gate.type.shape
    if shape is None:
        return
    width = shape[2] if len(shape) == 3 else None
    static = isinstance(width, int) and all(isinstance(w, int) for w in widths)
    if len(shape) != 3 or (static and width not in widths):
        raise ShapeError(f"{name} must be [B, T, {' or '.join(map(str, widths))}], got {gate.type}")


def _mul(a: int, b: Dim) -> Dim:
    return a * b if isinstance(b, int) else None


def _linear_attention_infer(ins, attrs) -> list[TensorType]:
    q, k, v = (x.type for x in ins[:3])
    if attrs["update_rule"] not in _UPDATE_RULES:
        raise ShapeError(f"update_rule must be one of {', '.join(_UPDATE_RULES)}")
    q_heads, kv_heads = attrs["q_heads"], attrs["kv_heads"]
    if q_heads <= 0 or kv_heads <= 0 or q_heads % kv_heads:
        raise ShapeError(f"q_heads {q_heads} must be a positive multiple of kv_heads {kv_heads}")
    decay, beta = (list(ins) + [None] * 6)[4:6]
    _same_float_types([*ins[:3], decay, beta], "q, k, v, decay and beta")
    if any(t.rank not in (None, 3) for t in (q, k, v)):
        raise ShapeError(f"q, k, v must be packed [B, T, H*D], got {q}, {k}, {v}")
    qs, ks, vs = (t.shape or (None,) * 3 for t in (q, k, v))
    key_size = _per_head(qs[2], q_heads, "q")
    _check_dim(_per_head(ks[2], kv_heads, "k"), key_size, "q and k head sizes differ")
    value_size = _per_head(vs[2], kv_heads, "v")
    uses_decay, uses_beta = _UPDATE_RULES[attrs["update_rule"]]
    _check_gate("decay", decay, uses_decay, attrs["update_rule"], (kv_heads, _mul(kv_heads, key_size)))
    _check_gate("beta", beta, uses_beta, attrs["update_rule"], (kv_heads, 1))
    past = ins[3] if len(ins) > 3 else None
    state = TensorType(past.type.dtype if past is not None else q.dtype,
                       (qs[0], kv_heads, key_size, value_size))
    if past is not None and not _shapes_compatible(past.type.shape, state.shape):
        raise ShapeError(f"past_state must be {state}, got {past.type}")
    return [TensorType(q.dtype, (qs[0], qs[1], _mul(q_heads, value_size))), state]


def _linear_attention_kernel(xs, attrs):
    q, k, v, past, decay, beta = (list(xs) + [None] * 3)[:6]
    batch, steps, _ = q.shape
    q_heads, kv_heads = attrs["q_heads"], attrs["kv_heads"]
    key_size, value_size = q.shape[2] // q_heads, v.shape[2] // kv_heads
    ct = compute_dtype(q.dtype, q.dtype if past is None else past.dtype)

    def heads(x: np.ndarray, n: int) -> np.ndarray:  # [B, T, n*D] -> [B, T, n, D]
        return x.astype(ct).reshape(batch, steps, n, -1)

    queries = heads(q, q_heads).reshape(batch, steps, kv_heads, q_heads // kv_heads, key_size)
    keys, values = heads(k, kv_heads), heads(v, kv_heads)
    gates = None if decay is None else np.exp(heads(decay, kv_heads))[..., None]
    rates = None if beta is None else heads(beta, beta.shape[2])
    state = (np.zeros((batch, kv_heads, key_size, value_size), ct) if past is None
             else past.astype(ct))
    out = np.empty(queries.shape[:-1] + (value_size,), ct)
    for t in range(steps):  # the recurrence is sequential in time; all else is vectorised
        k_t, v_t = keys[:, t], values[:, t]
        if gates is not None:
            state = state * gates[:, t]
        if rates is not None:  # delta rule: write only what the state does not yet recall
            recalled = np.matmul(k_t[:, :, None, :], state)[:, :, 0]
            v_t = rates[:, t] * (v_t - recalled)
        state = state + k_t[..., :, None] * v_t[..., None, :]
        out[:, t] = np.matmul(queries[:, t], state)
    scale = attrs["scale"] or 1.0 / math.sqrt(key_size)
    y = (out * ct.type(scale)).reshape(batch, steps, q_heads * value_size)
    return y.astype(q.dtype), state.astype(q.dtype if past is None else past.dtype)


@defop("nn.linear_attention", inputs="q, k, v, past_state?, decay?, beta?",
       outputs="y, present_state",
       attrs={"q_heads": attr("int"), "kv_heads": attr("int"), "scale": attr("float", 0.0),
              "update_rule": attr("str", "gated_delta")},
       doc="recurrent linear attention (linear/gated/delta/gated_delta rules), packed [B, T, H*D]")
class LinearAttention:
    """ONNX LinearAttention on packed ``q`` [B, T, Hq*Dk], ``k`` [B, T, Hkv*Dk],
    ``v`` [B, T, Hkv*Dv]; state [B, Hkv, Dk, Dv] (``past_state``, zeros when absent).

    Per step: gated rules decay the state by ``exp(decay_t)`` (``decay`` [B, T, Hkv] per head
    or [B, T, Hkv*Dk] per key feature); delta rules replace ``v_t`` by
    ``beta_t * (v_t - S^T k_t)`` (``beta`` [B, T, Hkv] or [B, T, 1]); then
    ``S += k_t v_t^T`` and ``y_t = scale * q_t^T S`` (``scale`` 0: 1/sqrt(Dk)).  Query heads
    share their group's key/value state (grouped-query).
    """

    infer = _linear_attention_infer
    kernel = _linear_attention_kernel

    def macs(ins, outs, attrs):
        y, state = outs
        if not (y.is_static and state.is_static):
            return 0
        batch, steps = y.shape[:2]
        kv_heads, key_size, value_size = state.shape[1:]
        # per step: write (and delta recall) on each kv state, one read per query head
        writes = 2 if attrs["update_rule"] in ("delta", "gated_delta") else 1
        return batch * steps * (attrs["q_heads"] + writes * kv_heads) * key_size * value_size
