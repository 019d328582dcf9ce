"""Building ``fused.region`` nodes from a set of nodes (shared by the fusion passes).

    region = make_region(graph, [conv, add, relu], "conv+add+relu")

``make_region`` moves the nodes into a self-contained body graph and puts one
``fused.region`` node where the last of them stood:

- region inputs: every value a member reads that no member produces, constants included
  (weights stay in the outer graph and come in as inputs), in order of first use;
- region outputs: every member result read by a node outside the set or returned by the
  graph, in member order; the region's results take over the replaced values' names;
- the body keeps the members' ops, attributes, value names and source names; its inputs
  bind the region's inputs in order.

Preconditions (the caller's grouping guarantees them; verify-each catches a violation):
``nodes`` are distinct, in graph order, and no node outside the set that reads a member's
result stands before the last member.  Then placing the region at the last member keeps the
graph topologically ordered, and the dataflow acyclic.  The cost is linear in the members
and their uses, never in the size of the graph.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from leptonc.ir.builder import Rewriter
from leptonc.ir.graph import Graph, Node, Value

REGION_OP = "fused.region"


def region_boundary(graph: Graph, nodes: Sequence[Node]) -> tuple[list[Value], list[Value]]:
    """The (inputs, outputs) a region made of ``nodes`` would have (see the module doc)."""
    members = {id(n) for n in nodes}
    graph_outputs = {id(v) for v in graph.outputs}
    inputs: dict[int, Value] = {}
    outputs: list[Value] = []
    for node in nodes:
        for v in node.inputs:
            if v is not None and (v.producer is None or id(v.producer) not in members):
                inputs.setdefault(id(v), v)
        for v in node.outputs:
            if id(v) in graph_outputs or any(id(user) not in members for user, _ in v.uses):
                outputs.append(v)
    return list(inputs.values()), outputs


def make_region(graph: Graph, nodes: Sequence[Node], kind: str, *,
                source_name: str | None = None) -> Node:
    """Replace ``nodes`` (in graph order) by one ``fused.region`` node of pattern ``kind``.

    The region's source name defaults to the first member's (the anchor of the pattern)."""
    if not nodes:
        raise ValueError("a region needs at least one node")
    if len({id(n) for n in nodes}) != len(nodes) or any(n.graph is not graph for n in nodes):
        raise ValueError("region members must be distinct nodes of the graph")
    inputs, outputs = region_boundary(graph, nodes)
    if not outputs:
        raise ValueError(f"region '{kind}' computes nothing the graph uses")
    body = _build_body(nodes, inputs, outputs, kind)
    rw = Rewriter(graph, before=nodes[-1],
                  source_name=nodes[0].source_name if source_name is None else source_name)
    region = rw.node(REGION_OP, inputs, {"kind": kind, "body": body},
                     out_names=[v.name for v in outputs])
    renames = rw.names_to_keep(outputs, region.outputs)
    _redirect_external_uses(rw, nodes, outputs, region.outputs)
    for node in reversed(nodes):  # users before producers, so each is unused when erased
        graph.erase(node)
    rw.restore_names(renames)  # the erased values' names are free again
    return region


def _build_body(nodes: Sequence[Node], inputs: Sequence[Value], outputs: Sequence[Value],
                kind: str) -> Graph:
    """A copy of ``nodes`` reading body inputs in place of ``inputs``."""
    body = Graph(_body_name(kind))
    mapping: dict[int, Value] = {id(v): body.add_input(v.name, v.type) for v in inputs}
    for node in nodes:
        clone = Node(node.op, [None if v is None else mapping[id(v)] for v in node.inputs],
                     dict(node.attrs), node.source_name)
        body.make_outputs(clone, [v.type for v in node.outputs], [v.name for v in node.outputs])
        body.append(clone)
        mapping.update((id(old), new) for old, new in zip(node.outputs, clone.outputs, strict=True))
    body.set_outputs([mapping[id(v)] for v in outputs], [v.name for v in outputs])
    return body


def _body_name(kind: str) -> str:
    """``conv+bias+relu`` -> ``conv_bias_relu``: a bare name in the text form."""
    return re.sub(r"[^A-Za-z0-9_]+", "_", kind).strip("_") or "region"


def _redirect_external_uses(rw: Rewriter, nodes: Sequence[Node], old: Sequence[Value],
                            new: Sequence[Value]) -> None:
    members = {id(n) for n in nodes}
    for old_value, new_value in zip(old, new, strict=True):
        for user, index in old_value.uses:
            if id(user) not in members:
                user.set_input(index, new_value)
        rw.graph.replace_output(old_value, new_value)
