"""lower-quantized: the QDQ patterns of a quantized float graph become integer ops.

A quantized conv (spec: docs/quantization.md), with its bias and fused ReLU,

    %x_dq = quant.dequantize(%x_q, %sx, %zx)
    %w = quant.dequantize(%w_int, %sw) {axis=0}                 %acc = quant.conv(%x_q, %w_int, %b_int)
    %b = quant.dequantize(%b_int, %sb) {axis=0}        ->              {x_zero_point=zx}
    %c = nn.conv(%x_dq, %w, %b)                                 %y_q = quant.requantize(%acc, %m, %s)
    %r = ew.relu(%c)                                                   {axis=1, qmin=max(qmin, zy), ...}
    %y_q = quant.quantize(%r, %sy, %zy)

becomes one exact i32 accumulation and one requantize with per-channel multiplier and shift
(``arith.quantize_multipliers`` of ``sx * sw[c] / sy``).  A conv/matmul whose result is not
quantized (``quantize`` leaves the result of a unit that only float ops read unquantized) ends
in ``quant.dequantize(%acc, sx * sw[c])`` instead, the float value the QDQ graph computes; a
relu/clip after it stays a float op.  Likewise:

- ``linalg.matmul`` (+ a column-bias ``ew.add``, + relu/clip) -> ``quant.matmul`` + requantize;
  activation x activation products keep both zero points;
- ``ew.add`` / ``ew.mul`` -> ``quant.add`` / ``quant.mul`` (rescaling parameters as attributes);
- pass-through ops (reshape, transpose, slice, pad, max pooling, ...) run on the integers;
  when the output's scale/zero point differ from the input's a requantize follows;
  ``shape.pad``'s constant becomes its quantized value (0.0 -> the zero point);
- ``shape.concat`` requantizes the inputs whose parameters differ from the output's;
- average pools and ``reduce.mean`` -> integer sums + requantize (the count folded into the
  multiplier, ``input_zero_point = count * zero point``);
- unary non-linearities on <= 8-bit activations -> ``quant.lut`` with a table built by the
  float graph's own kernels: quantize(f(dequantize(code))) for every code.

Whatever does not match stays in QDQ form (the declared float fallback) with its reason: the
stats count the integer nodes per pattern (``float-output``: the convs/matmuls ending in a
dequantize) and the float islands, and the islands' reasons go to the graph's metadata under
``lower-quantized.float-islands`` (a JSON list) for the CLI.
An accumulating op is lowered only when its worst case over the real constant weights fits
i32: ``sum_k |w| * max|x - zp| + |bias| < 2**31``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from leptonc.errors import LeptoncError
from leptonc.ir import dtypes
from leptonc.ir.builder import Rewriter
from leptonc.ir.dtypes import DType
from leptonc.ir.graph import Graph, Node, Value
from leptonc.ir.types import TensorType
from leptonc.ops.nn.pool import pool_geometry
from leptonc.ops.registry import get_op
from leptonc.passmgr import Pass, PassResult, register_pass
from leptonc.quant import arith
from leptonc.quant.qdq_plan import LUT_MAX_BITS, PASS_THROUGH_OPS, UNARY_OPS, node_label

_ACC_LIMIT = 1 << 31  # |accumulator| must stay below this (i32)
# add rescales both operands to a common grid 2**ADD_HEADROOM_BITS / 2**bits finer than the
# input steps (20 bits for 8-bit inputs, TFLite's choice) so the sum loses nothing.
ADD_HEADROOM_BITS = 28
_FUSABLE_ACTIVATIONS = ("ew.relu", "ew.clip")


class NotLowered(Exception):
    """Why a node stays in QDQ form (raised before anything is changed)."""


# ----- reading the QDQ form --------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class QTensor:
    """An integer tensor and the quantization parameters that give its real value."""

    value: Value  # the integer tensor
    scale: np.ndarray  # f64; 0-d or per channel
    zero_point: np.ndarray  # i64; 0-d or per channel
    axis: int | None  # the channel axis of per-channel parameters

    @property
    def dtype(self) -> DType:
        return self.value.type.dtype

    @property
    def per_tensor(self) -> bool:
        return self.scale.size == 1 and self.zero_point.size == 1

    @property
    def s(self) -> float:
        return float(self.scale.reshape(-1)[0])

    @property
    def zp(self) -> int:
        return int(self.zero_point.reshape(-1)[0])

    def max_centred(self) -> int:
        """The largest |q - zero point| a value of this type can have (per-tensor)."""
        return max(self.zp - self.dtype.min, self.dtype.max - self.zp)

    def same_as(self, other: QTensor) -> bool:
        return (self.dtype == other.dtype and np.array_equal(self.scale, other.scale)
                and np.array_equal(self.zero_point, other.zero_point))


def _params(node: Node, value: Value) -> QTensor | None:
    """The parameters of a quant.quantize / quant.dequantize node, if they are constants."""
    scale, zp = node.inputs[1], node.inputs[2] if len(node.inputs) > 2 else None
    if not scale.is_constant or (zp is not None and not zp.is_constant):
        return None
    if node.attr("block_size"):
        return None
    scale_data = np.asarray(scale.data, np.float64)
    zp_data = np.zeros((), np.int64) if zp is None else np.asarray(zp.data, np.int64)
    if scale_data.size == 1 and zp_data.size == 1:  # one shape for per-tensor parameters
        return QTensor(value, scale_data.reshape(()), zp_data.reshape(()), None)
    rank = value.type.rank
    if not rank:
        return None
    return QTensor(value, scale_data, zp_data, node.attr("axis") % rank)


def dequantized(v: Value | None) -> QTensor | None:
    """The integer tensor and parameters behind a quant.dequantize result."""
    if v is None or v.producer is None or v.producer.op != "quant.dequantize":
        return None
    return _params(v.producer, v.producer.inputs[0])


# The widest quantized activation type; a wider dequantized integer is an accumulator whose
# result stays float (an i32 sum, which no integer kernel below takes as an input).
_MAX_ACTIVATION_BITS = 16


def _per_tensor_input(v: Value | None, what: str) -> QTensor:
    q = dequantized(v)
    if q is None:
        raise NotLowered(f"{what} is not quantized (float input)")
    if q.dtype.bits > _MAX_ACTIVATION_BITS:
        raise NotLowered(f"{what} is the float result of an {q.dtype} accumulation, not a "
                         f"quantized activation")
    if not q.per_tensor:
        raise NotLowered(f"{what} has per-channel parameters; integer kernels need one scale")
    return q


def _sole_user(v: Value, graph_outputs: set[int]) -> Node | None:
    if id(v) in graph_outputs or len(v.uses) != 1:
        return None
    return v.uses[0][0]


def _quantizer(v: Value, graph_outputs: set[int]) -> tuple[Node, QTensor]:
    """The quant.quantize that is the sole reader of ``v``, with its per-tensor parameters."""
    q = _sole_user(v, graph_outputs)
    if q is None or q.op != "quant.quantize" or q.inputs[0] is not v:
        raise NotLowered("result is not quantized (no quant.quantize as its only reader)")
    params = _params(q, q.output)
    if params is None or not params.per_tensor:
        raise NotLowered("result is quantized with run-time or per-channel parameters")
    return q, params


@dataclass(slots=True)
class _Epilogue:
    """What follows an accumulating op up to its quantize: a fused relu/clip, the bounds."""

    nodes: list[Node]  # absorbed float nodes after the anchor, in order
    quantize: Node
    out: QTensor
    qmin: int
    qmax: int


def _quantize_scalar(value: float, params: tuple[Value | None, ...], attrs: dict) -> int:
    """``value`` quantized by quant.quantize's own kernel with per-tensor ``params`` (scale,
    zero point) and ``attrs``: exactly what the QDQ graph computes for it."""
    opdef = get_op("quant.quantize")
    xs = [np.asarray(value, np.float32)] + [None if v is None else v.data for v in params]
    return int(opdef.kernel(xs, opdef.with_defaults(attrs)))


def _clip_bounds(node: Node) -> tuple[float, float]:
    bounds = []
    for index, name in ((1, "min"), (2, "max")):
        v = node.inputs[index] if len(node.inputs) > index else None
        if v is not None and not v.is_constant:
            raise NotLowered("clip bounds are computed at run time")
        bounds.append(float(v.data) if v is not None else float(node.attr(name)))
    return bounds[0], bounds[1]


def _epilogue(result: Value, graph_outputs: set[int]) -> _Epilogue:
    """The quantize after ``result``, through at most one relu / constant clip, whose bounds
    become clamp bounds: quantize is monotone, so quantize(clip(v)) = clamp(quantize(v))."""
    nodes: list[Node] = []
    act = _sole_user(result, graph_outputs)
    if act is not None and act.op in _FUSABLE_ACTIVATIONS and act.inputs[0] is result:
        nodes.append(act)
        result = act.output
    q, out = _quantizer(result, graph_outputs)
    return _Epilogue(nodes, q, out, *_clamp_bounds(nodes, q, out))


def _output_stays_float(result: Value, graph_outputs: set[int]) -> bool:
    """No quant.quantize reads ``result``, nor the result of a relu / clip that is its only
    reader: the accumulation's value is wanted in float."""
    if any(r.op == "quant.quantize" for r in result.users):
        return False
    act = _sole_user(result, graph_outputs)
    if act is not None and act.op in _FUSABLE_ACTIVATIONS and act.inputs[0] is result:
        return not any(r.op == "quant.quantize" for r in act.output.users)
    return True


