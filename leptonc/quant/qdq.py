"""Post-training static quantization into QDQ ("fake-quant") form.

    from leptonc.quant import quantize_graph, scheme_config
    report = quantize_graph(graph, batches, scheme_config("uint8", method="entropy"))
    print(report.format())

``quantize_graph`` rewrites a float graph in place so that every quantized activation %x is
read through ``quant.dequantize(quant.quantize(%x))`` (a conv/matmul result that only float
ops read is not quantized: see qdq_plan), every quantized weight is a
``quant.dequantize`` of an integer constant and the bias of a quantized conv/matmul is an
i32 constant with scale ``x_scale * w_scale``.  The graph still computes in float (the
interpreter measures the accuracy integer arithmetic will have, onnxruntime runs its ONNX
export) and ``lower-quantized`` turns it into integer ops.  docs/quantization.md states the
form; leptonc/quant/qdq_plan.py decides what is quantized.

Steps: decide every node (qdq_plan), pick the activation tensors, calibrate once with
streaming observers (``config.method``; per-tensor activations), derive weight parameters
from the constants (per output channel or per tensor), optionally round every scale up to a
power of two, apply analytic bias correction (Nagel et al. 2019, "Data-Free Quantization",
sec. 4.2: ``b -= (W_q - W) . E[x]``), then rewrite.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

import numpy as np

from leptonc.errors import UsageError
from leptonc.ir import dtypes
from leptonc.ir.builder import Rewriter, infer_types
from leptonc.ir.dtypes import DType
from leptonc.ir.graph import Graph, Node, Value
from leptonc.ir.types import TensorType
from leptonc.quant.calibrate import collect
from leptonc.quant.config import QuantConfig
from leptonc.quant.observers import (
                                      MSE,
                                      Entropy,
                                      MinMax,
                                      MovingAverageMinMax,
                                      Observer,
                                      Percentile,
                                      range_qparams,
)
from leptonc.quant.qdq_plan import (
                                      PASS_THROUGH_OPS,
                                      Plan,
                                      Unit,
                                      data_inputs,
                                      node_label,
                                      plan_graph,
)
from leptonc.quant.qdq_report import NodeDecision, QuantizeReport, TensorRecord

__all__ = ["ChannelMean", "QParams", "QuantizeReport", "bias_correction", "dequantize_array",
           "make_observer", "power_of_two", "quantize_array", "quantize_graph", "weight_params"]

_I32 = dtypes.i32


@dataclass(slots=True)
class QParams:
    """``real = scale * (q - zero_point)``; ``axis`` None per tensor, else per index of it."""

    scale: np.ndarray  # f32, 0-d or [C]
    zero_point: np.ndarray  # of dtype's numpy type, same shape as scale
    dtype: DType
    axis: int | None = None


def quantize_graph(graph: Graph, batches: Iterable[Mapping[str, np.ndarray]],
                   config: QuantConfig | None = None, progress: bool = True) -> QuantizeReport:
    """Rewrite ``graph`` (in place) into QDQ form, calibrating on ``batches`` (dicts of graph
    input name -> array; iterated once, and only when something needs calibration).
    ``config`` defaults to ``QuantConfig()``: u8 activations, per-channel i8 weights."""
    config = config or QuantConfig()
    _refuse_quantized(graph)
    plan = plan_graph(graph, config)
    if config.bias_correction:
        _materialize_biases(graph, plan)
    activations = [] if config.weight_only else _activation_tensors(graph, plan)
    constants = [] if config.weight_only else _constant_operands(graph, plan)
    means = _bias_correction_inputs(graph, plan) if config.bias_correction else {}
    watches = _watches([v for v, p in activations if not _inherits(p, plan)], means, config)
    batches_seen = _calibrate(graph, batches, watches, progress)
    params = _constant_params(constants, config)
    params.update(_activation_params(activations, watches, plan, config, params))
    decisions = [NodeDecision.of(node, plan) for node in graph]
    hows = [f"same as %{producer.inputs[0].name}" if _inherits(producer, plan)
            else f"observed ({config.method})" for _, producer in activations]

    rewrite = _Rewrite(graph, config, params)
    for unit in _unique_units(graph, plan):
        watch = watches.get(means[id(unit.anchor)].name) if id(unit.anchor) in means else None
        rewrite.unit(unit, None if watch is None else watch.mean)
    for node, slot in constants:
        rewrite.constant_operand(node, slot)
    rewrite.drop_replaced_constants()
    for (v, _), how in zip(activations, hows, strict=True):
        rewrite.activation(v, how)
    rewrite.hand_output_names()
    return QuantizeReport(config, decisions, rewrite.log, batches_seen)


def _refuse_quantized(graph: Graph) -> None:
    found = next((n for n in graph if n.op in ("quant.quantize", "quant.dequantize")), None)
    if found is not None:
        raise UsageError(f"the graph is already quantized ({found.op} at "
                         f"'{node_label(found)}'); quantize it once")


# ----- bias correction needs a bias to correct --------------------------------------------------
def _materialize_biases(graph: Graph, plan: Plan) -> None:
    """Give every corrected conv/matmul a zero bias where it has none, before calibration (the
    graph computes the same), so the unit, its observers and the rewrite all see it."""
    for unit in _unique_units(graph, plan):
        if not _correctable(unit) or unit.bias_slot is not None:
            continue
        if unit.anchor.op == "nn.conv":
            _add_conv_bias(graph, plan, unit)
        else:
            _add_matmul_bias(graph, plan, unit)


def _correctable(unit: Unit) -> bool:
    return unit.weight_index == 1 and not (unit.anchor.op == "linalg.matmul"
                                           and len(unit.anchor.inputs[1].type.shape) != 2)


def _output_channels(unit: Unit) -> int:
    w = unit.anchor.inputs[unit.weight_index].type.shape
    return w[0] if unit.anchor.op == "nn.conv" else w[-1]


def _add_conv_bias(graph: Graph, plan: Plan, unit: Unit) -> None:
    old = unit.anchor
    rw = Rewriter(graph, before=old, source_name=old.source_name)
    dtype = old.inputs[1].type.dtype.numpy
    bias = rw.const(np.zeros(_output_channels(unit), dtype), f"{node_label(old)}.bias")
    new = rw.node(old.op, [old.inputs[0], old.inputs[1], bias], dict(old.attrs))
    rw.replace_node(old, new.outputs, keep_names=True)
    plan.decisions[new] = plan.decisions.pop(old)
    for member in unit.nodes[1:]:
        plan.fused_into[member] = new
    del plan.units[old]
    unit.anchor = new
    plan.units[new] = unit


def _add_matmul_bias(graph: Graph, plan: Plan, unit: Unit) -> None:
    mm = unit.anchor
    result = mm.outputs[0]
    readers = result.uses
    is_output = result in graph.outputs
    rw = Rewriter(graph, before=_next_reader(graph, mm), source_name=mm.source_name)
    bias = rw.const(np.zeros(_output_channels(unit), result.type.dtype.numpy),
                    f"{node_label(mm)}.bias")
    add = rw.node("ew.add", [result, bias], out_names=[f"{result.name}_biased"])
    for node, index in readers:
        node.set_input(index, add.outputs[0])
    if is_output:
        graph.replace_output(result, add.outputs[0])
    unit.bias_add = add
    plan.decisions[add] = plan.decisions[mm]
    plan.units[add] = unit
    plan.fused_into[add] = mm


def _next_reader(graph: Graph, node: Node) -> Node | None:
    """The first node after ``node`` that reads one of its results (None: the graph end)."""
    readers = {id(n) for v in node.outputs for n in v.users}
    return next((n for n in graph if id(n) in readers), None)


def _bias_correction_inputs(graph: Graph, plan: Plan) -> dict[int, Value]:
    """anchor id -> the activation whose per-channel mean the correction needs."""
    return {id(u.anchor): u.anchor.inputs[0] for u in _unique_units(graph, plan)
            if _correctable(u) and not u.anchor.inputs[0].is_constant}


def _unique_units(graph: Graph, plan: Plan) -> list[Unit]:
    """Each unit once, in graph order of its anchor."""
    return [plan.units[n] for n in graph if n in plan.units and plan.units[n].anchor is n]


# ----- which activations ----------------------------------------------------------------------
def _activation_tensors(graph: Graph, plan: Plan) -> list[tuple[Value, Node | None]]:
    """``(value, producer)`` for every activation to quantize, producers before readers: the
    float inputs of quantized nodes and their results, except a unit's internal values and
    the result of a unit that only float ops read."""
    chosen: dict[int, tuple[Value, Node | None]] = {}
    for node in graph:
        if not plan.quantized(node):
            continue
        unit = plan.units.get(node)
        skip = set() if unit is None else {id(v) for v in unit.internal}
        for i in _activation_slots(node, unit):
            v = node.inputs[i]
            if id(v) not in skip and not v.is_constant:
                chosen.setdefault(id(v), (v, v.producer))
        if unit is None or (node is unit.nodes[-1] and unit.float_output is None):
            for v in node.outputs:
                if v.type.dtype.is_float:
                    chosen.setdefault(id(v), (v, node))
    return list(chosen.values())


def _constant_operands(graph: Graph, plan: Plan) -> list[tuple[Node, int]]:
    """``(node, slot)`` of every float constant a quantized node reads as an activation (an
    added or concatenated constant): it becomes a dequantized integer constant."""
    found = []
    for node in graph:
        if plan.quantized(node):
            for i in _activation_slots(node, plan.units.get(node)):
                v = node.inputs[i]
                if v.is_constant and v.type.dtype.is_float:
                    found.append((node, i))
    return found


def _activation_slots(node: Node, unit: Unit | None) -> list[int]:
    """The data inputs of a quantized node that are activations (not weights or biases)."""
    slots = data_inputs(node)
    if unit is None:
        return slots
    if node is unit.anchor:
        return [i for i in slots if i != unit.weight_index]
    if node is unit.bias_add:
        return [i for i in slots if node.inputs[i] is unit.anchor.outputs[0]]
    return slots


def _inherits(producer: Node | None, plan: Plan) -> bool:
    """Pass-through results reuse their input's parameters instead of being observed."""
    return producer is not None and producer.op in PASS_THROUGH_OPS and plan.quantized(producer)


