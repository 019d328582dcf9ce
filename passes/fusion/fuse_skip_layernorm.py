"""fuse-skip-layernorm: a residual add feeding a layer norm -> one ``fused.region``.

    %s = ew.add(%x, %skip)                           %y[, %s] = fused.region(%x, %skip, %g, %b)
    %y = nn.layer_norm(%s, %g, %b)          ->                  {kind="skip+layernorm"}

Every transformer block ends in one (post-LN BERT) or starts with one (pre-LN ViT, GPT);
fused, the sum never makes a round trip through memory, which is what onnxruntime's
SkipLayerNormalization does.  A region rather than a dedicated op: the canonical op set stays
small, a target that knows the pattern lowers the region as one kernel, any other lowers its
body (the add and the norm, unchanged).  When something else reads the sum too (pre-LN: the
next residual add), the region returns it as a second output.

The add must be a true residual: two non-constant tensors of the sum's exact type (adding a
constant, e.g. a position embedding, is a bias, left to the epilogue fusions).  The norm's
scale and bias must be constants or graph inputs: the norm then moves right after the add,
so the region stands where the add stood, before every other reader of the sum.  Run this
before ``fuse-epilogue``, which would otherwise take the add into a matmul's region.
"""

from __future__ import annotations

from leptonc.ir.graph import Graph, Node
from leptonc.passes.fusion.regions import make_region
from leptonc.passmgr import PassResult, graph_pass

KIND = "skip+layernorm"


def _residual_add(norm: Node) -> Node | None:
    """The add this layer norm can fuse with, or None."""
    if norm.attr("with_stats"):
        return None
    total = norm.inputs[0]
    add = total.producer
    if add is None or add.op != "ew.add":
        return None
    if any(v.is_constant or v.type != total.type for v in add.inputs):
        return None
    if any(v is not None and v.producer is not None for v in norm.inputs[1:]):
        return None  # computed parameters might be defined after the add
    return add


def _hoist(graph: Graph, norm: Node, add: Node) -> None:
    """Move the norm right after the add (it reads nothing else computed, see _residual_add)."""
    graph.unlink(norm)
    graph.insert_after(add, norm)


@graph_pass("fuse-skip-layernorm", ensures=("skip-layernorm-fused",),
            example="fuse-layernorm,fuse-skip-layernorm")
def fuse_skip_layernorm(graph: Graph) -> PassResult:
    """Fuse each residual add and the layer norm reading it into a fused.region of kind
    "skip+layernorm" (returning the sum too when other nodes read it)."""
    fused = 0
    for norm in [n for n in graph if n.op == "nn.layer_norm"]:
        add = _residual_add(norm)
        if add is None:
            continue
        _hoist(graph, norm, add)
        make_region(graph, [add, norm], KIND)
        fused += 1
    return PassResult(bool(fused), {"skip-layernorms": fused})