def _clamp_bounds(activations: list[Node], q: Node, out: QTensor) -> tuple[int, int]:
    """[qmin, qmax] of the output type narrowed by relu / clip bounds quantized as ``q`` does."""
    qmin, qmax = out.dtype.min, out.dtype.max
    for node in activations:
        lo, hi = (0.0, math.inf) if node.op == "ew.relu" else _clip_bounds(node)
        if lo > hi:
            raise NotLowered("clip with min > max")
        if lo > -math.inf:
            qmin = max(qmin, _quantize_scalar(lo, q.inputs[1:], q.attrs))
        if hi < math.inf:
            qmax = min(qmax, _quantize_scalar(hi, q.inputs[1:], q.attrs))
    return qmin, qmax


# ----- building the integer graph --------------------------------------------------------------
# Every lowering computes what can fail (multipliers, bounds, biases) before it changes the
# graph, so a NotLowered leaves the node's QDQ form untouched.
_Scaling = tuple[np.ndarray, np.ndarray]  # i32 (multiplier, shift): 0-d or per channel


def _scaling(real: np.ndarray | float) -> _Scaling:
    """``arith.quantize_multipliers`` of real multipliers; a single one becomes 0-d."""
    real = np.asarray(real, np.float64)
    try:
        return arith.quantize_multipliers(real.reshape(()) if real.size == 1 else real)
    except LeptoncError as e:
        raise NotLowered(str(e)) from None


