"""Shape and data-movement ops (``shape.*``): reshape, transpose, slice, gather, concat,
split, expand, squeeze/unsqueeze, pad, tile, scatter, top-k, unique, ...

Ops whose result shape depends on a list of ints (reshape's target shape, slice bounds,
pads, repeats, k...) take it in one of two forms: an attribute, when the frontend knows it at
compile time (so passes and targets see it), or an optional tensor input computed at run time,
which then wins over the attribute.  Inference reads constant inputs and leaves the affected
dims unknown (``?``) when the input is computed at run time.  Ops whose output size depends on
the data (nonzero, unique) always have unknown dims there.

Kernels keep the input's dtype: integer, bool and string (numpy object) tensors pass through.

Modules: ``reshape`` (shape queries, reshape, transpose, squeeze, depth/space blocks),
``joining`` (concat, split, expand, tile), ``slicing`` (slice, pad, center_crop_pad),
``indexing`` (gathers, one_hot, reverse_sequence), ``scatter`` (scatters, KV-cache writes),
``selection`` (nonzero, top_k, unique), ``generate`` (range, trilu); ``common`` holds the
helpers they share.
"""

# importing the modules registers their ops; the names below are re-exported for other modules
from leptonc.ops.shape import (  # noqa: F401
    generate,
    indexing,
    joining,
    reshape,
    scatter,
    selection,
    slicing,
)
from leptonc.ops.shape.common import known_param, param_length, runtime_param
from leptonc.ops.shape.generate import range_length
from leptonc.ops.shape.joining import split_sizes
from leptonc.ops.shape.reshape import reshape_target
from leptonc.ops.shape.selection import topk_indices
from leptonc.ops.shape.slicing import full_pads, slice_bounds

__all__ = ["full_pads", "known_param", "param_length", "range_length", "reshape_target",
           "runtime_param", "slice_bounds", "split_sizes", "topk_indices"]
