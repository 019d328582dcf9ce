"""What the quantize pass quantizes: a decision with its reason for every node, and the
conv/matmul "units" that keep a bias and a ReLU/clip inside one quantized computation.

The rules are docs/quantization.md's (and the QDQ spec's):

- quantizable ops: ``nn.conv``, ``linalg.matmul``, ``ew.add``, ``ew.mul``, the mean pools and
  ``reduce.mean``, ``shape.concat``, the pass-through ops (which reuse their input's scale and
  zero point) and, for activations of at most 8 bits, unary non-linearities (lookup tables);
- left in float: anything ignored by ``QuantConfig.ignore`` (node name, op type or an fnmatch
  pattern of either), anything outside ``QuantConfig.only`` when that is set, and with
  ``keep_fragile_in_float`` the fragile ops (softmax, normalisations, attention, detection
  post-processing) and a softmax/sigmoid head that produces a graph output;
- weight-only schemes quantize only the constant weights of conv/matmul.

A unit is a quantized conv or matmul plus, when they are the sole reader of its result, a
bias ``ew.add`` (matmul only: a conv has its own bias input) and then a ReLU or a clip with
constant bounds.  Integer lowering runs a unit as one accumulation and one requantize, so only
the unit's last value is quantized.

Quantizing a result that only float ops read adds rounding error and buys nothing: the
reader dequantizes it at once.  So

- a unit whose result only float nodes read (and that is not a graph output) keeps its
  quantized inputs and weights but gets no output quantization: integer lowering ends it
  with a dequantize of the i32 accumulator (``Unit.float_output`` says why);
- any other quantized node (add, mul, pools, pass-through, concat, lookup-table ops) whose
  results only float nodes read becomes float itself, and so, in turn, may its producers.

Graph outputs are always quantized when their producer is.  ``QuantConfig.only`` picks among
the nodes the whole configuration quantizes; both rules above are decided on the whole
configuration, so a layer quantized alone (the sensitivity analysis) is quantized exactly
as it is in the full model.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

from leptonc.ir.graph import Graph, Node, Value
from leptonc.quant.config import QuantConfig

ANCHOR_OPS = frozenset({"nn.conv", "linalg.matmul"})
ARITHMETIC_OPS = frozenset({"ew.add", "ew.mul", "nn.avg_pool", "nn.global_avg_pool",
                            "reduce.mean", "shape.concat"})
# Ops that only move, pick or compare values: integer lowering runs them on the quantized
# integers, so their output takes the input's scale and zero point unchanged.
PASS_THROUGH_OPS = frozenset({
    "shape.reshape", "shape.transpose", "shape.squeeze", "shape.unsqueeze", "shape.slice",
    "shape.split", "shape.pad", "shape.depth_to_space", "shape.space_to_depth", "nn.max_pool",
    "nn.global_max_pool", "reduce.max", "shape.gather"})
# Unary non-linearities: integer targets run them as 2**bits-entry lookup tables, which only
# stay small for activations of at most LUT_MAX_BITS bits.
UNARY_OPS = frozenset({
    "ew.sigmoid", "ew.tanh", "ew.gelu", "ew.hard_sigmoid", "ew.hard_swish", "ew.swish", "ew.exp",
    "ew.erf", "ew.softplus", "ew.elu", "ew.leaky_relu", "ew.relu", "ew.clip"})
LUT_MAX_BITS = 8
FRAGILE_OPS = frozenset({
    "reduce.softmax", "reduce.log_softmax", "nn.layer_norm", "nn.rms_norm", "nn.attention",
    "nn.group_norm", "nn.instance_norm", "nn.roi_align", "shape.top_k", "nn.nms"})
HEAD_OPS = frozenset({"reduce.softmax", "reduce.log_softmax", "ew.sigmoid"})
FUSABLE_ACTIVATIONS = frozenset({"ew.relu", "ew.clip"})
QUANTIZABLE_OPS = ANCHOR_OPS | ARITHMETIC_OPS | PASS_THROUGH_OPS | UNARY_OPS

QUANTIZED = "quantized"
FRAGILE = "kept in float (keep_fragile_in_float)"
NOT_SELECTED = "not selected (only)"
FLOAT_READERS = "read only by float ops"


def node_names(node: Node) -> list[str]:
    """The names a node answers to in ``ignore`` / ``only``: its source name and its results'."""
    return [n for n in (node.source_name, *(v.name for v in node.outputs)) if n]


