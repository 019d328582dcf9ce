"""Converter for Dropout: the identity in inference mode, ``nn.dropout`` in training mode."""

from __future__ import annotations

from typing import Any

import numpy as np

from leptonc.frontend.onnx_convert import NodeContext, converter
from leptonc.frontend.onnx_convert.nn.common import optional_output
from leptonc.ir.graph import Value


def _const_scalar(v: Value | None) -> Any:
    return None if v is None or v.data is None else np.asarray(v.data).reshape(-1)[0].item()


@converter("Dropout")
def dropout(cx: NodeContext):
    """Inference dropout is the identity (its mask all true); training mode (opset 12+, a
    training_mode input that is true or computed at run time) becomes nn.dropout."""
    x = cx.input(0)
    with_mask = optional_output(cx, 1)
    ratio, training = (cx.input(1), cx.input(2)) if cx.opset >= 12 else (None, None)
    training_flag = False if training is None else _const_scalar(training)
    ratio_value = cx.attr("ratio", 0.5) if ratio is None else _const_scalar(ratio)
    # before opset 10 the mask has the input's dtype (ones), from 10 on it is boolean
    mask_dtype = bool if cx.opset >= 10 else x.type.dtype.numpy
    identity = training_flag is False or ratio_value == 0
    if identity and (not with_mask or x.type.is_static):
        if not with_mask:
            return [x]
        return [x, cx.const(np.ones(x.type.shape, dtype=mask_dtype), name="mask")]
    attrs: dict[str, Any] = {"ratio": float(cx.attr("ratio", 0.5)), "with_mask": with_mask}
    if cx.has_attr("seed"):
        attrs["seed"] = int(cx.attr("seed"))
    out = cx.op("nn.dropout", [x, ratio, training], attrs)
    if not with_mask:
        return [out]
    y, mask = out
    if cx.opset < 10:
        mask = cx.op("ew.cast", [mask], {"to": x.type.dtype})
    return [y, mask]
