"""Recurrent sequence blocks that carry a state from one decode step to the next:
``nn.causal_conv1d`` (Mamba/DeltaNet short convolution) and ``nn.linear_attention``."""

from __future__ import annotations

import math

import numpy as np

from leptonc.errors import ShapeError
from leptonc.ir.types import Dim, TensorType
from leptonc.ops.elementwise import sigmoid
from leptonc.ops.infer_utils import input_at, padded, scale_dim
from leptonc.ops.numeric import float_compute_dtype
from leptonc.ops.registry import attr, defop
from leptonc.ops.transformer.common import (
    check_dim,
    per_head,
    same_float_types,
    shapes_compatible,
)


# ----- nn.causal_conv1d ---------------------------------------------------------------------------
def _causal_conv_infer(ins, attrs) -> list[TensorType]:
    x = same_float_types(ins, "x, w, bias and past_state")
    w = ins[1].type
    if attrs["activation"] not in ("none", "silu"):
        raise ShapeError(f"activation must be 'none' or 'silu', got '{attrs['activation']}'")
    if x.rank not in (None, 3) or w.rank not in (None, 3):
        raise ShapeError(f"x must be [B, C, L] and w [C, 1, K], got {x} and {w}")
    x_shape = x.shape or (None,) * 3
    w_shape = w.shape or (None,) * 3
    check_dim(x_shape[1], w_shape[0], "x channels and w channels differ")
    check_dim(w_shape[1], 1, "w must be depthwise [C, 1, K]")
    taps = w_shape[2]
    state = TensorType(x.dtype, (x_shape[0], x_shape[1], taps - 1 if isinstance(taps, int) else None))
    past = input_at(ins, 3)
    if past is not None and not shapes_compatible(past.type.shape, state.shape):
        raise ShapeError(f"past_state must be {state}, got {past.type}")
    return [TensorType(x.dtype, x.shape), state]


def _causal_conv_kernel(xs, attrs):
    x, w, bias, past = padded(xs, 4)
    batch, channels, length = x.shape
    taps = w.shape[2]
    ct = float_compute_dtype(x.dtype)
    if past is None:
        past = np.zeros((batch, channels, taps - 1), dtype=x.dtype)
    extended = np.concatenate([past, x], axis=2)
    wf, ef = w.astype(ct), extended.astype(ct)
    y = np.zeros((batch, channels, length), dtype=ct)
    for tap in range(taps):
        y += wf[None, :, 0, tap, None] * ef[:, :, tap:tap + length]
    if bias is not None:
        y += bias.astype(ct)[None, :, None]
    if attrs["activation"] == "silu":
        y = y * sigmoid(y)
    return y.astype(x.dtype), extended[:, :, extended.shape[2] - (taps - 1):]


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


# ----- nn.linear_attention ------------------------------------------------------------------------
_UPDATE_RULES = {"linear": (False, False), "gated": (True, False), "delta": (False, True),
                 "gated_delta": (True, True)}  # rule -> (uses decay, uses beta)


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


def _linear_attention_infer(ins, attrs) -> list[TensorType]:
    q, k, v = (x.type for x in ins[:3])
    if attrs["update_rule"] not in _UPDATE_RULES:
        raise ShapeError(f"update_rule must be one of {', '.join(_UPDATE_RULES)}")
    q_heads, kv_heads = attrs["q_heads"], attrs["kv_heads"]
    if q_heads <= 0 or kv_heads <= 0 or q_heads % kv_heads:
        raise ShapeError(f"q_heads {q_heads} must be a positive multiple of kv_heads {kv_heads}")
    decay, beta = padded(ins, 6)[4:]
    same_float_types([*ins[:3], decay, beta], "q, k, v, decay and beta")
    if any(t.rank not in (None, 3) for t in (q, k, v)):
        raise ShapeError(f"q, k, v must be packed [B, T, H*D], got {q}, {k}, {v}")
    qs, ks, vs = (t.shape or (None,) * 3 for t in (q, k, v))
    key_size = per_head(qs[2], q_heads, "q width")
    check_dim(per_head(ks[2], kv_heads, "k width"), key_size, "q and k head sizes differ")
    value_size = per_head(vs[2], kv_heads, "v width")
    uses_decay, uses_beta = _UPDATE_RULES[attrs["update_rule"]]
    _check_gate("decay", decay, uses_decay, attrs["update_rule"], (kv_heads, scale_dim(key_size, kv_heads)))
    _check_gate("beta", beta, uses_beta, attrs["update_rule"], (kv_heads, 1))
    past = input_at(ins, 3)
    state = TensorType(past.type.dtype if past is not None else q.dtype,
                       (qs[0], kv_heads, key_size, value_size))
    if past is not None and not shapes_compatible(past.type.shape, state.shape):
        raise ShapeError(f"past_state must be {state}, got {past.type}")
    return [TensorType(q.dtype, (qs[0], qs[1], scale_dim(value_size, q_heads))), state]


def _linear_attention_kernel(xs, attrs):
    q, k, v, past, decay, beta = padded(xs, 6)
    batch, steps, _ = q.shape
    q_heads, kv_heads = attrs["q_heads"], attrs["kv_heads"]
    key_size, value_size = q.shape[2] // q_heads, v.shape[2] // kv_heads
    ct = float_compute_dtype(q.dtype, q.dtype if past is None else past.dtype)

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
