"""The text form of the IR (see docs/ir.md).  ``parse(print(g))`` prints identically.

    graph @net(%x: f32[N,3,8,8]) {
      meta "producer" = "pytorch"
      %w = const external : f32[4,3,3,3]
      %s = const [1, 12] : i64[2]
      %y = nn.conv(%x, %w, _) {pads=[1, 1, 1, 1]} : f32[N,4,8,8] loc("conv1")
      return %y
    }

Constants with more than ``inline_limit`` elements print as ``external``: their data lives
in a side file (see ``leptonc.ir.serialize``) or stays in memory.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np

from leptonc.ir.dtypes import DType
from leptonc.ir.graph import Graph, Node, Value
from leptonc.ir.types import QuantParams, SparseEncoding, TensorType

INLINE_LIMIT = 16
_BARE_NAME = re.compile(r"[A-Za-z0-9_.$/\-]+$")


def format_name(name: str) -> str:
    return name if _BARE_NAME.match(name) else json.dumps(name)


def format_float(x: float) -> str:
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return repr(x)


def format_dims(shape: tuple | None) -> str:
    if shape is None:
        return "[*]"
    return "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"


def _format_list(xs: tuple | list) -> str:
    return "[" + ", ".join(format_attr(x) for x in xs) + "]"


def format_quant(q: QuantParams) -> str:
    parts = [q.storage.name]
    if q.axis is None:
        parts += [f"scale={format_float(q.scale[0])}", f"zp={q.zero_point[0]}"]
    else:
        parts += [f"axis={q.axis}", f"scale={_format_list(q.scale)}", f"zp={_format_list(q.zero_point)}"]
    return "!quant<" + ", ".join(parts) + ">"


def format_encoding(e: SparseEncoding) -> str:
    parts = [e.kind, f"density={format_float(e.density)}"]
    if e.kind == "nm":
        parts += [f"n={e.n}", f"m={e.m}", f"axis={e.axis}"]
    if e.kind == "block":
        parts.append(f"block={_format_list(e.block)}")
    return "!sparse<" + ", ".join(parts) + ">"


def format_type(t: TensorType) -> str:
    s = t.dtype.name + format_dims(t.shape)
    if t.quant is not None:
        s += format_quant(t.quant)
    if t.encoding is not None:
        s += format_encoding(t.encoding)
    return s


def format_attr(v: Any, indent: str = "") -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return format_float(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, DType):
        return v.name
    if isinstance(v, tuple | list):
        return "[" + ", ".join(format_attr(x, indent) for x in v) + "]"
    if isinstance(v, Graph):
        return _graph_text(v, indent, INLINE_LIMIT).rstrip("\n")
    raise TypeError(f"cannot print attribute of type {type(v).__name__}")


def format_data(data: np.ndarray) -> str:
    flat = data.reshape(-1).tolist()
    return "[" + ", ".join(format_attr(x) for x in flat) + "]"


def _value_ref(v: Value | None) -> str:
    return "_" if v is None else "%" + format_name(v.name)


def format_node(node: Node, indent: str = "  ") -> str:
    outs = ", ".join(_value_ref(v) for v in node.outputs)
    ins = ", ".join(_value_ref(v) for v in node.inputs)
    text = f"{indent}{outs} = {node.op}({ins})"
    if node.attrs:
        text += " {" + ", ".join(f"{k}={format_attr(v, indent)}" for k, v in node.attrs.items()) + "}"
    text += " : " + ", ".join(format_type(v.type) for v in node.outputs)
    if node.source_name:
        text += f" loc({json.dumps(node.source_name)})"
    return text


def _graph_text(graph: Graph, outer: str, inline_limit: int) -> str:
    indent = outer + "  "
    params = ", ".join(f"%{format_name(v.name)}: {format_type(v.type)}" for v in graph.inputs)
    lines = [f"graph @{format_name(graph.name)}({params}) {{"]
    for k, v in graph.metadata.items():
        lines.append(f"{indent}meta {json.dumps(k)} = {json.dumps(v)}")
    for v in graph.constants.values():
        payload = "external" if v.data.size > inline_limit else format_data(v.data)
        lines.append(f"{indent}%{format_name(v.name)} = const {payload} : {format_type(v.type)}")
    lines.extend(format_node(node, indent) for node in graph)
    rets = []
    for v, name in zip(graph.outputs, graph.output_names, strict=True):
        rets.append(_value_ref(v) + ("" if name == v.name else f" as {json.dumps(name)}"))
    lines.append(f"{indent}return {', '.join(rets)}")
    lines.append(outer + "}")
    return "\n".join(lines) + "\n"


def print_graph(graph: Graph, inline_limit: int = INLINE_LIMIT) -> str:
    """The graph as text (large constants as ``external`` references)."""
    return _graph_text(graph, "", inline_limit)
