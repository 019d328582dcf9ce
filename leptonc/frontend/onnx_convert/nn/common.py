"""Helpers shared by the nn converters: window attributes (strides, dilations, pads with
auto_pad resolved), optional outputs, and inputs that become attributes when constant."""

from __future__ import annotations

from typing import Any

import numpy as np

from leptonc.frontend.onnx_convert import NodeContext
from leptonc.ir.graph import Value
from leptonc.ops.nn import AUTO_PADS, same_pads


# ----- window attributes -----------------------------------------------------------------------
def window_defaults(cx: NodeContext, sp: int) -> tuple[tuple, tuple, tuple]:
    """(strides, dilations, pads) as given, ONNX defaults filled in for ``sp`` spatial dims."""
    strides = tuple(cx.attr("strides", ())) or (1,) * sp
    dilations = tuple(cx.attr("dilations", ())) or (1,) * sp
    pads = tuple(cx.attr("pads", ())) or (0,) * (2 * sp)
    return strides, dilations, pads


def static_dims(v: Value | None) -> tuple[int, ...] | None:
    """The spatial dims of [N, C, *spatial] ``v`` when all are static."""
    if v is None or v.type.shape is None:
        return None
    dims = v.type.shape[2:]
    return tuple(dims) if all(isinstance(d, int) for d in dims) else None


def auto_pad(cx: NodeContext) -> str:
    auto = cx.attr("auto_pad", "NOTSET") or "NOTSET"
    if auto not in AUTO_PADS:
        cx.unsupported(f"auto_pad '{auto}'")
    return auto


def window_attrs(cx: NodeContext, x: Value, kernel: tuple[int, ...]) -> dict[str, Any]:
    """strides/dilations/pads with auto_pad resolved to explicit pads when the spatial dims
    are static (auto_pad survives only for dynamic spatial dims)."""
    sp = len(kernel)
    strides, dilations, pads = window_defaults(cx, sp)
    auto = auto_pad(cx)
    attrs: dict[str, Any] = {"strides": strides, "dilations": dilations}
    dims = static_dims(x)
    if auto == "VALID":
        pads = (0,) * (2 * sp)
    elif auto != "NOTSET" and dims is not None:
        pads = same_pads(auto, dims, kernel, strides, dilations)
    elif auto != "NOTSET":
        attrs["auto_pad"] = auto
    attrs["pads"] = pads
    return attrs


def kernel_shape(cx: NodeContext, w: Value) -> tuple[int, ...]:
    """The kernel from the weight's static shape, else from the kernel_shape attribute."""
    dims = w.type.shape[2:] if w.type.shape is not None else None
    if dims is not None and all(isinstance(d, int) for d in dims):
        return tuple(dims)
    kernel = cx.attr("kernel_shape")
    if kernel is None:
        cx.unsupported("the weight's kernel dims are dynamic and kernel_shape is not given")
    return tuple(kernel)


# ----- optional inputs and outputs -------------------------------------------------------------
def optional_output(cx: NodeContext, i: int) -> bool:
    return i < cx.num_outputs and bool(cx.node.output[i])


def constant_data(cx: NodeContext, i: int, inputs: list) -> np.ndarray | None:
    """Input ``i``'s data, flattened, when it is a constant: it then leaves the node (None
    takes its place in ``inputs``).  A run-time input is appended to ``inputs`` (None
    returned)."""
    v = cx.input(i)
    if v is not None and v.data is not None:
        inputs.append(None)
        return np.asarray(v.data).reshape(-1)
    inputs.append(v)
    return None


def shape_input(cx: NodeContext, i: int, name: str, attrs: dict, inputs: list) -> None:
    """A shape-like i64 input: an attribute when constant, else kept as input ``i``."""
    data = constant_data(cx, i, inputs)
    if data is not None:
        attrs[name] = tuple(int(d) for d in data)

