"""One-op test cases shared by the op tests: a single-node ONNX model run by leptonc and by
onnxruntime and compared, and a single ``leptonc`` op run through the IR interpreter.

    model, feed = one_node("Conv", [x, w, None], {"pads": [1, 1, 1, 1]}, constants=(1,))
    got = assert_matches_ort(model, feed, rtol=1e-4, atol=1e-5)
    y = run_one("ew.sigmoid", [x])
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import ml_dtypes
import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

import leptonc
from leptonc.ir.builder import Builder
from leptonc.ir.dtypes import from_numpy
from leptonc.ir.graph import Graph
from leptonc.ir.types import TensorType

BF16 = np.dtype(ml_dtypes.bfloat16)


# ----- building one-node ONNX models ----------------------------------------------------------
def elem_type(dtype: np.dtype) -> int:
    """The ONNX element type of a numpy dtype (bfloat16 and strings included)."""
    if dtype == BF16:
        return TensorProto.BFLOAT16
    if dtype.kind in "OU":
        return TensorProto.STRING
    return helper.np_dtype_to_tensor_dtype(dtype)


def node_model(op_type: str, inputs: dict, outputs: Sequence[str], attrs: dict | None = None,
               opset: int = 21, *, initializers: Collection[str] = (), shapes: dict | None = None,
               out_elems: Sequence[int] | None = None, ir_version: int | None = None
               ) -> tuple[onnx.ModelProto, dict]:
    """A one-node model and its run-time feed.

    ``inputs`` maps input names, in node order, to arrays (None: an omitted optional input);
    the names in ``initializers`` become initializers, the others graph inputs, declared with
    ``shapes[name]`` where given (symbolic dims, None).  ``outputs`` are the node's outputs
    ("" skips one); each is declared with its ``out_elems`` entry, or without a type.
    """
    shapes = shapes or {}
    graph_inputs, inits, feed = [], [], {}
    for name, a in inputs.items():
        if a is None:
            continue
        if name in initializers:
            inits.append(numpy_helper.from_array(np.asarray(a), name))
        else:
            graph_inputs.append(helper.make_tensor_value_info(name, elem_type(a.dtype),
                                                              shapes.get(name, a.shape)))
            feed[name] = np.asarray(a)
    elems = out_elems if out_elems is not None else [None] * len(outputs)
    graph_outputs = [helper.make_tensor_value_info(o, e, None) if e is not None
                     else helper.make_empty_tensor_value_info(o)
                     for o, e in zip(outputs, elems, strict=True) if o]
    node = helper.make_node(op_type, [n if a is not None else "" for n, a in inputs.items()],
                            list(outputs), **(attrs or {}))
    graph = helper.make_graph([node], "g", graph_inputs, graph_outputs, initializer=inits)
    extra = {} if ir_version is None else {"ir_version": ir_version}
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], **extra)
    return model, feed


def one_node(op_type: str, inputs: list, attrs: dict | None = None, opset: int = 21,
             out_elems: Sequence[int] | None = None, *, constants: Collection[int] = (),
             n_outputs: int | None = None, shapes: dict | None = None
             ) -> tuple[onnx.ModelProto, dict]:
    """``node_model`` with inputs ``x0, x1, ...`` given by position (the indices in
    ``constants`` become initializers, ``shapes`` is keyed by index) and outputs ``y0, y1, ...``,
    ``n_outputs`` of them, declared with ``out_elems`` (default: the first input's type)."""
    if n_outputs is None:
        n_outputs = len(out_elems) if out_elems is not None else 1
    if out_elems is None:
        first = next(a for a in inputs if a is not None)
        out_elems = [elem_type(np.asarray(first).dtype)] * n_outputs
    return node_model(op_type, {f"x{i}": a for i, a in enumerate(inputs)},
                      [f"y{k}" for k in range(n_outputs)], attrs, opset,
                      initializers={f"x{i}" for i in constants},
                      shapes={f"x{i}": s for i, s in (shapes or {}).items()}, out_elems=out_elems)


# ----- running and comparing ------------------------------------------------------------------
def load(model: onnx.ModelProto) -> Graph:
    """The model imported by leptonc and verified."""
    graph = leptonc.load_onnx(model)
    leptonc.verify(graph)
    return graph


def run_graph(graph: Graph, feed: dict) -> list[np.ndarray]:
    """The graph's outputs, in order, from the interpreter."""
    got = leptonc.run(graph, feed)
    return [got[name] for name in graph.output_names]


def run_leptonc(model: onnx.ModelProto, feed: dict) -> list[np.ndarray]:
    return run_graph(load(model), feed)


def run_ort(model: onnx.ModelProto, feed: dict) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feed)


def assert_same(got: list[np.ndarray], want: list[np.ndarray], rtol: float, atol: float, *,
                exact: bool = True) -> None:
    """As many results, each of the expected dtype and shape, floats within ``rtol``/``atol``;
    other types equal exactly, or (``exact=False``) within the tolerances as well."""
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape, (g.dtype, g.shape, w.dtype, w.shape)
        if exact and w.dtype.kind != "f":
            np.testing.assert_array_equal(g, w)
        else:
            np.testing.assert_allclose(g.astype(np.float64), w.astype(np.float64), rtol=rtol,
                                       atol=atol)


def assert_matches_ort(model: onnx.ModelProto, feed: dict, rtol: float = 1e-5,
                       atol: float = 1e-6, *, exact: bool = True
                       ) -> tuple[list[np.ndarray], Graph]:
    """Run the model by leptonc and onnxruntime, ``assert_same`` the results; leptonc's results
    and its graph."""
    graph = load(model)
    got = run_graph(graph, feed)
    assert_same(got, run_ort(model, feed), rtol, atol, exact=exact)
    return got, graph


# ----- one leptonc op through the IR ----------------------------------------------------------
def build_op(op: str, arrays: list, attrs: dict | None = None,
             types: list[TensorType | None] | None = None) -> Graph:
    """A verified graph with one ``op`` node on graph inputs ``in0, in1, ...`` (None: omitted),
    typed as ``types`` or like ``arrays``; its outputs are ``out0, out1, ...``."""
    if types is None:
        types = [None if a is None else TensorType(from_numpy(a.dtype), a.shape) for a in arrays]
    g = Graph()
    ins = [None if t is None else g.add_input(f"in{i}", t) for i, t in enumerate(types)]
    out = Builder(g).op(op, ins, attrs or {})
    outs = list(out) if isinstance(out, tuple) else [out]
    g.set_outputs(outs, [f"out{i}" for i in range(len(outs))])
    leptonc.verify(g)
    return g


def run_op(op: str, arrays: list, attrs: dict | None = None,
           types: list[TensorType | None] | None = None) -> list[np.ndarray]:
    """Every output of one ``op`` on ``arrays`` (see ``build_op``)."""
    graph = build_op(op, arrays, attrs, types)
    return run_graph(graph, {f"in{i}": a for i, a in enumerate(arrays) if a is not None})


def run_one(op: str, arrays: list, attrs: dict | None = None,
            types: list[TensorType | None] | None = None) -> np.ndarray:
    """The single output of one ``op`` on ``arrays``."""
    (result,) = run_op(op, arrays, attrs, types)
    return result
