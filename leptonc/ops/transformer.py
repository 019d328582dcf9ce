"""Transformer building blocks kept whole (``nn.attention``, ``nn.rotary_embedding``, ...), so
that fusion and targets see them as single kernels."""

from __future__ import annotations
