"""ONNX frontend: ``load_onnx(path_or_model) -> Graph``.

Handles opsets 7 to the newest the installed onnx knows (converters branch on
``cx.opset``; older models are upgraded with onnx's version converter), initializers and
external data (confined to the model's folder), symbolic dims, and folds static shape
arithmetic while importing.  An unsupported model fails with ONE error listing every
unsupported op type with its count and first node.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError
from onnx import numpy_helper

from leptonc.errors import LeptoncError, ModelLoadError, UnsupportedOpError
from leptonc.frontend.onnx_convert import NodeContext, converters
from leptonc.ir import dtypes
from leptonc.ir.graph import Graph, Value
from leptonc.ir.types import TensorType

MIN_OPSET = 7
_DEFAULT_DOMAINS = ("", "ai.onnx")

_ONNX_DTYPES = {
    onnx.TensorProto.FLOAT: dtypes.f32, onnx.TensorProto.DOUBLE: dtypes.f64,
    onnx.TensorProto.FLOAT16: dtypes.f16, onnx.TensorProto.BFLOAT16: dtypes.bf16,
    onnx.TensorProto.INT64: dtypes.i64, onnx.TensorProto.INT32: dtypes.i32,
    onnx.TensorProto.INT16: dtypes.i16, onnx.TensorProto.INT8: dtypes.i8,
    onnx.TensorProto.UINT64: dtypes.u64, onnx.TensorProto.UINT32: dtypes.u32,
    onnx.TensorProto.UINT16: dtypes.u16, onnx.TensorProto.UINT8: dtypes.u8,
    onnx.TensorProto.BOOL: dtypes.boolean, onnx.TensorProto.STRING: dtypes.string,
    onnx.TensorProto.INT4: dtypes.parse_dtype("i4"), onnx.TensorProto.UINT4: dtypes.parse_dtype("u4"),
    onnx.TensorProto.INT2: dtypes.parse_dtype("i2"), onnx.TensorProto.UINT2: dtypes.parse_dtype("u2"),
}


def onnx_dtype(elem_type: int, what: str) -> dtypes.DType:
    try:
        return _ONNX_DTYPES[elem_type]
    except KeyError:
        known = elem_type in onnx.TensorProto.DataType.values()
        name = onnx.TensorProto.DataType.Name(elem_type) if known else elem_type
        raise UnsupportedOpError(f"{what} has element type {name}, which leptonc does not "
                                 "support") from None


def to_onnx_dtype(dtype: dtypes.DType) -> int:
    for k, v in _ONNX_DTYPES.items():
        if v == dtype:
            return k
    raise UnsupportedOpError(f"dtype {dtype} has no ONNX equivalent")


_SYMBOL = re.compile(r"[^A-Za-z0-9_]")


def _dim(d: onnx.TensorShapeProto.Dimension) -> int | str | None:
    if d.HasField("dim_value"):
        return int(d.dim_value)
    if d.HasField("dim_param") and d.dim_param:
        sym = _SYMBOL.sub("_", d.dim_param)
        return sym if sym[0].isalpha() or sym[0] == "_" else "d_" + sym
    return None


def value_info_type(vi: onnx.ValueInfoProto) -> TensorType:
    t = vi.type
    if not t.HasField("tensor_type"):
        kind = t.WhichOneof("value")
        raise UnsupportedOpError(f"'{vi.name}' is a {kind} value; leptonc supports tensors only")
    tt = t.tensor_type
    shape = tuple(_dim(d) for d in tt.shape.dim) if tt.HasField("shape") else None
    return TensorType(onnx_dtype(tt.elem_type, f"tensor '{vi.name}'"), shape)


# ----- loading the file ------------------------------------------------------------------------
def _check_external_locations(model: onnx.ModelProto, base: Path, source: str) -> None:
    """Refuse external data outside the model's folder (path traversal, absolute paths)."""
    root = base.resolve()
    for tensor in _all_initializers(model.graph):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        info = {e.key: e.value for e in tensor.external_data}
        location = info.get("location", "")
        target = (root / location).resolve()
        if not location or os.path.isabs(location) or not target.is_relative_to(root):
            raise ModelLoadError(f"{source}: initializer '{tensor.name}' has external data at "
                                 f"'{location}', outside the model's folder; refusing to read it")
        if not target.is_file():
            raise ModelLoadError(f"{source}: external data file '{location}' for initializer "
                                 f"'{tensor.name}' does not exist")
        size = target.stat().st_size
        end = int(info.get("offset", 0)) + int(info.get("length", 0))
        if end > size:
            raise ModelLoadError(f"{source}: external data file '{location}' is too short for "
                                 f"initializer '{tensor.name}'")


