"""Relax lowerings of the integer ops of ``lower-quantized`` and of quantize/dequantize.

Exactness is the contract: every op computes what its interpreter kernel computes, bit for
bit (docs/quantization.md, ``leptonc/quant/arith.py``).  Each op is written as ONE TE
computation (``BlockBuilder.call_te``), so it becomes one kernel whose integer arithmetic is
spelled out here rather than left to Relax operators of unstated rounding:

* ``quant.requantize`` (and the rescaling inside ``quant.add``/``quant.mul``) runs in i64:
  ``((x - zp_in) * multiplier + 2**(t - 1)) >> t`` with ``t = 31 - shift``, an arithmetic
  shift, then the clamp.  The per-channel multipliers, shifts and rounding terms are folded
  into i64 constants at lowering time.
* ``quant.conv`` / ``quant.matmul`` accumulate in i32.  With a constant weight and zero
  weight zero point, the products are the RAW operands' (``x * w``, the form an 8-bit dot
  product instruction computes) and the zero point enters once per output channel:
  ``sum (x - zx) * w = sum x * w - zx * sum w`` (padding taps read ``zx`` so they still
  contribute 0).  That constant correction is folded with the bias.  The raw form is used
  only when its own partial sums provably fit in i32; otherwise the products are centred
  first, the form ``lower-quantized`` checked.  Either way no sum can wrap.
* ``quant.quantize`` divides in the scale's type and rounds half to even (``nearbyint``)
  like the interpreter; NaN gives 0, infinities saturate.  ``quant.lut`` is a gather.

A u8 x i8 matmul with a constant weight (K a multiple of 4, N of 16), and a one-group conv
of that kind run as im2col (channels innermost) then that matmul, are emitted over a weight
packed at compile time in the ``dot16x4`` layout and tagged for ``schedules/int8.py``, which
turns them into AVX-512 VNNI kernels (measured on this Zen 4 host: 340 GMAC/s for 128 x 384
x 1536 against 36 for the i32 contraction rule); other targets schedule the same reduction
generically.  Every contraction also carries ``leptonc.int8_contraction`` (the operand types,
e.g. ``"u8*i8"``) when both operands are 8-bit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from tvm import relax, te, tirx, topi

from leptonc.ir import dtypes
from leptonc.ir.graph import Node, Value
from leptonc.ops.nn.window import spatial_attrs
from leptonc.quant import arith
from leptonc.targets.tvm.op_table import EmitContext, lowering, relax_dtype
from leptonc.targets.tvm.schedules.int8 import DOT16X4, LAYOUT_ATTR, SHAPE_ATTR

DOT_LANES, DOT_GROUP = 16, 4  # the dot16x4 layout: 16 output columns x 4 consecutive k

INT8_CONTRACTION_ATTR = "leptonc.int8_contraction"
_I32_LIMIT = 1 << 31
_I64 = "int64"
_I32 = "int32"


# ----- small helpers ----------------------------------------------------------------------------
def _short(dtype: dtypes.DType) -> str:
    return str(dtype)


def _const_array(v: Value) -> np.ndarray:
    return np.asarray(v.data).reshape(v.type.shape)


def _is_constant(v: Value | None) -> bool:
    return v is not None and v.data is not None


def _call(ctx: EmitContext, node: Node, compute: Callable[..., te.Tensor], *args: Any,
          attrs: dict | None = None) -> Any:
    """One kernel for the node: ``compute`` over the TE placeholders of ``args``."""
    name = node.op.replace(".", "_")
    extra = {"primfunc_attrs": attrs} if attrs else {}
    return ctx.builder.call_te(compute, *args, primfunc_name_hint=name, **extra)


def _i64(value: int) -> tirx.PrimExpr:
    return tirx.const(int(value), _I64)


def _clamp(x: tirx.PrimExpr, lo: int, hi: int, dtype: str = _I64) -> tirx.PrimExpr:
    return tirx.max(tirx.min(x, tirx.const(hi, dtype)), tirx.const(lo, dtype))


def _static_dims(v: Value, dims: Sequence[int]) -> list[int] | None:
    shape = v.type.shape
    if shape is None or any(not isinstance(shape[d], int) for d in dims):
        return None
    return [shape[d] for d in dims]


# ----- requantization --------------------------------------------------------------------------
class _Rescale:
    """A (multiplier, shift) pair, 0-d or per channel, as the i64 operands of the rounding.

    ``terms(channel)`` gives (multiplier, rounding, t) for an output element, either as
    immediates (per tensor) or read from the i64 constant vectors passed to the kernel.
    """

    def __init__(self, multiplier: np.ndarray, shift: np.ndarray) -> None:
        m = np.asarray(multiplier, np.int64).reshape(-1)
        t = arith.MULTIPLIER_BITS - np.asarray(shift, np.int64).reshape(-1)
        self.per_channel = m.size > 1
        self.arrays = (m, np.left_shift(np.int64(1), t - 1), t)

    def constants(self) -> list[Any]:
        return [relax.const(a, _I64) for a in self.arrays] if self.per_channel else []

    def terms(self, tensors: Sequence[te.Tensor], channel: tirx.PrimExpr | None
              ) -> tuple[tirx.PrimExpr, ...]:
        if not self.per_channel:
            return tuple(_i64(a[0]) for a in self.arrays)
        return tuple(t[channel] for t in tensors)


def _rounded(centred: tirx.PrimExpr, m: tirx.PrimExpr, rounding: tirx.PrimExpr,
             t: tirx.PrimExpr) -> tirx.PrimExpr:
    """arith.requantize without the clamp: one rounding, ties toward +infinity, in i64."""
    return tirx.shift_right(centred * m + rounding, t)


def _scalar_rescale(multiplier: int, shift: int) -> tuple[tirx.PrimExpr, ...]:
    return _Rescale(np.array([multiplier]), np.array([shift])).terms((), None)


def _check_requantize(node: Node) -> str | None:
    if not (_is_constant(node.inputs[1]) and _is_constant(node.inputs[2])):
        return "multiplier/shift computed at run time"
    return None


@lowering("quant.requantize", check=_check_requantize)
def _requantize(ctx: EmitContext, node: Node, args: Sequence[Any]) -> list[Any]:
    rescale = _Rescale(_const_array(node.inputs[1]), _const_array(node.inputs[2]))
    rank = len(node.inputs[0].type.shape)
    axis = node.attr("axis") % rank if rank else 0
    in_zp, out_zp = node.attr("input_zero_point"), node.attr("output_zero_point")
    qmin, qmax = node.attr("qmin"), node.attr("qmax")
    out = relax_dtype(node.attr("dtype"))

    def compute(x: te.Tensor, *params: te.Tensor) -> te.Tensor:
        def element(*i):
            m, rounding, t = rescale.terms(params, i[axis] if rescale.per_channel else None)
            y = _rounded(x[i].astype(_I64) - _i64(in_zp), m, rounding, t)
            return _clamp(y + _i64(out_zp), qmin, qmax).astype(out)
        return te.compute(x.shape, element, name="requantize")

    return [_call(ctx, node, compute, args[0], *rescale.constants())]


# ----- add / mul -------------------------------------------------------------------------------
def _is_one(dim: Any) -> bool:
    return isinstance(dim, int | tirx.IntImm) and int(dim) == 1


def _broadcast_shape(a: te.Tensor, b: te.Tensor) -> list[Any]:
    """numpy broadcasting of two TE shapes (a symbolic dim broadcasts only against 1)."""
    rank = max(len(a.shape), len(b.shape))
    pa = [1] * (rank - len(a.shape)) + list(a.shape)
    pb = [1] * (rank - len(b.shape)) + list(b.shape)
    return [db if _is_one(da) else da for da, db in zip(pa, pb, strict=True)]


def _broadcast_read(x: te.Tensor, index: Sequence[tirx.PrimExpr]) -> tirx.PrimExpr:
    """``x`` at the numpy-broadcast position of an output ``index``."""
    own = index[len(index) - len(x.shape):]
    return x[tuple(0 if _is_one(d) else i for d, i in zip(x.shape, own, strict=True))]


def _binary(ctx: EmitContext, node: Node, args: Sequence[Any],
            combine: Callable[[tirx.PrimExpr, tirx.PrimExpr], tirx.PrimExpr]) -> list[Any]:
    """An elementwise kernel over the broadcast operands, centred by their zero points in i64,
    then clamped to [qmin, qmax] with the output zero point."""
    za, zb = node.attr("a_zero_point"), node.attr("b_zero_point")
    out_zp, qmin, qmax = node.attr("output_zero_point"), node.attr("qmin"), node.attr("qmax")
    out = relax_dtype(node.attr("dtype"))

    def compute(a: te.Tensor, b: te.Tensor) -> te.Tensor:
        def element(*i):
            ca = _broadcast_read(a, i).astype(_I64) - _i64(za)
            cb = _broadcast_read(b, i).astype(_I64) - _i64(zb)
            return _clamp(combine(ca, cb) + _i64(out_zp), qmin, qmax).astype(out)
        return te.compute(_broadcast_shape(a, b), element, name=node.op.split(".")[1])

    return [_call(ctx, node, compute, args[0], args[1])]


@lowering("quant.add")
def _add(ctx: EmitContext, node: Node, args: Sequence[Any]) -> list[Any]:
    left = node.attr("left_shift")
    a_terms = _scalar_rescale(node.attr("a_multiplier"), node.attr("a_shift"))
    b_terms = _scalar_rescale(node.attr("b_multiplier"), node.attr("b_shift"))
    out_terms = _scalar_rescale(node.attr("output_multiplier"), node.attr("output_shift"))

    def combine(ca: tirx.PrimExpr, cb: tirx.PrimExpr) -> tirx.PrimExpr:
        # The operands' own requantize clamps to the i32 range, which |(q - z) << left_shift|
        # < 2**28 times a multiplier below 1 never reaches: the clamp is kept for exactness
        # of the contract, it costs two vector min/max.
        a = _clamp(_rounded(ca << _i64(left), *a_terms), -_I32_LIMIT, _I32_LIMIT - 1)
        b = _clamp(_rounded(cb << _i64(left), *b_terms), -_I32_LIMIT, _I32_LIMIT - 1)
        return _rounded(a + b, *out_terms)

    return _binary(ctx, node, args, combine)


@lowering("quant.mul")
def _mul(ctx: EmitContext, node: Node, args: Sequence[Any]) -> list[Any]:
    terms = _scalar_rescale(node.attr("multiplier"), node.attr("shift"))
    return _binary(ctx, node, args, lambda ca, cb: _rounded(ca * cb, *terms))


# ----- lookup table ----------------------------------------------------------------------------
@lowering("quant.lut")
def _lut(ctx: EmitContext, node: Node, args: Sequence[Any]) -> list[Any]:
    lowest = node.inputs[0].type.dtype.min

    def compute(x: te.Tensor, table: te.Tensor) -> te.Tensor:
        return te.compute(x.shape, lambda *i: table[x[i].astype(_I32) - lowest], name="lut")

    return [_call(ctx, node, compute, args[0], args[1])]


# ----- sums: average pooling and means ---------------------------------------------------------
@lowering("quant.reduce_sum")
def _reduce_sum(ctx: EmitContext, node: Node, args: Sequence[Any]) -> list[Any]:
    rank = len(node.inputs[0].type.shape)
    axes = [a % rank for a in node.attr("axes")] or list(range(rank))
    keepdims = bool(node.attr("keepdims"))

    def compute(x: te.Tensor) -> te.Tensor:
        # i32 sums wrap like the interpreter's i64 sum stored as i32 (modular arithmetic)
        return topi.sum(topi.cast(x, _I32), axis=axes, keepdims=keepdims)

    return [_call(ctx, node, compute, args[0])]


def _window_geometry(node: Node, kernel: Sequence[int]) -> tuple[tuple, tuple, tuple]:
    attrs = {k: node.attr(k) for k in ("strides", "dilations", "pads")}
    return spatial_attrs(attrs, len(kernel))


def _check_window_op(node: Node) -> str | None:
    if node.attr("auto_pad") != "NOTSET":
        return f"auto_pad={node.attr('auto_pad')} (resolve the pads first)"
    rank = len(node.inputs[0].type.shape)
    if rank < 3 or _static_dims(node.inputs[0], range(2, rank)) is None:
        return "spatial dims must be known"
    if _static_dims(node.outputs[0], range(2, rank)) is None:
        return "result spatial dims must be known"
    return None


def _end_pads(in_dims: Sequence[int], out_dims: Sequence[int], kernel: Sequence[int],
              strides: Sequence[int], dilations: Sequence[int], begin: Sequence[int]) -> list[int]:
    """How far past the input the last window reaches (ceil_mode windows may overhang the pads)."""
    return [max(0, (o - 1) * s + d * (k - 1) + 1 - size - b) for o, s, d, k, size, b in zip(
        out_dims, strides, dilations, kernel, in_dims, begin, strict=True)]


@lowering("quant.sum_pool", check=_check_window_op)
def _sum_pool(ctx: EmitContext, node: Node, args: Sequence[Any]) -> list[Any]:
    kernel = list(node.attr("kernel_shape"))
    strides, dilations, pads = _window_geometry(node, kernel)
    sp = len(kernel)
    in_dims = _static_dims(node.inputs[0], range(2, 2 + sp))
    out_dims = _static_dims(node.outputs[0], range(2, 2 + sp))
    begin = list(pads[:sp])
    end = _end_pads(in_dims, out_dims, kernel, strides, dilations, begin)
    pad_value = node.attr("pad_value")

    def compute(x: te.Tensor) -> te.Tensor:
        xp = topi.nn.pad(x, [0, 0, *begin], [0, 0, *end], pad_value=tirx.const(pad_value, x.dtype))
        taps = [te.reduce_axis((0, k), name=f"k{i}") for i, k in enumerate(kernel)]

        def window(n, c, *o):
            pos = [o[i] * strides[i] + taps[i] * dilations[i] for i in range(sp)]
            return te.sum(xp[(n, c, *pos)].astype(_I32), axis=taps)
        return te.compute([x.shape[0], x.shape[1], *out_dims], window, name="sum_pool")

    return [_call(ctx, node, compute, args[0])]


# ----- contractions ----------------------------------------------------------------------------
def _max_abs(dtype: dtypes.DType, zero_point: int = 0) -> int:
    """The largest |q - zero_point| a value of ``dtype`` can have."""
    return max(zero_point - dtype.min, dtype.max - zero_point)


def _raw_products_fit(weight_abs_sums: np.ndarray, x_type: dtypes.DType, correction: np.ndarray
                      ) -> bool:
    """Whether ``sum x * w`` over raw (uncentred) inputs and then ``+ correction`` stays in i32
    for every input: partial sums are bounded by ``sum |w| * max |x|``."""
    worst = weight_abs_sums.astype(np.float64) * _max_abs(x_type)
    return bool(np.all(worst + np.abs(correction.astype(np.float64)) < _I32_LIMIT))


def _operand_tag(a: Value, b: Value) -> dict:
    """The int8 schedule tag when both operands are 8-bit integers."""
    ta, tb = a.type.dtype, b.type.dtype
    if ta.bits == 8 and tb.bits == 8:
        return {INT8_CONTRACTION_ATTR: f"{_short(ta)}*{_short(tb)}"}
    return {}


def _bias_vector(node: Node, channels: int) -> np.ndarray:
    bias = node.inputs[2] if len(node.inputs) > 2 else None
    if bias is None:
        return np.zeros(channels, np.int64)
    return _const_array(bias).astype(np.int64).reshape(-1)


def _check_conv(node: Node) -> str | None:
    if node.attr("auto_pad") != "NOTSET":
        return f"auto_pad={node.attr('auto_pad')} (resolve the pads first)"
    x, w = node.inputs[0], node.inputs[1]
    rank = len(x.type.shape)
    if rank < 3 or _static_dims(x, range(1, rank)) is None:
        return "channel and spatial dims must be known"
    if not _is_constant(w):
        return "weights computed at run time"
    bias = node.inputs[2] if len(node.inputs) > 2 else None
    if bias is not None and not _is_constant(bias):
        return "bias computed at run time"
    return None


def _conv_plan(node: Node) -> tuple[bool, np.ndarray]:
    """(raw products?, the i32 per-channel term added to the sums)."""
    w = _const_array(node.inputs[1]).astype(np.int64)
    per_channel = w.reshape(w.shape[0], -1)
    bias = _bias_vector(node, w.shape[0])
    zx = node.attr("x_zero_point")
    correction = bias - zx * per_channel.sum(axis=1)
    if _raw_products_fit(np.abs(per_channel).sum(axis=1), node.inputs[0].type.dtype, correction):
        return True, correction
    return False, bias


def _conv_geometry(node: Node) -> tuple[list[int], tuple, tuple, tuple, list[int]]:
    """(kernel, strides, dilations, pads, result spatial dims) of a quant.conv."""
    x_val, w_val = node.inputs[0], node.inputs[1]
    kernel = list(w_val.type.shape[2:])
    strides, dilations, pads = _window_geometry(node, kernel)
    sp = len(kernel)
    in_dims = _static_dims(x_val, range(2, 2 + sp))
    out_dims = [(size + pads[i] + pads[sp + i] - dilations[i] * (k - 1) - 1) // strides[i] + 1
                for i, (size, k) in enumerate(zip(in_dims, kernel, strict=True))]
    return kernel, strides, dilations, pads, out_dims


def _conv_packable(node: Node, raw: bool) -> bool:
    """Whether the conv runs as im2col + the ``dot16x4`` matmul: raw u8 x i8 products, one
    group, a static input, C * taps a multiple of 4 and the output channels of 16."""
    x, w = node.inputs[0].type, node.inputs[1].type
    depth = int(np.prod(w.shape[1:]))
    return (raw and x.dtype == dtypes.u8 and w.dtype == dtypes.i8 and x.is_static
            and node.attr("group") == 1 and depth % DOT_GROUP == 0 and w.shape[0] % DOT_LANES == 0)


def _im2col_conv(ctx: EmitContext, node: Node, x: Any, term: np.ndarray) -> Any:
    """The conv as ``cols[n * positions, C * taps] @ w[C * taps, OC]`` on the dot16x4 kernel,
    the columns read from the input padded with its zero point, then back to NC..."""
    kernel, strides, dilations, pads, out_dims = _conv_geometry(node)
    sp, zx = len(kernel), node.attr("x_zero_point")
    batch, channels = node.inputs[0].type.shape[:2]
    w = _const_array(node.inputs[1])
    positions, taps = int(np.prod(out_dims)), int(np.prod(kernel))

    def im2col(data: te.Tensor) -> te.Tensor:
        # [n, *o, *k, c] row-major is [rows, taps * C]: channels innermost, so each row is
        # written in runs of C bytes with no index division per element
        xp = topi.nn.pad(data, [0, 0, *pads[:sp]], [0, 0, *pads[sp:]], pad_value=tirx.const(zx, data.dtype))

        def column(n, *rest):
            o, t, c = rest[:sp], rest[sp:2 * sp], rest[2 * sp]
            return xp[(n, c, *(o[i] * strides[i] + t[i] * dilations[i] for i in range(sp)))]
        return te.compute((batch, *out_dims, *kernel, channels), column, name="im2col")

    cols = ctx.builder.emit(ctx.builder.call_te(im2col, x, primfunc_name_hint="quant_im2col"))
    cols = ctx.builder.emit(relax.op.reshape(cols, [batch * positions, channels * taps]))
    # the weight's columns in the same (taps, channel) order
    w = np.moveaxis(w, 1, -1).reshape(w.shape[0], -1)
    acc = _dot_matmul(ctx, node, cols, batch * positions, w.T, term)
    nhwc = relax.op.reshape(acc, [batch, *out_dims, w.shape[0]])
    return relax.op.permute_dims(nhwc, [0, sp + 1, *range(1, sp + 1)])


@lowering("quant.conv", check=_check_conv)
def _conv(ctx: EmitContext, node: Node, args: Sequence[Any]) -> list[Any]:
    x_val, w_val = node.inputs[0], node.inputs[1]
    kernel, strides, dilations, pads, out_dims = _conv_geometry(node)
    sp = len(kernel)
    group, zx = node.attr("group"), node.attr("x_zero_point")
    raw, term = _conv_plan(node)
    if _conv_packable(node, raw):
        return [_im2col_conv(ctx, node, args[0], term)]
    out_channels, group_channels = w_val.type.shape[0], w_val.type.shape[1]
    per_group = out_channels // group

    def compute(x: te.Tensor, w: te.Tensor, *extra: te.Tensor) -> te.Tensor:
        # Padding reads the zero point: a padding tap then contributes (zx - zx) * w = 0.
        xp = topi.nn.pad(x, [0, 0, *pads[:sp]], [0, 0, *pads[sp:]], pad_value=tirx.const(zx, x.dtype))
        rc = te.reduce_axis((0, group_channels), name="rc")
        taps = [te.reduce_axis((0, k), name=f"k{i}") for i, k in enumerate(kernel)]

        def accumulate(n, oc, *o):
            pos = [o[i] * strides[i] + taps[i] * dilations[i] for i in range(sp)]
            xv = xp[(n, oc // per_group * group_channels + rc, *pos)].astype(_I32)
            if not raw:
                xv = xv - tirx.const(zx, _I32)
            return te.sum(xv * w[(oc, rc, *taps)].astype(_I32), axis=[rc, *taps])
        acc = te.compute([x.shape[0], out_channels, *out_dims], accumulate, name="conv_acc")
        if not extra:
            return acc
        return te.compute(acc.shape, lambda n, oc, *o: acc[(n, oc, *o)] + extra[0][oc], name="conv")

    extra = [relax.const(term.astype(np.int32), _I32)] if np.any(term) else []
    return [_call(ctx, node, compute, args[0], args[1], *extra, attrs=_operand_tag(x_val, w_val))]


def _check_matmul(node: Node) -> str | None:
    a, b = node.inputs[0].type.shape, node.inputs[1].type.shape
    if len(a) < 2 or len(b) < 2:
        return "a 1-D operand (reshape it to 2-D)"
    bias = node.inputs[2] if len(node.inputs) > 2 else None
    if bias is not None and not _is_constant(bias):
        return "bias computed at run time"
    return None


def _matmul_plan(node: Node) -> tuple[bool, np.ndarray | None]:
    """(raw products?, the per-column term added to the sums, or None for none)."""
    b = node.inputs[1]
    columns = b.type.shape[-1]
    bias = _bias_vector(node, columns) if isinstance(columns, int) else None
    if not (_is_constant(b) and len(b.type.shape) == 2 and node.attr("b_zero_point") == 0):
        return False, bias
    w = _const_array(b).astype(np.int64)
    correction = bias - node.attr("a_zero_point") * w.sum(axis=0)
    if _raw_products_fit(np.abs(w).sum(axis=0), node.inputs[0].type.dtype, correction):
        return True, correction
    return False, bias


def _packable(node: Node, raw: bool) -> bool:
    """Whether the matmul fits the ``dot16x4`` layout of ``schedules/int8.py``: raw u8 x i8
    products with a constant 2-D weight, K a multiple of 4, N of 16, static rows."""
    a, b = node.inputs[0].type, node.inputs[1].type
    return (raw and a.dtype == dtypes.u8 and b.dtype == dtypes.i8 and a.is_static
            and b.shape[0] % DOT_GROUP == 0 and b.shape[1] % DOT_LANES == 0)


def pack_dot16x4(w: np.ndarray) -> np.ndarray:
    """``w[K, N]`` as ``[N / 16, K / 4, 64]``: per 16 columns and 4 consecutive k, the 16 x 4
    block column-major in k (``vpdpbusd``'s operand: lane j sums k = 4 ko .. 4 ko + 3)."""
    k, n = w.shape
    blocks = w.reshape(k // DOT_GROUP, DOT_GROUP, n // DOT_LANES, DOT_LANES)
    return np.ascontiguousarray(blocks.transpose(2, 0, 3, 1)).reshape(n // DOT_LANES, k // DOT_GROUP, -1)


def _dot_matmul(ctx: EmitContext, node: Node, a: Any, rows: int, w: np.ndarray, term: np.ndarray) -> Any:
    """``a[rows, K] (u8) @ w[K, N] (i8) + term[N]`` in i32 over the weight packed for 8-bit
    dot products (``schedules/int8.py``): the bound [rows, N] accumulator."""
    depth, columns = w.shape

    def compute(x: te.Tensor, bp: te.Tensor, corr: te.Tensor) -> te.Tensor:
        ko = te.reduce_axis((0, depth // DOT_GROUP), name="ko")
        ki = te.reduce_axis((0, DOT_GROUP), name="ki")
        acc = te.compute((rows, columns), lambda i, j: te.sum(
            x[i, ko * DOT_GROUP + ki].astype(_I32)
            * bp[j // DOT_LANES, ko, j % DOT_LANES * DOT_GROUP + ki].astype(_I32), axis=[ko, ki]),
            name="dot_acc")
        return te.compute((rows, columns), lambda i, j: acc[i, j] + corr[j], name="dot")

    attrs = {**_operand_tag(node.inputs[0], node.inputs[1]), LAYOUT_ATTR: DOT16X4,
             SHAPE_ATTR: [rows, depth, columns]}
    packed = relax.const(pack_dot16x4(w), "int8")
    return ctx.builder.emit(_call(ctx, node, compute, a, packed, relax.const(term.astype(np.int32), _I32),
                                  attrs=attrs))


def _packed_matmul(ctx: EmitContext, node: Node, a: Any, term: np.ndarray) -> Any:
    """The u8 x i8 matmul on ``a`` flattened to rows, over the dot16x4 kernel."""
    depth = node.inputs[1].type.shape[0]
    rows = node.inputs[0].type.num_elements // depth
    flat = ctx.builder.emit(relax.op.reshape(a, [rows, depth]))
    result = _dot_matmul(ctx, node, flat, rows, _const_array(node.inputs[1]), term)
    return relax.op.reshape(result, list(node.outputs[0].type.shape))


@lowering("quant.matmul", check=_check_matmul)
def _matmul(ctx: EmitContext, node: Node, args: Sequence[Any]) -> list[Any]:
    za, zb = node.attr("a_zero_point"), node.attr("b_zero_point")
    raw, term = _matmul_plan(node)
    if _packable(node, raw):
        return [_packed_matmul(ctx, node, args[0], term)]

    def compute(a: te.Tensor, b: te.Tensor, *extra: te.Tensor) -> te.Tensor:
        k = te.reduce_axis((0, a.shape[-1]), name="k")
        batch = _broadcast_shape(te.placeholder(a.shape[:-2]), te.placeholder(b.shape[:-2]))
        shape = [*batch, a.shape[-2], b.shape[-1]]

        def accumulate(*i):
            av = _broadcast_read(a, (*i[:-1], k)).astype(_I32)
            bv = _broadcast_read(b, (*i[:-2], k, i[-1])).astype(_I32)
            if not raw:
                av, bv = av - tirx.const(za, _I32), bv - tirx.const(zb, _I32)
            return te.sum(av * bv, axis=k)
        acc = te.compute(shape, accumulate, name="matmul_acc")
        if not extra:
            return acc
        return te.compute(shape, lambda *i: acc[i] + extra[0][i[-1]], name="matmul")

    extra = [relax.const(term.astype(np.int32), _I32)] if term is not None and np.any(term) else []
    return [_call(ctx, node, compute, args[0], args[1], *extra,
                  attrs=_operand_tag(node.inputs[0], node.inputs[1]))]


# ----- quantize / dequantize -------------------------------------------------------------------
def _check_qdq(node: Node) -> str | None:
    if node.attr("block_size"):
        return "blocked quantization parameters"
    return None


def _param_reader(node: Node) -> Callable[[te.Tensor, Sequence[tirx.PrimExpr]], tirx.PrimExpr]:
    """Reads a scale / zero point at an element: 0-d or one entry broadcast, else along axis."""
    rank = len(node.inputs[0].type.shape)
    axis = node.attr("axis") % rank if rank else 0

    def read(p: te.Tensor, i: Sequence[tirx.PrimExpr]) -> tirx.PrimExpr:
        if len(p.shape) == 0:
            return p[()]
        return p[0] if isinstance(p.shape[0], tirx.IntImm) and int(p.shape[0]) == 1 else p[i[axis]]
    return read


def _division_dtype(node: Node) -> str:
    """The interpreter divides in ``precision`` when given, else in the scale's type (f64 for
    an integer scale)."""
    precision = node.attr("precision")
    dtype = precision if precision is not None else node.inputs[1].type.dtype
    return relax_dtype(dtype) if dtype.is_float else "float64"


@lowering("quant.quantize", check=_check_qdq)
def _quantize(ctx: EmitContext, node: Node, args: Sequence[Any]) -> list[Any]:
    read = _param_reader(node)
    work = _division_dtype(node)
    # rint(x / s) + zp: exact in f32 for |rint| < 2**24, and anything larger saturates either
    # way; narrower work types widen first so the addition of a 16-bit zero point is exact.
    total = "float64" if work == "float64" else "float32"
    out = node.attr("dtype")

    def compute(x: te.Tensor, scale: te.Tensor, *zp: te.Tensor) -> te.Tensor:
        def element(*i):
            q = tirx.nearbyint(x[i].astype(work) / read(scale, i).astype(work)).astype(total)
            if zp:
                q = q + read(zp[0], i).astype(total)
            q = tirx.if_then_else(tirx.isnan(q), tirx.const(0.0, total), q)
            return _clamp(q, out.min, out.max, total).astype(relax_dtype(out))
        return te.compute(x.shape, element, name="quantize")

    return [_call(ctx, node, compute, *(a for a in args if a is not None))]


@lowering("quant.dequantize", check=_check_qdq)
def _dequantize(ctx: EmitContext, node: Node, args: Sequence[Any]) -> list[Any]:
    read = _param_reader(node)
    work = "float64" if node.inputs[1].type.dtype == dtypes.f64 else "float32"
    # q - zp exactly: in i32 for inputs up to 16 bits, in i64 for wider ones
    centred = _I64 if node.inputs[0].type.dtype.bits > 16 else _I32
    out = relax_dtype(node.attr("dtype"))

    def compute(x: te.Tensor, scale: te.Tensor, *zp: te.Tensor) -> te.Tensor:
        def element(*i):
            q = x[i].astype(centred)
            if zp:
                q = q - read(zp[0], i).astype(centred)
            return (q.astype(work) * read(scale, i).astype(work)).astype(out)
        return te.compute(x.shape, element, name="dequantize")

    return [_call(ctx, node, compute, *(a for a in args if a is not None))]

