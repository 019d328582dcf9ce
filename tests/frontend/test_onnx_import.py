"""Import behaviour: names, folding, dead code, and .onnx vs .lir agreement."""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import leptonc


def gemm_model() -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((16, 64)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.standard_normal(16).astype(np.float32), "b")
    nodes = [helper.make_node("Shape", ["x"], ["s"]),  # read by nothing after folding
             helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1, name="fc")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                       [4, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 16])],
                              [w, b])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def test_folded_weights_are_contiguous_so_lir_runs_bit_identically(tmp_path):
    g = leptonc.load_onnx(gemm_model())
    assert all(v.data.flags["C_CONTIGUOUS"] for v in g.constants.values())
    leptonc.save_ir(g, tmp_path / "m.lir")
    x = {"x": np.random.default_rng(1).standard_normal((4, 64)).astype(np.float32)}
    np.testing.assert_array_equal(leptonc.run(g, x)["y"],
                                  leptonc.run(leptonc.load_ir(tmp_path / "m.lir"), x)["y"])


def test_values_keep_onnx_names_and_dead_nodes_are_dropped():
    g = leptonc.load_onnx(gemm_model())
    assert [n.op for n in g] == ["linalg.matmul", "ew.add"]
    assert g.outputs[0].name == "y" and g.nodes[0].source_name == "fc"


def test_models_older_than_opset_7_are_upgraded():
    nodes = [helper.make_node("Add", ["a", "b"], ["s"], broadcast=1),
             helper.make_node("Relu", ["s"], ["y"])]
    graph = helper.make_graph(nodes, "old", [
        helper.make_tensor_value_info("a", TensorProto.FLOAT, [2, 3]),
        helper.make_tensor_value_info("b", TensorProto.FLOAT, [3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 6)])
    g = leptonc.load_onnx(model)
    assert g.metadata["opset"] == "7"
    a, b = np.array([[-1, 2, 3], [4, -5, 6]], np.float32), np.array([1, 1, -10], np.float32)
    np.testing.assert_array_equal(leptonc.run(g, {"a": a, "b": b})["y"], np.maximum(a + b, 0))
