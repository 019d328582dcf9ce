"""Export a leptonc Graph back to ONNX: ``export_onnx(graph) -> ModelProto``, ``save_onnx``.

Every canonical op with an ONNX spelling maps back (emitters in ``leptonc.export.onnx_ops``);
fused regions are inlined; attributes the frontend folded from constant inputs become
initializer inputs again.  The opset is the lowest (from 17) that spells every op, unless one
is asked for.  An unexportable graph fails with ONE error naming every node that cannot be
written.  docs/export.md describes the choices.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from pathlib import Path

import ml_dtypes
import numpy as np
import onnx
from onnx import numpy_helper

from leptonc.errors import OutputError, UnsupportedOpError, UsageError
from leptonc.export.emit import EmitContext, Unsupported, emitters
from leptonc.frontend.onnx import to_onnx_dtype
from leptonc.ir.dtypes import DType
from leptonc.ir.graph import Graph, Node, Value
from leptonc.ir.types import TensorType

MIN_OPSET = 17
# protobuf cannot serialise a message over 2 GiB: well before that, weights go to a side file
EXTERNAL_DATA_AUTO_BYTES = 1536 * 1024 * 1024
_EXTERNAL_MIN_TENSOR_BYTES = 1024
_SUB_BYTE = {"i4": ml_dtypes.int4, "u4": ml_dtypes.uint4, "i2": ml_dtypes.int2,
             "u2": ml_dtypes.uint2}


def max_opset() -> int:
    return onnx.defs.onnx_opset_version()


class _Exporter:
    """One export at one opset; ``failures`` collects what could not be written."""

    def __init__(self, graph: Graph, opset: int):
        self.graph = graph
        self.opset = opset
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.failures: list[tuple[Node, Unsupported]] = []
        self._env: dict[int, str] = {}
        self._used: set[str] = set()
        self._node_names: set[str] = set()

    # ----- names -------------------------------------------------------------------------------
    def fresh_name(self, hint: str) -> str:
        return _unique(hint, self._used)

    def node_name(self, hint: str) -> str:
        """A unique node name (runtimes refuse duplicates; fusion gives nodes shared ones)."""
        return _unique(hint, self._node_names)

    def name_of(self, v: Value) -> str:
        """The ONNX tensor name of ``v`` (its IR name unless that is taken)."""
        name = self._env.get(id(v))
        if name is None:
            name = self._env[id(v)] = self.fresh_name(v.name)
            if v.is_constant:
                self.add_initializer(v.data, name, v.type.dtype)
        return name

    def bind(self, v: Value, name: str) -> bool:
        """Give ``v`` an already reserved name; False when it has one (an alias is needed)."""
        if id(v) in self._env:
            return False
        self._env[id(v)] = name
        if v.is_constant:
            self.add_initializer(v.data, name, v.type.dtype)
        return True

    # ----- tensors -----------------------------------------------------------------------------
    def onnx_dtype(self, dtype: DType) -> int:
        try:
            return to_onnx_dtype(dtype)
        except UnsupportedOpError:
            raise Unsupported(f"element type {dtype} has no ONNX equivalent") from None

    def add_initializer(self, data: np.ndarray, name: str, dtype: DType | None = None) -> str:
        array = np.asarray(data)
        if dtype is not None and dtype.name in _SUB_BYTE:
            array = array.astype(_SUB_BYTE[dtype.name])
        elif dtype is not None:
            self.onnx_dtype(dtype)  # refuses iN/uN widths ONNX lacks
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def value_info(self, name: str, t: TensorType) -> onnx.ValueInfoProto:
        shape = None if t.shape is None else [d for d in t.shape]  # str -> dim_param
        return onnx.helper.make_tensor_value_info(name, self.onnx_dtype(t.dtype), shape)

    # ----- graphs ------------------------------------------------------------------------------
    def run(self) -> onnx.GraphProto:
        g = self.graph
        pairs = list(zip(g.outputs, g.output_names, strict=True))
        # an input returned under its own name needs no node; other public names are reserved
        # first, so no internal value can take them
        inputs_by_id = {id(v) for v in g.inputs}
        passthrough = {name for v, name in pairs if id(v) in inputs_by_id and v.name == name}
        self._used.update(set(g.output_names) - passthrough)
        inputs = [self.value_info(self._input_name(v), v.type) for v in g.inputs]
        aliases = [(v, name) for v, name in pairs if name not in passthrough and (
            v.producer is None or not self.bind(v, name))]
        self.emit_nodes(g)
        for v, name in aliases:  # inputs, constants, or a value under two public names
            self.nodes.append(onnx.helper.make_node("Identity", [self.name_of(v)], [name],
                                                    name=self.node_name(f"{name}/Identity")))
        outputs = [self.value_info(name, v.type) for v, name in pairs]
        return onnx.helper.make_graph(self.nodes, g.name, inputs, outputs, self.initializers)

    def _input_name(self, v: Value) -> str:
        if v.name in self._used:
            raise UsageError(f"graph input '{v.name}' has the name of a graph output; ONNX "
                             "needs distinct names")
        self._used.add(v.name)
        self._env[id(v)] = v.name
        return v.name

    def emit_nodes(self, graph: Graph) -> None:
        table = emitters()
        for node in graph:
            if node.op == "fused.region":
                self.inline_region(node)
                continue
            fn = table.get(node.op)
            try:
                if fn is None:
                    raise Unsupported("no ONNX mapping")
                fn(EmitContext(self, node))
            except Unsupported as e:
                self.failures.append((node, e))

    def inline_region(self, node: Node) -> None:
        """Write the region's body in place of the node: body inputs read the node's inputs,
        body outputs write the node's outputs."""
        body: Graph = node.attrs["body"]
        for inner, outer in zip(body.inputs, node.inputs, strict=True):
            self._env[id(inner)] = self.name_of(outer)
        aliases = []
        for inner, outer in zip(body.outputs, node.outputs, strict=True):
            target = self.name_of(outer)
            if inner.producer is None or not self.bind(inner, target):
                aliases.append((inner, target))
        self.emit_nodes(body)
        for inner, target in aliases:
            self.nodes.append(onnx.helper.make_node("Identity", [self.name_of(inner)], [target],
                                                    name=self.node_name(f"{target}/Identity")))


