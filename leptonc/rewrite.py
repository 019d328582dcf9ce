"""Declarative pattern rewriting: rules are (pattern, check, rewrite), applied to a fixpoint
with a worklist.

    class FoldAddZero(RewriteRule):
        name = "add-zero"
        pattern = op("ew.add", var("x"), const("zero"), commutative=True)

        def check(self, m):
            return None if not m["zero"].data.any() else "the constant is not zero"

        def rewrite(self, rw, m):
            return m["x"]          # the value (or values) replacing the root's outputs

A pattern is a tree of ``op(...)`` / ``var(name)`` / ``const(name)``; the tree's root op is
the node a rule is tried at.  Interior nodes of a match must have no other users (they are
erased after the rewrite); ``Match.absorb`` adds nodes the pattern cannot express (the
producer of a value bound twice) to what is erased.  A replacement the rewrite built takes
over the name of the root output it replaces.
``apply_rules(graph, rules, debug={"add-zero"})`` reports why a named rule did not match at
each node it was tried on; ``with debug_rules({"add-zero"}):`` does the same for every
``apply_rules`` call inside the block, whichever pass makes it.
"""

from __future__ import annotations

import sys
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, ClassVar

from leptonc.ir.builder import Rewriter
from leptonc.ir.graph import Graph, Node, Value


# ----- patterns --------------------------------------------------------------------------------
class Pattern:
    bind: str | None = None


@dataclass(frozen=True, eq=False)
class Var(Pattern):
    """Any value (or an omitted optional input when ``optional``)."""

    bind: str | None
    optional: bool = False


@dataclass(frozen=True, eq=False)
class Const(Pattern):
    """A compile-time constant."""

    bind: str | None


@dataclass(frozen=True, eq=False)
class Op(Pattern):
    """A node of ``ops`` whose inputs match ``inputs`` (and ``attrs`` equal the given values).

    Trailing inputs of the node that the pattern does not list must be omitted, unless
    ``extra_inputs`` allows them."""

    ops: tuple[str, ...]
    inputs: tuple[Pattern, ...]
    attrs: dict[str, Any] = field(default_factory=dict)
    bind: str | None = None
    commutative: bool = False
    extra_inputs: bool = False


def op(ops: str | Sequence[str], *inputs: Pattern, bind: str | None = None,
       commutative: bool = False, extra_inputs: bool = False, **attrs: Any) -> Op:
    names = (ops,) if isinstance(ops, str) else tuple(ops)
    return Op(names, tuple(inputs), attrs, bind, commutative, extra_inputs)


def var(bind: str | None = None, optional: bool = False) -> Var:
    return Var(bind, optional)


def const(bind: str | None = None) -> Const:
    return Const(bind)


class Match(dict):
    """Bindings (name -> Value; ``op`` binds name -> Node) plus the matched nodes (producers
    first, the root last) and the nodes a rule absorbed."""

    def __init__(self) -> None:
        super().__init__()
        self.nodes: list[Node] = []
        self.absorbed: list[Node] = []

    def absorb(self, *nodes: Node) -> None:
        """Make ``nodes``, which the pattern could not express, part of the match: after the
        rewrite, once the root and the pattern's nodes are erased, each is erased too if
        nothing reads it any more.  List producers before their readers (across calls too),
        as in ``nodes``; e.g. a rule binding ``e`` twice absorbs the ``exp`` making it."""
        self.absorbed.extend(nodes)


class NoMatch(Exception):
    """Raised inside matching with the reason; never escapes ``match``."""


def _match_value(p: Pattern, v: Value | None, m: Match, root: bool) -> None:
    if isinstance(p, Var):
        if v is None and not p.optional:
            raise NoMatch(f"input is omitted, pattern {p.bind or '_'} needs a value")
        _bind(m, p.bind, v)
        return
    if v is None:
        raise NoMatch("an input the pattern needs is omitted")
    if isinstance(p, Const):
        if not v.is_constant:
            raise NoMatch(f"%{v.name} is not a constant")
        _bind(m, p.bind, v)
        return
    assert isinstance(p, Op)
    node = v.producer
    if node is None or node.op not in p.ops:
        found = "a graph input or constant" if node is None else node.op
        raise NoMatch(f"%{v.name} is {found}, pattern wants {'|'.join(p.ops)}")
    if not root and (len(v.uses) != 1 or v in (node.graph.outputs if node.graph else ())):
        raise NoMatch(f"%{v.name} has other users, so {node.op} cannot be folded into the match")
    _match_node(p, node, m)


def _match_node(p: Op, node: Node, m: Match) -> None:
    for key, want in p.attrs.items():
        if node.attr(key) != want:
            raise NoMatch(f"{node.op} has {key}={node.attr(key)!r}, pattern wants {want!r}")
    ins = list(node.inputs)
    if len(ins) > len(p.inputs):
        if not p.extra_inputs and any(v is not None for v in ins[len(p.inputs):]):
            raise NoMatch(f"{node.op} has more inputs than the pattern")
    ins = (ins + [None] * len(p.inputs))[:len(p.inputs)]
    orders = [ins, ins[::-1]] if p.commutative and len(ins) == 2 else [ins]
    for i, order in enumerate(orders):
        saved = (dict(m), list(m.nodes))
        try:
            for sub, v in zip(p.inputs, order, strict=True):
                _match_value(sub, v, m, root=False)
            break
        except NoMatch:
            m.clear()
            m.update(saved[0])
            m.nodes[:] = saved[1]
            if i == len(orders) - 1:
                raise
    m.nodes.append(node)
    _bind(m, p.bind, node)


