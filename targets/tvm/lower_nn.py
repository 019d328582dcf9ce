"""Relax lowerings of the network ops: convolution, pooling, normalisation, matmul, softmax
and attention.

Attention is emitted as its steps (scaled q k^T, bias, softmax, p v) so that TVM schedules
each as an ordinary kernel; with a mask, the softmax is the interpreter's masked form: a row
whose keys are all hidden gives zeros rather than NaN.

f32 softmax, log-softmax and LayerNorm compute in f64 and round to f32 once, as the
interpreter's kernels do, so the compiled float islands of an int8 model produce the
interpreter's bits whatever order the schedule sums in (``_once_rounded``).
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable, Sequence
from typing import Any

from tvm import relax, te, tirx

from leptonc.ir import dtypes
from leptonc.ir.graph import Node
from leptonc.targets.tvm.op_table import EmitContext, lowering, relax_dtype


def _rank(node: Node) -> int:
    shape = node.inputs[0].type.shape
    return -1 if shape is None else len(shape)


def _channel_vector(param: Any, rank: int) -> Any:
    """A per-channel [C] vector shaped [1, C, 1, ...] to broadcast over NC... data."""
    return relax.op.reshape(param, [1, -1] + [1] * (rank - 2))


def _is_float_node(node: Node) -> bool:
    return node.outputs[0].type.dtype.is_float


# ----- convolution ----------------------------------------------------------------------------
def _check_conv(node: Node) -> str | None:
    if _rank(node) not in (3, 4):
        return "only 1-D and 2-D convolutions"
    if node.attr("auto_pad") != "NOTSET":
        return f"auto_pad={node.attr('auto_pad')} (dynamic spatial dims)"
    return None if _is_float_node(node) else "integer operands (use quant.* ops)"


def _spatial(node: Node, name: str, default: int) -> list[int]:
    value = list(node.attr(name))
    return value or [default] * (2 * (_rank(node) - 2) if name == "pads" else _rank(node) - 2)


@lowering("nn.conv", check=_check_conv)
def _conv(ctx: EmitContext, node: Node, args: Sequence[Any]) -> list[Any]:
    x, w, bias = args[0], args[1], args[2] if len(args) > 2 else None
    conv = relax.op.nn.conv2d if _rank(node) == 4 else relax.op.nn.conv1d
    # ONNX pads are [begin..., end...], the order Relax's 2-D (top, left, bottom, right) and
    # 1-D (left, right) paddings use too.
    y = conv(x, w, strides=_spatial(node, "strides", 1), padding=_spatial(node, "pads", 0),
             dilation=_spatial(node, "dilations", 1), groups=node.attr("group"))
    if bias is not None:
        y = relax.op.add(y, _channel_vector(bias, _rank(node)))
    return [y]


# ----- pooling ------------------------------------------------------------------------------------
def _check_pool(node: Node) -> str | None:
    if _rank(node) != 4:
        return "only 2-D pooling"
    if node.attr("auto_pad") != "NOTSET":
        return f"auto_pad={node.attr('auto_pad')} (dynamic spatial dims)"
    if node.op == "nn.max_pool":
        # A maximum is exact in any dtype (padding reads the dtype's lowest value).
        return "with_indices=true" if node.attr("with_indices") else None
    return None if _is_float_node(node) else "integer operands (an average rounds)"


@lowering("nn.max_pool", "nn.avg_pool", check=_check_pool)
def _pool(ctx: EmitContext, node: Node, args: Sequence[Any]) -> list[Any]:
    pool = relax.op.nn.max_pool2d if node.op == "nn.max_pool" else relax.op.nn.avg_pool2d
    extra = {} if node.op == "nn.max_pool" else {"count_include_pad": node.attr("count_include_pad")}
    return [pool(args[0], pool_size=list(node.attr("kernel_shape")),
                 strides=_spatial(node, "strides", 1), padding=_spatial(node, "pads", 0),
                 dilation=_spatial(node, "dilations", 1), ceil_mode=node.attr("ceil_mode"), **extra)]


def _check_global_pool(node: Node) -> str | None:
    if _rank(node) < 3:
        return "rank < 3"
    if node.op == "nn.global_avg_pool" and not _is_float_node(node):
        return "integer operands (an average rounds)"
    return None


@lowering("nn.global_avg_pool", "nn.global_max_pool", check=_check_global_pool)
def _global_pool(ctx: EmitContext, node: Node, args: Sequence[Any]) -> list[Any]:
    reduce = relax.op.mean if node.op == "nn.global_avg_pool" else relax.op.max
    return [reduce(args[0], axis=list(range(2, _rank(node))), keepdims=True)]


def _once_rounded(compute: str, io: str) -> str:
    """The dtype an f32 softmax or LayerNorm computes in: f64, rounded to f32 once at the end.

    The interpreter does the same (leptonc.ops.reduce.once_rounded_dtype): summed in f64, the
    schedule's summation order and numpy's pairwise one agree far below an f32 ulp, so the
    compiled float islands of an int8 model give the interpreter's bits, and quantizing their
    outputs flips nothing.  f16/bf16 keep their f32 computation.
    """
    return "float64" if io == "float32" and compute == "float32" else compute


# ----- normalisation ------------------------------------------------------------------------------
def _check_layer_norm(node: Node) -> str | None:
    if node.attr("with_stats"):
        return "with_stats=true"
    if _rank(node) < 0:
        return "unknown rank"
    return None if _is_float_node(node) else "integer operands"


def _stash(node: Node) -> tuple[str, str]:
    """(the dtype the values arrive in, the dtype the statistics are computed in): the wider
    of stash_type and the values' type, as the interpreter; f32 computes in f64
    (_once_rounded)."""
    values = node.outputs[0].type.dtype
    stash = node.attr("stash_type")
    io = relax_dtype(values)
    return io, _once_rounded(relax_dtype(stash if stash.bits >= values.bits else values), io)


@lowering("nn.layer_norm", check=_check_layer_norm)
def _layer_norm(ctx: EmitContext, node: Node, args: Sequence[Any]) -> list[Any]:
    rank, axis = _rank(node), node.attr("axis")
    axes = list(range(axis % rank, rank))
    io, stash = _stash(node)
    x, scale = args[0], args[1]
    bias = args[2] if len(args) > 2 and args[2] is not None else None
    if stash == "float64":
        # TVM's layer_norm takes f32/f16 only: f64 statistics are spelled out here
        compute = _layer_norm_in_f64(axes[0], node.attr("epsilon"), io)
        operands = [x, scale] if bias is None else [x, scale, bias]
        return [ctx.builder.call_te(compute, *operands, primfunc_name_hint="layer_norm")]
    if stash != io:
        x, scale = relax.op.astype(x, stash), ctx.builder.emit(relax.op.astype(scale, stash))
        bias = None if bias is None else relax.op.astype(bias, stash)
    beta = bias if bias is not None else relax.op.zeros_like(scale)
    y = relax.op.nn.layer_norm(x, scale, beta, axes=axes, epsilon=node.attr("epsilon"),
                               center=bias is not None)
    return [relax.op.astype(y, io) if stash != io else y]


def _is_unit(dim: Any) -> bool:
    return isinstance(dim, int | tirx.IntImm) and int(dim) == 1


def _layer_norm_in_f64(first_axis: int, epsilon: float, io: str) -> Callable[..., te.Tensor]:
    """LayerNorm over the axes from ``first_axis`` on, computed in f64 and rounded to ``io``
    once, in the interpreter's steps: mean = sum / n, var = sum((x - mean)^2) / n,
    y = (x - mean) * (1 / sqrt(var + eps)) * scale + bias.

    The statistics are indexed by the leading (row) axes only, no kept unit axes, so the
    row-reduction schedule sees one shared row nest and computes them once per row.
    """
    f64 = "float64"

    def compute(x: te.Tensor, scale: te.Tensor, bias: te.Tensor | None = None) -> te.Tensor:
        row_shape, norm_shape = list(x.shape[:first_axis]), list(x.shape[first_axis:])
        count = tirx.Cast(f64, functools.reduce(operator.mul, norm_shape))

        def row_sum(term: Callable[..., tirx.PrimExpr], name: str) -> te.Tensor:
            def body(*row: tirx.Var) -> tirx.PrimExpr:
                ks = [te.reduce_axis((0, d)) for d in norm_shape]
                return te.sum(term(*row, *ks), axis=ks)
            return te.compute(row_shape, body, name=name)

        def wide(*i: tirx.Var) -> tirx.PrimExpr:
            return x(*i).astype(f64)

        def param(p: te.Tensor, i: Sequence[tirx.Var]) -> tirx.PrimExpr:
            # scale and bias broadcast against x's trailing axes (right-aligned), unit dims repeat
            index = [0 if _is_unit(d) else v for d, v in zip(p.shape, i[len(i) - len(p.shape):],
                                                             strict=True)]
            return p(*index).astype(f64)

        total = row_sum(wide, "layer_norm_sum")

        def centered(*i: tirx.Var) -> tirx.PrimExpr:
            return wide(*i) - total(*i[:first_axis]) / count

        squares = row_sum(lambda *i: centered(*i) * centered(*i), "layer_norm_sum_squares")

        def normalised(*i: tirx.Var) -> tirx.PrimExpr:
            inv_std = tirx.const(1.0, f64) / tirx.sqrt(squares(*i[:first_axis]) / count
                                                       + tirx.const(epsilon, f64))
            y = centered(*i) * inv_std * param(scale, i)
            return (y if bias is None else y + param(bias, i)).astype(io)

        return te.compute(x.shape, normalised, name="layer_norm")

    return compute


def _check_batch_norm(node: Node) -> str | None:
    if _rank(node) < 2 or node.inputs[1].type.shape is None or len(node.inputs[1].type.shape) != 1:
        return "parameters that are not one per channel"
    return None if _is_float_node(node) else "integer operands"


@lowering("nn.batch_norm", check=_check_batch_norm)
def _batch_norm(ctx: EmitContext, node: Node, args: Sequence[Any]) -> list[Any]:
    x, scale, bias, mean, var = args[:5]
    rank, dtype = _rank(node), relax_dtype(node.outputs[0].type.dtype)
    inv_std = relax.op.rsqrt(relax.op.add(var, relax.const(node.attr("epsilon"), dtype)))
    # Bound first: reshape's -1 needs its operand's shape, known only once emitted.
    gain = ctx.builder.emit(relax.op.multiply(scale, inv_std))
    shift = ctx.builder.emit(relax.op.subtract(bias, relax.op.multiply(mean, gain)))
    return [relax.op.add(relax.op.multiply(x, _channel_vector(gain, rank)), _channel_vector(shift, rank))]


# ----- matmul, softmax ----------------------------------------------------------------------------
@lowering("linalg.matmul", check=lambda n: None if _is_float_node(n) else "integer operands (use "
          "linalg.matmul_integer)")
def _matmul(ctx: EmitContext, node: Node, args: Sequence[Any]) -> list[Any]:
    return [relax.op.matmul(args[0], args[1])]


def _check_softmax(node: Node) -> str | None:
    if not _is_float_node(node):
        return "integers"
    return "unknown rank" if _rank(node) < 0 else None


@lowering("reduce.softmax", "reduce.log_softmax", check=_check_softmax)
def _softmax(ctx: EmitContext, node: Node, args: Sequence[Any]) -> list[Any]:
    io = relax_dtype(node.outputs[0].type.dtype)
    if _once_rounded(io, io) == io:
        op = relax.op.nn.softmax if node.op == "reduce.softmax" else relax.op.nn.log_softmax
        return [op(args[0], axis=node.attr("axis"))]
    # one kernel that widens as it reads (a Relax cast before the softmax stays a kernel of its own)
    compute = _softmax_in_f64(node.attr("axis") % _rank(node), node.op == "reduce.log_softmax", io)
    return [ctx.builder.call_te(compute, args[0], primfunc_name_hint=node.op.split(".")[1])]


def _softmax_in_f64(axis: int, log: bool, io: str) -> Callable[[te.Tensor], te.Tensor]:
    """Softmax (or log-softmax) along ``axis`` in f64, rounded to ``io`` once, in the
    interpreter's steps: s = x - max(x); exp(s) / sum(exp(s)), or s - log(sum(exp(s)))."""
    f64 = "float64"

    def compute(x: te.Tensor) -> te.Tensor:
        extent = x.shape[axis]
        row_shape = [d for i, d in enumerate(x.shape) if i != axis]

        def row_of(i: Sequence[tirx.Var]) -> list[tirx.Var]:
            return [*i[:axis], *i[axis + 1:]]

        def over_row(reducer: Callable, term: Callable[..., tirx.PrimExpr], name: str) -> te.Tensor:
            def body(*row: tirx.Var) -> tirx.PrimExpr:
                k = te.reduce_axis((0, extent))
                return reducer(term(*row[:axis], k, *row[axis:]), axis=k)
            return te.compute(row_shape, body, name=name)

        peak = over_row(te.max, x, "softmax_max")  # a maximum is exact in f32

        def shifted(*i: tirx.Var) -> tirx.PrimExpr:
            return x(*i).astype(f64) - peak(*row_of(i)).astype(f64)

        total = over_row(te.sum, lambda *i: tirx.exp(shifted(*i)), "softmax_sum")

        def result(*i: tirx.Var) -> tirx.PrimExpr:
            if log:
                return (shifted(*i) - tirx.log(total(*row_of(i)))).astype(io)
            return (tirx.exp(shifted(*i)) / total(*row_of(i))).astype(io)

        return te.compute(x.shape, result, name="log_softmax" if log else "softmax")

    return compute


