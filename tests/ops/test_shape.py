"""Shape and data-movement ops (``shape.*``) and their ONNX converters: numbers against
onnxruntime across opsets, with shape-controlling tensors both as constants and as run-time
inputs; inference over static, symbolic and unknown dims; folding of static shape arithmetic."""

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper
from onnx_cases import assert_matches_ort, node_model

import leptonc
from leptonc.errors import ShapeError
from leptonc.ir import dtypes
from leptonc.ir.builder import Builder
from leptonc.ir.graph import Graph
from leptonc.ir.parser import parse_graph
from leptonc.ir.printer import print_graph
from leptonc.ir.types import TensorType

RNG = np.random.default_rng(0)
I64 = np.int64


def rand(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


def ints(*values):
    """An i64 array: ints(1, 2) is [1, 2]; ints([[1], [2]]) keeps the nesting."""
    return np.array(values[0] if len(values) == 1 and isinstance(values[0], list) else values,
                    dtype=I64)


# ----- one-node ONNX models, run by leptonc and onnxruntime -----------------------------------------
def one_node_model(op_type: str, feeds: dict, attrs: dict | None = None, *, opset: int = 18,
                   consts: tuple = (), outputs: int = 1, dims: dict | None = None
                   ) -> tuple[onnx.ModelProto, dict]:
    """A one-node model and its run-time feed: ``feeds`` in input order (None: an omitted
    optional input); names in ``consts`` become initializers; ``dims`` overrides a graph
    input's declared shape (symbols, None); outputs ``y0, y1, ...`` are declared untyped."""
    return node_model(op_type, feeds, [f"y{i}" for i in range(outputs)], attrs, opset,
                      initializers=consts, shapes=dims, ir_version=8)


def check(op_type: str, feeds: dict, attrs: dict | None = None, **kw) -> Graph:
    """Run a one-node model both ways and require identical results (shape, dtype, values)."""
    _, graph = assert_matches_ort(*one_node_model(op_type, feeds, attrs, **kw), rtol=1e-6,
                                  atol=1e-6)
    return graph


def both_ways(name: str):
    """The parameter as an initializer (folded into an attribute) and as a run-time input."""
    return pytest.mark.parametrize("consts", [(name,), ()], ids=["const", "runtime"])


def ops_of(graph: Graph) -> list[str]:
    return [node.op for node in graph]


# ----- reshaping ------------------------------------------------------------------------------------
@both_ways("shape")
@pytest.mark.parametrize("target", [(4, 0, -1), (-1,), (2, 3, 2, 2), (0, 0, 4)])
def test_reshape(consts, target):
    graph = check("Reshape", {"x": rand(2, 3, 4), "shape": ints(*target)}, consts=consts)
    out = graph.outputs[0].type
    assert out.is_static if consts else out.shape == (None,) * len(target)


def test_reshape_allowzero_keeps_zero():
    check("Reshape", {"x": rand(0, 3, 4), "shape": ints(3, 4, 0)}, {"allowzero": 1})


@pytest.mark.parametrize("dims", [("N", 3, "H", 5), None], ids=["symbolic", "unknown-rank"])
@pytest.mark.parametrize("axis", [0, 1, 2, 3, 4, -1, -3])
def test_flatten_dynamic_dims(axis, dims):
    """Flatten stays a reshape whatever dims are unknown; a run-time target where needed."""
    graph = check("Flatten", {"x": rand(2, 3, 4, 5)}, {"axis": axis}, dims={"x": dims}, opset=13)
    assert ops_of(graph)[-1] == "shape.reshape"
    assert graph.outputs[0].type.rank == 2


@pytest.mark.parametrize("opset", [11, 13])
def test_squeeze_unsqueeze_across_opsets(opset):
    x = rand(1, 3, 1, 5)
    if opset < 13:
        check("Squeeze", {"x": x}, {"axes": [0, -2]}, opset=opset)
        check("Squeeze", {"x": x}, opset=opset)
        check("Unsqueeze", {"x": x}, {"axes": [0, 5, -1]}, opset=opset)
    else:
        for consts in [("axes",), ()]:
            check("Squeeze", {"x": x, "axes": ints(0, -2)}, opset=opset, consts=consts)
            check("Unsqueeze", {"x": x, "axes": ints(5, 0)}, opset=opset, consts=consts)
        check("Squeeze", {"x": x}, opset=opset)


@pytest.mark.parametrize("mode", ["DCR", "CRD"])
def test_depth_to_space_and_back(mode):
    check("DepthToSpace", {"x": rand(2, 8, 3, 2)}, {"blocksize": 2, "mode": mode}, opset=13)
    check("SpaceToDepth", {"x": rand(2, 2, 6, 4)}, {"blocksize": 2}, opset=13)
    x = rand(1, 8, 2, 3)
    model, _ = one_node_model("DepthToSpace", {"x": x}, {"blocksize": 2, "mode": mode})
    graph = leptonc.load_onnx(model)
    y = leptonc.run(graph, {"x": x})["y0"]
    back = Graph()
    inp = back.add_input("y", TensorType(dtypes.f32, y.shape))
    back.set_outputs([Builder(back).op("shape.space_to_depth", [inp], {"blocksize": 2,
                                                                       "mode": mode})])
    np.testing.assert_array_equal(leptonc.run(back, {"y": y})[back.output_names[0]], x)


@pytest.mark.parametrize("dims", [(2, 3, 4), None], ids=["static", "unknown-rank"])
def test_transpose_default_reverses(dims):
    check("Transpose", {"x": rand(2, 3, 4)}, dims={"x": dims})


# ----- joining and splitting ------------------------------------------------------------------------
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concat(axis):
    check("Concat", {"a": rand(2, 3, 2), "b": rand(2, 3, 2), "c": rand(2, 3, 2)}, {"axis": axis})


def test_concat_strings_and_bools_pass_through():
    words = np.array([["a", "b"]], dtype=object)
    graph = leptonc.load_onnx(one_node_model("Concat", {"a": words, "b": words}, {"axis": 0})[0])
    assert leptonc.run(graph, {"a": words, "b": words})["y0"].tolist() == [["a", "b"]] * 2
    check("Concat", {"a": np.array([True, False]), "b": np.array([False])}, {"axis": 0})


STRING_CASES = [
    ("Transpose", {}, lambda x: x.T),
    ("Gather", {"axis": 1}, lambda x: x[:, [2, 0]]),
    ("Slice", {}, lambda x: x[::-1, 1:]),
    ("Tile", {}, lambda x: np.tile(x, (1, 2))),
    ("Reshape", {}, lambda x: x.reshape(3, 2)),
    ("Unsqueeze", {}, lambda x: x[None]),
    ("Pad", {"mode": "edge"}, lambda x: np.pad(x, ((0, 0), (1, 0)), mode="edge")),
]
_STRING_EXTRA_INPUTS = {"Gather": {"i": ints(2, 0)}, "Tile": {"r": ints(1, 2)},
                        "Reshape": {"s": ints(3, 2)}, "Unsqueeze": {"a": ints(0)},
                        "Pad": {"p": ints(0, 1, 0, 0)},
                        "Slice": {"b": ints(-1, 1), "e": ints(-(2**62), 9), "a": ints(0, 1),
                                  "st": ints(-1, 1)}}


@pytest.mark.parametrize("op_type, attrs, numpy_fn", STRING_CASES, ids=[c[0] for c in STRING_CASES])
def test_strings_pass_through(op_type, attrs, numpy_fn):
    x = np.array([["a", "bb", "c"], ["d", "", "f"]], dtype=object)
    extra = _STRING_EXTRA_INPUTS.get(op_type, {})
    model, _ = one_node_model(op_type, {"x": x, **extra}, attrs, consts=tuple(extra), opset=13)
    graph = leptonc.load_onnx(model)
    got = leptonc.run(graph, {"x": x})["y0"]
    assert got.dtype == object and got.tolist() == numpy_fn(x).tolist()


@pytest.mark.parametrize("opset, attrs, split", [
    (11, {"axis": 1, "split": [1, 4, 1]}, None),
    (11, {"axis": 1}, None),
    (13, {"axis": 1}, ints(2, 4)),
    (18, {"axis": 1, "num_outputs": 4}, None),  # 6 = 2 + 2 + 2 + 0
    (18, {"axis": 0, "num_outputs": 3}, None),  # 7 = 3 + 3 + 1
])
def test_split(opset, attrs, split):
    x = rand(7, 6)
    outputs = len(attrs.get("split", ())) or attrs.get("num_outputs") or (
        len(split) if split is not None else 3)
    feeds = {"x": x} if split is None else {"x": x, "split": split}
    check("Split", feeds, attrs, opset=opset, outputs=outputs)
    if split is not None:
        graph = check("Split", feeds, attrs, opset=opset, outputs=outputs, consts=("split",))
        assert [v.type.shape for v in graph.outputs] == [(7, 2), (7, 4)]


# ----- slicing and padding --------------------------------------------------------------------------
SLICES = [
    ((1, 0), (3, 10), (0, 1), (1, 3)),
    ((-1, 8), (-100, 1), (0, 1), (-1, -3)),       # negative steps, clamped start/end
    ((2**62,), (-(2**62),), (2,), (-2,)),          # huge bounds clamp to the dim
    ((100,), (200,), (0,), (1,)),                  # empty result
    ((0,), (-1,), (-1,), (1,)),                    # negative axis
]


@both_ways("starts")
@pytest.mark.parametrize("starts, ends, axes, steps", SLICES)
def test_slice(consts, starts, ends, axes, steps):
    feeds = {"x": rand(5, 10, 4), "starts": ints(*starts), "ends": ints(*ends),
             "axes": ints(*axes), "steps": ints(*steps)}
    consts = ("starts", "ends", "axes", "steps") if consts else ()
    graph = check("Slice", feeds, consts=consts, opset=13)
    assert (graph.outputs[0].type.is_static) == bool(consts)


def test_slice_before_opset_10_uses_attributes():
    check("Slice", {"x": rand(5, 6)}, {"starts": [1, -3], "ends": [4, 100], "axes": [0, 1]},
          opset=9)
    check("Slice", {"x": rand(5, 6)}, {"starts": [1], "ends": [-1]}, opset=9)


def test_slice_runtime_steps_with_constant_bounds():
    feeds = {"x": rand(6, 4), "starts": ints(5), "ends": ints(0), "axes": ints(0),
             "steps": ints(-2)}
    graph = check("Slice", feeds, consts=("starts", "ends", "axes"), opset=13)
    assert graph.outputs[0].type.shape == (None, 4)


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge", "wrap"])
@both_ways("pads")
def test_pad_modes(mode, consts):
    feeds = {"x": rand(1, 3, 4, 5), "pads": ints(0, 0, 1, 2, 0, 1, 2, 1)}
    if mode == "constant":
        feeds["value"] = np.array(1.5, np.float32)
    check("Pad", feeds, {"mode": mode}, opset=19, consts=consts)


def test_pad_negative_pads_crop():
    check("Pad", {"x": rand(4, 5), "pads": ints(-1, 2, 1, -2)}, consts=("pads",), opset=13)


@both_ways("axes")
def test_pad_axes_input(consts):
    feeds = {"x": rand(1, 3, 4, 5), "pads": ints(1, 0, 2, 3), "value": np.array(-1.0, np.float32),
             "axes": ints(-1, 1)}
    graph = check("Pad", feeds, opset=18, consts=("pads", "value") + consts)
    if consts:
        node = next(iter(graph))
        assert node.attrs["pads"] == (0, 0, 0, 1, 0, 3, 0, 2) and "axes" not in node.attrs


def test_pad_before_opset_11_uses_attributes():
    check("Pad", {"x": rand(2, 3)}, {"pads": [0, 1, 1, 0], "mode": "reflect"}, opset=10)
    check("Pad", {"x": rand(2, 3)}, {"pads": [1, 1, 1, 1], "value": 2.5}, opset=10)


def test_pad_integer_data():
    check("Pad", {"x": np.arange(6, dtype=np.int32).reshape(2, 3), "pads": ints(1, 0, 0, 2),
                  "value": np.array(7, np.int32)}, consts=("pads", "value"), opset=13)


@both_ways("shape")
@pytest.mark.parametrize("target", [(10, 8, 3), (25, 6, 3), (7, 13, 2)])
def test_center_crop_pad(consts, target):
    graph = check("CenterCropPad", {"x": rand(20, 10, 3), "shape": ints(*target)}, consts=consts)
    assert ("shape.center_crop_pad" in ops_of(graph)) != bool(consts)


def test_center_crop_pad_axes():
    check("CenterCropPad", {"x": rand(3, 20, 8), "shape": ints(10, 9)}, {"axes": [1, -1]})


# ----- broadcasting and repetition ------------------------------------------------------------------
@both_ways("shape")
def test_expand(consts):
    check("Expand", {"x": rand(3, 1), "shape": ints(2, 1, 4)}, consts=consts)


@both_ways("repeats")
def test_tile(consts):
    check("Tile", {"x": rand(2, 3), "repeats": ints(3, 2)}, consts=consts)


@both_ways("shape")
def test_constant_of_shape(consts):
    value = helper.make_tensor("value", onnx.TensorProto.INT32, [1], [7])
    graph = check("ConstantOfShape", {"shape": ints(2, 3)}, {"value": value}, consts=consts)
    assert ops_of(graph) == ([] if consts else ["shape.expand"])
    check("ConstantOfShape", {"shape": ints(0, 3)}, consts=consts)


# ----- indexing -------------------------------------------------------------------------------------
@pytest.mark.parametrize("axis, indices", [(0, ints(0, -1, 2)), (1, ints([[0, 1], [-3, 2]])),
                                           (1, np.array(1, np.int32))])
def test_gather(axis, indices):
    check("Gather", {"x": rand(3, 4, 2), "i": indices}, {"axis": axis})


def test_gather_elements():
    check("GatherElements", {"x": rand(3, 4), "i": ints([[0, -1, 2, 1], [2, 0, 0, -3]])},
          {"axis": 0})


@pytest.mark.parametrize("batch_dims, indices", [(0, ints([[0, 1], [1, -1]])),
                                                 (1, ints([[1], [0]])),
                                                 (1, ints([[[0, 1]], [[1, 0]]]))])
def test_gather_nd(batch_dims, indices):
    check("GatherND", {"x": rand(2, 2, 3), "i": indices}, {"batch_dims": batch_dims})


@pytest.mark.parametrize("reduction", ["none", "add", "mul", "max", "min"])
def test_scatter_elements(reduction):
    feeds = {"x": rand(3, 4), "i": ints([[0, 1, -1, 1], [2, 1, 0, 1]]), "u": rand(2, 4)}
    if reduction == "none":
        feeds["i"] = ints([[0, 1, -1, 2], [2, 0, 1, 1]])
    check("ScatterElements", feeds, {"axis": 0, "reduction": reduction})


def test_scatter_before_opset_11():
    check("Scatter", {"x": rand(3, 3), "i": ints([[1, 0, 2]]), "u": rand(1, 3)}, {"axis": 1},
          opset=10)


@pytest.mark.parametrize("reduction", ["none", "add", "mul", "max", "min"])
def test_scatter_nd(reduction):
    indices = ints([[1], [-1]]) if reduction == "none" else ints([[1], [3], [1]])
    updates = rand(len(indices), 4, 2)
    check("ScatterND", {"x": rand(4, 4, 2), "i": indices, "u": updates},
          {"reduction": reduction})


def _tensor_scatter_reference(cache, update, starts, axis, circular):
    out = cache.copy()
    for prefix in np.ndindex(cache.shape[:axis]):
        for s in range(update.shape[axis]):
            pos = starts[prefix[0]] + s
            pos = pos % cache.shape[axis] if circular else pos
            out[prefix + (pos,)] = update[prefix + (s,)]
    return out


@pytest.mark.parametrize("mode", ["linear", "circular"])
@pytest.mark.parametrize("axis", [-2, 1, 2])
def test_tensor_scatter(mode, axis):
    cache = rand(2, 3, 5, 4)
    shape = list(cache.shape)
    shape[axis] = 2
    capacity = cache.shape[axis]
    # linear writes must fit; circular ones wrap past the end
    update, starts = rand(*shape), ints(1, capacity - (2 if mode == "linear" else 1))
    model, feed = one_node_model("TensorScatter", {"c": cache, "u": update, "w": starts},
                                 {"axis": axis, "mode": mode}, opset=24)
    got = leptonc.run(leptonc.load_onnx(model), feed)["y0"]
    want = _tensor_scatter_reference(cache, update, starts, axis % 4, mode == "circular")
    np.testing.assert_array_equal(got, want)


def test_compress():
    check("Compress", {"x": rand(3, 2), "c": np.array([True, False, True])}, {"axis": 0})
    check("Compress", {"x": rand(3, 2), "c": np.array([False, True, True, False, True])})


# ----- generators -----------------------------------------------------------------------------------
@pytest.mark.parametrize("start, limit, delta", [(1, 10, 3), (10, -3, -4), (0.5, 2.0, 0.25),
                                                 (3, 1, 1)])
def test_range(start, limit, delta):
    dtype = np.float32 if isinstance(start, float) else np.int32
    check("Range", {"s": np.array(start, dtype), "l": np.array(limit, dtype),
                    "d": np.array(delta, dtype)})


@both_ways("depth")
@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_one_hot(consts, axis):
    check("OneHot", {"i": ints([[1, -1], [7, 0]]), "depth": np.array(4, np.float32),
                     "values": np.array([2, 5], np.int32)}, {"axis": axis}, consts=consts)


@both_ways("k")
@pytest.mark.parametrize("upper", [0, 1])
def test_trilu(consts, upper):
    check("Trilu", {"x": rand(2, 4, 5), "k": np.array(-1, I64)}, {"upper": upper}, consts=consts)


@pytest.mark.parametrize("k", [0, 2, -1])
def test_eye_like_static_folds_and_symbolic_runs(k):
    graph = check("EyeLike", {"x": rand(3, 5)}, {"k": k, "dtype": onnx.TensorProto.INT32})
    assert ops_of(graph) == []
    graph = check("EyeLike", {"x": rand(4, 3)}, {"k": k}, dims={"x": ("N", "M")})
    assert "shape.shape" in ops_of(graph)


# ----- data-dependent results -----------------------------------------------------------------------
def test_nonzero():
    graph = check("NonZero", {"x": np.array([[1, 0, 3], [0, 0, 2]], np.int32)})
    assert graph.outputs[0].type.shape == (2, None)


@pytest.mark.parametrize("opset, attrs", [(9, {"axis": 1, "k": 2}), (10, {"axis": 0}),
                                          (11, {"axis": -1, "largest": 0}),
                                          (11, {"axis": 1, "largest": 1})])
def test_top_k(opset, attrs):
    x = np.array([[3, 1, 3, 2], [5, 5, 1, 5], [0, 0, 0, 0]], np.float32)
    feeds = {"x": x} if opset < 10 else {"x": x, "k": ints(3 if attrs["axis"] else 2)}
    check("TopK", feeds, attrs, opset=opset, outputs=2)


def test_top_k_ties_keep_index_order():
    x = np.array([2, 7, 7, 1, 7, 2], np.uint64)
    for largest, want in [(1, [1, 2, 4, 0]), (0, [3, 0, 5, 1])]:
        model, _ = one_node_model("TopK", {"x": x, "k": ints(4)}, {"largest": largest},
                                  outputs=2, consts=("k",))
        graph = leptonc.load_onnx(model)
        values, indices = (leptonc.run(graph, {"x": x})[n] for n in graph.output_names)
        assert indices.tolist() == want and values.tolist() == x[want].tolist()


@pytest.mark.parametrize("attrs", [{}, {"sorted": 0}, {"axis": 0}, {"axis": -1, "sorted": 0}])
def test_unique(attrs):
    x = np.array([[2, 1, 2], [3, 1, 3], [2, 1, 2], [0, 4, 0]], np.int64)
    check("Unique", {"x": x}, attrs, outputs=4, opset=11)


@pytest.mark.parametrize("batch_axis, time_axis", [(1, 0), (0, 1)])
def test_reverse_sequence(batch_axis, time_axis):
    x = rand(4, 4, 2)
    check("ReverseSequence", {"x": x, "lens": ints(4, 1, 2, 3)},
          {"batch_axis": batch_axis, "time_axis": time_axis}, opset=10)


# ----- shape queries and folding --------------------------------------------------------------------
@pytest.mark.parametrize("attrs", [{}, {"start": 1}, {"end": -1}, {"start": -2, "end": 10}])
def test_shape_of_static_input_is_a_constant(attrs):
    graph = check("Shape", {"x": rand(2, 3, 4)}, attrs)
    assert ops_of(graph) == []


def test_shape_and_size_of_symbolic_input_are_ops():
    graph = check("Shape", {"x": rand(2, 3, 4)}, {"start": 0, "end": 2}, dims={"x": ("N", 3, 4)})
    assert ops_of(graph) == ["shape.shape"] and graph.outputs[0].type.shape == (2,)
    graph = check("Shape", {"x": rand(2, 3, 4)}, {"start": 1}, dims={"x": ("N", 3, 4)})
    assert ops_of(graph) == []  # dims 1.. are static
    graph = check("Size", {"x": rand(2, 3)}, dims={"x": (None, 3)})
    assert ops_of(graph) == ["shape.size"]


def _merge_middle_dims_model(dims) -> onnx.ModelProto:
    """The exporter idiom reshape(x, [shape(x)[0], -1, shape(x)[3:]])."""
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "zero"], ["batch"], axis=0),
        helper.make_node("Unsqueeze", ["batch", "axes0"], ["batch1"]),
        helper.make_node("Slice", ["s", "three", "big"], ["tail"]),
        helper.make_node("Concat", ["batch1", "minus1", "tail"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"]),
    ]
    inits = [numpy_helper.from_array(np.array(0, I64), "zero"),
             numpy_helper.from_array(ints(0), "axes0"), numpy_helper.from_array(ints(3), "three"),
             numpy_helper.from_array(ints(2**63 - 1), "big"),
             numpy_helper.from_array(ints(-1), "minus1")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", 1, dims)],
                              [helper.make_empty_tensor_value_info("y")], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


def test_shape_arithmetic_folds_to_the_static_part():
    """With a symbolic batch only the batch dim stays computed at run time: the Slice of the
    static dims of the shape folds to a constant."""
    graph = leptonc.load_onnx(_merge_middle_dims_model(["N", 3, 4, 5]))
    leptonc.verify(graph)
    assert "shape.slice" not in ops_of(graph)
    assert graph.outputs[0].type.shape == (None, None, None)
    x = rand(2, 3, 4, 5)
    np.testing.assert_array_equal(leptonc.run(graph, {"x": x})["y"], x.reshape(2, 12, 5))


def test_gather_of_static_dim_folds():
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "i"], ["d"], axis=0)]
    for index, folded in [(ints(1, 2), True), (ints(0, 2), False)]:
        graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", 1, ["N", 3, 4])],
                                  [helper.make_empty_tensor_value_info("d")],
                                  [numpy_helper.from_array(index, "i")])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                                  ir_version=8)
        g = leptonc.load_onnx(model)
        assert ("shape.gather" not in ops_of(g)) == folded
        got = leptonc.run(g, {"x": rand(7, 3, 4)})["d"]
        assert got.tolist() == [[7, 3, 4][i] for i in index]