def _bind(m: Match, name: str | None, item: Any) -> None:
    if name is None:
        return
    if name in m and m[name] is not item:
        raise NoMatch(f"'{name}' would bind two different values")
    m[name] = item


def match(pattern: Op, node: Node) -> Match | str:
    """The match of ``pattern`` rooted at ``node``, or the reason it does not match."""
    if node.op not in pattern.ops:
        return f"{node.op} is not {'|'.join(pattern.ops)}"
    m = Match()
    try:
        _match_node(pattern, node, m)
    except NoMatch as e:
        return str(e)
    return m


# ----- rules -----------------------------------------------------------------------------------
class RewriteRule:
    name: ClassVar[str] = ""
    pattern: ClassVar[Op]

    def check(self, m: Match) -> str | None:
        """Return why the match must not be rewritten, or None to go ahead."""
        return None

    def rewrite(self, rw: Rewriter, m: Match) -> Value | Sequence[Value] | None:
        """Build the replacement before the root; return the values replacing its outputs
        (None: give up after all)."""
        raise NotImplementedError


# ----- explaining non-matches ------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _DebugRequest:
    names: frozenset[str]
    log: Callable[[str], None]


_DEBUG_RULES: ContextVar[_DebugRequest | None] = ContextVar("leptonc_debug_rules", default=None)


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr)


@contextmanager
def debug_rules(names: Iterable[str], log: Callable[[str], None] = _to_stderr) -> Iterator[None]:
    """Inside the block, every ``apply_rules`` call also explains why the rules ``names``
    (``all``: every rule) did not match, through ``log`` (default: standard error), whichever
    pass makes the call.  An inner block replaces an enclosing one."""
    token = _DEBUG_RULES.set(_DebugRequest(frozenset(names), log))
    try:
        yield
    finally:
        _DEBUG_RULES.reset(token)


def _debugging(rules: Iterable[RewriteRule], debug: Iterable[str],
               log: Callable[[str], None] | None) -> tuple[set[str], Callable[[str], None]]:
    """The rule names to explain, ``debug`` merged with ``debug_rules``'s, and where to log
    them: ``log`` if given, else the ``debug_rules`` block's, else standard output."""
    names = set(debug)
    request = _DEBUG_RULES.get()
    if request is not None:
        names |= request.names
        log = request.log if log is None else log
    if "all" in names:
        names |= {rule.name for rule in rules}
    return names, print if log is None else log


# ----- applying rules --------------------------------------------------------------------------
def apply_rules(graph: Graph, rules: Iterable[RewriteRule], *, debug: Iterable[str] = (),
                log: Callable[[str], None] | None = None,
                max_rewrites: int = 10_000_000) -> Counter:
    """Rewrite ``graph`` until no rule applies; returns how often each rule fired.

    ``debug`` names rules (``all``: every rule) whose failed matches are explained through
    ``log``, on top of those an enclosing ``debug_rules`` block names."""
    by_op: dict[str, list[RewriteRule]] = {}
    for rule in rules:
        for name in rule.pattern.ops:
            by_op.setdefault(name, []).append(rule)
    debug, log = _debugging((r for rs in by_op.values() for r in rs), debug, log)
    fired: Counter = Counter()
    worklist = deque(n for n in graph if n.op in by_op)
    queued = {id(n) for n in worklist}
    while worklist:
        node = worklist.popleft()
        queued.discard(id(node))
        if node.graph is not graph:
            continue  # erased by an earlier rewrite
        for rule in by_op.get(node.op, ()):
            new_nodes = _try_rule(graph, rule, node, debug, log)
            if new_nodes is None:
                continue
            fired[rule.name] += 1
            if sum(fired.values()) > max_rewrites:
                raise RuntimeError(f"rewriting did not converge (rule '{rule.name}' keeps firing)")
            for n in new_nodes:
                if n.op in by_op and id(n) not in queued and n.graph is graph:
                    worklist.append(n)
                    queued.add(id(n))
            break
    return fired


def _try_rule(graph: Graph, rule: RewriteRule, node: Node, debug: set[str],
              log: Callable[[str], None]) -> list[Node] | None:
    """Apply ``rule`` at ``node``; the nodes to revisit when it fired, else None."""
    where = f"%{node.outputs[0].name}" if node.outputs else node.op
    m = match(rule.pattern, node)
    if isinstance(m, str):
        if rule.name in debug:
            log(f"rule '{rule.name}' did not match at {where}: {m}")
        return None
    reason = rule.check(m)
    if reason is not None:
        if rule.name in debug:
            log(f"rule '{rule.name}' matched at {where} but was rejected: {reason}")
        return None
    rw = Rewriter(graph, before=node, source_name=node.source_name)
    result = rule.rewrite(rw, m)
    if result is None:
        for n in reversed(rw.created):
            rw.erase_if_dead(n)
        return None
    new_values = [result] if isinstance(result, Value) else list(result)
    renames = rw.names_to_keep(node.outputs, new_values)
    for old, new in zip(node.outputs, new_values, strict=True):
        rw.replace_all_uses(old, new)
    # root first, then its now-unused interior nodes, then what the rule absorbed
    for n in [*reversed(m.nodes), *reversed(m.absorbed)]:
        rw.erase_if_dead(n)
    if node.graph is None:  # the root is erased, so its value names are free again
        rw.restore_names(renames)
    revisit = rw.created + [u for v in new_values for u in v.users]
    revisit += [v.producer for v in new_values if v.producer is not None]
    return revisit

