"""Linear-algebra ops (linalg.*) and their ONNX converters: MatMul, Gemm (decomposed into
canonical ops), Einsum, Det and MatMulInteger, against onnxruntime and numpy."""

import numpy as np
import pytest
from onnx import TensorProto
from onnx_cases import BF16, assert_matches_ort, one_node, run_one

import leptonc
from leptonc.errors import ShapeError
from leptonc.ir import dtypes
from leptonc.ir.builder import Builder
from leptonc.ir.graph import Graph
from leptonc.ir.types import TensorType
from leptonc.ops.linalg import parse_einsum
from leptonc.ops.registry import get_op

RNG = np.random.default_rng(3)


def check(op_type: str, inputs: list, attrs: dict | None = None, opset: int = 21,
          rtol: float = 1e-5, atol: float = 1e-5, **kw) -> np.ndarray:
    """One ONNX node through leptonc and onnxruntime: the same dtype, shape and values."""
    (got,), _ = assert_matches_ort(*one_node(op_type, inputs, attrs, opset, **kw), rtol, atol)
    return got


def rand(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


# ----- matmul ---------------------------------------------------------------------------------
@pytest.mark.parametrize("a_shape, b_shape", [((3, 4), (4, 5)), ((4,), (4, 2)), ((3, 4), (4,)),
                                              ((2, 1, 3, 4), (5, 4, 6)), ((4,), (4,))])
def test_matmul_matches_onnxruntime(a_shape, b_shape):
    check("MatMul", [rand(*a_shape), rand(*b_shape)], opset=13)


@pytest.mark.parametrize("dtype", [np.float16, BF16])
def test_matmul_of_narrow_floats_keeps_dtype_and_accumulates_wide(dtype):
    a, b = rand(4, 256, dtype=dtype), rand(256, 3, dtype=dtype)
    got = run_one("linalg.matmul", [a, b])
    assert got.dtype == np.dtype(dtype)
    want = a.astype(np.float32) @ b.astype(np.float32)
    np.testing.assert_allclose(got.astype(np.float32), want, rtol=2e-2, atol=0.2)


def test_matmul_shape_with_symbolic_batch():
    g = Graph()
    a = g.add_input("a", TensorType(dtypes.f32, ("N", 3, 4)))
    b = g.add_input("b", TensorType(dtypes.f32, (4, 5)))
    assert Builder(g).op("linalg.matmul", [a, b]).type.shape == ("N", 3, 5)
    c = g.add_input("c", TensorType(dtypes.f32, (6, 5)))
    with pytest.raises(ShapeError, match="inner dims"):
        Builder(g).op("linalg.matmul", [a, c])


# ----- gemm -----------------------------------------------------------------------------------
GEMM_ATTRS = [{}, {"transA": 1}, {"transB": 1}, {"alpha": 0.5}, {"beta": 2.0},
              {"transA": 1, "transB": 1, "alpha": 0.25, "beta": 0.35}]


@pytest.mark.parametrize("attrs", GEMM_ATTRS)
@pytest.mark.parametrize("c_shape", [(3, 5), (5,), (1,), ()])
@pytest.mark.parametrize("opset", [7, 9, 11, 13])
def test_gemm_matches_onnxruntime(attrs, c_shape, opset):
    a = rand(4, 3) if attrs.get("transA") else rand(3, 4)
    b = rand(5, 4) if attrs.get("transB") else rand(4, 5)
    check("Gemm", [a, b, rand(*c_shape)], attrs, opset)


def test_gemm_without_c_from_opset_11():
    check("Gemm", [rand(3, 4), rand(4, 5)], {"alpha": 2.0}, opset=11)


def test_gemm_decomposes_into_canonical_ops():
    a, b, c = rand(3, 4), rand(5, 4), rand(5)
    model, _ = one_node("Gemm", [a, b, c], {"transB": 1}, opset=13)
    assert [n.op for n in leptonc.load_onnx(model)] == ["shape.transpose", "linalg.matmul",
                                                        "ew.add"]
    model, _ = one_node("Gemm", [a, b, c], {"transB": 1, "alpha": 2.0, "beta": 3.0}, opset=13)
    assert [n.op for n in leptonc.load_onnx(model)] == ["shape.transpose", "linalg.matmul",
                                                        "ew.mul", "ew.mul", "ew.add"]


def test_gemm_folds_constant_weights_and_bias_scaling():
    a, b, c = rand(3, 4), rand(5, 4), rand(5)
    model, _ = one_node("Gemm", [a, b, c], {"transB": 1, "beta": 3.0}, opset=13, constants=(1, 2))
    graph = leptonc.load_onnx(model)
    assert [n.op for n in graph] == ["linalg.matmul", "ew.add"]


def test_integer_gemm():
    a = RNG.integers(-5, 5, (3, 4)).astype(np.int32)
    b = RNG.integers(-5, 5, (4, 2)).astype(np.int32)
    c = np.array([1, -1], np.int32)
    got = run_one("linalg.matmul", [a, b])
    assert got.dtype == np.int32
    model, feed = one_node("Gemm", [a, b, c], {"beta": 2.0}, opset=13)
    y = leptonc.run(leptonc.load_onnx(model), feed)["y0"]
    np.testing.assert_array_equal(y, a @ b + 2 * c)


# ----- einsum ---------------------------------------------------------------------------------
EINSUM_CASES = [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("ii->i", [(4, 4)]),
    ("bii->bi", [(2, 3, 3)]),
    ("ij->", [(3, 4)]),
    ("ij->ji", [(3, 4)]),
    ("i,i", [(5,), (5,)]),
    ("ij,jk", [(3, 4), (4, 2)]),
    ("...ij->...ji", [(2, 3, 4, 5)]),
    ("...ij,...jk->...ik", [(2, 5, 3, 4), (2, 5, 4, 2)]),
    ("Ab,bC->AC", [(3, 4), (4, 2)]),
    ("i j , j k -> i k", [(3, 4), (4, 2)]),
    ("ij,kl->ijkl", [(2, 3), (4, 1)]),
]


@pytest.mark.parametrize("equation, shapes", EINSUM_CASES)
def test_einsum_matches_onnxruntime(equation, shapes):
    check("Einsum", [rand(*s) for s in shapes], {"equation": equation}, opset=12)


@pytest.mark.parametrize("equation, shapes", EINSUM_CASES)
def test_einsum_inferred_shape_matches_numpy(equation, shapes):
    g = Graph()
    ins = [g.add_input(f"x{i}", TensorType(dtypes.f32, s)) for i, s in enumerate(shapes)]
    y = Builder(g).op("linalg.einsum", ins, {"equation": equation})
    want = np.einsum(equation.replace(" ", ""), *(np.zeros(s) for s in shapes)).shape
    assert y.type.shape == want


def test_einsum_with_symbolic_and_unknown_rank_inputs():
    g = Graph()
    x = g.add_input("x", TensorType(dtypes.f32, ("B", 3, 4)))
    y = g.add_input("y", TensorType(dtypes.f32, ("B", 4, "K")))
    assert Builder(g).op("linalg.einsum", [x, y], {"equation": "bij,bjk->bik"}).type.shape == (
        "B", 3, "K")
    z = g.add_input("z", TensorType(dtypes.f32, None))
    assert Builder(g).op("linalg.einsum", [z], {"equation": "...i->..."}).type.shape is None


@pytest.mark.parametrize("equation, shapes, message", [
    ("ij,jk->ik", [(3, 4)], "operand terms"),
    ("ij->ik", [(3, 4)], "appears in no operand"),
    ("ijk->i", [(3, 4)], "labels for rank"),
    ("ij,jk->ik", [(3, 4), (5, 2)], "label 'j'"),
])
def test_einsum_errors(equation, shapes, message):
    g = Graph()
    ins = [g.add_input(f"x{i}", TensorType(dtypes.f32, s)) for i, s in enumerate(shapes)]
    with pytest.raises(ShapeError, match=message):
        Builder(g).op("linalg.einsum", ins, {"equation": equation})


def test_einsum_ellipsis_broadcasts_like_numpy():
    a, b = rand(2, 1, 3, 4), rand(5, 4, 2)
    got = run_one("linalg.einsum", [a, b], {"equation": "...ij,...jk->...ik"})
    np.testing.assert_allclose(got, np.einsum("...ij,...jk->...ik", a, b), rtol=1e-5, atol=1e-6)


def test_einsum_labels_ellipsis_dims_from_the_right():
    inputs, out = parse_einsum("...ij,...jk", [4, 3])
    assert inputs == [["...1", "...0", "i", "j"], ["...0", "j", "k"]]
    assert out == ["...1", "...0", "i", "k"]


def test_einsum_bf16_keeps_dtype():
    a, b = rand(2, 3, 4, dtype=BF16), rand(2, 4, 5, dtype=BF16)
    got = run_one("linalg.einsum", [a, b], {"equation": "bij,bjk->bik"})
    assert got.dtype == BF16
    want = np.einsum("bij,bjk->bik", a.astype(np.float32), b.astype(np.float32))
    np.testing.assert_allclose(got.astype(np.float32), want, rtol=2e-2, atol=5e-2)


def test_einsum_macs_count_the_full_label_space():
    g = Graph()
    a = g.add_input("a", TensorType(dtypes.f32, (3, 4)))
    b = g.add_input("b", TensorType(dtypes.f32, (4, 5)))
    node = Builder(g).node("linalg.einsum", [a, b], {"equation": "ij,jk->ik"})
    assert get_op("linalg.einsum").macs(node.inputs, [v.type for v in node.outputs],
                                        node.attrs) == 60


# ----- det ------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(3, 3), (2, 4, 4), (2, 1, 2, 2)])
def test_det_matches_onnxruntime(shape):
    check("Det", [rand(*shape)], opset=11, rtol=1e-4)


def test_det_of_f16_keeps_dtype():
    x = np.array([[2.0, 1.0], [1.0, 3.0]], np.float16)
    got = run_one("linalg.det", [x])
    assert got.dtype == np.float16 and got == np.float16(5.0)


def test_det_needs_square_matrices():
    g = Graph()
    x = g.add_input("x", TensorType(dtypes.f32, (3, 4)))
    with pytest.raises(ShapeError, match="M, M"):
        Builder(g).op("linalg.det", [x])


# ----- matmul integer -------------------------------------------------------------------------
def quantized(dtype, *shape) -> np.ndarray:
    info = np.iinfo(dtype)
    return RNG.integers(info.min, info.max + 1, shape).astype(dtype)


@pytest.mark.parametrize("a_dtype, b_dtype", [(np.uint8, np.uint8), (np.uint8, np.int8),
                                              (np.int8, np.int8)])
@pytest.mark.parametrize("zero_points", ["none", "scalar", "per_column"])
def test_matmul_integer_matches_onnxruntime(a_dtype, b_dtype, zero_points):
    a, b = quantized(a_dtype, 4, 6), quantized(b_dtype, 6, 3)
    if zero_points == "none":
        inputs = [a, b]
    elif zero_points == "scalar":
        inputs = [a, b, quantized(a_dtype), quantized(b_dtype)]
    else:
        inputs = [a, b, quantized(a_dtype), quantized(b_dtype, 3)]
    got = check("MatMulInteger", inputs, opset=10, constants=tuple(range(2, len(inputs))),
                out_elems=[TensorProto.INT32])
    assert got.dtype == np.int32


def test_matmul_integer_per_row_zero_point_of_a():
    # onnxruntime only takes a scalar zero point for A; ONNX allows one per row
    a, b = quantized(np.uint8, 4, 6), quantized(np.int8, 6, 3)
    a_zp, b_zp = quantized(np.uint8, 4), quantized(np.int8, 3)
    got = run_one("linalg.matmul_integer", [a, b, a_zp, b_zp])
    want = (a.astype(np.int64) - a_zp[:, None]) @ (b.astype(np.int64) - b_zp)
    np.testing.assert_array_equal(got, want)


def test_matmul_integer_is_exact_for_the_largest_products():
    a = np.full((1, 300), 255, np.uint8)
    b = np.full((300, 1), -128, np.int8)
    got = run_one("linalg.matmul_integer", [a, b])
    assert got.dtype == np.int32 and got[0, 0] == 255 * -128 * 300


def test_matmul_integer_rejects_mismatched_zero_point_type():
    g = Graph()
    a = g.add_input("a", TensorType(dtypes.u8, (2, 3)))
    b = g.add_input("b", TensorType(dtypes.u8, (3, 2)))
    zp = g.add_input("zp", TensorType(dtypes.i8, ()))
    with pytest.raises(ShapeError, match="zero point"):
        Builder(g).op("linalg.matmul_integer", [a, b, zp])
