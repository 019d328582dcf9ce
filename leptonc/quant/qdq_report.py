"""What ``quantize_graph`` did: every node's decision with its reason and every quantized
tensor's parameters, as a table for people and JSON for tools."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from leptonc.ir.graph import Node
from leptonc.quant.config import QuantConfig
from leptonc.quant.qdq_plan import QUANTIZED, Plan, node_label


@dataclass(frozen=True, slots=True)
class NodeDecision:
    node: str  # the node's label (source name, else its first result)
    op: str
    quantized: bool
    # "quantized", "quantized (fused into conv1)", "quantized, output stays float: read only
    # by float ops (nn.layer_norm)" or why it stays float
    reason: str

    @classmethod
    def of(cls, node: Node, plan: Plan) -> NodeDecision:
        decision = plan.decisions[node]
        anchor = plan.fused_into.get(node)
        unit = plan.units.get(node)
        if decision == QUANTIZED and anchor is not None:
            decision = f"{QUANTIZED} (fused into {node_label(anchor)})"
        elif decision == QUANTIZED and unit is not None and unit.float_output is not None:
            decision = f"{QUANTIZED}, output stays float: {unit.float_output}"
        return cls(node_label(node), node.op, decision.startswith(QUANTIZED), decision)


@dataclass(frozen=True, slots=True)
class TensorRecord:
    name: str  # the float value's name before the rewrite
    role: str  # activation, weight, bias or constant
    dtype: str
    scale: np.ndarray  # 0-d, or one per index of axis
    zero_point: np.ndarray
    axis: int | None
    how: str  # where the parameters came from

    def describe(self) -> str:
        if self.axis is None:
            return f"scale={float(self.scale):.6g} zp={int(self.zero_point)}"
        s = self.scale
        return f"axis={self.axis} scale=[{float(s.min()):.3g} .. {float(s.max()):.3g}] ({s.size})"


@dataclass(slots=True)
class QuantizeReport:
    config: QuantConfig
    nodes: list[NodeDecision]
    tensors: list[TensorRecord]
    batches: int  # calibration batches seen (0: nothing needed calibration)

    def tensors_of(self, role: str) -> list[TensorRecord]:
        return [t for t in self.tensors if t.role == role]

    def tensor(self, name: str) -> TensorRecord:
        """The record of the tensor that was called ``name`` (KeyError when not quantized)."""
        for t in self.tensors:
            if t.name == name:
                return t
        raise KeyError(name)

    def decision(self, node: str) -> NodeDecision:
        for d in self.nodes:
            if d.node == node:
                return d
        raise KeyError(node)

    @property
    def stats(self) -> dict[str, int]:
        quantized = sum(d.quantized for d in self.nodes)
        return {"quantized-nodes": quantized, "float-nodes": len(self.nodes) - quantized,
                "activations": len(self.tensors_of("activation")),
                "weights": len(self.tensors_of("weight")),
                "biases": len(self.tensors_of("bias")),
                "calibration-batches": self.batches}

    def float_reasons(self) -> Counter:
        """How many nodes stay float for each reason."""
        return Counter(d.reason for d in self.nodes if not d.quantized)

    def format(self) -> str:
        """The node table, then the quantized tensors."""
        width = max((len(d.node) for d in self.nodes), default=4)
        lines = [f"{'node':<{width}}  {'op':<20}  decision"]
        lines += [f"{d.node:<{width}}  {d.op:<20}  {d.reason}" for d in self.nodes]
        lines.append("")
        width = max((len(t.name) for t in self.tensors), default=6)
        lines.append(f"{'tensor':<{width}}  {'role':<10}  {'type':<4}  parameters")
        lines += [f"{t.name:<{width}}  {t.role:<10}  {t.dtype:<4}  {t.describe()}  ({t.how})"
                  for t in self.tensors]
        s = self.stats
        lines.append(f"\n{s['quantized-nodes']} nodes quantized, {s['float-nodes']} in float; "
                     f"{s['activations']} activations, {s['weights']} weights, "
                     f"{s['biases']} biases; {s['calibration-batches']} calibration batches")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "stats": self.stats,
            "nodes": [{"node": d.node, "op": d.op, "quantized": d.quantized, "reason": d.reason}
                      for d in self.nodes],
            "tensors": [{"name": t.name, "role": t.role, "dtype": t.dtype, "axis": t.axis,
                         "scale": np.asarray(t.scale, np.float64).tolist(),
                         "zero_point": np.asarray(t.zero_point).astype(np.int64).tolist(),
                         "how": t.how} for t in self.tensors],
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=1)
