"""Transformer building blocks kept whole (``nn.attention``, ``nn.rotary_embedding``,
``nn.swiglu``, ``nn.causal_conv1d``, ``nn.linear_attention``), so that fusion and targets see
them as single kernels.

Low-precision inputs (f16, bf16) are computed in f32 and the results cast back to the input
dtype: attention's softmax and its two contractions are where half precision loses most.

Modules: ``attention``, ``rotary``, ``swiglu``, ``recurrent`` (causal_conv1d,
linear_attention); ``common`` holds the helpers they share.
"""

# importing the modules registers their ops; the names below are re-exported for other modules
from leptonc.ops.numeric import float_compute_dtype
from leptonc.ops.transformer import attention, recurrent, rotary, swiglu  # noqa: F401
from leptonc.ops.transformer.attention import SCORE_OUTPUTS

__all__ = ["SCORE_OUTPUTS", "float_compute_dtype"]