# ----- attention ----------------------------------------------------------------------------------
_PLAIN_ATTENTION = {"is_causal": False, "left_window": -1, "right_window": -1, "softcap": 0.0,
                    "scores_output": "none"}


def _check_attention(node: Node) -> str | None:
    if any(v is not None for v in node.inputs[4:]):
        return "KV cache inputs (past_key/past_value/kv_seqlen)"
    variants = [f"{k}={node.attr(k)!r}" for k, plain in _PLAIN_ATTENTION.items() if node.attr(k) != plain]
    if variants:
        return ", ".join(variants)
    q, k = node.inputs[0].type.shape, node.inputs[1].type.shape
    if q is None or k is None or q[1] != k[1]:
        return "grouped-query heads (q and k head counts differ or are unknown)"
    mask = node.inputs[3] if len(node.inputs) > 3 else None
    if mask is not None and (mask.type.shape is None or not mask.type.shape
                             or mask.type.shape[-1] != k[2]):
        return "a mask narrower than the keys"
    return None if _is_float_node(node) else "integer operands"


def _masked_softmax(scores: Any, dtype: str) -> Any:
    """Softmax over the last axis where a row of -inf scores gives zeros, as the interpreter."""
    peak = relax.op.max(scores, axis=-1, keepdims=True)
    finite = relax.op.logical_not(relax.op.logical_or(relax.op.isinf(peak), relax.op.isnan(peak)))
    peak = relax.op.where(finite, peak, relax.const(0.0, dtype))
    e = relax.op.exp(relax.op.subtract(scores, peak))
    total = relax.op.sum(e, axis=-1, keepdims=True)
    safe = relax.op.where(relax.op.equal(total, relax.const(0.0, dtype)), relax.const(1.0, dtype), total)
    return relax.op.divide(e, safe)


@lowering("nn.attention", check=_check_attention)
def _attention(ctx: EmitContext, node: Node, args: Sequence[Any]) -> list[Any]:
    io = relax_dtype(node.outputs[0].type.dtype)
    ct = "float64" if io == "float64" or node.attr("softmax_dtype") == dtypes.f64 else "float32"
    q, k, v = (relax.op.astype(a, ct) if io != ct else a for a in args[:3])
    mask = args[3] if len(args) > 3 else None
    scale = node.attr("scale") or 1.0 / math.sqrt(node.inputs[0].type.shape[3])
    scores = relax.op.matmul(relax.op.multiply(q, relax.const(scale, ct)),
                             relax.op.permute_dims(k, [0, 1, 3, 2]))
    if mask is None:
        probs = relax.op.nn.softmax(scores, axis=-1)
    else:
        if node.inputs[3].type.dtype == dtypes.boolean:
            bias = relax.op.where(mask, relax.const(0.0, ct), relax.const(-math.inf, ct))
        else:
            bias = relax.op.astype(mask, ct) if io != ct else mask
        probs = _masked_softmax(relax.op.add(scores, bias), ct)
    y = relax.op.matmul(probs, v)
    return [relax.op.astype(y, io) if io != ct else y]