def node_label(node: Node) -> str:
    """How reports name a node: its source name, else its first result."""
    return node.source_name or (node.outputs[0].name if node.outputs else node.op)


def data_inputs(node: Node) -> list[int]:
    """The input slots holding tensors to quantize (not shapes, indices, bounds or pad values)."""
    if node.op == "shape.concat" or node.op in ANCHOR_OPS or node.op in ("ew.add", "ew.mul"):
        count = 2 if node.op in ANCHOR_OPS else len(node.inputs)
        return [i for i in range(count) if node.inputs[i] is not None]
    return [0]


@dataclass(slots=True)
class Unit:
    """A quantized conv/matmul with the bias add and activation it absorbs."""

    anchor: Node
    weight_index: int | None  # the input holding a constant weight; None: activation x activation
    weight_axis: int | None  # the weight's output-channel axis (None: no per-channel option)
    bias_add: Node | None = None  # matmul + constant ew.add
    activation: Node | None = None
    # why the unit's result is not quantized ("read only by float ops (...)"); None: it is
    float_output: str | None = None

    @property
    def nodes(self) -> list[Node]:
        return [n for n in (self.anchor, self.bias_add, self.activation) if n is not None]

    @property
    def output(self) -> Value:
        return self.nodes[-1].outputs[0]

    @property
    def internal(self) -> list[Value]:
        """Values inside the unit, which stay unquantized."""
        return [n.outputs[0] for n in self.nodes[:-1]]

    @property
    def bias_slot(self) -> tuple[Node, int] | None:
        """The (node, input index) holding the bias constant, if there is one."""
        if self.bias_add is not None:
            return self.bias_add, bias_operand(self.bias_add, self.anchor.outputs[0])
        if self.anchor.op == "nn.conv" and len(self.anchor.inputs) > 2 and \
                self.anchor.inputs[2] is not None:
            return self.anchor, 2
        return None


@dataclass(slots=True)
class Plan:
    """Every node's decision (``QUANTIZED`` or the reason it stays float) and the units."""

    decisions: dict[Node, str] = field(default_factory=dict)
    units: dict[Node, Unit] = field(default_factory=dict)  # keyed by every member node
    fused_into: dict[Node, Node] = field(default_factory=dict)  # member -> its unit's anchor

    def quantized(self, node: Node) -> bool:
        return self.decisions.get(node) == QUANTIZED


def plan_graph(graph: Graph, config: QuantConfig) -> Plan:
    """Decide every node for the whole configuration, leave in float what only float ops
    read, apply ``config.only``, then group the quantized conv/matmul into units."""
    outputs = {id(v) for v in graph.outputs}
    plan = Plan({node: decide(node, config, outputs) for node in graph})
    if not config.weight_only:
        _keep_float_fed_in_float(graph, plan, outputs)
    whole = dict(plan.decisions)  # before ``only``: what the full configuration quantizes
    if config.only is not None:
        for node in graph:
            if plan.quantized(node) and not config.only.intersection(node_names(node)):
                plan.decisions[node] = NOT_SELECTED
    for node in graph:
        if plan.quantized(node) and node.op in ANCHOR_OPS:
            unit = make_unit(node, plan, outputs, config)
            if not config.weight_only:
                unit.float_output = _float_readers_reason([unit.output], whole, outputs)
            for member in unit.nodes:
                plan.units[member] = unit
                if member is not node:
                    plan.fused_into[member] = node
    return plan


