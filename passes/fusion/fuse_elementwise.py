"""fuse-elementwise: connected groups of elementwise ops over one shape become one region.

    %a = ew.mul(%x, %s)                       %c = fused.region(%x, %s, %t)
    %b = ew.add(%a, %t)              ->            {kind="elementwise:3", body=...}
    %c = ew.relu(%b)

Candidates are the ``ew.*`` nodes (outside regions) with one statically shaped, non-string
result.  Two candidates are connected when one reads the other's result and both results
have the same shape, so a group shares one iteration space; operands from outside the group
(constants, smaller tensors) may broadcast into it.  networkx gives the connected components;
each is cut greedily, in graph order, into groups of at most ``max-ops`` nodes; groups of at
least ``min-ops`` nodes become ``fused.region`` nodes of kind ``elementwise:<n>``.

No cycles: a node joins a group only if every result of the group that is read outside the
new group is read by a node standing after the joining node.  So every group's results are
read only after its last member, the region can stand where that member stood, and the order
of the graph (a topological order of the fused graph too) proves that no path leaves a group
and comes back.  The check looks only at the uses of the group's members (at most
``max-ops`` nodes), so the pass runs in time linear in the graph.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from leptonc.ir.graph import Graph, Node
from leptonc.passes.fusion.regions import make_region, region_boundary
from leptonc.passmgr import Pass, PassResult, register_pass


def _fusible(node: Node) -> bool:
    if not node.op.startswith("ew.") or len(node.outputs) != 1:
        return False
    shape = node.output.type.shape
    if shape is None or any(d is None for d in shape):
        return False  # unknown dims: two such shapes cannot be proven equal
    values = [node.output, *(v for v in node.inputs if v is not None)]
    return all(v.type.dtype.kind != "str" for v in values)


def _dataflow(graph: Graph) -> nx.DiGraph:
    """Candidates, with an edge wherever one reads the other's result over the same shape."""
    dg = nx.DiGraph()
    for node in graph:
        if not _fusible(node):
            continue
        dg.add_node(node)
        for v in node.inputs:
            p = None if v is None else v.producer
            if p is not None and p in dg and v.type.shape == node.output.type.shape:
                dg.add_edge(p, node)
    return dg


def _read_after(group: list[Node], joined: set[Node], last: int, position: dict[Node, int]
                ) -> bool:
    """Whether every reader of ``group``'s results outside ``joined`` stands after ``last``."""
    return all(user in joined or position[user] > last
               for member in group for user in member.output.users)


def _partition(component: list[Node], dg: nx.DiGraph, position: dict[Node, int],
               max_ops: int) -> list[list[Node]]:
    """Greedy grouping of one connected component, visited in graph order."""
    group_of: dict[Node, list[Node]] = {}
    for node in component:
        joined = [node]
        members = {node}
        for pred in dg.predecessors(node):
            group = group_of[pred]
            if group[0] in members or len(joined) + len(group) > max_ops:
                continue  # already joined through another operand, or too large
            if _read_after(group, members | set(group), position[node], position):
                joined.extend(group)
                members.update(group)
        joined.sort(key=position.__getitem__)
        for member in joined:
            group_of[member] = joined
    return list({id(g): g for g in group_of.values()}.values())


@register_pass
@dataclass(frozen=True)
class FuseElementwise(Pass):
    """Fuse connected groups of elementwise ops over one shape into ``fused.region`` nodes
    (kind ``elementwise:<n>``), never creating a cycle."""

    name = "fuse-elementwise"
    ensures = ("elementwise-fused",)
    example = "fuse-epilogue,fuse-elementwise{max-ops=8,min-ops=3}"
    max_ops: int = 16
    min_ops: int = 2

    def __post_init__(self) -> None:
        if not 1 <= self.min_ops <= self.max_ops:
            raise ValueError("options need 1 <= min-ops <= max-ops")

    def run(self, graph: Graph) -> PassResult:
        position = {node: i for i, node in enumerate(graph)}
        dg = _dataflow(graph)
        # Group everything before building any region: the grouping reads the original order.
        groups = [group for component in nx.weakly_connected_components(dg)
                  for group in _partition(sorted(component, key=position.__getitem__), dg,
                                          position, self.max_ops)]
        regions = fused = 0
        for group in groups:
            if len(group) >= self.min_ops and region_boundary(graph, group)[1]:
                make_region(graph, group, f"elementwise:{len(group)}")
                regions += 1
                fused += len(group)
        return PassResult(regions > 0, {"regions": regions, "nodes-fused": fused})
