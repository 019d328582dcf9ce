"""Converters for ONNX shape and data-movement ops.

Inputs that control shapes (target shapes, axes, slice bounds, pads, repeats, k, ...) become
attributes of the canonical op when they are constants, and stay tensor inputs when they are
computed at run time.  Static shape arithmetic folds while importing: Shape and Size of a tensor
with static dims are constants, and so are Gather/Slice of the static part of a shape, so the
``Shape -> Gather -> Concat -> Reshape`` chains of exported models disappear even when only the
batch dim is symbolic.

Modules: ``reshape`` (shape queries, reshaping), ``slicing`` (join, split, slice, pad, repeat),
``indexing`` (gather, scatter, one-hot, top-k, unique, ...), ``values`` (constants, ranges,
triangles); ``common`` holds the helpers they share.
"""

# importing the modules registers their converters
from leptonc.frontend.onnx_convert.shape import indexing, reshape, slicing, values  # noqa: F401
from leptonc.frontend.onnx_convert.shape.common import shape_of

__all__ = ["shape_of"]