# ----- per-node decisions -------------------------------------------------------------------
def decide(node: Node, config: QuantConfig, graph_outputs: set[int]) -> str:
    """``QUANTIZED``, or why the node stays in float, judged on the node alone (what its
    readers do is ``plan_graph``'s business; ``config.only`` is applied there too)."""
    for pattern in config.ignore:
        if any(fnmatch.fnmatchcase(name, pattern) for name in [*node_names(node), node.op]):
            return f"ignored by pattern '{pattern}'"
    if config.keep_fragile_in_float:
        if node.op in FRAGILE_OPS:
            return f"{FRAGILE}: fragile op"
        if node.op in HEAD_OPS and any(id(v) in graph_outputs for v in node.outputs):
            return f"{FRAGILE}: softmax/sigmoid head producing a graph output"
    if node.op not in QUANTIZABLE_OPS:
        return f"op {node.op} is not quantizable"
    if config.weight_only:
        return _weight_only_reason(node)
    return _structural_reason(node, config) or QUANTIZED


def _weight_only_reason(node: Node) -> str:
    if node.op in ANCHOR_OPS and weight_slot(node) is not None:
        return _structural_reason_anchor(node) or QUANTIZED
    return "weight-only scheme: only constant conv/matmul weights are quantized"


def _structural_reason(node: Node, config: QuantConfig) -> str | None:
    """Why a node of a quantizable op type still cannot be quantized, or None."""
    for i in data_inputs(node):
        if not node.inputs[i].type.dtype.is_float:
            return f"input {i} is {node.inputs[i].type.dtype}, not float"
    if not node.outputs or not node.outputs[0].type.dtype.is_float:
        return "its result is not float"
    if node.op in ANCHOR_OPS:
        return _structural_reason_anchor(node)
    if node.op in UNARY_OPS and config.activations.bits > LUT_MAX_BITS:
        return (f"{node.op} needs a lookup table, which integer lowering builds only for "
                f"activations of at most {LUT_MAX_BITS} bits")
    if node.op == "ew.clip" and not clip_bounds_constant(node):
        return "clip bounds are computed at run time"
    if node.op == "shape.pad" and not _pads_with_zero(node):
        return "pads with something other than a constant 0"
    if node.op == "shape.gather" and not node.inputs[1].is_constant:
        return "gather indices are computed at run time"
    return None


def _structural_reason_anchor(node: Node) -> str | None:
    if node.op == "nn.conv":
        if not node.inputs[1].is_constant:
            return "conv weight is computed at run time"
        bias = node.inputs[2] if len(node.inputs) > 2 else None
        if bias is not None and not bias.is_constant:
            return "conv bias is computed at run time"
    return None


def clip_bounds_constant(node: Node) -> bool:
    return all(v is None or v.is_constant for v in node.inputs[1:])


def _pads_with_zero(node: Node) -> bool:
    value = node.inputs[2] if len(node.inputs) > 2 else None
    if node.attr("mode") != "constant":
        return False
    if value is None:
        return node.attr("value") == 0.0
    return value.is_constant and bool((value.data == 0).all())


# ----- what only float ops read -----------------------------------------------------------
def _keep_float_fed_in_float(graph: Graph, plan: Plan, graph_outputs: set[int]) -> None:
    """Every quantized node outside a conv/matmul unit (a unit's result is judged with the
    unit: ``Unit.float_output``) whose results only float nodes read stays float: its integer
    result would be dequantized at once, so quantizing it only adds error (a residual sum
    going into a LayerNorm, attention scores and their mask going into a softmax: tensors
    with outliers, or -inf, that a per-tensor grid cannot hold).  Readers come after their
    producers, so one sweep from the end settles every chain: when a node is judged, all
    its readers are final."""
    for node in reversed(graph):
        if not plan.quantized(node) or node.op in ANCHOR_OPS or \
                _absorbed_bias(node, plan, graph_outputs):
            continue
        reason = _float_readers_reason(node.outputs, plan.decisions, graph_outputs)
        if reason is not None:
            plan.decisions[node] = f"kept in float: {reason}"


