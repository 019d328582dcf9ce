"""ONNX emitters, one module per op family; importing the package registers them all."""

from leptonc.export.onnx_ops import (  # noqa: F401
    attention,
    elementwise,
    linalg_quant,
    nn,
    reduce,
    sample,
    shape,
)
