"""canonicalize: the canonicalization passes run together to a fixpoint."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from leptonc.ir.graph import Graph
from leptonc.passmgr import Pass, PassResult, register_pass

from .cse import Cse
from .dce import dce
from .fold_constants import FoldConstants
from .fold_reshapes import fold_reshapes
from .fold_transposes import fold_transposes
from .remove_noops import remove_noops
from .simplify_algebra import SimplifyAlgebra


@register_pass
@dataclass(frozen=True)
class Canonicalize(Pass):
    """fold-constants, remove-noops, fold-reshapes, fold-transposes, simplify-algebra, cse
    and dce, repeated until a round changes nothing (at most ``max-iterations`` rounds: each
    round is linear in the graph, and one rarely enables more than one further round).
    The stats are the sub-passes' summed, plus ``iterations``."""

    name = "canonicalize"
    ensures = ("canonical", "no-dead-code")
    example = "canonicalize{max-iterations=4}"
    max_iterations: int = 8
    max_elements: int = 1 << 24  # fold-constants' limit

    def __post_init__(self) -> None:
        if self.max_iterations < 1:
            raise ValueError(f"max-iterations must be >= 1, got {self.max_iterations}")

    def run(self, graph: Graph) -> PassResult:
        passes = (FoldConstants(max_elements=self.max_elements), remove_noops(),
                  fold_reshapes(), fold_transposes(), SimplifyAlgebra(), Cse(), dce())
        stats: Counter = Counter()
        modified = False
        for _ in range(self.max_iterations):
            stats["iterations"] += 1
            changed = False
            for p in passes:
                result = p.run(graph)
                stats.update(result.stats)
                changed |= result.modified
            modified |= changed
            if not changed:
                break
        return PassResult(modified, dict(stats))
