"""Converters for ONNX quantization ops (QuantizeLinear, DequantizeLinear, ...)."""

from __future__ import annotations
