"""fuse-transformer: the transformer fusions in the order where each feeds the next.

1. ``fuse-softmax``        the attention pattern needs ``reduce.softmax``;
2. ``fuse-layernorm``      ``nn.layer_norm`` is what the skip fusion looks for;
3. ``fuse-gelu``           independent of the others;
4. ``fuse-attention``      after the softmax;
5. ``fuse-skip-layernorm`` last, on the layer norms of 2 and the frontend's (``skip-layernorm
                           =false`` keeps them plain, for targets without fused regions).

Each runs once: none of them creates a pattern that an earlier one would fuse.  Run it before
``fuse-epilogue``, which would otherwise take the residual adds into matmul regions.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from leptonc.ir.graph import Graph
from leptonc.passmgr import Pass, PassResult, get_pass, register_pass

STEPS = ("fuse-softmax", "fuse-layernorm", "fuse-gelu", "fuse-attention")
SKIP_STEP = "fuse-skip-layernorm"


@register_pass
@dataclass(frozen=True)
class FuseTransformer(Pass):
    """LayerNorm/RMSNorm, GELU, softmax, multi-head attention and skip+LayerNorm fusion
    (fuse-softmax, fuse-layernorm, fuse-gelu, fuse-attention, fuse-skip-layernorm); the stats
    are theirs, summed."""

    name = "fuse-transformer"
    ensures = ("softmax-fused", "layernorm-fused", "gelu-fused", "attention-fused",
               "transformer-fused")
    example = "fuse-transformer{skip-layernorm=false}"
    skip_layernorm: bool = True

    def steps(self) -> list[Pass]:
        names = STEPS + ((SKIP_STEP,) if self.skip_layernorm else ())
        return [get_pass(name)() for name in names]

    def run(self, graph: Graph) -> PassResult:
        stats: Counter = Counter()
        modified = False
        for step in self.steps():
            result = step.run(graph)
            modified |= result.modified
            stats.update(result.stats)
        return PassResult(modified, dict(stats))
