"""The declarative rewrite engine: matching, checks, interior-use safety, debug reasons."""

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