def _all_initializers(graph: onnx.GraphProto):
    yield from graph.initializer
    for node in graph.node:
        for a in node.attribute:
            for g in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                yield from _all_initializers(g)


def read_model(path: str | os.PathLike) -> onnx.ModelProto:
    """Read an ONNX file and its external data, with one-line errors for every failure."""
    path = Path(path)
    if not path.exists():
        raise ModelLoadError(f"{path}: no such file")
    if path.is_dir():
        raise ModelLoadError(f"{path}: is a directory, not an ONNX model")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except (DecodeError, ValueError, RuntimeError) as e:
        raise ModelLoadError(f"{path}: not a valid ONNX model (protobuf parse failed: {e})") from None
    except OSError as e:
        raise ModelLoadError(f"{path}: cannot read ({e.strerror or e})") from None
    if not model.HasField("graph") or not model.graph.output:
        raise ModelLoadError(f"{path}: not a valid ONNX model (no graph or no outputs)")
    _check_external_locations(model, path.parent, str(path))
    try:
        onnx.external_data_helper.load_external_data_for_model(model, str(path.parent))
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"{path}: cannot load external data ({e})") from None
    return model


def default_opset(model: onnx.ModelProto) -> int:
    for imp in model.opset_import:
        if imp.domain in _DEFAULT_DOMAINS:
            return int(imp.version)
    return MIN_OPSET if not model.opset_import else onnx.defs.onnx_opset_version()


def _upgrade(model: onnx.ModelProto, source: str) -> onnx.ModelProto:
    if default_opset(model) >= MIN_OPSET:
        return model
    try:
        return onnx.version_converter.convert_version(model, MIN_OPSET)
    except Exception as e:  # the converter raises bare RuntimeErrors
        raise ModelLoadError(f"{source}: opset {default_opset(model)} model could not be upgraded "
                             f"to opset {MIN_OPSET} ({e})") from None


# ----- conversion ------------------------------------------------------------------------------
def check_supported(graph: onnx.GraphProto, source: str) -> None:
    """One error naming every unsupported op type, its count and its first node."""
    known = converters()
    counts: Counter[str] = Counter()
    first: dict[str, str] = {}
    for i, node in enumerate(graph.node):
        key = node.op_type if node.domain in _DEFAULT_DOMAINS else f"{node.domain}.{node.op_type}"
        if node.domain in _DEFAULT_DOMAINS and node.op_type in known:
            continue
        counts[key] += 1
        first.setdefault(key, node.name or f"#{i}")
    if counts:
        listing = "; ".join(f"{op} x{n} (first: '{first[op]}')" for op, n in sorted(counts.items()))
        raise UnsupportedOpError(f"{source}: {len(counts)} unsupported op type(s): {listing}")


def _sorted_nodes(graph: onnx.GraphProto, available: set[str]) -> list[onnx.NodeProto]:
    """Nodes in a topological order (most files are already sorted; some are not)."""
    pending = list(graph.node)
    ordered: list[onnx.NodeProto] = []
    have = set(available) | {""}
    while pending:
        rest = []
        for node in pending:
            if all(i in have for i in node.input):
                ordered.append(node)
                have.update(node.output)
            else:
                rest.append(node)
        if len(rest) == len(pending):
            missing = sorted({i for n in rest for i in n.input if i not in have})
            raise ModelLoadError(f"node '{rest[0].name or rest[0].op_type}' reads undefined "
                                 f"tensor(s) {', '.join(missing[:5])} (or the graph has a cycle)")
        pending = rest
    return ordered


