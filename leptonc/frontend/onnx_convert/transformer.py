"""Converters for ONNX transformer ops (Attention, RotaryEmbedding, ...)."""

from __future__ import annotations

import math

import numpy as np
import onnx

from leptonc.errors import ShapeError
from leptonc.frontend.onnx import onnx_dtype
from leptonc.frontend.onnx_convert import NodeContext, converter
from leptonc.frontend.onnx_convert.shape.common import as_list
from leptonc.ir.graph import Value
from leptonc.ops.registry import get_op
from leptonc.ops.transformer.common import per_head

# qk_matmul_output_mode -> which intermediate nn.attention's `scores` output holds
_SCORE_MODES = {0: "qk", 1: "softcap", 2: "bias", 3: "softmax"}
_SOFTMAX_PRECISIONS = (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16,
                       onnx.TensorProto.DOUBLE, onnx.TensorProto.BFLOAT16)


def _split_heads(cx: NodeContext, x: Value, heads: int) -> Value:
    """[B, S, H*D] -> [B, H, S, D]."""
    head_size = per_head(x.type.shape[2], heads, "hidden size")
    shape = cx.const(np.array([0, 0, heads, -1 if head_size is None else head_size],
                              dtype=np.int64), name="heads_shape")
    return cx.op("shape.transpose", [cx.op("shape.reshape", [x, shape])], {"perm": (0, 2, 1, 3)})


def _merge_heads(cx: NodeContext, y: Value) -> Value:
    """[B, H, S, D] -> [B, S, H*D]."""
    heads, head_size = y.type.shape[1], y.type.shape[3]
    hidden = heads * head_size if isinstance(heads, int) and isinstance(head_size, int) else -1
    shape = cx.const(np.array([0, 0, hidden], dtype=np.int64), name="merged_shape")
    return cx.op("shape.reshape", [cx.op("shape.transpose", [y], {"perm": (0, 2, 1, 3)}), shape])


def _requested(cx: NodeContext, index: int) -> bool:
    return index < cx.num_outputs and bool(cx.node.output[index])


def _four_d_operands(cx: NodeContext) -> tuple[Value, Value, Value, bool]:
    """Q, K, V in [B, H, S, D] layout, and whether the node used the packed 3-D layout."""
    q, k, v = cx.input(0), cx.input(1), cx.input(2)
    ranks = {q.type.rank, k.type.rank, v.type.rank}
    if ranks == {4}:
        for name, t in (("q_num_heads", q), ("kv_num_heads", k)):
            if cx.has_attr(name) and isinstance(t.type.shape[1], int) and \
                    cx.attr(name) != t.type.shape[1]:
                raise ShapeError(f"{name}={cx.attr(name)} contradicts the 4-D input's "
                                 f"{t.type.shape[1]} heads")
        return q, k, v, False
    if ranks != {3}:
        cx.unsupported(f"Q, K, V must all be 3-D or all 4-D, got ranks "
                       f"{q.type.rank}, {k.type.rank}, {v.type.rank}")
    q_heads, kv_heads = cx.attr("q_num_heads"), cx.attr("kv_num_heads")
    if not q_heads or not kv_heads:
        cx.unsupported("3-D Q/K/V need the q_num_heads and kv_num_heads attributes")
    return (_split_heads(cx, q, q_heads), _split_heads(cx, k, kv_heads),
            _split_heads(cx, v, kv_heads), True)


def _attention_attrs(cx: NodeContext, q: Value) -> dict:
    attrs = {"is_causal": bool(cx.attr("is_causal", 0)),
             "left_window": cx.attr("left_window_size", -1),
             "right_window": cx.attr("right_window_size", -1),
             "softcap": float(cx.attr("softcap", 0.0))}
    head_size = q.type.shape[3] if q.type.shape is not None else None
    if cx.has_attr("scale"):
        attrs["scale"] = float(cx.attr("scale"))
    elif isinstance(head_size, int):
        attrs["scale"] = 1.0 / math.sqrt(head_size)  # else 0: the kernel derives it
    precision = cx.attr("softmax_precision")
    if precision is not None:
        if precision not in _SOFTMAX_PRECISIONS:
            cx.unsupported(f"softmax_precision {precision} is not a float type")
        attrs["softmax_dtype"] = onnx_dtype(precision, f"softmax_precision of '{cx.name}'")
    if _requested(cx, 3):
        mode = cx.attr("qk_matmul_output_mode", 0)
        if mode not in _SCORE_MODES:
            cx.unsupported(f"qk_matmul_output_mode {mode} (expected 0-3)")
        attrs["scores_output"] = _SCORE_MODES[mode]
    return attrs


@converter("Attention")
def attention(cx: NodeContext):
    q, k, v, packed = _four_d_operands(cx)
    past_key = cx.input(4)
    attrs = _attention_attrs(cx, q)
    inputs = [q, k, v, *(cx.input(i) for i in range(3, 7))]
    defaults = get_op("nn.attention").with_defaults({})
    attrs = {name: value for name, value in attrs.items() if value != defaults[name]}
    result = cx.op("nn.attention", inputs, attrs)
    outs = as_list(result)
    y = _merge_heads(cx, outs[0]) if packed else outs[0]
    present = outs[1:3] if past_key is not None else [k, v]  # without a past the cache is k, v
    scores = outs[-1] if "scores_output" in attrs else None
    return [y, *present, scores]


@converter("RotaryEmbedding")
def rotary_embedding(cx: NodeContext):
    attrs = {"interleaved": bool(cx.attr("interleaved", 0)),
             "rotary_dim": cx.attr("rotary_embedding_dim", 0),
             "num_heads": cx.attr("num_heads", 0)}
    return [cx.op("nn.rotary_embedding", cx.inputs[:4], attrs)]


@converter("SwiGLU")
def swiglu(cx: NodeContext):
    return [cx.op("nn.swiglu", cx.inputs[:2], {"alpha": float(cx.attr("alpha", 1.0))})]


@converter("CausalConvWithState")
def causal_conv_with_state(cx: NodeContext):
    activation = cx.attr("activation", "none")
    if activation not in ("none", "silu", "swish"):
        cx.unsupported(f"activation '{activation}' (expected none, silu or swish)")
    attrs = {"activation": "none" if activation == "none" else "silu"}
    return list(cx.op("nn.causal_conv1d", cx.inputs[:4], attrs))


@converter("LinearAttention")
def linear_attention(cx: NodeContext):
    if not cx.has_attr("q_num_heads") or not cx.has_attr("kv_num_heads"):
        cx.unsupported("q_num_heads and kv_num_heads are required")
    attrs = {"q_heads": cx.attr("q_num_heads"), "kv_heads": cx.attr("kv_num_heads"),
             "scale": float(cx.attr("scale", 0.0)),
             "update_rule": cx.attr("update_rule", "gated_delta")}
    # chunk_size only tunes chunk-parallel kernels; the result does not depend on it
    return list(cx.op("nn.linear_attention", cx.inputs[:6], attrs))