# ----- calibration ----------------------------------------------------------------------------
def make_observer(config: QuantConfig, axis: int | None = None) -> Observer:
    """The streaming observer ``config.method`` names."""
    if config.method == "minmax":
        return MinMax(axis)
    if config.method == "moving-average":
        return MovingAverageMinMax(axis=axis)
    if config.method == "percentile":
        return Percentile(config.percentile, config.bins, axis)
    if config.method == "entropy":
        return Entropy(config.bins, axis)
    return MSE(config.bins, axis=axis)


class ChannelMean(Observer):
    """The running mean of each index of ``axis`` (float64 sums, so nothing else is kept)."""

    def __init__(self, axis: int):
        super().__init__(axis)
        self.total: np.ndarray | None = None
        self.count = 0

    def _update(self, rows: np.ndarray) -> None:
        sums = rows.sum(axis=1)
        self.total = sums if self.total is None else self.total + sums
        self.count += rows.shape[1]

    def _range(self, dtype, symmetric):
        raise UsageError("a channel mean gives no quantization parameters")

    @property
    def mean(self) -> np.ndarray:
        if self.total is None or not self.count:
            raise UsageError("the channel mean has seen no data")
        return self.total / self.count


class _Watch(Observer):
    """What calibration gathers for one value: its range, its channel mean, or both."""

    def __init__(self, range_observer: Observer | None, channel_mean: ChannelMean | None):
        super().__init__(None)
        self.range, self.channel_mean = range_observer, channel_mean

    def observe(self, array: np.ndarray) -> None:
        for part in (self.range, self.channel_mean):
            if part is not None:
                part.observe(array)

    @property
    def mean(self) -> np.ndarray:
        return self.channel_mean.mean


