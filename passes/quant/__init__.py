"""Quantization passes: quantize (QDQ insertion), lower-quantized, smooth-quant, cast-float."""
