"""prune-magnitude: zero the smallest-magnitude weights (unstructured sparsity).

Per layer (the default) every weight in scope loses ``round(sparsity * size)`` elements;
with ``global=true`` one threshold over all weights in scope removes that share of
their elements together, so layers with many small weights lose more.  Exactly that many
elements go even when magnitudes tie (argpartition, not a ``<=`` threshold).

The pruned constant's type records ``!sparse<unstructured, density=...>``.  A weight that
already had an N:M encoding keeps it (zeroing more elements cannot break N:M), with the new
density; a block encoding stays only while its tiles are still all-zero or zero-free.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass

import numpy as np

from leptonc import sparsity
from leptonc.ir.graph import Graph
from leptonc.ir.types import SparseEncoding
from leptonc.passes.sparsity.weights import (
    Weight,
    keep_constant_order,
    replace_weight,
    scores,
    select,
)
from leptonc.passmgr import Pass, PassResult, register_pass


@register_pass
@dataclass(frozen=True)
class PruneMagnitude(Pass):
    """Zero the ``sparsity`` share of smallest-magnitude elements of every prunable weight
    (conv and matmul weights; see passes/sparsity/weights.py) whose reader matches ``scope``
    (globs, separated by ``|``, over source names and op types)."""

    name = "prune-magnitude"
    ensures = ("pruned",)
    # Lossy by design: validate-each cannot judge a pass whose purpose is to change the
    # weights (its effect on accuracy is measured on data, not against the dense graph), so
    # any finite drift passes (the largest float, not inf, which numpy's isclose rejects).
    rtol = 0.0
    atol = sys.float_info.max
    example = "prune-magnitude{sparsity=0.8,global=true}"

    sparsity: float = 0.5
    global_: bool = False
    scope: str = "*"

    def __post_init__(self) -> None:
        if not 0 <= self.sparsity < 1:
            raise ValueError(f"sparsity must be in [0, 1), got {self.sparsity}")
        if not self.scope.strip():
            raise ValueError("scope must not be empty (use * for every weight)")

    def run(self, graph: Graph) -> PassResult:
        weights = select(graph, self.name, self.scope)
        if not weights or self.sparsity == 0:
            return PassResult(False, {"weights": 0, "zeroed": 0})
        masks = _global_masks(weights, self.sparsity) if self.global_ else [
            _layer_mask(w, self.sparsity) for w in weights]
        order = list(graph.constants)
        zeroed = 0
        for weight, keep in zip(weights, masks, strict=True):
            data = np.where(keep, weight.value.data, 0)
            before = sparsity.nonzeros(weight.value.data)
            replace_weight(graph, weight, data, _encoding(weight, data))
            zeroed += before - sparsity.nonzeros(data)
        keep_constant_order(graph, order)
        return PassResult(True, {"weights": len(weights), "zeroed": zeroed})


def _layer_mask(weight: Weight, share: float) -> np.ndarray:
    magnitude = scores(weight)
    return _keep_largest(magnitude.ravel(), round(share * magnitude.size)).reshape(
        magnitude.shape)


def _global_masks(weights: list[Weight], share: float) -> list[np.ndarray]:
    magnitudes = [scores(w) for w in weights]
    flat = np.concatenate([m.ravel() for m in magnitudes])
    keep = _keep_largest(flat, round(share * flat.size))
    bounds = np.cumsum([m.size for m in magnitudes])[:-1]
    return [k.reshape(m.shape) for k, m in zip(np.split(keep, bounds), magnitudes, strict=True)]


def _keep_largest(magnitude: np.ndarray, drop: int) -> np.ndarray:
    """A mask keeping all but the ``drop`` smallest of a flat array."""
    keep = np.ones(magnitude.shape, bool)
    if drop:
        keep[np.argpartition(magnitude, drop - 1)[:drop]] = False
    return keep


def _encoding(weight: Weight, data: np.ndarray) -> SparseEncoding:
    density = sparsity.density(data)
    old = weight.value.type.encoding
    if old is not None and (old.kind == "nm" or (
            old.kind == "block" and sparsity.check_blocks(data, old.block))):
        return dataclasses.replace(old, density=density)
    return SparseEncoding("unstructured", density)
