"""Converters for ONNX neural-network ops: convolution, pooling, normalisation, dropout,
resize and sampling.

Shape-controlling inputs (pads from auto_pad, Resize's scales/sizes/roi, Col2Im's shapes...)
become attributes when they are constants, and stay inputs when computed at run time.
Importing the package registers every converter.
"""

from leptonc.frontend.onnx_convert.nn import conv, dropout, norm, pool, resize, sample  # noqa: F401
