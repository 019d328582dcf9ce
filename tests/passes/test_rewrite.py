"""The declarative rewrite engine: matching, checks, interior-use safety, debug reasons,
absorbed nodes and the names of replacements."""

import numpy as np

from leptonc.ir import dtypes
from leptonc.ir.builder import Builder
from leptonc.ir.graph import Graph
from leptonc.ir.types import TensorType
from leptonc.ir.verifier import verify
from leptonc.rewrite import RewriteRule, apply_rules, const, match, op, var


class AddZero(RewriteRule):
    name = "add-zero"
    pattern = op("ew.add", var("x"), const("zero"), commutative=True)

    def check(self, m):
        return None if not np.any(m["zero"].data) else "the constant is not zero"

    def rewrite(self, rw, m):
        return m["x"] if m["x"].type == m.nodes[-1].outputs[0].type else None


class NegNeg(RewriteRule):
    name = "neg-neg"
    pattern = op("ew.neg", op("ew.neg", var("x")))

    def rewrite(self, rw, m):
        return m["x"]


def graph(extra_user: bool = False):
    g = Graph()
    x = g.add_input("x", TensorType(dtypes.f32, (2, 2)))
    b = Builder(g)
    zero = b.const(np.zeros((2, 2), np.float32), "zero")
    one = b.const(np.ones((2, 2), np.float32), "one")
    a = b.op("ew.add", [zero, x], name="a")  # zero on the left: commutative match
    c = b.op("ew.add", [a, one], name="c")  # not zero: rejected by check
    n1 = b.op("ew.neg", [c], name="n1")
    n2 = b.op("ew.neg", [n1], name="n2")
    outs = [n2, n1] if extra_user else [n2]
    g.set_outputs(outs)
    return g


def test_rules_rewrite_to_a_fixpoint():
    g = graph()
    fired = apply_rules(g, [AddZero(), NegNeg()])
    assert fired == {"add-zero": 1, "neg-neg": 1}
    assert [n.op for n in g] == ["ew.add"]
    assert g.outputs[0].name == "c" and g.output_names == ["n2"]
    verify(g)


def test_interior_nodes_with_other_users_block_the_match():
    g = graph(extra_user=True)
    reason = match(NegNeg.pattern, g.find_value("n2").producer)
    assert reason == "%n1 has other users, so ew.neg cannot be folded into the match"


def test_debug_reports_why_a_named_rule_did_not_apply():
    messages = []
    apply_rules(graph(), [AddZero()], debug={"add-zero"}, log=messages.append)
    assert "rule 'add-zero' matched at %c but was rejected: the constant is not zero" in messages


class ExpSquared(RewriteRule):
    """exp(y) * exp(y) -> exp(y + y): ``e`` is read twice, so its producer is absorbed."""

    name = "exp-squared"
    pattern = op("ew.mul", var("e"), var("e"))

    def check(self, m):
        exp = m["e"].producer
        return None if exp is not None and exp.op == "ew.exp" else "not an exp"

    def rewrite(self, rw, m):
        exp = m["e"].producer
        m.absorb(exp)
        y = exp.inputs[0]
        return rw.op("ew.exp", [rw.op("ew.add", [y, y])])


def exp_graph(extra_user: bool = False):
    g = Graph()
    y = g.add_input("y", TensorType(dtypes.f32, (3,)))
    b = Builder(g)
    e = b.op("ew.exp", [y], name="e")
    sq = b.op("ew.mul", [e, e], name="sq")
    g.set_outputs([sq, e] if extra_user else [sq])
    return g


def test_absorbed_nodes_are_erased_with_the_match():
    g = exp_graph()
    assert apply_rules(g, [ExpSquared()]) == {"exp-squared": 1}
    assert [n.op for n in g] == ["ew.add", "ew.exp"]
    verify(g)


def test_absorbed_nodes_that_are_still_read_stay():
    g = exp_graph(extra_user=True)
    apply_rules(g, [ExpSquared()])
    assert [n.op for n in g] == ["ew.exp", "ew.add", "ew.exp"]
    assert g.outputs[1].name == "e"
    verify(g)


def test_a_replacement_built_by_the_rewrite_takes_the_replaced_name():
    g = exp_graph()
    apply_rules(g, [ExpSquared()])
    add, exp = g.nodes
    assert exp.output.name == "sq" and g.outputs == [exp.output]
    assert add.output.name == "add"  # not a replacement: keeps its op-derived name
