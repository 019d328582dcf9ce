"""cast-float: f16/bf16 compute with f32 reductions keeps the digits CNN's outputs close to
f32, stores weights in the low type and saturates constants it cannot hold."""

import ml_dtypes
import numpy as np
import pytest

import leptonc
from leptonc.errors import UsageError
from leptonc.ir import dtypes
from leptonc.passmgr import parse_pipeline, run_pipeline


@pytest.mark.parametrize("dtype, rtol", [("f16", 5e-3), ("bf16", 2e-2)])
def test_digits_cnn_stays_close_to_f32(dtype, rtol):
    from make_models import digits_cnn_onnx, digits_data

    _, _, x_test, y_test = digits_data()
    ref_graph, g = leptonc.load_onnx(digits_cnn_onnx()), leptonc.load_onnx(digits_cnn_onnx())
    (record,) = run_pipeline(g, f"cast-float{{dtype={dtype}}}")
    leptonc.verify(g)
    assert record.result.stats["low-nodes"] == 10  # 3 convs, 3 relus, pool, flatten, matmul, add
    conv = next(n for n in g if n.op == "nn.conv")
    assert conv.inputs[1].type.dtype == dtypes.parse_dtype(dtype)
    assert all(n.op != "nn.batch_norm" or n.outputs[0].type.dtype == dtypes.f32 for n in g)
    ref = leptonc.run(ref_graph, {"input": x_test})["logits"]
    out = leptonc.run(g, {"input": x_test})["logits"]
    assert out.dtype == np.float32
    assert np.abs(out - ref).max() <= rtol * np.abs(ref).max()
    assert np.mean(out.argmax(1) == ref.argmax(1)) >= 0.995


def test_out_of_range_constants_saturate():
    g = leptonc.parse_graph("""
    graph @g(%x: f32[3]) {
      %k = const [-3.0e38, 1.0e5, -inf] : f32[3]
      %y = ew.add(%x, %k) : f32[3] loc("mask")
      return %y
    }""")
    run_pipeline(g, "cast-float")
    k = next(iter(g.constants.values())).data
    top = float(ml_dtypes.finfo(np.float16).max)
    np.testing.assert_array_equal(k.astype(np.float32), [-top, top, -np.inf])


def test_unknown_dtype_is_a_usage_error():
    with pytest.raises(UsageError, match="pass 'cast-float': dtype must be one of f16, bf16"):
        parse_pipeline("cast-float{dtype=f8}")
