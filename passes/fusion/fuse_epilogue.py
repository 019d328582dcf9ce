"""fuse-epilogue: a conv or matmul and the elementwise chain after it become one region.

    %c = nn.conv(%x, %w, %b)                      %r = fused.region(%x, %w, %b, %skip)
    %a = ew.add(%c, %skip)             ->              {kind="conv+bias+add+relu", body=...}
    %r = ew.relu(%a)

The chain may hold, in any order and up to ``max-ops`` nodes:

- a bias or scale: ``ew.add`` / ``ew.sub`` / ``ew.mul`` / ``ew.div`` with a constant that does
  not widen the result ("bias", "scale");
- an activation: relu, clip (``relu6`` when it clamps to [0, 6]), gelu, sigmoid, tanh,
  swish (``silu`` when alpha = 1), ``x * sigmoid(x)`` (silu), leaky_relu, hard_swish, ...;
- with ``residual``, an ``ew.add`` of another tensor of exactly the result's shape ("add").

A conv's own bias input counts as "bias" in the kind.  The chain stops at the first value
with more than one user (or that the graph returns): fusing past it would have to
recompute or store the intermediate, which is what the fusion avoids.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from leptonc.ir.graph import Graph, Node, Value
from leptonc.passes.fusion.regions import make_region, region_boundary
from leptonc.passmgr import Pass, PassResult, register_pass

_ANCHORS = {"nn.conv": "conv", "linalg.matmul": "matmul"}
# Unary activations and the name each gives the pattern.
_ACTIVATIONS = {
    "ew.relu": "relu", "ew.gelu": "gelu", "ew.sigmoid": "sigmoid", "ew.tanh": "tanh",
    "ew.leaky_relu": "leaky_relu", "ew.hard_swish": "hard_swish",
    "ew.hard_sigmoid": "hard_sigmoid", "ew.elu": "elu", "ew.selu": "selu", "ew.celu": "celu",
    "ew.mish": "mish", "ew.softplus": "softplus", "ew.thresholded_relu": "thresholded_relu",
    "ew.clip": "clip", "ew.swish": "swish", "ew.prelu": "prelu",
}
_CONSTANT_OPERAND = {"ew.add": "bias", "ew.sub": "bias", "ew.mul": "scale", "ew.div": "scale"}


@dataclass(frozen=True, slots=True)
class _Step:
    nodes: tuple[Node, ...]  # the nodes the step adds to the chain, in graph order
    part: str  # its name in the region's kind


def _sole_user(v: Value, graph_outputs: set[int]) -> Node | None:
    if id(v) in graph_outputs or len(v.uses) != 1:
        return None
    return v.uses[0][0]


def _same_type(node: Node, v: Value) -> bool:
    return len(node.outputs) == 1 and node.output.type == v.type


def _activation(node: Node, v: Value) -> str | None:
    part = _ACTIVATIONS.get(node.op)
    if part is None or node.inputs[0] is not v:
        return None
    extra = [u for u in node.inputs[1:] if u is not None]
    if any(not u.is_constant for u in extra):  # clip bounds, prelu slope: weights, not data
        return None
    if node.op == "ew.clip" and not extra and (node.attr("min"), node.attr("max")) == (0.0, 6.0):
        return "relu6"
    if node.op == "ew.swish" and node.attr("alpha") == 1.0:
        return "silu"
    return part


def _binary(node: Node, v: Value, residual: bool) -> str | None:
    if node.op not in _CONSTANT_OPERAND or len(node.inputs) != 2:
        return None
    other = node.inputs[1] if node.inputs[0] is v else node.inputs[0]
    if other is v or (node.op in ("ew.sub", "ew.div") and node.inputs[1] is not other):
        return None
    if other.is_constant:
        return _CONSTANT_OPERAND[node.op]
    if residual and node.op == "ew.add" and other.type == v.type:
        return "add"
    return None


def _silu(v: Value) -> _Step | None:
    """``v * sigmoid(v)``: v feeds exactly the sigmoid and the multiply."""
    users = v.users
    if len(v.uses) != 2 or len(users) != 2:
        return None
    sig = next((u for u in users if u.op == "ew.sigmoid"), None)
    mul = next((u for u in users if u.op == "ew.mul"), None)
    if sig is None or mul is None or len(sig.output.uses) != 1 or sig.output.uses[0][0] is not mul:
        return None
    if {id(x) for x in mul.inputs} != {id(v), id(sig.output)} or not _same_type(mul, v):
        return None
    return _Step((sig, mul), "silu")


def _next_step(v: Value, graph_outputs: set[int], residual: bool) -> _Step | None:
    """What the chain can absorb after ``v`` (None: the chain ends at v)."""
    if id(v) in graph_outputs:
        return None
    user = _sole_user(v, graph_outputs)
    if user is None:
        return _silu(v)
    if not _same_type(user, v):
        return None
    part = _activation(user, v) or _binary(user, v, residual)
    return _Step((user,), part) if part else None


def _chain(anchor: Node, graph_outputs: set[int], max_ops: int, residual: bool
           ) -> tuple[list[Node], list[str]]:
    """The anchor and its epilogue, and the parts of the region's kind."""
    nodes, parts = [anchor], [_ANCHORS[anchor.op]]
    if anchor.op == "nn.conv" and len(anchor.inputs) > 2 and anchor.inputs[2] is not None:
        parts.append("bias")
    v = anchor.output
    while True:
        step = _next_step(v, graph_outputs, residual)
        if step is None or len(nodes) - 1 + len(step.nodes) > max_ops:
            return nodes, parts
        nodes.extend(step.nodes)
        parts.append(step.part)
        v = step.nodes[-1].output


@register_pass
@dataclass(frozen=True)
class FuseEpilogue(Pass):
    """Fuse each conv / matmul with its elementwise epilogue (bias, scale, activation,
    residual add) into one ``fused.region`` whose kind names the pattern."""

    name = "fuse-epilogue"
    ensures = ("epilogue-fused",)
    example = "fold-batchnorm,fuse-epilogue{max-ops=3,residual=false}"
    max_ops: int = 8
    residual: bool = True

    def __post_init__(self) -> None:
        if self.max_ops < 1:
            raise ValueError("max-ops must be at least 1")

    def run(self, graph: Graph) -> PassResult:
        graph_outputs = {id(v) for v in graph.outputs}
        anchors = [n for n in graph if n.op in _ANCHORS and len(n.outputs) == 1]
        kinds: Counter = Counter()
        fused = 0
        for anchor in anchors:  # chains hold only elementwise nodes, so no anchor is absorbed
            nodes, parts = _chain(anchor, graph_outputs, self.max_ops, self.residual)
            if len(nodes) < 2 or not region_boundary(graph, nodes)[1]:
                continue  # nothing to fuse, or dead code (dce's job)
            kinds[make_region(graph, nodes, "+".join(parts)).attrs["kind"]] += 1
            fused += len(nodes)
        stats = {"regions": sum(kinds.values()), "nodes-fused": fused}
        return PassResult(bool(kinds), stats)
