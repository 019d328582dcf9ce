"""SmoothQuant (Xiao et al., arXiv 2211.10438): move activation outliers into the weights.

Transformer activations have a few input channels whose magnitude is tens of times the rest,
so a per-tensor activation scale wastes most of its levels on them; weights are smooth and
quantized per output channel.  For a matmul ``Y = X @ W`` (W constant, ``[K, N]``) a
per-input-channel factor ``s`` changes nothing mathematically,

    Y = (X / s) @ (diag(s) W),     s_k = max|X_k| ** alpha / max|W_k| ** (1 - alpha),

but it evens out the channels of ``X / s`` at the cost of the rows of ``W``.  ``max|X_k|``
comes from calibration (a per-channel abs-max over the last axis), ``max|W_k|`` is row k's
largest magnitude (over every matmul reading X: Q, K and V projections share one ``s``).

``X / s`` must cost nothing at run time, so ``1 / s`` is folded into X's producer, which
must be one of (through ``ew.add``/``ew.sub`` of a constant, which passes the scale on to
its other operand and divides the constant):

* ``nn.layer_norm`` (or a fused region whose result is one): gamma and beta;
* ``linalg.matmul`` with a constant right operand: its weight's columns;
* ``ew.mul`` by a constant (``ew.div`` of X by one): the constant.

Readers of X other than the smoothed matmuls (a residual add, say) get X back through one
``ew.mul(X / s, s)`` whose result is named ``<X>_restored``: exact up to f32 rounding, and
cheap beside the matmuls it pays for.  When those readers stay in float (BERT's residual add
inside a fused skip+layernorm), the quantize pass leaves the restoring multiply in float too
(a value only float ops read gains nothing from quantization): quantizing it, per tensor and
with its outliers back, would undo the gain on the residual path.

    report = smooth_graph(graph, batches, alpha=0.5)
    print(report.format())
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from leptonc.errors import UsageError
from leptonc.ir.builder import Builder
from leptonc.ir.graph import Graph, Node, Value
from leptonc.quant.calibrate import collect
from leptonc.quant.observers import MinMax

__all__ = ["SmoothGroup", "SmoothReport", "find_smooth_groups", "smooth_graph", "smoothing_factors"]

# Channels whose activation or weight range is zero carry no outlier to move: s = 1 there.
_TINY = 1e-12
# Ops that pass a per-channel scale on to their non-constant operand (after dividing the
# constant): X = Y + c  ->  X / s = Y / s + c / s.
_SHIFTS = ("ew.add", "ew.sub")


@dataclass(slots=True)
class _Fold:
    """One constant input slot of a producer that absorbs ``1 / s`` (``* s`` for a divisor)."""

    node: Node
    index: int
    multiply: bool = False  # True for ew.div's divisor: X = Y / c  ->  X / s = Y / (c * s)


@dataclass(slots=True)
class SmoothGroup:
    """The matmuls reading one activation X, and where X's ``1 / s`` goes."""

    x: Value
    matmuls: list[Node]
    folds: list[_Fold]


@dataclass(slots=True)
class SmoothReport:
    alpha: float
    smoothed: list[str] = field(default_factory=list)  # matmul names
    skipped: dict[str, str] = field(default_factory=dict)  # matmul name -> why not
    compensated: int = 0  # activations whose other readers got an ew.mul(X / s, s)
    max_factor: float = 1.0  # the largest s (or 1 / s) applied, a measure of the migration

    def format(self) -> str:
        lines = [f"smooth-quant (alpha {self.alpha:g}): {len(self.smoothed)} matmuls smoothed, "
                 f"{len(self.skipped)} skipped, {self.compensated} activations compensated for "
                 f"other readers, largest factor {self.max_factor:.3g}"]
        lines += [f"  skipped {name}: {why}" for name, why in self.skipped.items()]
        return "\n".join(lines)


# ----- finding the groups ------------------------------------------------------------------------
def _name(node: Node) -> str:
    return node.source_name or node.outputs[0].name


def _smoothable_matmul(node: Node, x: Value) -> bool:
    if node.op != "linalg.matmul":
        return False
    w = node.inputs[1]
    return (node.inputs[0] is x and w is not None
            and w.is_constant and w.type.dtype.is_float and w.type.shape is not None
            and len(w.type.shape) == 2)


def _is_const_channel_vector(c: Value | None, channels: int) -> bool:
    """A float constant that broadcasts along the last axis: [..., K] or [..., 1] or 0-d."""
    if c is None or not c.is_constant or not c.type.dtype.is_float or c.type.shape is None:
        return False
    return not c.type.shape or c.type.shape[-1] in (1, channels)