def _watches(observed: list[Value], means: dict[int, Value], config: QuantConfig
             ) -> dict[str, _Watch]:
    watches = {v.name: _Watch(make_observer(config), None) for v in observed}
    for anchor_input in means.values():
        axis = 1 if anchor_input.users[0].op == "nn.conv" else -1
        watch = watches.setdefault(anchor_input.name, _Watch(None, None))
        watch.channel_mean = ChannelMean(axis)
    return watches


def _calibrate(graph: Graph, batches: Iterable[Mapping[str, np.ndarray]],
               watches: dict[str, _Watch], progress: bool) -> int:
    """Run the calibration once (when anything needs it); returns the number of batches."""
    if not watches:
        return 0
    counted = _Counted(batches)
    collect(graph, counted, lambda v: watches.get(v.name), list(watches), progress)
    return counted.seen


class _Counted:
    """Passes batches through, counting them (and keeping ``len``/``count`` for progress)."""

    def __init__(self, batches: Iterable[Mapping[str, np.ndarray]]):
        self.batches, self.seen = batches, 0
        self.count = len(batches) if hasattr(batches, "__len__") else getattr(batches, "count",
                                                                               None)

    def __iter__(self):
        for batch in self.batches:
            self.seen += 1
            yield batch


# ----- parameters -----------------------------------------------------------------------------
def _constant_params(constants: list[tuple[Node, int]], config: QuantConfig
                     ) -> dict[int, QParams]:
    """Constant operands are quantized like activations, over their own exact range."""
    as_activation = replace(config, symmetric_weights=config.symmetric_activations)
    return {id(node.inputs[i]): weight_params(node.inputs[i].data, config.activations, None,
                                              as_activation)
            for node, i in constants}


