"""Quantization ops (``quant.*``): quantize/dequantize (QDQ), and the integer ops that the
quantization issue adds (requantize, integer conv/matmul).  Arithmetic: docs/quantization.md."""

from __future__ import annotations