@dataclass(slots=True)
class _Lowering:
    """One pass run: the graph, the integer nodes made per pattern, the float islands."""

    graph: Graph
    graph_outputs: set[int]
    created: Counter = field(default_factory=Counter)

    def rewriter(self, node: Node) -> Rewriter:
        # before the float node: its integer inputs precede it, its quantizers' readers follow
        return Rewriter(self.graph, before=node, source_name=node.source_name)

    def requantize(self, rw: Rewriter, x: Value, scaling: _Scaling, *, out: QTensor,
                   qmin: int | None = None, qmax: int | None = None, axis: int = 1,
                   input_zero_point: int = 0, name: str = "rq") -> Value:
        multiplier = self.graph.add_constant(scaling[0], f"{name}_multiplier")
        shift = self.graph.add_constant(scaling[1], f"{name}_shift")
        attrs = {"axis": axis, "input_zero_point": input_zero_point,
                 "output_zero_point": out.zp, "dtype": out.dtype,
                 "qmin": out.dtype.min if qmin is None else qmin,
                 "qmax": out.dtype.max if qmax is None else qmax}
        return rw.op("quant.requantize", [x, multiplier, shift], attrs, name=name)

    def dequantize(self, rw: Rewriter, acc: Value, scale: np.ndarray, axis: int,
                   floats: list[Node]) -> None:
        """End an accumulation whose result stays float: ``dequantize(acc, scale)`` (one scale,
        or one per index of ``axis``) takes over the last float node's result and name."""
        result = floats[-1].outputs[0]
        scale = np.asarray(scale, np.float32)
        if scale.size > 1:
            attrs = {"axis": axis, "dtype": result.type.dtype}
        else:
            attrs, scale = {"dtype": result.type.dtype}, scale.reshape(())
        scale_value = self.graph.add_constant(scale, f"{result.name}_acc_scale")
        y = rw.op("quant.dequantize", [acc, scale_value], attrs, name=result.name)
        rw.replace_node(floats[-1], [y], keep_names=True)
        for node in reversed(floats[:-1]):
            rw.erase_if_dead(node)
        self.created["float-output"] += 1

    def replace(self, rw: Rewriter, quantize: Node, new: Value, floats: list[Node]) -> None:
        """``new`` takes over the quantize's result and name; the float nodes that computed
        its input (producers first) go."""
        rw.replace_node(quantize, [new], keep_names=True)
        for node in reversed(floats):
            rw.erase_if_dead(node)


def _check_accumulator(worst: np.ndarray | int, what: str) -> None:
    worst = int(np.max(worst))
    if worst >= _ACC_LIMIT:
        raise NotLowered(f"{what} accumulator can reach {worst} (>= 2**31) for some input")


def _int_bias(real: np.ndarray, acc_scale: np.ndarray) -> np.ndarray:
    """A real bias on the accumulator's scale, rounded half to even, checked to fit i32."""
    q = np.rint(real / acc_scale)
    if np.any(np.abs(q) >= _ACC_LIMIT):
        raise NotLowered("bias does not fit i32 on the accumulator scale")
    return q.astype(np.int32)


def _real_bias(v: Value | None, channels: int) -> np.ndarray | None:
    """A conv/matmul bias as real numbers: a dequantized integer constant or a float constant."""
    if v is None:
        return None
    q = dequantized(v)
    if q is not None and q.value.is_constant:
        opdef = get_op("quant.dequantize")
        node = v.producer
        xs = [inp.data if inp is not None else None for inp in node.inputs]
        real = opdef.kernel(xs, opdef.with_defaults(node.attrs)).astype(np.float64)
    elif v.is_constant and v.type.dtype.is_float:
        real = np.asarray(v.data, np.float64)
    else:
        raise NotLowered("bias is computed at run time")
    if real.size != channels:
        raise NotLowered(f"bias has {real.size} values for {channels} output channels")
    return real.reshape(-1)


