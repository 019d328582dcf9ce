"""Exporters from leptonc IR to other model formats (ONNX)."""

from leptonc.export.onnx import export_onnx, save_onnx

__all__ = ["export_onnx", "save_onnx"]
