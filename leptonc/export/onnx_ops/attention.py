"""Emitter for ``nn.attention``: decomposed into MatMul/Softmax/... so that any runtime runs
it (ONNX's Attention needs opset 23, which few runtimes implement yet).

The steps follow the reference kernel: ``s = (q*scale) k^T``, optional softcap, plus the bias
(bool mask and causal frontier as 0/-inf, a float mask added), softmax over keys, rows whose
bias hides every key zeroed, ``y = p v``; computed in f32 (f64 for f64 operands).  Sliding
windows and the external cache (``kv_seqlen``) are not decomposed.
"""

from __future__ import annotations

import math

import numpy as np

from leptonc.export.emit import EmitContext, emitter
from leptonc.ir import dtypes
from leptonc.ir.types import Dim


def _static(dim: Dim) -> int | None:
    return dim if isinstance(dim, int) else None


def _cast(cx: EmitContext, name: str, src: dtypes.DType, dst: np.dtype) -> str:
    if src.numpy == dst:
        return name
    return cx.emit1("Cast", [name], to=cx.onnx_dtype(dtypes.from_numpy(dst)))


def _shared_heads(cx: EmitContext, x: str, q_heads: int, kv_heads: int, head_size: int) -> str:
    """Grouped-query attention: repeat each key/value head for its group of query heads."""
    if q_heads == kv_heads:
        return x
    group = q_heads // kv_heads
    wide = cx.emit1("Unsqueeze", [x, cx.ints([2], "group_axis")])
    wide = cx.emit1("Expand", [wide, cx.ints([1, 1, group, 1, 1], "group")])
    return cx.emit1("Reshape", [wide, cx.ints([0, q_heads, -1, head_size], "heads")])


def _allowed(cx: EmitContext, q_len: Dim, kv_len: Dim, past_len: int) -> str:
    """The causal frontier as a constant bool [Sq, Skv]: query i sees keys j <= i + past."""
    if _static(q_len) is None or _static(kv_len) is None:
        cx.unsupported("causal attention over dynamic sequence lengths")
    rows = np.arange(q_len).reshape(-1, 1) + past_len
    return cx.const(rows >= np.arange(kv_len), hint="causal")


def _bias(cx: EmitContext, ct: np.dtype, q_len: Dim, kv_len: Dim, past_len: int) -> str | None:
    """The additive bias (0/-inf for hidden keys, plus a float mask), or None."""
    mask, mask_value = cx.input(3), cx.value(3)
    if mask_value is not None and mask_value.type.shape:
        width = mask_value.type.shape[-1]
        if _static(width) is not None and _static(kv_len) is not None and width != kv_len:
            cx.unsupported("a mask narrower than the key axis")
    allowed = mask if mask and mask_value.type.dtype == dtypes.boolean else None
    float_mask = _cast(cx, mask, mask_value.type.dtype, ct) if mask and not allowed else None
    if cx.attr("is_causal"):
        causal = _allowed(cx, q_len, kv_len, past_len)
        allowed = causal if allowed is None else cx.emit1("And", [allowed, causal])
    if allowed is None:
        return float_mask
    bias = cx.emit1("Where", [allowed, cx.const(np.asarray(0, ct), hint="zero"),
                              cx.const(np.asarray(-np.inf, ct), hint="neg_inf")])
    return bias if float_mask is None else cx.emit1("Add", [bias, float_mask])


def _zero_hidden_rows(cx: EmitContext, probs: str, bias: str, ct: np.dtype) -> str:
    """Rows whose bias hides every key are 0 (ONNX's Softmax would give NaN)."""
    if cx.opset >= 18:
        peak = cx.emit1("ReduceMax", [bias, cx.ints([-1], "axes")], keepdims=1)
    else:
        peak = cx.emit1("ReduceMax", [bias], axes=[-1], keepdims=1)
    hidden = cx.emit1("IsInf", [peak], detect_positive=0)
    return cx.emit1("Where", [hidden, cx.const(np.asarray(0, ct), hint="zero"), probs])