def _single_reader(v: Value, node: Node) -> bool:
    """Only ``node`` reads ``v`` (so scaling ``v`` changes nothing else)."""
    return len(v.uses) == 1 and v.uses[0][0] is node and v not in node.graph.outputs


def _layer_norm_slots(node: Node) -> list[int] | str:
    """The scale/bias input slots of a layer_norm over the last axis, or why it cannot fold."""
    if len(node.outputs) != 1:
        return "its layer_norm also returns its statistics"
    if node.attr("axis") not in (-1, len(node.output.type.shape or ()) - 1):
        return "its layer_norm normalises over more than the last axis"
    return [i for i in (1, 2) if i < len(node.inputs) and node.inputs[i] is not None]


def _layer_norm_folds(node: Node, channels: int) -> list[_Fold] | str:
    slots = _layer_norm_slots(node)
    if isinstance(slots, str):
        return slots
    if not all(_is_const_channel_vector(node.inputs[i], channels) for i in slots):
        return "its layer_norm's scale or bias is not a constant"
    return [_Fold(node, i) for i in slots]


def _region_folds(node: Node, channels: int) -> list[_Fold] | str:
    """A fused region returning an nn.layer_norm whose scale/bias are region inputs read by
    nothing else in the body: the outer constants bound to them absorb the scale."""
    body: Graph = node.attrs["body"]
    inner = body.outputs[0].producer if len(body.outputs) == 1 else None
    if inner is None or inner.op != "nn.layer_norm":
        return f"the fused region '{node.attr('kind')}' does not end in a layer_norm"
    slots = _layer_norm_slots(inner)
    if isinstance(slots, str):
        return slots
    positions = {id(v): i for i, v in enumerate(body.inputs)}
    folds: list[_Fold] = []
    for slot in slots:
        param = inner.inputs[slot]
        i = positions.get(id(param))
        if i is None or len(param.uses) != 1 or not _is_const_channel_vector(node.inputs[i], channels):
            return "its fused layer_norm's scale or bias is not a constant region input"
        folds.append(_Fold(node, i))
    return folds


def _producer_folds(x: Value, channels: int) -> list[_Fold] | str:
    """Where ``1 / s`` can be folded so that the producer computes ``X / s``, or why not."""
    node = x.producer
    if node is None:
        return "it reads a graph input or constant"
    if node.op == "nn.layer_norm":
        return _layer_norm_folds(node, channels)
    if node.op == "fused.region":
        return _region_folds(node, channels)
    if node.op == "linalg.matmul":
        if _is_const_channel_vector(node.inputs[1], channels) and len(node.inputs[1].type.shape) >= 2:
            return [_Fold(node, 1)]
        return "its producing matmul has no constant weight"
    a, b = node.inputs[0], node.inputs[-1]
    if node.op == "ew.mul" and len(node.inputs) == 2:
        const = next((i for i, v in enumerate(node.inputs) if _is_const_channel_vector(v, channels)),
                     None)
        if const is not None:
            return [_Fold(node, const)]
    if node.op == "ew.div" and _is_const_channel_vector(b, channels) and not a.is_constant:
        return [_Fold(node, 1, multiply=True)]
    if node.op in _SHIFTS and len(node.inputs) == 2:
        const = next((i for i, v in enumerate(node.inputs) if _is_const_channel_vector(v, channels)),
                     None)
        if const is not None:
            other = node.inputs[1 - const]
            if not _single_reader(other, node):
                return f"the other operand of its {node.op} has other readers"
            rest = _producer_folds(other, channels)
            return rest if isinstance(rest, str) else [_Fold(node, const), *rest]
    return f"its producer {node.op} cannot absorb a per-channel scale"


def find_smooth_groups(graph: Graph) -> tuple[list[SmoothGroup], dict[str, str]]:
    """The activations SmoothQuant can smooth, with their matmuls; and, for every matmul
    with a constant [K, N] weight that cannot be smoothed, the reason."""
    groups: list[SmoothGroup] = []
    skipped: dict[str, str] = {}
    seen: set[int] = set()
    for node in graph:
        x = node.inputs[0] if node.inputs else None
        if node.op != "linalg.matmul" or x is None or id(x) in seen or not _smoothable_matmul(node, x):
            continue
        seen.add(id(x))
        matmuls = [n for n in x.users if _smoothable_matmul(n, x)]
        channels = int(node.inputs[1].type.shape[0])
        folds = _producer_folds(x, channels) if x.type.dtype.is_float else "X is not float"
        if isinstance(folds, str):
            skipped.update({_name(m): f"X (%{x.name}): {folds}" for m in matmuls})
        else:
            groups.append(SmoothGroup(x, matmuls, folds))
    return groups, skipped


