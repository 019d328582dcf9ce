"""Write a small, seeded ONNX CNN to try leptonc on (no torch needed).

    python tools/example_model.py                    # writes build/example.onnx
    python tools/example_model.py path/to/cnn.onnx

The network: two stride-2 3x3 convolutions with ReLU, a global sum pool and a linear
classifier, on a 1x3x32x32 image (about 1.6k parameters).  The weights come from a fixed
seed, so every run writes the same bytes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
DEFAULT_PATH = Path("build/example.onnx")
IMAGE_SHAPE = (1, 3, 32, 32)
NUM_CLASSES = 10


def _conv_weights(rng: np.random.Generator, out_ch: int, in_ch: int, name: str
                  ) -> list[onnx.TensorProto]:
    # He-style scaling keeps activations of order one through the ReLUs.
    scale = np.sqrt(2.0 / (in_ch * 9))
    weight = (rng.standard_normal((out_ch, in_ch, 3, 3)) * scale).astype(np.float32)
    bias = (rng.standard_normal(out_ch) * 0.1).astype(np.float32)
    return [numpy_helper.from_array(weight, f"{name}.weight"),
            numpy_helper.from_array(bias, f"{name}.bias")]


def _conv_relu(name: str, x: str) -> list[onnx.NodeProto]:
    return [
        helper.make_node("Conv", [x, f"{name}.weight", f"{name}.bias"], [f"{name}.out"],
                         name=name, kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Relu", [f"{name}.out"], [f"{name}.relu"], name=f"{name}.relu"),
    ]


def build_example_model(seed: int = 0) -> onnx.ModelProto:
    """The example CNN as an in-memory ModelProto (checked by onnx.checker)."""
    rng = np.random.default_rng(seed)
    # The pool sums 8x8 positions, so the classifier is scaled down to keep logits small.
    fc_weight = (rng.standard_normal((16, NUM_CLASSES)) * 0.03).astype(np.float32)
    fc_bias = (rng.standard_normal(NUM_CLASSES) * 0.1).astype(np.float32)
    initializers = [
        *_conv_weights(rng, 8, 3, "conv1"),
        *_conv_weights(rng, 16, 8, "conv2"),
        numpy_helper.from_array(np.array([2, 3], dtype=np.int64), "pool.axes"),
        numpy_helper.from_array(fc_weight, "fc.weight"),
        numpy_helper.from_array(fc_bias, "fc.bias"),
    ]
    nodes = [
        *_conv_relu("conv1", "image"),
        *_conv_relu("conv2", "conv1.relu"),
        helper.make_node("ReduceSum", ["conv2.relu", "pool.axes"], ["pooled"], name="pool",
                         keepdims=0),
        helper.make_node("MatMul", ["pooled", "fc.weight"], ["fc.out"], name="fc"),
        helper.make_node("Add", ["fc.out", "fc.bias"], ["logits"], name="fc.bias_add"),
    ]
    graph = helper.make_graph(
        nodes, "example_cnn",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, IMAGE_SHAPE)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, (1, NUM_CLASSES))],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="leptonc-example")
    onnx.checker.check_model(model, full_check=True)
    return model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_PATH,
                        help=f"where to write the model (default: {DEFAULT_PATH})")
    parser.add_argument("--seed", type=int, default=0, help="weights seed (default: 0)")
    args = parser.parse_args(argv)
    args.path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(build_example_model(args.seed), str(args.path))
    print(f"wrote {args.path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
