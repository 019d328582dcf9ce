"""fuse-attention: BERT-style scaled dot-product attention -> ``nn.attention``.

On head-split operands q, k, v [B, H, S, D] exporters write::

    p = Softmax(MatMul(q, kT) [* c | / d] [+ mask], axis=-1)
    y = MatMul(p, v)

which is ``nn.attention(q, k, v, mask) {scale}`` (see the op's docstring for the contract).
The rule matches that tree (six spellings: with or without the scale and the mask; add and
mul commutative) with ``kT`` and ``q`` as plain variables, then reads their producers:

* ``kT = Transpose(k', perm)`` folds into the key: the op wants [B, H, S, D], which is
  ``Transpose(k', perm')`` with perm's last two entries swapped (``k'`` itself when perm'
  is the identity; BERT's ``perm=[0,2,3,1]`` on [B, S, H, D] gives ``perm'=[0,2,1,3]``).
  Any other ``kT`` gets a ``[0,1,3,2]`` transpose.
* a scalar constant multiplying (or dividing) q or kT before the matmul, as SDPA exports do
  with sqrt(scale) on both sides, multiplies into ``scale``.

Batch and head dims of q, k and v must be equal (no matmul broadcasting); a mask must be a
float of q's dtype covering every key (``nn.attention`` hides keys a narrower mask does not
reach, where an add would broadcast it).  The head split/merge around the block stays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from leptonc.ir.builder import Rewriter
from leptonc.ir.graph import Graph, Node, Value
from leptonc.passes.common import read_once, scalar_value
from leptonc.passmgr import PassResult, graph_pass
from leptonc.rewrite import Match, Op, RewriteRule, apply_rules, const, op, var

SWAP_LAST = (0, 1, 3, 2)


@dataclass(slots=True)
class Operands:
    """What the fused op reads, and the producers it absorbs."""

    q: Value
    key_source: Value
    key_perm: tuple[int, ...]  # key = Transpose(key_source, key_perm)
    scale: float
    absorbed: list[Node] = field(default_factory=list)  # producers first

    def key_shape(self) -> tuple | None:
        shape = self.key_source.type.shape
        return None if shape is None else tuple(shape[p] for p in self.key_perm)


def _unscaled(v: Value) -> tuple[Value, float, Node | None]:
    """``(x, c, node)`` when ``v = x * c`` or ``x / (1/c)`` with a scalar constant and nothing
    else reads v; else ``(v, 1, None)``."""
    node = v.producer
    if not read_once(v) or node.op not in ("ew.mul", "ew.div"):
        return v, 1.0, None
    a, b = node.inputs
    if node.op == "ew.mul":
        for x, c in ((a, b), (b, a)):
            factor = scalar_value(c)
            if factor is not None and x.type == v.type:
                return x, factor, node
    if node.op == "ew.div" and a.type == v.type and scalar_value(b):
        return a, 1.0 / scalar_value(b), node
    return v, 1.0, None


def operands(m: Match) -> Operands:
    q, q_factor, q_mul = _unscaled(m["q"])
    kt, k_factor, k_mul = _unscaled(m["kt"])
    scale = q_factor * k_factor
    if "scale" in m:
        scale *= scalar_value(m["scale"]) or 0.0
    if "divisor" in m:
        divisor = scalar_value(m["divisor"])
        scale = scale / divisor if divisor else 0.0
    found = Operands(q, kt, SWAP_LAST, scale, [n for n in (q_mul, k_mul) if n is not None])
    t = kt.producer
    if t is not None and t.op == "shape.transpose" and len(t.attr("perm")) == 4:
        perm = t.attr("perm")
        found.key_source, found.key_perm = t.inputs[0], tuple(perm[i] for i in SWAP_LAST)
        found.absorbed.insert(0, t)
    return found


def _same(*dims) -> bool:
    return None not in dims and len(set(dims)) == 1


def _check_shapes(q: tuple, k: tuple, v: tuple) -> str | None:
    if not (_same(q[0], k[0], v[0]) and _same(q[1], k[1], v[1])):
        return "q, k and v differ in batch or heads (a matmul would broadcast them)"
    if not (_same(q[3], k[3]) and _same(k[2], v[2])):
        return "q and k differ in head size, or k and v in sequence length"
    return None


def _check_mask(mask: Value, m: Match) -> str | None:
    scores = m["qk"].outputs[0].type
    if mask.type.dtype != scores.dtype:
        return f"the mask is {mask.type.dtype}, the scores {scores.dtype}"
    shape = mask.type.shape
    if shape is None or not shape or not _same(shape[-1], scores.shape[-1]):
        return "the mask does not span every key (nn.attention would hide the rest)"
    return None


class Attention(RewriteRule):
    name = "attention"

    def __init__(self, pattern: Op) -> None:
        self.pattern = pattern

    def check(self, m: Match) -> str | None:
        scores = m["qk"].outputs[0].type
        if scores.rank != 4 or m["softmax"].attr("axis") not in (3, -1):
            return "the softmax is not over the keys of rank-4 scores"
        if m["softmax"].inputs[0].type != scores:
            return "the scale or the mask broadcasts the scores to a bigger shape"
        found = operands(m)
        q, k, v = found.q.type, found.key_shape(), m["v"].type
        if not (q.dtype.is_float and q.dtype == found.key_source.type.dtype and v.dtype.is_float):
            return "q and k must share a float dtype and v must be float"
        if q.rank != 4 or v.rank != 4 or k is None:
            return "q, k and v must be rank-4 [batch, heads, seq, head_size]"
        if not (found.scale != 0 and math.isfinite(found.scale)):
            return "the scale is not a finite non-zero scalar constant"
        problem = _check_shapes(q.shape, k, v.shape)
        if problem is None and "mask" in m:
            problem = _check_mask(m["mask"], m)
        return problem

    def rewrite(self, rw: Rewriter, m: Match) -> Value:
        found = operands(m)
        key = found.key_source
        if found.key_perm != (0, 1, 2, 3):
            key = rw.op("shape.transpose", [key], {"perm": list(found.key_perm)})
        m.absorb(*found.absorbed)
        mask = [m["mask"]] if "mask" in m else []
        return rw.op("nn.attention", [found.q, key, m["v"], *mask], {"scale": found.scale})


def attention_rules() -> list[Attention]:
    qk = op("linalg.matmul", var("q"), var("kt"), bind="qk")
    scaled = (op("ew.mul", qk, const("scale"), commutative=True),
              op("ew.div", qk, const("divisor")), qk)
    rules = []
    for scores in scaled:
        for biased in (op("ew.add", scores, var("mask"), commutative=True), scores):
            probs = op("reduce.softmax", biased, bind="softmax")
            rules.append(Attention(op("linalg.matmul", probs, var("v"))))
    return rules


@graph_pass("fuse-attention", ensures=("attention-fused",), example="fuse-attention")
def fuse_attention(graph: Graph) -> PassResult:
    """Fuse softmax(q k^T * scale + mask) v on [B, H, S, D] operands into nn.attention."""
    fired = apply_rules(graph, attention_rules())
    return PassResult(bool(fired["attention"]), {"attentions": fired["attention"]})


fuse_attention.rules = tuple(attention_rules())  # for --debug-rules and the pass reference