# ----- errors ------------------------------------------------------------------------------------
def _failure_message(graph: Graph, failures: list[tuple[Node, Unsupported]]) -> str:
    """One line: every (op, reason) with its count and first node, as the frontend reports."""
    counts: Counter[tuple[str, str]] = Counter()
    first: dict[tuple[str, str], str] = {}
    for node, err in failures:
        key = (node.op, str(err))
        counts[key] += 1
        first.setdefault(key, node.source_name or node.outputs[0].name)
    listing = "; ".join(f"{op} x{n} (first: '{first[(op, why)]}'): {why}"
                        for (op, why), n in sorted(counts.items()))
    return (f"cannot export graph '{graph.name}' to ONNX: {len(failures)} node(s) unsupported: "
            f"{listing}")


# ----- public API ---------------------------------------------------------------------------------
def _check_opset(opset: int | None) -> int:
    if opset is None:
        return MIN_OPSET
    if not MIN_OPSET <= opset <= max_opset():
        raise UsageError(f"ONNX export supports opsets {MIN_OPSET} to {max_opset()}, got {opset}")
    return opset


def _export_graph(graph: Graph, opset: int | None) -> tuple[onnx.GraphProto, int]:
    ex = _Exporter(graph, _check_opset(opset))
    onnx_graph = ex.run()
    needed = [e.needs_opset for _, e in ex.failures]
    if opset is None and needed and all(n is not None and n <= max_opset() for n in needed):
        # every failure is an op newer than the default opset: use the lowest that has them
        ex = _Exporter(graph, max(needed))
        onnx_graph = ex.run()
    if ex.failures:
        raise UnsupportedOpError(_failure_message(graph, ex.failures))
    return onnx_graph, ex.opset


def export_onnx(graph: Graph, *, opset: int | None = None,
                external_data_threshold: int | None = None) -> onnx.ModelProto:
    """``graph`` as an ONNX model, checked with onnx.checker.

    ``opset``: the default-domain opset to write (None: the lowest from 17 that spells every
    op).  ``external_data_threshold``: initializers of at least this many bytes are marked
    for a side file ``<graph name>.onnx.data``; their bytes stay in the returned model until
    ``onnx.save_model`` (or ``save_onnx``) writes them out.
    """
    onnx_graph, used_opset = _export_graph(graph, opset)
    model = onnx.helper.make_model(onnx_graph, producer_name="leptonc",
                                   opset_imports=[onnx.helper.make_opsetid("", used_opset)])
    for key, value in graph.metadata.items():
        model.metadata_props.add(key=key, value=value)
    if model.ByteSize() < EXTERNAL_DATA_AUTO_BYTES:
        # larger models cannot be serialised for the checker; save_onnx checks those on disk
        onnx.checker.check_model(model, full_check=True)
    if external_data_threshold is not None:
        onnx.external_data_helper.convert_model_to_external_data(
            model, all_tensors_to_one_file=True, location=f"{graph.name}.onnx.data",
            size_threshold=external_data_threshold)
    return model


def save_onnx(graph: Graph, path: str | os.PathLike, *, opset: int | None = None,
              external_data: bool | None = None) -> Path:
    """Export ``graph`` to ``path`` atomically.  Weights go to ``<path name>.data`` beside it
    when ``external_data`` is True, or (None) when the model exceeds 1.5 GB."""
    path = Path(path)
    model = export_onnx(graph, opset=opset)
    if external_data is None:
        external_data = model.ByteSize() >= EXTERNAL_DATA_AUTO_BYTES
    data_name = f"{path.name}.data"
    if external_data:
        onnx.external_data_helper.convert_model_to_external_data(
            model, all_tensors_to_one_file=True, location=data_name,
            size_threshold=_EXTERNAL_MIN_TENSOR_BYTES)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.name}.") as tmp:
            staged = Path(tmp) / path.name
            onnx.save_model(model, staged)
            onnx.checker.check_model(str(staged))
            if external_data:  # the data first, so the model never names missing bytes
                os.replace(Path(tmp) / data_name, path.parent / data_name)
            os.replace(staged, path)
    except OSError as e:
        raise OutputError(f"{path}: cannot write ONNX model ({e.strerror or e})") from None
    return path


def _unique(hint: str, taken: set[str]) -> str:
    """``hint``, or ``hint_<n>`` with the smallest free n; recorded in ``taken``."""
    name, n = hint, 0
    while name in taken:
        n += 1
        name = f"{hint}_{n}"
    taken.add(name)
    return name