# ----- conv and matmul -------------------------------------------------------------------------
def _weight(v: Value, axis: int | None, what: str) -> QTensor:
    """A constant integer weight with symmetric parameters, per tensor or along ``axis``."""
    q = dequantized(v)
    if q is None or not q.value.is_constant:
        raise NotLowered(f"{what} is not a dequantized integer constant")
    if not q.per_tensor and q.axis != axis:
        raise NotLowered(f"{what} is quantized per channel along axis {q.axis}, not {axis}")
    if np.any(q.zero_point != 0):
        raise NotLowered(f"{what} has a non-zero zero point (asymmetric weights)")
    return q


def _lower_conv(ctx: _Lowering, node: Node) -> str:
    x = _per_tensor_input(node.inputs[0], "input")
    w = _weight(node.inputs[1], 0, "weight")
    channels = w.value.type.shape[0]
    bias_real = _real_bias(node.inputs[2] if len(node.inputs) > 2 else None, channels)
    float_out = _output_stays_float(node.output, ctx.graph_outputs)
    ep = None if float_out else _epilogue(node.output, ctx.graph_outputs)
    acc_scale = x.s * w.scale.reshape(-1)  # one entry per channel, or one for all
    bias = None if bias_real is None else _int_bias(bias_real, acc_scale)
    taps = np.abs(w.value.data.astype(np.int64)).reshape(channels, -1).sum(axis=1)
    _check_accumulator(taps * x.max_centred() + (0 if bias is None else np.abs(bias)), "conv")
    scaling = None if float_out else _scaling(acc_scale / ep.out.s)
    rw = ctx.rewriter(node)
    geometry = {k: v for k, v in node.attrs.items()
                if k in ("strides", "pads", "dilations", "auto_pad", "group")}
    bias_value = None if bias is None else ctx.graph.add_constant(bias, f"{node_label(node)}_bias")
    acc = rw.op("quant.conv", [x.value, w.value, bias_value],
                {**geometry, "x_zero_point": x.zp}, name=f"{node_label(node)}_acc")
    if float_out:
        ctx.dequantize(rw, acc, acc_scale, axis=1, floats=[node])
        return "conv"
    y = ctx.requantize(rw, acc, scaling, out=ep.out, qmin=ep.qmin, qmax=ep.qmax, axis=1,
                       name=node_label(node))
    ctx.replace(rw, ep.quantize, y, [node, *ep.nodes])
    return "conv"


def _column_bias(node: Node, graph_outputs: set[int]) -> tuple[Node, Value] | None:
    """An ew.add of a constant bias after a matmul (the matmul result is its other operand)."""
    add = _sole_user(node.output, graph_outputs)
    if add is None or add.op != "ew.add" or add.inputs[0] is add.inputs[1]:
        return None
    other = add.inputs[1] if add.inputs[0] is node.output else add.inputs[0]
    q = dequantized(other)
    bias_ok = other.is_constant or (q is not None and q.value.is_constant)
    out = node.output.type
    if not bias_ok or other.type.shape is None or out.shape is None or not out.shape:
        return None
    if add.output.type.shape != out.shape or math.prod(other.type.shape) != out.shape[-1]:
        return None
    if any(d != 1 for d in other.type.shape[:-1]):
        return None
    return add, other


def _matmul_operand(v: Value, what: str, per_column_axis: int | None) -> QTensor:
    q = dequantized(v)
    if q is not None and q.value.is_constant:
        return _weight(v, per_column_axis, what) if not q.per_tensor else q
    return _per_tensor_input(v, what)


def _matmul_worst_case(a: QTensor, b: QTensor) -> np.ndarray | int:
    """The largest |sum_k (a - za)(b - zb)| (per column for a constant b) over all values the
    non-constant operands can take.  Per-channel b has zero point 0 (``_weight`` checks)."""
    if b.value.is_constant:
        centred = np.abs(b.value.data.astype(np.int64) - b.zp)
        return (centred.sum(axis=-2) if centred.ndim >= 2 else centred.sum()) * a.max_centred()
    if a.value.is_constant:
        rows = np.abs(a.value.data.astype(np.int64) - a.zp).sum(axis=-1)
        return int(rows.max(initial=0)) * b.max_centred()
    k = a.value.type.shape[-1]
    if not isinstance(k, int):
        raise NotLowered("the inner dimension is not static (the accumulator bound is unknown)")
    return k * a.max_centred() * b.max_centred()


