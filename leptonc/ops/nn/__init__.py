"""Neural-network ops (``nn.*``): convolution, pooling, normalisation, resize and sampling.

Layout is ONNX's: x is [N, C, *spatial]; conv weights are [M, C/group, *kernel] (transposed
conv: [C, M/group, *kernel]); pads are [begin_0, begin_1, .., end_0, end_1, ..].  Every op is
N-d (1-D audio, 2-D vision, 3-D volumes) unless its doc says otherwise.

Kernels are vectorised numpy: Python loops run over kernel taps, groups or axes, never over
elements.  Convolution is an im2col (one copy per kernel tap) followed by one BLAS matmul
(batched over groups); 1x1 convolutions are a plain matmul on a view of the input.  Pooling
reduces over strided views, one per tap; resize applies one interpolation matrix per axis.

Modules: ``window`` (sliding-window geometry shared by convolution and pooling), ``common``
(operand checks and accumulation dtypes), ``conv``, ``conv_transpose`` (with col2im),
``pool``, ``norm``, ``dropout``, ``resize`` and ``sample`` (grid_sample, affine_grid,
roi_align).  Importing the package registers every op.
"""

from leptonc.ops.nn import conv, conv_transpose, dropout, norm, pool, resize, sample  # noqa: F401
from leptonc.ops.nn.conv import conv_nd
from leptonc.ops.nn.conv_transpose import transpose_pads
from leptonc.ops.nn.window import AUTO_PADS, resolve_pads, same_pads, spatial_attrs, window_dims

__all__ = ["AUTO_PADS", "conv_nd", "resolve_pads", "same_pads", "spatial_attrs",
           "transpose_pads", "window_dims"]