@emitter("nn.attention")
def attention(cx: EmitContext) -> None:
    if cx.attr("left_window") >= 0 or cx.attr("right_window") >= 0 or cx.input(6):
        cx.unsupported("sliding windows and kv_seqlen are not decomposed")
    q_t, k_t = cx.value(0).type, cx.value(1).type
    if q_t.shape is None or k_t.shape is None:
        cx.unsupported("q and k need a known rank")
    ct = np.dtype(np.float64) if np.float64 in (q_t.dtype.numpy, cx.attr(
        "softmax_dtype").numpy) else np.dtype(np.float32)
    q, k, v = (_cast(cx, cx.input(i), cx.value(i).type.dtype, ct) for i in range(3))
    outputs, past_len = cx.outputs, 0
    if cx.input(4):  # KV cache: the past goes in front along the sequence axis
        past_len = _static(cx.value(4).type.shape[2])
        if past_len is None and cx.attr("is_causal"):
            cx.unsupported("causal attention with a dynamic past length")
        k = cx.emit("Concat", [cx.input(4), cx.input(1)], [outputs[1]], axis=2)[0]
        v = cx.emit("Concat", [cx.input(5), cx.input(2)], [outputs[2]], axis=2)[0]
        k, v = (_cast(cx, x, q_t.dtype, ct) for x in (k, v))
    q_heads, kv_heads, head_size = q_t.shape[1], k_t.shape[1], _static(q_t.shape[3])
    if q_heads != kv_heads:
        if None in (_static(q_heads), _static(kv_heads), _static(k_t.shape[3])):
            cx.unsupported("grouped-query attention needs static head counts and sizes")
        k = _shared_heads(cx, k, q_heads, kv_heads, k_t.shape[3])
        v = _shared_heads(cx, v, q_heads, kv_heads, cx.value(2).type.shape[3])
    scale = cx.attr("scale")
    if not scale:
        if head_size is None:
            cx.unsupported("scale 0 (1/sqrt(head size)) needs a static head size")
        scale = 1.0 / math.sqrt(head_size)
    steps = {}
    scaled_q = cx.emit1("Mul", [q, cx.const(np.asarray(scale, ct), hint="scale")])
    k_t_name = cx.emit1("Transpose", [k], perm=[0, 1, 3, 2])
    scores = steps["qk"] = cx.emit1("MatMul", [scaled_q, k_t_name])
    if cx.attr("softcap") > 0:
        cap = cx.const(np.asarray(cx.attr("softcap"), ct), hint="softcap")
        scores = cx.emit1("Mul", [cx.emit1("Tanh", [cx.emit1("Div", [scores, cap])]), cap])
    steps["softcap"] = scores
    kv_len = None if past_len is None else (
        _static(k_t.shape[2]) + past_len if _static(k_t.shape[2]) is not None else None)
    bias = _bias(cx, ct, q_t.shape[2], kv_len, past_len or 0)
    if bias is not None:
        scores = cx.emit1("Add", [scores, bias])
    steps["bias"] = scores
    probs = cx.emit1("Softmax", [scores], axis=-1)
    if bias is not None:
        probs = _zero_hidden_rows(cx, probs, bias, ct)
    steps["softmax"] = probs
    _write(cx, "MatMul", [probs, v], outputs[0], ct, q_t.dtype)
    if cx.attr("scores_output") != "none":
        _write(cx, "Identity", [steps[cx.attr("scores_output")]], outputs[-1], ct, q_t.dtype)


def _write(cx: EmitContext, op: str, inputs: list[str], target: str, ct: np.dtype,
           dtype: dtypes.DType) -> None:
    """``op`` into the node's output ``target``, cast back from the compute type if needed."""
    if dtype.numpy == ct:
        cx.emit(op, inputs, [target])
    else:
        cx.emit("Cast", [cx.emit1(op, inputs)], [target], to=cx.onnx_dtype(dtype))