def _lower_matmul(ctx: _Lowering, node: Node) -> str:
    b_rank = node.inputs[1].type.rank
    a = _matmul_operand(node.inputs[0], "left operand", None)
    if not a.per_tensor:
        raise NotLowered("left operand is quantized per channel")
    b = _matmul_operand(node.inputs[1], "right operand", None if b_rank is None else b_rank - 1)
    if b.value.is_constant and b.value.data.ndim < 2 and not b.per_tensor:
        raise NotLowered("a 1-D right operand cannot be quantized per column")
    bias_add = _column_bias(node, ctx.graph_outputs)
    result = bias_add[0].output if bias_add else node.output
    float_out = _output_stays_float(result, ctx.graph_outputs)
    ep = None if float_out else _epilogue(result, ctx.graph_outputs)
    out_rank = node.output.type.rank
    if not out_rank:
        raise NotLowered("the result's rank is unknown or 0 (no column axis)")
    columns = node.output.type.shape[-1]
    acc_scale = a.s * b.scale.reshape(-1)
    bias = None
    if bias_add is not None:
        if not isinstance(columns, int):
            raise NotLowered("the output's last dimension is not static")
        bias = _int_bias(_real_bias(bias_add[1], columns), np.broadcast_to(acc_scale, (columns,)))
    worst = _matmul_worst_case(a, b) + (0 if bias is None else np.abs(bias))
    _check_accumulator(worst, "matmul")
    scaling = None if float_out else _scaling(acc_scale / ep.out.s)
    rw = ctx.rewriter(node)
    bias_value = None if bias is None else ctx.graph.add_constant(bias, f"{node_label(node)}_bias")
    acc = rw.op("quant.matmul", [a.value, b.value, bias_value],
                {"a_zero_point": a.zp, "b_zero_point": b.zp if b.per_tensor else 0},
                name=f"{node_label(node)}_acc")
    floats = [node] + ([bias_add[0]] if bias_add else [])
    if float_out:
        ctx.dequantize(rw, acc, acc_scale, axis=out_rank - 1, floats=floats)
        return "matmul"
    y = ctx.requantize(rw, acc, scaling, out=ep.out, qmin=ep.qmin, qmax=ep.qmax,
                       axis=out_rank - 1, name=node_label(node))
    ctx.replace(rw, ep.quantize, y, floats + ep.nodes)
    return "matmul"


# ----- elementwise add and mul -----------------------------------------------------------------
def add_parameters(a: QTensor, b: QTensor, out: QTensor) -> dict[str, int]:
    """quant.add's rescaling attributes: both operands move to a grid 2**left_shift finer than
    twice the larger input scale, are summed, and the sum is requantized to the output."""
    left_shift = ADD_HEADROOM_BITS - max(a.dtype.bits, b.dtype.bits)
    twice_max = 2.0 * max(a.s, b.s)
    params = {"left_shift": left_shift}
    for which, real in (("a", a.s / twice_max), ("b", b.s / twice_max),
                        ("output", twice_max / ((1 << left_shift) * out.s))):
        multiplier, shift = _scaling(real)
        params[f"{which}_multiplier"], params[f"{which}_shift"] = int(multiplier), int(shift)
    return params


def _binary_operands(node: Node) -> tuple[QTensor, QTensor]:
    return (_per_tensor_input(node.inputs[0], "first operand"),
            _per_tensor_input(node.inputs[1], "second operand"))


def _lower_add(ctx: _Lowering, node: Node) -> str:
    a, b = _binary_operands(node)
    ep = _epilogue(node.output, ctx.graph_outputs)
    attrs = {**add_parameters(a, b, ep.out), "a_zero_point": a.zp, "b_zero_point": b.zp,
             "output_zero_point": ep.out.zp, "qmin": ep.qmin, "qmax": ep.qmax,
             "dtype": ep.out.dtype}
    rw = ctx.rewriter(node)
    ctx.replace(rw, ep.quantize, rw.op("quant.add", [a.value, b.value], attrs), [node, *ep.nodes])
    return "add"


def _lower_mul(ctx: _Lowering, node: Node) -> str:
    a, b = _binary_operands(node)
    ep = _epilogue(node.output, ctx.graph_outputs)
    _check_accumulator(a.max_centred() * b.max_centred(), "mul")
    multiplier, shift = _scaling(a.s * b.s / ep.out.s)
    attrs = {"a_zero_point": a.zp, "b_zero_point": b.zp, "multiplier": int(multiplier),
             "shift": int(shift), "output_zero_point": ep.out.zp, "qmin": ep.qmin, "qmax": ep.qmax,
             "dtype": ep.out.dtype}
    rw = ctx.rewriter(node)
    ctx.replace(rw, ep.quantize, rw.op("quant.mul", [a.value, b.value], attrs), [node, *ep.nodes])
    return "mul"


# ----- ops that move or pick values ------------------------------------------------------------
def _rescaling(src: QTensor, out: QTensor) -> _Scaling | None:
    """What moves integers with ``src``'s parameters to ``out``'s (None: they agree)."""
    return None if src.same_as(out) else _scaling(src.s / out.s)


