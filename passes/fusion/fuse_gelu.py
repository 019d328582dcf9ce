"""fuse-gelu: GELU written out with Erf or Tanh -> ``ew.gelu {approximate}``.

Exporters before ONNX opset 20 have no Gelu op and write one of

    erf:   0.5 * x * (1 + erf(x / sqrt(2)))                       (or x * (1/sqrt(2)))
    tanh:  0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))  (x^3 as Pow or x*x*x)

in one of three groupings of the outer product, depending on the exporter:
``x * (0.5 * (1 + t))`` (torch's dynamo exporter), ``(x * 0.5) * (1 + t)`` (the classic
form) and ``(x * (1 + t)) * 0.5``.  Every ``add``/``mul`` matches commutatively, so the
operand order inside each grouping does not matter.  Constants must be one-element tensors
equal to the expected value to f32 precision, and the result must have x's type (a constant
that broadcasts x to a bigger shape is not a GELU).
"""

from __future__ import annotations

import math

import numpy as np

from leptonc.ir.builder import Rewriter
from leptonc.ir.graph import Graph, Value
from leptonc.passes.common import scalar_value
from leptonc.passmgr import PassResult, graph_pass
from leptonc.rewrite import Match, Op, RewriteRule, apply_rules, const, op, var

# The constants each spelling may bind, by pattern name.
EXPECTED = {"half": 0.5, "one": 1.0, "sqrt2": math.sqrt(2.0), "inv_sqrt2": math.sqrt(0.5),
            "sqrt_2_over_pi": math.sqrt(2.0 / math.pi), "cubic": 0.044715, "three": 3.0}
# Constants are usually stored in f32; anything closer than this to the exact value is it.
RTOL = 1e-6


def _mul(a, b) -> Op:
    return op("ew.mul", a, b, commutative=True)


def _erf_terms() -> list[Op]:
    x = var("x")
    return [op("ew.erf", op("ew.div", x, const("sqrt2"))),
            op("ew.erf", _mul(x, const("inv_sqrt2")))]


def _tanh_terms() -> list[Op]:
    x = var("x")
    cubes = (op("ew.pow", x, const("three")), _mul(x, _mul(x, x)))
    return [op("ew.tanh", _mul(const("sqrt_2_over_pi"),
                               op("ew.add", x, _mul(const("cubic"), cube), commutative=True)))
            for cube in cubes]


def _gelu_patterns(term: Op) -> list[Op]:
    """The three groupings of ``0.5 * x * (1 + term)``."""
    x, half = var("x"), const("half")
    one_plus = op("ew.add", term, const("one"), commutative=True)
    return [_mul(x, _mul(half, one_plus)),
            _mul(_mul(x, half), one_plus),
            _mul(_mul(x, one_plus), half)]


class Gelu(RewriteRule):
    """One spelling of GELU; ``approximate`` is ``"none"`` (erf) or ``"tanh"``."""

    def __init__(self, pattern: Op, approximate: str) -> None:
        self.pattern = pattern
        self.approximate = approximate
        self.name = "gelu-erf" if approximate == "none" else "gelu-tanh"

    def check(self, m: Match) -> str | None:
        x = m["x"]
        if not x.type.dtype.is_float:
            return "x is not floating point"
        if m.nodes[-1].outputs[0].type != x.type:
            return "a constant broadcasts the result beyond x's shape"
        for name, expected in EXPECTED.items():
            if name in m:
                got = scalar_value(m[name])
                if got is None or not np.isclose(got, expected, rtol=RTOL, atol=0):
                    return f"%{m[name].name} is not the scalar {expected:.7g}"
        return None

    def rewrite(self, rw: Rewriter, m: Match) -> Value:
        attrs = {"approximate": "tanh"} if self.approximate == "tanh" else {}
        return rw.op("ew.gelu", [m["x"]], attrs)


def gelu_rules() -> list[Gelu]:
    return ([Gelu(p, "none") for t in _erf_terms() for p in _gelu_patterns(t)]
            + [Gelu(p, "tanh") for t in _tanh_terms() for p in _gelu_patterns(t)])


@graph_pass("fuse-gelu", ensures=("gelu-fused",), example="fuse-gelu")
def fuse_gelu(graph: Graph) -> PassResult:
    """Fuse GELU written with Erf (exact) or Tanh (approximate) into ew.gelu."""
    fired = apply_rules(graph, gelu_rules())
    stats = {"gelus": fired["gelu-erf"], "gelus-tanh": fired["gelu-tanh"]}
    return PassResult(bool(sum(fired.values())), stats)


fuse_gelu.rules = tuple(gelu_rules())  # for --debug-rules and the pass reference
