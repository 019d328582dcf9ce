"""``nn.attention``: scaled dot-product attention kept whole (grouped-query, masks, sliding
windows, softcap, KV cache), so that fusion and targets see it as a single kernel."""

from __future__ import annotations

import math

import numpy as np

from leptonc.errors import ShapeError
from leptonc.ir import dtypes
from leptonc.ir.types import Dim, TensorType
from leptonc.ops.infer_utils import add_dims, broadcast_shapes, input_at, padded
from leptonc.ops.numeric import float_compute_dtype
from leptonc.ops.registry import attr, defop
from leptonc.ops.transformer.common import check_dim, check_grouped_heads

SCORE_OUTPUTS = ("none", "qk", "softcap", "bias", "softmax")


# ----- type inference -----------------------------------------------------------------------------
def _rank4(t: TensorType, what: str) -> tuple[Dim, ...]:
    if t.shape is None:
        return (None,) * 4
    if len(t.shape) != 4:
        raise ShapeError(f"{what} must be [batch, heads, seq, head_size], got {t}")
    return t.shape


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
    past_key, past_value, kv_seqlen = padded(ins, 7)[4:]
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
        check_dim(pk[i], k[i], f"past_key and key differ in {name}")
        check_dim(pv[i], v[i], f"past_value and value differ in {name}")
    return add_dims(pk[2], k[2]), add_dims(pv[2], v[2])


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
    check_dim(q[0], k[0], "q and k differ in batch")
    check_dim(k[0], v[0], "k and v differ in batch")
    check_dim(q[3], k[3], "q and k differ in head size")
    check_dim(k[1], v[1], "k and v differ in heads")
    check_dim(k[2], v[2], "k and v differ in sequence length")
    check_grouped_heads(q[1], k[1])
    total_k, total_v = _check_cache(ins, k, v)
    scores = (q[0], q[1], q[2], total_k)
    mask = input_at(ins, 3)
    if mask is not None:
        _check_mask(mask.type, q_t, scores)
    outs = [TensorType(q_t.dtype, (q[0], q[1], q[2], v[3]))]
    if input_at(ins, 4) is not None:
        outs += [TensorType(k_t.dtype, (k[0], k[1], total_k, k[3])),
                 TensorType(v_t.dtype, (v[0], v[1], total_v, v[3]))]
    if attrs["scores_output"] != "none":
        outs.append(TensorType(q_t.dtype, scores))
    return outs


# ----- kernel: which keys each query sees ---------------------------------------------------------
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


# ----- kernel: masks ------------------------------------------------------------------------------
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


# ----- kernel: scores, softmax, values ------------------------------------------------------------
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
    check_grouped_heads(q_heads, kv_heads)
    rows = (q.astype(ct) * ct.type(scale)).reshape(batch, kv_heads, -1, head_size)
    return np.matmul(rows, k.astype(ct).swapaxes(-1, -2)).reshape(batch, q_heads, q_len, kv_len)


def _grouped_values(probs: np.ndarray, v: np.ndarray, ct: np.dtype) -> np.ndarray:
    """probs [B, Hq, Sq, Skv] @ v [B, Hkv, Skv, Dv] -> [B, Hq, Sq, Dv], grouped like the scores."""
    batch, q_heads, q_len, kv_len = probs.shape
    rows = probs.reshape(batch, v.shape[1], -1, kv_len)
    return np.matmul(rows, v.astype(ct)).reshape(batch, q_heads, q_len, v.shape[3])


def _probabilities(q: np.ndarray, k: np.ndarray, mask: np.ndarray | None, past_len: int,
                   kv_seqlen: np.ndarray | None, attrs: dict, ct: np.dtype
                   ) -> tuple[np.ndarray, np.ndarray | None]:
    """Softmax probabilities [B, Hq, Sq, Skv], and the scores after the step that
    ``scores_output`` names (None for ``none``)."""
    steps = {}
    scores = steps["qk"] = _grouped_scores(q, k, attrs["scale"] or 1.0 / math.sqrt(q.shape[3]), ct)
    if attrs["softcap"] > 0:
        cap = ct.type(attrs["softcap"])
        scores = cap * np.tanh(scores / cap)
    steps["softcap"] = scores
    offsets = _query_offsets(past_len, kv_seqlen, q.shape[2])
    allowed = _allowed_keys(q.shape[2], k.shape[2], offsets, kv_seqlen, attrs)
    bias = _attention_bias(mask, allowed, k.shape[2], ct)
    if bias is not None:
        scores = scores + bias
    steps["bias"] = scores
    probs = steps["softmax"] = _softmax_rows(scores, bias)
    return probs, steps.get(attrs["scores_output"])


def _attention_kernel(xs, attrs):
    q, k, v, mask, past_key, past_value, kv_seqlen = padded(xs, 7)
    if past_key is not None:
        k = np.concatenate([past_key, k], axis=2)
        v = np.concatenate([past_value, v], axis=2)
    ct = float_compute_dtype(q.dtype, attrs["softmax_dtype"].numpy)
    past_len = 0 if past_key is None else past_key.shape[2]
    probs, kept = _probabilities(q, k, mask, past_len, kv_seqlen, attrs, ct)
    outs = [_grouped_values(probs, v, ct).astype(q.dtype)]
    if past_key is not None:
        outs += [k, v]
    if kept is not None:
        outs.append(kept.astype(q.dtype))
    return tuple(outs) if len(outs) > 1 else outs[0]


# ----- cost ---------------------------------------------------------------------------------------
def _attention_macs(ins, outs, attrs) -> int:
    y, q = outs[0], ins[0].type
    total = outs[-1].shape[-1] if attrs["scores_output"] != "none" else None
    if total is None:
        k_len = ins[1].type.shape[2] if ins[1].type.shape else None
        past = ins[4].type.shape[2] if input_at(ins, 4) is not None else 0
        total = add_dims(k_len, past)
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