def _rescaled(ctx: _Lowering, rw: Rewriter, x: Value, src: QTensor, out: QTensor,
              scaling: _Scaling | None, name: str) -> Value:
    if scaling is None:
        return x
    return ctx.requantize(rw, x, scaling, out=out, input_zero_point=src.zp, name=name)


def _pad_inputs(node: Node, x: QTensor) -> tuple[list[Value | None], dict]:
    """shape.pad on integers: the constant fill becomes its quantized value."""
    inputs, attrs = list(node.inputs), dict(node.attrs)
    if node.attr("mode") != "constant":
        return inputs, attrs
    value = inputs[2] if len(inputs) > 2 else None
    if value is not None and not value.is_constant:
        raise NotLowered("pad value is computed at run time")
    fill = float(np.asarray(value.data).reshape(-1)[0]) if value is not None else node.attr("value")
    # the fill on the input's integer grid (0.0 -> the zero point)
    fill_q = _quantize_scalar(fill, node.inputs[0].producer.inputs[1:], {"dtype": x.dtype})
    if len(inputs) > 2:
        inputs[2] = None
    attrs["value"] = float(fill_q)
    return inputs, attrs


def _lower_pass_through(ctx: _Lowering, node: Node) -> str:
    x = _per_tensor_input(node.inputs[0], "input")
    if any(v is not None and not v.is_constant for v in node.inputs[1:]):
        raise NotLowered("a shape/index operand is computed at run time")
    quantizers = [_quantizer(v, ctx.graph_outputs) for v in node.outputs]
    scalings = [_rescaling(x, out) for _, out in quantizers]
    inputs, attrs = _pad_inputs(node, x) if node.op == "shape.pad" else (
        list(node.inputs), dict(node.attrs))
    inputs[0] = x.value
    rw = ctx.rewriter(node)
    try:
        moved = rw.node(node.op, inputs, attrs, name=node_label(node))
    except LeptoncError as e:
        raise NotLowered(f"{node.op} does not run on {x.dtype}: {e}") from None
    for result, (q, out), scaling in zip(moved.outputs, quantizers, scalings, strict=True):
        ctx.replace(rw, q, _rescaled(ctx, rw, result, x, out, scaling, node_label(node)), [])
    ctx.graph.erase(node)
    return "pass-through"


def _lower_concat(ctx: _Lowering, node: Node) -> str:
    parts = [_per_tensor_input(v, f"input {i}") for i, v in enumerate(node.inputs)]
    q, out = _quantizer(node.output, ctx.graph_outputs)
    scalings = [_rescaling(p, out) for p in parts]
    rw = ctx.rewriter(node)
    ints = [_rescaled(ctx, rw, p.value, p, out, scaling, f"{node_label(node)}_in{i}")
            for i, (p, scaling) in enumerate(zip(parts, scalings, strict=True))]
    ctx.replace(rw, q, rw.op("shape.concat", ints, dict(node.attrs)), [node])
    return "concat"


# ----- averages --------------------------------------------------------------------------------
def _static_dims(v: Value, axes: Sequence[int]) -> tuple[int, ...]:
    """The sizes of ``axes`` of ``v``, which must be static: they give the window count."""
    shape = v.type.shape
    if shape is None or not all(isinstance(shape[a], int) for a in axes):
        raise NotLowered("the averaged dims are not static (the window count is unknown)")
    return tuple(shape[a] for a in axes)


def _uniform_window(node: Node, in_dims: tuple[int, ...]) -> tuple[int, dict]:
    """The count every window of an average pool divides by, and sum_pool's geometry
    attributes; raises when counts differ (border windows that skip pads or overhang)."""
    attrs = get_op(node.op).with_defaults(node.attrs)
    kernel, strides, dilations, pads, out_dims = pool_geometry(attrs, in_dims)
    sp = len(kernel)
    if not attrs["count_include_pad"] and any(pads):
        raise NotLowered("padded border windows average fewer values (count_include_pad=false)")
    for a in range(sp):
        reach = (out_dims[a] - 1) * strides[a] + dilations[a] * (kernel[a] - 1) + 1
        if reach > in_dims[a] + pads[a] + pads[a + sp]:
            raise NotLowered("ceil_mode windows overhang the input and average fewer values")
    geometry = {"kernel_shape": kernel, "strides": strides, "dilations": dilations,
                "pads": pads, "ceil_mode": attrs["ceil_mode"]}
    return math.prod(kernel), geometry