def _float_readers_reason(values: list[Value], decisions: dict[Node, str],
                          graph_outputs: set[int]) -> str | None:
    """``read only by float ops (<their ops>)`` when ``values`` have readers, all of them
    float, and none is a graph output; else None."""
    if any(id(v) in graph_outputs for v in values):
        return None
    readers = [r for v in values for r in v.users]
    if not readers or any(decisions[r] == QUANTIZED for r in readers):
        return None
    return f"{FLOAT_READERS} ({', '.join(sorted({r.op for r in readers}))})"


def _absorbed_bias(node: Node, plan: Plan, graph_outputs: set[int]) -> bool:
    """A column-bias add that ``make_unit`` folds into the quantized matmul before it: part of
    the unit's computation (its bias is an i32 in the accumulator), judged with the unit."""
    if node.op != "ew.add":
        return False
    for v in node.inputs:
        mm = v.producer
        if mm is None or mm.op != "linalg.matmul" or not plan.quantized(mm):
            continue
        slot = weight_slot(mm)
        if slot is not None and slot[0] == 1 and _sole_reader(v, graph_outputs) is node and \
                _is_column_bias(node, v):
            return True
    return False


# ----- units ----------------------------------------------------------------------------------
def weight_slot(node: Node) -> tuple[int, int | None] | None:
    """``(input index, output-channel axis)`` of a conv/matmul's constant float weight: conv
    weights per output channel (axis 0), a matmul's constant right operand per column (its
    last axis), a constant left operand per tensor (None)."""
    if node.op == "nn.conv":
        return (1, 0) if node.inputs[1].is_constant else None
    a, b = node.inputs[0], node.inputs[1]
    if b.is_constant and b.type.dtype.is_float:
        return (1, len(b.type.shape) - 1) if len(b.type.shape) >= 2 else (1, None)
    if a.is_constant and a.type.dtype.is_float:
        return 0, None
    return None


def make_unit(anchor: Node, plan: Plan, graph_outputs: set[int], config: QuantConfig) -> Unit:
    slot = weight_slot(anchor)
    unit = Unit(anchor, *(slot if slot else (None, None)))
    if config.weight_only:
        return unit  # no activation quantization: nothing to absorb
    result = anchor.outputs[0]
    if anchor.op == "linalg.matmul" and unit.weight_index == 1:
        add = _sole_reader(result, graph_outputs)
        if add is not None and add.op == "ew.add" and plan.quantized(add) and \
                _is_column_bias(add, result):
            unit.bias_add, result = add, add.outputs[0]
    act = _sole_reader(result, graph_outputs)
    if act is not None and act.op in FUSABLE_ACTIVATIONS and plan.quantized(act) and \
            act.inputs[0] is result:
        unit.activation = act
    return unit


def _sole_reader(v: Value, graph_outputs: set[int]) -> Node | None:
    if id(v) in graph_outputs or len(v.uses) != 1:
        return None
    return v.uses[0][0]


def bias_operand(add: Node, result: Value) -> int:
    """The input slot of ``add`` that is not the matmul result."""
    return 1 if add.inputs[0] is result else 0


def _is_column_bias(add: Node, result: Value) -> bool:
    """``add`` adds a constant float vector along the last axis of ``result`` (one value per
    output column, the layout a per-column weight scale needs)."""
    if add.inputs[0] is add.inputs[1]:
        return False
    bias = add.inputs[bias_operand(add, result)]
    shape, out = bias.type.shape, result.type.shape
    if not bias.is_constant or not bias.type.dtype.is_float or out is None or not out:
        return False
    columns = out[-1]
    return (isinstance(columns, int) and len(shape) <= len(out) and bias.data.size == columns
            and all(d == 1 for d in shape[:-1]) and (not shape or shape[-1] == columns))
