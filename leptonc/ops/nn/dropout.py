"""``nn.dropout``: training-mode dropout with an optionally seeded mask."""

from __future__ import annotations

import numpy as np

from leptonc.errors import ShapeError
from leptonc.ir import dtypes
from leptonc.ir.types import TensorType
from leptonc.ops.infer_utils import padded
from leptonc.ops.registry import attr, defop


@defop("nn.dropout", inputs="x, ratio?, training_mode?", outputs="*outs",
       attrs={"ratio": attr("float", 0.5), "seed": attr("int", -1),
              "with_mask": attr("bool", False)},
       doc="training-mode dropout: zero each element with probability `ratio` (an input "
           "overrides the attribute) and scale the rest by 1/(1-ratio); the identity when "
           "training_mode is false or absent.  A seed >= 0 makes the mask reproducible (numpy's "
           "Mersenne Twister, uniform [0, 1) >= ratio); with_mask adds the boolean keep-mask",
       foldable=False)
class Dropout:
    def infer(ins, attrs):
        x = ins[0].type
        for v, kind in zip(padded(ins, 3)[1:], ("float", "bool"), strict=True):
            if v is not None and v.type.dtype.kind != kind:
                raise ShapeError(f"dropout {'ratio' if kind == 'float' else 'training_mode'} "
                                 f"must be a {kind} scalar, got {v.type.dtype}")
        y = TensorType(x.dtype, x.shape)
        return [y, y.with_dtype(dtypes.boolean)] if attrs["with_mask"] else [y]

    def kernel(xs, attrs):
        x, ratio, training = padded(xs, 3)
        ratio = attrs["ratio"] if ratio is None else float(ratio)
        if training is None or not bool(training) or ratio == 0:
            y, mask = x, np.ones(x.shape, dtype=bool)
        else:
            if not 0 <= ratio < 1:
                raise ShapeError(f"dropout ratio must be in [0, 1), got {ratio}")
            seed = attrs["seed"]
            rng = np.random.RandomState(seed if seed >= 0 else None)
            mask = rng.uniform(0.0, 1.0, x.shape) >= ratio
            y = (x * mask * (1.0 / (1.0 - ratio))).astype(x.dtype)
        return (y, mask) if attrs["with_mask"] else y