def _lower_average(ctx: _Lowering, node: Node) -> str:
    x = _per_tensor_input(node.inputs[0], "input")
    rank = x.value.type.rank
    if rank is None:
        raise NotLowered("the input's rank is unknown")
    q, out = _quantizer(node.output, ctx.graph_outputs)
    if node.op == "nn.avg_pool":
        count, geometry = _uniform_window(node, _static_dims(x.value, range(2, rank)))
        op, attrs = "quant.sum_pool", {**geometry, "pad_value": x.zp}
    else:
        axes = _mean_axes(node, rank)
        count = math.prod(_static_dims(x.value, axes))
        keepdims = True if node.op == "nn.global_avg_pool" else node.attr("keepdims")
        op, attrs = "quant.reduce_sum", {"axes": axes, "keepdims": keepdims}
    _check_accumulator(count * max(abs(x.dtype.min), abs(x.dtype.max)), "sum")
    scaling = _scaling(x.s / (count * out.s))
    rw = ctx.rewriter(node)
    total = rw.op(op, [x.value], attrs, name=f"{node_label(node)}_sum")
    y = ctx.requantize(rw, total, scaling, out=out, input_zero_point=count * x.zp,
                       name=node_label(node))
    ctx.replace(rw, q, y, [node])
    return "average"


def _mean_axes(node: Node, rank: int) -> tuple[int, ...]:
    if node.op == "nn.global_avg_pool":
        return tuple(range(2, rank))
    if len(node.inputs) > 1 and node.inputs[1] is not None:
        raise NotLowered("mean axes are computed at run time")
    axes = node.attr("axes")
    if not axes:
        if node.attr("noop_with_empty_axes"):
            raise NotLowered("an identity mean (noop_with_empty_axes) has nothing to lower")
        return tuple(range(rank))
    return tuple(sorted(a % rank for a in axes))


# ----- lookup tables ---------------------------------------------------------------------------
def lut_table(node: Node, x: QTensor, quantize: Node) -> np.ndarray:
    """quantize(f(dequantize(code))) for every code of x's type, computed by the very kernels
    the QDQ graph runs (so the table reproduces the fake-quantized graph exactly)."""
    codes = np.arange(x.dtype.min, x.dtype.max + 1).astype(x.dtype.numpy)
    dq_node = node.inputs[0].producer
    dq, f, qz = (get_op(n) for n in ("quant.dequantize", node.op, "quant.quantize"))
    params = [None if v is None else v.data for v in dq_node.inputs[1:]]
    real = dq.kernel([codes, *params], dq.with_defaults(dq_node.attrs))
    extra = [None if v is None else v.data for v in node.inputs[1:]]
    y = f.kernel([real, *extra], f.with_defaults(node.attrs))
    q_params = [None if v is None else v.data for v in quantize.inputs[1:]]
    return qz.kernel([np.asarray(y), *q_params], qz.with_defaults(quantize.attrs))


def _lower_clamp(ctx: _Lowering, node: Node, x: QTensor) -> str:
    """relu / constant clip on wide integers: a requantize whose clamp bounds are the
    quantized bounds (an exact identity map when input and output parameters agree)."""
    q, out = _quantizer(node.output, ctx.graph_outputs)
    qmin, qmax = _clamp_bounds([node], q, out)
    scaling = _scaling(x.s / out.s)
    rw = ctx.rewriter(node)
    y = ctx.requantize(rw, x.value, scaling, out=out, qmin=qmin, qmax=qmax,
                       input_zero_point=x.zp, name=node_label(node))
    ctx.replace(rw, q, y, [node])
    return "clamp"


def _lower_unary(ctx: _Lowering, node: Node) -> str:
    x = _per_tensor_input(node.inputs[0], "input")
    if node.op in _FUSABLE_ACTIVATIONS and x.dtype.bits > LUT_MAX_BITS:
        return _lower_clamp(ctx, node, x)
    if x.dtype.bits > LUT_MAX_BITS:
        raise NotLowered(f"a lookup table for {x.dtype} would need {1 << x.dtype.bits} entries "
                         f"(at most {LUT_MAX_BITS}-bit inputs)")
    if any(v is not None and not v.is_constant for v in node.inputs[1:]):
        raise NotLowered("a parameter operand is computed at run time")
    q, out = _quantizer(node.output, ctx.graph_outputs)
    table = lut_table(node, x, q)
    table_value = ctx.graph.add_constant(table, f"{node_label(node)}_table",
                                         TensorType(out.dtype, table.shape))
    rw = ctx.rewriter(node)
    ctx.replace(rw, q, rw.op("quant.lut", [x.value, table_value], name=node_label(node)), [node])
    return "lut"


# ----- driver ----------------------------------------------------------------------------------
_LOWERINGS: dict[str, Callable[[_Lowering, Node], str]] = {
    "nn.conv": _lower_conv, "linalg.matmul": _lower_matmul, "ew.add": _lower_add,
    "ew.mul": _lower_mul, "shape.concat": _lower_concat, "nn.avg_pool": _lower_average,
    "nn.global_avg_pool": _lower_average, "reduce.mean": _lower_average,
    **{op: _lower_pass_through for op in PASS_THROUGH_OPS},
    **{op: _lower_unary for op in UNARY_OPS},
}


@dataclass(frozen=True, slots=True)
class FloatIsland:
    """A node left in float between quantize/dequantize boundaries, and why."""

    node: str
    op: str
    reason: str

    def __str__(self) -> str:
        return f"{self.node} ({self.op}): {self.reason}"