def test_gather_past_the_rank_of_a_shape_fails_at_import():
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "i"], ["d"], axis=0)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", 1, ["N", 3])],
                              [helper.make_empty_tensor_value_info("d")],
                              [numpy_helper.from_array(ints(5), "i")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    with pytest.raises(ShapeError, match="out of bounds"):
        leptonc.load_onnx(model)


# ----- inference over symbolic and unknown dims -----------------------------------------------------
def infer(op: str, types: list, attrs: dict | None = None, consts: dict | None = None):
    """Output types of ``op`` on inputs of the given types (consts: index -> data)."""
    g = Graph()
    ins = []
    for i, t in enumerate(types):
        if consts and i in consts:
            ins.append(g.add_constant(np.asarray(consts[i]), f"c{i}"))
        else:
            ins.append(None if t is None else g.add_input(f"x{i}", t))
    node = Builder(g).node(op, ins, attrs or {})
    return [v.type.shape for v in node.outputs]


F32, IDX = dtypes.f32, dtypes.i64


def t(*dims, dtype=F32):
    return TensorType(dtype, dims)


UNKNOWN_RANK = TensorType(F32, None)


def test_concat_inference():
    assert infer("shape.concat", [t("N", 3), t("N", 4)], {"axis": 1}) == [("N", 7)]
    assert infer("shape.concat", [t("N", 3), t(None, "K")], {"axis": 1}) == [("N", None)]
    assert infer("shape.concat", [t(2, 3), UNKNOWN_RANK], {"axis": 0}) == [(None, 3)]
    with pytest.raises(ShapeError, match="dims"):
        infer("shape.concat", [t(2, 3), t(3, 3)], {"axis": 1})
    with pytest.raises(ShapeError, match="dtypes"):
        infer("shape.concat", [t(2), t(2, dtype=IDX)], {"axis": 0})


def test_slice_inference_keeps_symbolic_dims_it_does_not_cut():
    attrs = {"starts": (0, 1), "ends": (2**63 - 1, 3), "axes": (0, 1)}
    assert infer("shape.slice", [t("N", 8, "C")], attrs) == [("N", 2, "C")]
    attrs = {"starts": (1,), "ends": (2**63 - 1,), "axes": (0,)}
    assert infer("shape.slice", [t("N", 8)], attrs) == [(None, 8)]
    # starts at run time: only the sliced axes are unknown
    assert infer("shape.slice", [t("N", 8, 4), t(1, dtype=IDX)], {"ends": (3,), "axes": (2,)}
                 ) == [("N", 8, None)]
    assert infer("shape.slice", [t(5, 8), t(1, dtype=IDX), t(1, dtype=IDX), t(1, dtype=IDX)]
                 ) == [(None, None)]


@pytest.mark.parametrize("op, types, attrs, want", [
    ("shape.squeeze", [t("N", 1, 3)], {"axes": (1,)}, ("N", 3)),
    ("shape.squeeze", [t("N", 1, 3)], {}, None),  # which dims are 1 is known at run time
    ("shape.squeeze", [t("N", 1, 3), t(1, dtype=IDX)], {}, (None, None)),
    ("shape.unsqueeze", [t("N", 3)], {"axes": (0, -1)}, (1, "N", 3, 1)),
    ("shape.unsqueeze", [t("N", 3), t(2, dtype=IDX)], {}, (None,) * 4),
    ("shape.reshape", [t("N", 3), t(3, dtype=IDX)], {}, (None,) * 3),
    ("shape.expand", [t("N", 1), t(3, dtype=IDX)], {}, (None,) * 3),
    ("shape.expand", [t("N", 1)], {"shape": (2, 1, 4)}, (2, "N", 4)),
    ("shape.tile", [t("N", 3)], {"repeats": (1, 2)}, ("N", 6)),
    ("shape.tile", [t("N", 3)], {"repeats": (2, 1)}, (None, 3)),
    ("shape.pad", [t("N", 3)], {"pads": (0, 1, 0, 1)}, ("N", 5)),
    ("shape.pad", [t("N", 3), t(4, dtype=IDX)], {}, (None, None)),
    ("shape.pad", [t("N", 3), t(2, dtype=IDX)], {"axes": (1,)}, ("N", None)),
    ("shape.gather", [t("N", 5, 2), t(2, 3, dtype=IDX)], {"axis": 1}, ("N", 2, 3, 2)),
    ("shape.gather", [t("N", 5), t(dtype=IDX)], {"axis": 1}, ("N",)),
    ("shape.gather_nd", [t("B", 5, 2), t("B", 4, 1, dtype=IDX)], {"batch_dims": 1},
     ("B", 4, 2)),
    ("shape.top_k", [t("N", 9)], {"k": 3}, ("N", 3)),
    ("shape.top_k", [t("N", 9), t(1, dtype=IDX)], {}, ("N", None)),
    ("shape.one_hot", [t("N", dtype=IDX), t(2)], {"depth": 5, "axis": 0}, (5, "N")),
    ("shape.nonzero", [t("N", 3)], {}, (2, None)),
    ("shape.unique", [t("N", 3)], {"axis": 1}, ("N", None)),
    ("shape.depth_to_space", [t("N", 8, "H", 3)], {"blocksize": 2}, ("N", 2, None, 6)),
    ("shape.space_to_depth", [t("N", 2, 4, "W")], {"blocksize": 2}, ("N", 8, 2, None)),
    ("shape.shape", [t("N", 3, 4)], {"start": -2}, (2,)),
    ("shape.center_crop_pad", [t("N", 10, 3)], {"shape": (4, 4), "axes": (1, 2)}, ("N", 4, 4)),
])
def test_inference_with_symbolic_dims(op, types, attrs, want):
    assert infer(op, types, attrs)[0] == want


def test_split_inference():
    assert infer("shape.split", [t("N", 7)], {"axis": 1, "num_outputs": 3}) == [("N", 3)] * 2 + [
        ("N", 1)]
    assert infer("shape.split", [t("N", 7)], {"axis": 0, "num_outputs": 2}) == [(None, 7)] * 2
    assert infer("shape.split", [t(4, 6), t(2, dtype=IDX)], {"axis": 1}) == [(4, None)] * 2
    with pytest.raises(ShapeError, match="add up"):
        infer("shape.split", [t(4, 6)], {"axis": 1, "split": (2, 3)})


# One valid attribute set per op: every op must accept an input of unknown rank.
UNKNOWN_RANK_CASES = [
    ("shape.shape", 1, {}), ("shape.size", 1, {}), ("shape.transpose", 1, {"perm": (1, 0)}),
    ("shape.squeeze", 1, {"axes": (0,)}), ("shape.unsqueeze", 1, {"axes": (0,)}),
    ("shape.depth_to_space", 1, {"blocksize": 2}), ("shape.space_to_depth", 1, {"blocksize": 2}),
    ("shape.concat", 2, {"axis": 0}), ("shape.split", 1, {"num_outputs": 2}),
    ("shape.slice", 1, {"starts": (0,), "ends": (1,)}), ("shape.pad", 1, {"pads": (1, 1)}),
    ("shape.center_crop_pad", 1, {"shape": (2,)}), ("shape.expand", 1, {"shape": (2, 3)}),
    ("shape.tile", 1, {"repeats": (2,)}), ("shape.trilu", 1, {}), ("shape.nonzero", 1, {}),
    ("shape.top_k", 1, {"k": 1}), ("shape.unique", 1, {}), ("shape.unique", 1, {"axis": 0}),
]


@pytest.mark.parametrize("op, n, attrs", UNKNOWN_RANK_CASES, ids=[c[0] for c in UNKNOWN_RANK_CASES])
def test_unknown_rank_is_handled(op, n, attrs):
    for shape in infer(op, [UNKNOWN_RANK] * n, attrs):
        assert shape is None or all(d is None or isinstance(d, int) for d in shape)


@pytest.mark.parametrize("op, types, attrs, match", [
    ("shape.reshape", [t(2, 3)], {}, "cannot reshape"),
    ("shape.squeeze", [t(2, 3)], {"axes": (0,)}, "cannot squeeze"),
    ("shape.unsqueeze", [t(2, 3)], {"axes": (0, 0)}, "repeat"),
    ("shape.tile", [t(2, 3)], {"repeats": (2,)}, "repeats"),
    ("shape.top_k", [t(2, 3)], {"k": 4}, "outside"),
    ("shape.gather_nd", [t(2, 3), t(4, 3, dtype=IDX)], {}, "more dims"),
    ("shape.gather", [t(2, 3), t(4)], {}, "integers"),
    ("shape.depth_to_space", [t(1, 6, 2, 2)], {"blocksize": 2}, "divisible"),
    ("shape.slice", [t(4)], {"starts": (0,), "ends": (2,), "steps": (0,)}, "step"),
    ("shape.pad", [t(4)], {"pads": (1,)}, "pads"),
])
def test_invalid_inputs_raise_shape_errors(op, types, attrs, match):
    consts = {1: np.array([8, 8], I64)} if op == "shape.reshape" else None
    types = types + [t(2, dtype=IDX)] if consts else types
    with pytest.raises(ShapeError, match=match):
        infer(op, types, attrs, consts)


# ----- text form ------------------------------------------------------------------------------------
def test_shape_ops_roundtrip_through_text():
    g = Graph("shapes")
    x = g.add_input("x", t("N", 6, 4))
    b = Builder(g)
    s = b.op("shape.shape", [x], {"start": 1, "end": 3})
    y = b.op("shape.slice", [x], {"starts": (0,), "ends": (2**63 - 1,), "axes": (1,),
                                  "steps": (-2,)})
    y = b.op("shape.pad", [y], {"pads": (0, 1, 0, 0, 1, 0), "value": -1.5, "mode": "constant"})
    parts = b.op("shape.split", [y], {"axis": 1, "num_outputs": 2})
    values, indices = b.op("shape.top_k", [parts[0]], {"k": 2, "axis": -1, "largest": False})
    g.set_outputs([s, values, indices, parts[1]])
    leptonc.verify(g)
    text = print_graph(g)
    again = parse_graph(text)
    assert print_graph(again) == text
    feed = {"x": rand(3, 6, 4)}
    for a, c in zip(leptonc.run(g, feed).values(), leptonc.run(again, feed).values(), strict=True):
        np.testing.assert_array_equal(a, c)
