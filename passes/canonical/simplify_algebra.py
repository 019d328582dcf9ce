"""simplify-algebra: exact algebraic identities as declarative rewrite rules (x * 1, x + 0,
x - 0, x / 1, x ^ 1, -(-x), relu(relu(x)), max(x, x), ...)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import ClassVar

from leptonc.ir.builder import Rewriter
from leptonc.ir.graph import Graph, Value
from leptonc.passmgr import Pass, PassResult, register_pass
from leptonc.rewrite import Match, RewriteRule, apply_rules, const, op, var

from .common import neutral_operand_reason

# x * 0 is deliberately absent: it is NaN for x = inf or NaN, not 0.


class _NeutralOperand(RewriteRule):
    """``x <op> c`` is x when c holds the op's neutral element and broadcasting against it
    keeps x's shape and type.  (x + 0 turns -0.0 into +0.0; like other NN compilers we
    treat the sign of zero as noise.)"""

    neutral: float = 0.0

    def check(self, m: Match) -> str | None:
        return neutral_operand_reason(m["x"], m["c"], m["root"].output, self.neutral)

    def rewrite(self, rw: Rewriter, m: Match) -> Value:
        return m["x"]


class MulOne(_NeutralOperand):
    name = "mul-one"
    pattern = op("ew.mul", var("x"), const("c"), commutative=True, bind="root")
    neutral = 1.0


class AddZero(_NeutralOperand):
    name = "add-zero"
    pattern = op("ew.add", var("x"), const("c"), commutative=True, bind="root")
    neutral = 0.0


class SubZero(_NeutralOperand):
    name = "sub-zero"
    pattern = op("ew.sub", var("x"), const("c"), bind="root")
    neutral = 0.0


class DivOne(_NeutralOperand):
    name = "div-one"
    pattern = op("ew.div", var("x"), const("c"), bind="root")
    neutral = 1.0


class PowOne(_NeutralOperand):
    name = "pow-one"
    pattern = op("ew.pow", var("x"), const("c"), bind="root")
    neutral = 1.0


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


RULES: tuple[RewriteRule, ...] = (MulOne(), AddZero(), SubZero(), DivOne(), PowOne(),
                                  Involution(), Idempotent(), AbsOfNeg(), SelfOperand())


def _log(line: str) -> None:
    print(line, file=sys.stderr)


@register_pass
@dataclass(frozen=True)
class SimplifyAlgebra(Pass):
    """Applies ``RULES`` to a fixpoint.  ``debug`` names rules (``a:b``, or ``all``) whose
    failed matches are explained on stderr, e.g. why an ``x + 0`` was kept."""

    name = "simplify-algebra"
    example = "simplify-algebra{debug=add-zero:mul-one}"
    rules: ClassVar[tuple[RewriteRule, ...]] = RULES
    debug: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        known = {r.name for r in self.rules} | {"all"}
        unknown = [d for d in self.debug if d not in known]
        if unknown:
            raise ValueError(f"unknown rule '{unknown[0]}' in debug (rules: "
                             f"{', '.join(sorted(known))})")

    def run(self, graph: Graph) -> PassResult:
        debug = [r.name for r in self.rules] if "all" in self.debug else self.debug
        fired = apply_rules(graph, self.rules, debug=debug, log=_log)
        return PassResult(bool(fired), {name: fired[name] for name in sorted(fired)})
