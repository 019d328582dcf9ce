"""dce: remove nodes whose results nothing reads, then constants nothing reads."""

from __future__ import annotations

from leptonc.ir.graph import Graph
from leptonc.passes.common import remove_unused_constants
from leptonc.passmgr import PassResult, graph_pass


@graph_pass("dce", ensures=("no-dead-code",), example="dce")
def dce(graph: Graph) -> PassResult:
    """Dead-code elimination: nodes without used results (walking backwards, so whole dead
    chains go in one sweep) and unused constants."""
    outputs = {id(v) for v in graph.outputs}
    nodes = 0
    for node in reversed(graph):
        if not any(v.uses or id(v) in outputs for v in node.outputs):
            graph.erase(node)
            nodes += 1
    constants = remove_unused_constants(graph, graph.constants.values())
    return PassResult(bool(nodes or constants), {"nodes-removed": nodes,
                                                 "constants-removed": constants})