# ----- the factors ---------------------------------------------------------------------------------
def smoothing_factors(act_absmax: np.ndarray, weights: Iterable[np.ndarray], alpha: float
                      ) -> np.ndarray:
    """``s_k = max|X_k|**alpha / max|W_k|**(1 - alpha)`` (f64), 1 where a range is zero."""
    w_absmax = np.max([np.abs(np.asarray(w, np.float64)).max(axis=1) for w in weights], axis=0)
    act = np.asarray(act_absmax, np.float64)
    ok = (act > _TINY) & (w_absmax > _TINY) & np.isfinite(act)
    safe_act, safe_w = np.where(ok, act, 1.0), np.where(ok, w_absmax, 1.0)
    return np.where(ok, safe_act ** alpha / safe_w ** (1.0 - alpha), 1.0)


def activation_absmax(graph: Graph, groups: list[SmoothGroup],
                      batches: Iterable[Mapping[str, np.ndarray]], progress: bool = False
                      ) -> dict[str, np.ndarray]:
    """Per-channel (last axis) max |X| of every group's activation over the batches."""
    observers = collect(graph, batches, lambda v: MinMax(axis=-1),
                        values=[g.x.name for g in groups], progress=progress)
    return {name: np.maximum(-obs.min, obs.max) for name, obs in observers.items()}


# ----- rewriting -----------------------------------------------------------------------------------
def _replace_constant(graph: Graph, node: Node, index: int, data: np.ndarray) -> None:
    old = node.inputs[index]
    new = graph.add_constant(data.astype(old.type.dtype.numpy), f"{old.name}_smoothed")
    node.set_input(index, new)
    if not old.uses and old not in graph.outputs:
        graph.remove_constant(old)


def _scaled(data: np.ndarray, s: np.ndarray, multiply: bool) -> np.ndarray:
    """``data`` times ``s`` (or divided by it) along its last axis, broadcasting a length-1 or
    0-d last axis to K; computed in f64 so the only rounding is the final cast."""
    d = np.asarray(data, np.float64)
    return d * s if multiply else d / s


def _apply(graph: Graph, group: SmoothGroup, s: np.ndarray) -> bool:
    """Fold ``1 / s`` into the producer, ``s`` into each weight's rows, and give X's other
    readers X back; returns whether other readers needed that compensation."""
    for fold in group.folds:
        _replace_constant(graph, fold.node, fold.index,
                          _scaled(fold.node.inputs[fold.index].data, s, fold.multiply))
    for mm in group.matmuls:
        _replace_constant(graph, mm, 1, np.asarray(mm.inputs[1].data, np.float64) * s[:, None])
    return _compensate_other_readers(graph, group, s)


def _compensate_other_readers(graph: Graph, group: SmoothGroup, s: np.ndarray) -> bool:
    x, smoothed = group.x, {id(m) for m in group.matmuls}
    others = [(n, i) for n, i in x.uses if id(n) not in smoothed]
    returned = x in graph.outputs
    if not others and not returned:
        return False
    b = Builder(graph, source_name=x.producer.source_name)
    factor = b.const(s.astype(x.type.dtype.numpy), f"{x.name}_unsmooth")
    mul = b.node("ew.mul", [x, factor], name=f"{x.name}_restored")
    graph.unlink(mul)  # built at the end; it belongs right after X's producer
    graph.insert_after(x.producer, mul)
    restored = mul.output
    for node, index in others:
        node.set_input(index, restored)
    graph.replace_output(x, restored)
    return True


def smooth_graph(graph: Graph, batches: Iterable[Mapping[str, np.ndarray]], alpha: float = 0.5,
                 progress: bool = False) -> SmoothReport:
    """Smooth every matmul that can be (see the module docstring), calibrating the
    activation ranges on ``batches``; the graph's outputs stay equal up to f32 rounding."""
    if not 0.0 <= alpha <= 1.0:
        raise UsageError(f"smooth-quant: alpha must be in [0, 1], got {alpha}")
    groups, skipped = find_smooth_groups(graph)
    report = SmoothReport(alpha, skipped=skipped)
    if not groups:
        return report
    absmax = activation_absmax(graph, groups, batches, progress)
    for group in groups:
        s = smoothing_factors(absmax[group.x.name], (m.inputs[1].data for m in group.matmuls),
                              alpha)
        report.compensated += _apply(graph, group, s)
        report.smoothed += [_name(m) for m in group.matmuls]
        report.max_factor = max(report.max_factor, float(np.max(np.maximum(s, 1.0 / s))))
    return report