class _Importer:
    def __init__(self, model: onnx.ModelProto, source: str):
        self.model = model
        self.source = source
        self.opset = default_opset(model)
        name = model.graph.name or Path(source).stem or "main"
        self.graph = Graph(_SYMBOL.sub("_", name))
        self.env: dict[str, Value] = {}

    def run(self) -> Graph:
        g, onnx_graph = self.graph, self.model.graph
        check_supported(onnx_graph, self.source)
        g.metadata["source"] = Path(self.source).name
        g.metadata["opset"] = str(self.opset)
        if self.model.producer_name:
            g.metadata["producer"] = self.model.producer_name
        self.used_names = frozenset([i for n in onnx_graph.node for i in n.input] +
                                    [vi.name for vi in onnx_graph.output])
        init_names = {t.name for t in onnx_graph.initializer}
        for vi in onnx_graph.input:
            if vi.name not in init_names:
                self.env[vi.name] = g.add_input(vi.name, value_info_type(vi))
        for t in onnx_graph.initializer:
            self.env[t.name] = self._initializer(t)
        for node in _sorted_nodes(onnx_graph, set(self.env)):
            self._convert(node)
        outputs = []
        for vi in onnx_graph.output:
            if vi.name not in self.env:
                raise ModelLoadError(f"{self.source}: graph output '{vi.name}' is never computed")
            outputs.append(self.env[vi.name])
        g.set_outputs(outputs, [vi.name for vi in onnx_graph.output])
        self._drop_dead_code()
        return g

    def _initializer(self, t: onnx.TensorProto) -> Value:
        dtype = onnx_dtype(t.data_type, f"initializer '{t.name}'")
        try:
            data = numpy_helper.to_array(t)
        except Exception as e:  # onnx raises assorted errors on bad payloads
            raise ModelLoadError(f"{self.source}: initializer '{t.name}' is corrupt ({e})") from None
        if dtype.kind == "string":
            data = data.astype(object)
        elif data.dtype != dtype.numpy:
            data = data.astype(dtype.numpy)
        return self.graph.add_constant(data, t.name, TensorType(dtype, tuple(data.shape)))

    def _convert(self, node: onnx.NodeProto) -> None:
        inputs = [self.env[i] if i else None for i in node.input]
        cx = NodeContext(node, inputs, self.opset, self.graph, self.used_names)
        try:
            results = list(converters()[node.op_type](cx))
        except LeptoncError as e:
            msg = str(e)
            if cx.name not in msg:
                msg = f"node '{cx.name}' ({node.op_type}): {msg}"
            raise type(e)(f"{self.source}: {msg}") from None
        if len(results) < len(node.output):
            results += [None] * (len(node.output) - len(results))
        for name, v in zip(node.output, results, strict=False):
            if not name:
                continue
            if v is None and name not in self.used_names:
                continue  # an optional output nothing reads
            if v is None:
                raise UnsupportedOpError(f"{self.source}: node '{cx.name}' ({node.op_type}): "
                                         f"output '{name}' is not supported")
            self.env[name] = v
            self._adopt_name(v, name)

    def _adopt_name(self, v: Value, onnx_name: str) -> None:
        """Give a freshly created value the ONNX tensor name, so IR and model read alike."""
        if self.env.get(v.name) is v:
            return  # already an ONNX tensor's value (a graph input, initializer, pass-through)
        try:
            self.graph.rename(v, onnx_name)
        except ValueError:
            pass  # the name is taken by a generated value; keep the generated name

    def _drop_dead_code(self) -> None:
        """Remove nodes and constants nothing reads (e.g. shape queries that folding bypassed)."""
        g = self.graph
        outputs = {id(v) for v in g.outputs}
        for node in reversed(g):
            if not any(v.uses or id(v) in outputs for v in node.outputs):
                g.erase(node)
        for v in list(g.constants.values()):
            if not v.uses and id(v) not in outputs:
                g.remove_constant(v)


def load_onnx(model: str | os.PathLike | onnx.ModelProto, source: str | None = None) -> Graph:
    """Import an ONNX model (a path or a ModelProto) into a leptonc Graph."""
    if isinstance(model, onnx.ModelProto):
        source = source or (model.graph.name or "<model>")
        if any(t.data_location == onnx.TensorProto.EXTERNAL for t in _all_initializers(model.graph)):
            raise ModelLoadError(f"{source}: an in-memory model refers to external data; load it "
                                 "from its file (or load the external data into it first)")
    else:
        source = source or str(model)
        model = read_model(model)
    model = _upgrade(model, source)
    if model.functions:
        model = onnx.inliner.inline_local_functions(model)
    try:
        return _Importer(model, source).run()
    except RecursionError:
        raise ModelLoadError(f"{source}: graph too deep to import") from None
    except MemoryError:
        raise ModelLoadError(f"{source}: out of memory while importing") from None
