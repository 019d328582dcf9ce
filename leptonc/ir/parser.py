"""Parser for the text IR written by ``leptonc.ir.printer``.

Result types are read from the text, not re-inferred, so the parse is exact; the verifier
checks them against inference afterwards.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from leptonc.errors import ParseError
from leptonc.ir.dtypes import DType, parse_dtype
from leptonc.ir.graph import Graph, Node, Value
from leptonc.ir.types import QuantParams, SparseEncoding, TensorType
from leptonc.ops.registry import has_op

_TOKEN = re.compile(r"""
    (?P<ws>[ \t\r]+|\#[^\n]*)
  | (?P<nl>\n)
  | (?P<str>"(?:[^"\\]|\\.)*")
  | (?P<num>-?(?:\d+\.\d*(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+|\d+|inf)(?![A-Za-z0-9_]))
  | (?P<ident>[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<sigil>[%@!][A-Za-z0-9_.$/\-]*)
  | (?P<punct>->|[()\[\]{}<>,:=?*])
""", re.VERBOSE)

# Resolves an ``external`` constant by name to its data.
ExternalLoader = Callable[[str], np.ndarray]


class _Tokens:
    def __init__(self, text: str, source: str):
        self.source = source
        self.toks: list[tuple[str, str, int]] = []
        line, pos = 1, 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m:
                raise ParseError(f"{source}:{line}: unexpected character {text[pos]!r}")
            kind = m.lastgroup
            if kind == "nl":
                line += 1
            elif kind != "ws":
                self.toks.append((kind, m.group(), line))
            pos = m.end()
        self.toks.append(("eof", "", line))
        self.i = 0

    def peek(self) -> tuple[str, str, int]:
        return self.toks[self.i]

    def next(self) -> tuple[str, str, int]:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def error(self, msg: str, previous: bool = False) -> ParseError:
        """An error at the next token (or at the one just consumed)."""
        _, text, line = self.toks[self.i - 1] if previous and self.i else self.peek()
        return ParseError(f"{self.source}:{line}: {msg} (at {text!r})")

    def accept(self, text: str) -> bool:
        if self.peek()[1] == text and self.peek()[0] != "str":
            self.i += 1
            return True
        return False

    def expect(self, text: str) -> None:
        if not self.accept(text):
            raise self.error(f"expected '{text}'")

    def ident(self) -> str:
        kind, text, _ = self.peek()
        if kind != "ident":
            raise self.error("expected a name")
        self.i += 1
        return text

    def sigil_name(self, sigil: str) -> str:
        """``%name`` or ``%"quoted name"`` (and likewise for ``@``)."""
        kind, text, _ = self.peek()
        if kind != "sigil" or text[0] != sigil:
            raise self.error(f"expected '{sigil}name'")
        self.i += 1
        if len(text) > 1:
            return text[1:]
        kind, text, _ = self.next()
        if kind != "str":
            raise self.error(f"expected a name after '{sigil}'")
        return json.loads(text)


class _Parser:
    def __init__(self, text: str, source: str, external: ExternalLoader | None):
        self.t = _Tokens(text, source)
        self.external = external

    # ----- types -------------------------------------------------------------------------------
    def dims(self) -> tuple | None:
        self.t.expect("[")
        if self.t.accept("*"):
            self.t.expect("]")
            return None
        dims: list[Any] = []
        while not self.t.accept("]"):
            if dims:
                self.t.expect(",")
            kind, text, _ = self.t.next()
            if text == "?":
                dims.append(None)
            elif kind == "num":
                dims.append(int(text))
            elif kind == "ident":
                dims.append(text)
            else:
                raise self.t.error("expected a dim")
        return tuple(dims)

    def type(self) -> TensorType:
        dtype = self.dtype(self.t.ident())
        shape = self.dims()
        quant = encoding = None
        while self.t.peek()[1] in ("!quant", "!sparse"):
            kind = self.t.next()[1]
            self.t.expect("<")
            head = self.t.ident()
            fields = self.fields()
            try:
                if kind == "!quant":
                    quant = self.quant(head, fields)
                else:
                    encoding = SparseEncoding(head, **{k: tuple(v) if isinstance(v, tuple) else v
                                                       for k, v in fields.items()})
            except (TypeError, ValueError) as e:
                raise self.t.error(str(e)) from None
        return TensorType(dtype, shape, quant, encoding)

    def quant(self, storage: str, f: dict[str, Any]) -> QuantParams:
        def as_tuple(x: Any) -> tuple:
            return tuple(x) if isinstance(x, tuple) else (x,)

        return QuantParams(tuple(float(s) for s in as_tuple(f["scale"])),
                           tuple(int(z) for z in as_tuple(f["zp"])), self.dtype(storage),
                           f.get("axis"))

    def fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        while self.t.accept(","):
            key = self.t.ident()
            self.t.expect("=")
            out[key] = self.attr_value()
        self.t.expect(">")
        return out

    def dtype(self, name: str) -> DType:
        try:
            return parse_dtype(name)
        except ParseError as e:
            raise self.t.error(str(e)) from None

    # ----- attributes and literals --------------------------------------------------------------
    def attr_value(self, indent_graph: bool = True) -> Any:
        kind, text, _ = self.t.peek()
        if text == "[":
            self.t.next()
            items = []
            while not self.t.accept("]"):
                if items:
                    self.t.expect(",")
                items.append(self.attr_value())
            return tuple(items)
        if kind == "ident" and text == "graph":
            return self.graph()
        self.t.next()
        if kind == "str":
            return json.loads(text)
        if kind == "num":
            return _number(text)
        if kind == "ident":
            if text in ("true", "false"):
                return text == "true"
            if text == "nan":
                return float("nan")
            return self.dtype(text)
        raise self.t.error("expected an attribute value")

    def literal_data(self, ttype: TensorType) -> np.ndarray:
        values = self.attr_value()
        if not isinstance(values, tuple):
            raise self.t.error("expected a list of constant values")
        try:
            data = np.array(values, dtype=ttype.dtype.numpy) if values else np.zeros(
                0, ttype.dtype.numpy)
            return data.reshape(ttype.shape)
        except (TypeError, ValueError) as e:
            raise self.t.error(f"constant does not fit {ttype}: {e}") from None

    # ----- graph -------------------------------------------------------------------------------
    def graph(self) -> Graph:
        self.t.expect("graph")
        g = Graph(self.t.sigil_name("@"))
        scope: dict[str, Value] = {}
        self.t.expect("(")
        while not self.t.accept(")"):
            if g.inputs:
                self.t.expect(",")
            name = self.t.sigil_name("%")
            self.t.expect(":")
            self.define(g, scope, name, g.add_input(name, self.type()))
        self.t.expect("{")
        while True:
            kind, text, _ = self.t.peek()
            if text == "meta":
                self.t.next()
                key = json.loads(self.t.next()[1])
                self.t.expect("=")
                g.metadata[key] = json.loads(self.t.next()[1])
            elif text == "return":
                self.t.next()
                self.returns(g, scope)
                self.t.expect("}")
                return g
            elif kind == "sigil" and text.startswith("%"):
                self.statement(g, scope)
            else:
                raise self.t.error("expected a statement, 'meta' or 'return'")

    def define(self, g: Graph, scope: dict[str, Value], name: str, v: Value) -> None:
        if name in scope:
            raise self.t.error(f"value %{name} defined twice", previous=True)
        if v.name != name:
            raise self.t.error(f"value name %{name} clashes", previous=True)
        scope[name] = v

    def use(self, scope: dict[str, Value]) -> Value | None:
        if self.t.accept("_"):
            return None
        name = self.t.sigil_name("%")
        if name not in scope:
            raise self.t.error(f"use of undefined value %{name}", previous=True)
        return scope[name]

    def statement(self, g: Graph, scope: dict[str, Value]) -> None:
        names = [self.t.sigil_name("%")]
        while self.t.accept(","):
            names.append(self.t.sigil_name("%"))
        self.t.expect("=")
        if self.t.accept("const"):
            self.constant(g, scope, names)
            return
        op = self.t.ident()
        if not has_op(op):
            raise self.t.error(f"unknown op '{op}'", previous=True)
        self.t.expect("(")
        inputs: list[Value | None] = []
        while not self.t.accept(")"):
            if inputs:
                self.t.expect(",")
            inputs.append(self.use(scope))
        attrs: dict[str, Any] = {}
        if self.t.accept("{"):
            while not self.t.accept("}"):
                if attrs:
                    self.t.expect(",")
                key = self.t.ident()
                self.t.expect("=")
                attrs[key] = self.attr_value()
        self.t.expect(":")
        types = [self.type()]
        while self.t.accept(","):
            types.append(self.type())
        if len(types) != len(names):
            raise self.t.error(f"{len(names)} results but {len(types)} types")
        source = ""
        if self.t.accept("loc"):
            self.t.expect("(")
            source = json.loads(self.t.next()[1])
            self.t.expect(")")
        node = Node(op, inputs, attrs, source)
        g.make_outputs(node, types, names)
        for name, v in zip(names, node.outputs, strict=True):
            self.define(g, scope, name, v)
        g.append(node)

    def constant(self, g: Graph, scope: dict[str, Value], names: list[str]) -> None:
        if len(names) != 1:
            raise self.t.error("a constant defines one value")
        external = self.t.accept("external")
        literal = None if external else self.t.i
        if not external:
            self.attr_value()  # skip; read once the type is known
        self.t.expect(":")
        ttype = self.type()
        if external:
            if self.external is None:
                raise self.t.error(f"constant %{names[0]} is external but no weights were given")
            data = self.external(names[0])
        else:
            resume, self.t.i = self.t.i, literal
            data = self.literal_data(ttype)
            self.t.i = resume
        self.define(g, scope, names[0], g.add_constant(data, names[0], ttype))

    def returns(self, g: Graph, scope: dict[str, Value]) -> None:
        values, names = [], []
        while True:
            v = self.use(scope)
            if v is None:
                raise self.t.error("a graph cannot return '_'")
            values.append(v)
            names.append(json.loads(self.t.next()[1]) if self.t.accept("as") else v.name)
            if not self.t.accept(","):
                break
        g.set_outputs(values, names)


def _number(text: str) -> int | float:
    if text in ("inf", "-inf"):
        return float(text)
    if any(c in text for c in ".eE"):
        return float(text)
    return int(text)


def parse_graph(text: str, source: str = "<text>", external: ExternalLoader | None = None) -> Graph:
    """Parse one graph; ``external`` resolves constants printed as ``external``."""
    p = _Parser(text, source, external)
    g = p.graph()
    if p.t.peek()[0] != "eof":
        raise p.t.error("text after the end of the graph")
    return g