def _activation_params(activations: list[tuple[Value, Node | None]], watches: dict[str, _Watch],
                       plan: Plan, config: QuantConfig, known: dict[int, QParams]
                       ) -> dict[int, QParams]:
    params = dict(known)
    for v, producer in activations:
        if _inherits(producer, plan):
            params[id(v)] = params[id(producer.inputs[0])]
            continue
        scale, zp = watches[v.name].range.qparams(config.activations, config.symmetric_activations)
        params[id(v)] = finish_params(scale, zp, config.activations, None, config)
    return params


def finish_params(scale: np.ndarray, zero_point: np.ndarray, dtype: DType, axis: int | None,
                  config: QuantConfig) -> QParams:
    """QParams, with every scale rounded up to a power of two when ``config.pow2_scales``."""
    if config.pow2_scales:
        scale, zero_point = power_of_two(scale, zero_point, dtype)
    return QParams(np.asarray(scale, np.float32), np.asarray(zero_point, dtype.numpy), dtype, axis)


def power_of_two(scale: np.ndarray, zero_point: np.ndarray, dtype: DType
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Round scales up to powers of two, so the grid still reaches both ends of the range the
    parameters covered; zero points move (by whole steps) to keep as much of it as they can."""
    scale = np.asarray(scale, np.float64)
    zp = np.asarray(zero_point, np.float64)
    lo, hi = scale * (dtype.min - zp), scale * (dtype.max - zp)
    pow2 = np.exp2(np.ceil(np.log2(scale)))
    # An integer zero point in [ceil(a), floor(b)] keeps [lo, hi] inside the new grid; when the
    # interval holds none (the scale barely moved), the nearest one clips under half a step.
    a, b = dtype.min - lo / pow2, dtype.max - hi / pow2
    new_zp = np.clip(np.rint(a), dtype.min, dtype.max)
    fits = np.ceil(a) <= np.floor(b)
    new_zp = np.where(fits, np.clip(new_zp, np.ceil(a), np.floor(b)), new_zp)
    return pow2.astype(np.float32), new_zp.astype(dtype.numpy)


def weight_params(data: np.ndarray, dtype: DType, axis: int | None, config: QuantConfig
                  ) -> QParams:
    """Parameters straight from a constant: its range per index of ``axis``, or overall."""
    w = np.asarray(data, np.float64)
    if axis is None:
        lo, hi = np.array([w.min(initial=0.0)]), np.array([w.max(initial=0.0)])
    else:
        rows = np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)
        lo, hi = rows.min(axis=1, initial=0.0), rows.max(axis=1, initial=0.0)
    scale, zp = range_qparams(lo, hi, dtype, config.symmetric_weights)
    if axis is None:
        scale, zp = scale.reshape(()), zp.reshape(())
    return finish_params(scale, zp, dtype, axis, config)


def quantize_array(data: np.ndarray, p: QParams) -> np.ndarray:
    """``saturate(round_half_even(data / scale) + zero_point)`` in ``p.dtype``'s container."""
    scale, zp = _broadcast(p.scale, data.ndim, p.axis), _broadcast(p.zero_point, data.ndim, p.axis)
    q = np.rint(np.asarray(data, np.float64) / scale.astype(np.float64)) + zp.astype(np.float64)
    return np.clip(q, p.dtype.min, p.dtype.max).astype(p.dtype.numpy)


def dequantize_array(q: np.ndarray, p: QParams) -> np.ndarray:
    scale, zp = _broadcast(p.scale, q.ndim, p.axis), _broadcast(p.zero_point, q.ndim, p.axis)
    return (q.astype(np.float64) - zp.astype(np.float64)) * scale.astype(np.float64)


def _broadcast(param: np.ndarray, rank: int, axis: int | None) -> np.ndarray:
    if axis is None or param.ndim == 0:
        return param.reshape(())
    shape = [1] * rank
    shape[axis] = param.size
    return param.reshape(shape)


def bias_correction(unit: Unit, w: np.ndarray, w_q: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """``-(W_q - W) . E[x]`` per output channel: the expected output shift the weight rounding
    causes, which the bias takes back."""
    delta = w_q - np.asarray(w, np.float64)
    if unit.anchor.op == "linalg.matmul":
        return -(mean @ delta)
    groups = unit.anchor.attr("group")
    per_group = delta.reshape(delta.shape[0], delta.shape[1], -1).sum(axis=2)  # [M, C/g]
    means = mean.reshape(groups, -1)[np.arange(delta.shape[0]) // (delta.shape[0] // groups)]
    return -(per_group * means).sum(axis=1)


# ----- the rewrite ----------------------------------------------------------------------------
class _Rewrite:
    """Applies the parameters: weights and biases of units, constant operands, activations.
    Every quantized tensor is logged for the report."""

    def __init__(self, graph: Graph, config: QuantConfig, params: dict[int, QParams]):
        self.graph, self.config, self.params = graph, config, params
        self.log: list[TensorRecord] = []
        self._dequantized: dict[tuple[int, int | None], Value] = {}  # (constant, axis) -> dq
        self._replaced: dict[int, tuple[Value, Value]] = {}  # constant -> (it, its first dq)
        # id(params) -> (params, scale, zero point); holding params keeps its id unique
        self._param_consts: dict[int, tuple[QParams, Value, Value]] = {}
        self._outputs: list[tuple[Value, Value]] = []  # quantized graph outputs and their dq

    def _record(self, name: str, role: str, p: QParams, how: str) -> None:
        self.log.append(TensorRecord(name, role, p.dtype.name, p.scale, p.zero_point, p.axis, how))

    # units: weights and biases
    def unit(self, unit: Unit, mean: np.ndarray | None) -> None:
        """Quantize the unit's weight; make its bias i32 (corrected by ``mean`` when given)."""
        if unit.weight_index is None:
            return
        anchor = unit.anchor
        w = anchor.inputs[unit.weight_index]
        axis = unit.weight_axis if self.config.per_channel else None
        p = weight_params(w.data, self.config.weights, axis, self.config)
        how = "per channel" if axis is not None else "per tensor"
        anchor.set_input(unit.weight_index, self._dequantized_constant(w, p, anchor, "weight", how))
        slot = unit.bias_slot
        if slot is None:
            return
        node, index = slot
        bias = np.asarray(node.inputs[index].data, np.float64)
        if mean is not None:
            w_q = dequantize_array(quantize_array(w.data, p), p)
            bias = bias + bias_correction(unit, w.data, w_q, mean).reshape(bias.shape)
        if not self.config.weight_only:
            x = anchor.inputs[1 - unit.weight_index]
            self._int32_bias(node, index, bias, self.params[id(x)], p)
        elif mean is not None:
            self._corrected_float_bias(node, index, bias)

    def _int32_bias(self, node: Node, index: int, bias: np.ndarray, x: QParams, w: QParams
                    ) -> None:
        """The bias as i32 with scale ``x_scale * w_scale[c]`` (one scale per output channel;
        a [1, N] bias becomes [N], which the add broadcasts the same way)."""
        old = node.inputs[index]
        flat = bias.reshape(-1)
        scale = np.broadcast_to(x.scale * w.scale, flat.shape).astype(np.float32)
        q = np.clip(np.rint(flat / scale.astype(np.float64)), _I32.min, _I32.max).astype(np.int32)
        self._record(old.name, "bias", QParams(scale, np.zeros_like(q), _I32, 0),
                     "x_scale * w_scale")
        ints = self.graph.add_constant(q, f"{old.name}_int")
        scales = self.graph.add_constant(scale, f"{old.name}_scale")
        dq = self._insert_before(node, "quant.dequantize", [ints, scales],
                                 {"axis": 0, "dtype": old.type.dtype}, f"{old.name}_dq")
        node.set_input(index, dq)
        self._replaced.setdefault(id(old), (old, dq))

    def _corrected_float_bias(self, node: Node, index: int, bias: np.ndarray) -> None:
        old = node.inputs[index]
        new = self.graph.add_constant(bias.astype(old.data.dtype), f"{old.name}_corrected")
        node.set_input(index, new)
        self._replaced.setdefault(id(old), (old, new))

    # constant operands of quantized arithmetic (an added constant, a concatenated one)
    def constant_operand(self, node: Node, slot: int) -> None:
        c = node.inputs[slot]
        node.set_input(slot, self._dequantized_constant(c, self.params[id(c)], node, "constant",
                                                        "its own range"))

    def _dequantized_constant(self, c: Value, p: QParams, reader: Node, role: str, how: str
                              ) -> Value:
        """``dequantize(integer constant)`` for float constant ``c``, once per axis."""
        key = (id(c), p.axis)
        if key not in self._dequantized:
            self._record(c.name, role, p, how)
            q = quantize_array(c.data, p)
            ints = self.graph.add_constant(q, f"{c.name}_int", TensorType(p.dtype, tuple(q.shape)))
            scale, zp = self._param_constants(p, c.name)
            attrs = {"dtype": c.type.dtype} if p.axis is None else {"axis": p.axis,
                                                                     "dtype": c.type.dtype}
            dq = self._insert_before(reader, "quant.dequantize", [ints, scale, zp], attrs,
                                     f"{c.name}_dq")
            self._dequantized[key] = dq
            self._replaced.setdefault(id(c), (c, dq))
        return self._dequantized[key]

    def drop_replaced_constants(self) -> None:
        """Remove float constants nothing reads any more; their replacement takes the name, so
        ``%conv1.w`` stays the weight conv1 reads."""
        for old, heir in self._replaced.values():
            if not old.uses and old not in self.graph.outputs:
                name = old.name
                self.graph.remove_constant(old)
                self.graph.rename(heir, name)

    # activations
    def activation(self, x: Value, how: str) -> None:
        """``%x_dq = dequantize(quantize(%x))`` right after ``%x``; every reader of ``%x``
        (graph outputs included) reads ``%x_dq`` instead."""
        p = self.params[id(x)]
        self._record(x.name, "activation", p, how)
        readers = x.uses
        scale, zp = self._param_constants(p, x.name)
        q = self._insert_after(x.producer, "quant.quantize", [x, scale, zp], {"dtype": p.dtype},
                               f"{x.name}_q")
        dq = self._insert_after(q.producer, "quant.dequantize", [q, scale, zp],
                                {"dtype": x.type.dtype}, f"{x.name}_dq")
        for node, index in readers:
            node.set_input(index, dq)
        if x in self.graph.outputs:
            self.graph.replace_output(x, dq)
            if x.producer is not None:
                self._outputs.append((x, dq))

    def _param_constants(self, p: QParams, name: str) -> tuple[Value, Value]:
        """Scale and zero-point constants, one pair per parameter set (pass-through results
        share their input's)."""
        if id(p) not in self._param_consts:
            scale = self.graph.add_constant(p.scale, f"{name}_scale")
            zp = self.graph.add_constant(p.zero_point, f"{name}_zp",
                                         TensorType(p.dtype, tuple(p.zero_point.shape)))
            self._param_consts[id(p)] = p, scale, zp
        return self._param_consts[id(p)][1:]

    def hand_output_names(self) -> None:
        """A quantized graph output's dequantized value takes the output's value name; the
        float result becomes ``<name>_f``.  Names free up only when a value is erased, so the
        producer is rebuilt (same op, inputs and attributes) and the old one erased."""
        for x, dq in self._outputs:
            producer = x.producer
            rw = Rewriter(self.graph, before=producer, source_name=producer.source_name)
            olds = list(producer.outputs)
            hints = [f"{v.name}_f" if v is x else f"{v.name}_" for v in olds]
            clone = rw.node(producer.op, producer.inputs, dict(producer.attrs), out_names=hints,
                            types=[v.type for v in olds])
            keep = [(new, old.name) for new, old in zip(clone.outputs, olds, strict=True)
                    if old is not x]
            name = x.name
            rw.replace_node(producer, clone.outputs)
            rw.restore_names(keep)
            self.graph.rename(dq, name)

    # node insertion
    def _insert_before(self, anchor: Node, op: str, inputs: list[Value], attrs: dict, name: str
                       ) -> Value:
        return Rewriter(self.graph, before=anchor).node(op, inputs, attrs, out_names=[name]
                                                        ).outputs[0]

    def _insert_after(self, anchor: Node | None, op: str, inputs: list[Value], attrs: dict,
                      name: str) -> Value:
        """A node right after ``anchor`` (None: at the top, for graph inputs)."""
        node = Node(op, inputs, attrs)
        self.graph.make_outputs(node, infer_types(op, inputs, node.attrs, where=name), [name])
        if anchor is None:
            self.graph.insert_before(next(iter(self.graph), None), node)
        else:
            self.graph.insert_after(anchor, node)
        return node.outputs[0]
