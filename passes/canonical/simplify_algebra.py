"""simplify-algebra: exact algebraic identities as declarative rewrite rules (x * 1, x + 0,
x - 0, x / 1, x ^ 1, -(-x), relu(relu(x)), max(x, x), ...)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from leptonc.ir.builder import Rewriter
from leptonc.ir.graph import Graph, Value
from leptonc.passes.common import neutral_operand_reason
from leptonc.passmgr import Pass, PassResult, register_pass
from leptonc.rewrite import Match, RewriteRule, apply_rules, const, op, var


class NeutralOperand(RewriteRule):
    """``x <op> c`` is x when c holds the op's neutral element and broadcasting against it
    keeps x's shape and type.  (x + 0 turns -0.0 into +0.0; like other NN compilers we
    treat the sign of zero as noise.)"""

    def __init__(self, name: str, ew_op: str, neutral: float, *, commutative: bool = False):
        self.name = name
        self.pattern = op(ew_op, var("x"), const("c"), commutative=commutative, bind="root")
        self.neutral = neutral

    def check(self, m: Match) -> str | None:
        return neutral_operand_reason(m["x"], m["c"], m["root"].output, self.neutral)

    def rewrite(self, rw: Rewriter, m: Match) -> Value:
        return m["x"]


# x * 0 is deliberately absent: it is NaN for x = inf or NaN, not 0.
NEUTRAL_OPERANDS = (NeutralOperand("mul-one", "ew.mul", 1.0, commutative=True),
                    NeutralOperand("add-zero", "ew.add", 0.0, commutative=True),
                    NeutralOperand("sub-zero", "ew.sub", 0.0),
                    NeutralOperand("div-one", "ew.div", 1.0),
                    NeutralOperand("pow-one", "ew.pow", 1.0))


class Involution(RewriteRule):
    """f(f(x)) = x for f in neg, not, bitwise_not."""

    name = "involution"
    _ops = ("ew.neg", "ew.not", "ew.bitwise_not")
    pattern = op(_ops, op(_ops, var("x"), bind="inner"), bind="outer")

    def check(self, m: Match) -> str | None:
        if m["outer"].op != m["inner"].op:
            return f"{m['outer'].op} of {m['inner'].op} is not an involution"
        return None

    def rewrite(self, rw: Rewriter, m: Match) -> Value:
        return m["x"]


class Idempotent(RewriteRule):
    """f(f(x)) = f(x) for f in relu, abs, floor, ceil, round, sign."""

    name = "idempotent"
    _ops = ("ew.relu", "ew.abs", "ew.floor", "ew.ceil", "ew.round", "ew.sign")
    pattern = op(_ops, op(_ops, var("x"), bind="inner"), bind="outer")

    def check(self, m: Match) -> str | None:
        if m["outer"].op != m["inner"].op:
            return f"{m['outer'].op} of {m['inner'].op} is not a repeated op"
        return None

    def rewrite(self, rw: Rewriter, m: Match) -> Value:
        return m["inner"].output


class AbsOfNeg(RewriteRule):
    name = "abs-of-neg"
    pattern = op("ew.abs", op("ew.neg", var("x")))

    def rewrite(self, rw: Rewriter, m: Match) -> Value:
        return rw.op("ew.abs", [m["x"]])


class SelfOperand(RewriteRule):
    """max(x, x) = min(x, x) = and(x, x) = or(x, x) = x (same value, so same shape)."""

    name = "self-operand"
    pattern = op(("ew.max", "ew.min", "ew.and", "ew.or"), var("x"), var("x"))

    def rewrite(self, rw: Rewriter, m: Match) -> Value:
        return m["x"]


RULES: tuple[RewriteRule, ...] = (*NEUTRAL_OPERANDS, Involution(), Idempotent(), AbsOfNeg(),
                                  SelfOperand())


@register_pass
@dataclass(frozen=True)
class SimplifyAlgebra(Pass):
    """Applies ``RULES`` to a fixpoint (canonicalize runs it too).  ``leptonc --debug-rules
    add-zero`` (or ``all``) explains on stderr why a rule did not match, e.g. why an
    ``x + 0`` was kept."""

    name = "simplify-algebra"
    rules: ClassVar[tuple[RewriteRule, ...]] = RULES

    def run(self, graph: Graph) -> PassResult:
        fired = apply_rules(graph, self.rules)
        return PassResult(bool(fired), {name: fired[name] for name in sorted(fired)})
