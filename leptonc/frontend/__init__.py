"""Frontends: ONNX (``load_onnx``) and PyTorch (``from_torch``) into the leptonc IR."""
