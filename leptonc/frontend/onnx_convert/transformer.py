"""Converters for ONNX transformer ops (Attention, RotaryEmbedding, ...)."""

from __future__ import annotations