@dataclass(slots=True)
class LoweringReport:
    created: Counter  # integer nodes per pattern (conv, matmul, add, ...)
    islands: list[FloatIsland]


def _touches_qdq(node: Node) -> bool:
    """A float node reading a dequantized activation or feeding a quantize: a QDQ island."""
    if node.op.startswith("quant."):
        return False
    reads = any(v is not None and (q := dequantized(v)) is not None and not q.value.is_constant
                for v in node.inputs)
    feeds = any(u.op == "quant.quantize" for v in node.outputs for u in v.users)
    return reads or feeds


def _unused(v: Value, graph: Graph) -> bool:
    return not v.uses and v not in graph.outputs


def _erase_dead_boundaries(graph: Graph, unused_before: set[int]) -> None:
    """Dequantize nodes (and the quantizers feeding only them) left without readers, and the
    constants that this run left unread (weights now read by integer ops stay; the scales of
    erased boundaries go; constants nothing read before are not this pass's business)."""
    for node in reversed(graph.nodes):
        if node.op in ("quant.dequantize", "quant.quantize") and all(
                _unused(v, graph) for v in node.outputs):
            graph.erase(node)
    for v in list(graph.constants.values()):
        if id(v) not in unused_before and _unused(v, graph):
            graph.remove_constant(v)


def lower_quantized(graph: Graph) -> LoweringReport:
    """Lower every QDQ pattern of ``graph`` to integer ops (in place); report the rest."""
    ctx = _Lowering(graph, {id(v) for v in graph.outputs})
    unused_before = {id(v) for v in graph.constants.values() if _unused(v, graph)}
    reasons: dict[int, str] = {}
    for node in graph.nodes:
        lower = _LOWERINGS.get(node.op)
        if node.graph is None or lower is None:  # erased as part of an earlier pattern
            continue
        try:
            ctx.created[lower(ctx, node)] += 1
        except NotLowered as e:
            reasons[id(node)] = str(e)
    _erase_dead_boundaries(graph, unused_before)
    islands = [FloatIsland(node_label(n), n.op, reasons.get(id(n), f"{n.op} has no integer form"))
               for n in graph if _touches_qdq(n)]
    if ctx.created:
        _widen_attention(graph)
    return LoweringReport(ctx.created, islands)


def _widen_attention(graph: Graph) -> None:
    """Compute f32 attention islands in f64 (one rounding to f32 at the end).

    Their outputs are quantized again downstream, so every target must produce the
    interpreter's f32 bits: a matmul or softmax summed in another order differs by ulps,
    which flip quantized values at rounding boundaries.  Summed in f64 and rounded once, the
    order no longer shows (softmax and layer_norm do the same for f32 by themselves).
    """
    for node in graph:
        if node.op == "nn.attention" and node.outputs[0].type.dtype == dtypes.f32:
            node.attrs["softmax_dtype"] = dtypes.f64


@register_pass
@dataclass(frozen=True)
class LowerQuantized(Pass):
    """Turn the QDQ (quantize/dequantize) patterns written by ``quantize`` into integer ops
    (quant.conv/matmul + quant.requantize, or + quant.dequantize where the result stays float,
    quant.add/mul, quant.lut, integer sums, pass-through ops on integers); what cannot be
    lowered stays in QDQ form, with its reason."""

    name = "lower-quantized"
    example = "quantize,lower-quantized"
    # The integer graph rounds once per requantize where the fake-quantized graph rounds in
    # f32 (half to even), so single elements may move by a quantization step or, after a few
    # layers, a few.  A step is not expressible per model here; 5% of the value plus 0.1
    # admits that for outputs of order 1 and larger, while a wrong scale, zero point, channel
    # or sign (errors of the size of the signal) still fails validate-each.
    rtol = 0.05
    atol = 0.1

    def run(self, graph: Graph) -> PassResult:
        report = lower_quantized(graph)
        stats = dict(sorted(report.created.items()))
        stats["float-islands"] = len(report.islands)
        return PassResult(bool(report.created), stats, notes=island_notes(report.islands))


def island_notes(islands: Sequence[FloatIsland], shown: int = 3) -> list[str]:
    """One note per (op, reason) naming the first ``shown`` nodes: a transformer repeats the
    same float islands in every layer, and one line each would bury the message."""
    groups: dict[tuple[str, str], list[str]] = {}
    for island in islands:
        groups.setdefault((island.op, island.reason), []).append(island.node)
    notes = []
    for (op, reason), nodes in groups.items():
        names = ", ".join(nodes[:shown]) + (f" and {len(nodes) - shown} more" if len(nodes) > shown else "")
        notes.append(f"kept in float: {op} x{len(nodes)} ({names}): {reason}")
    return notes


__all__ = ["ADD_HEADROOM_BITS", "FloatIsland", "LowerQuantized",
           "LoweringReport", "QTensor", "add_parameters", "dequantized", "lower_quantized",
           "lut_table"]
