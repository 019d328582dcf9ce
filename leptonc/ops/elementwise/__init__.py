"""Elementwise ops (``ew.*``): unary math and activations, binary arithmetic with numpy
broadcasting, comparisons, logic and bit operations, select, clamp and casts.

Most ops differ only in their numpy function, so they are declared from tables.  Kernels
return exactly the declared dtype: f16 and bf16 are computed in f32 (numpy lacks some
functions for bf16, and one rounding at the end is more accurate than many), integer
results wrap as in C, and float math runs with numpy's warnings off because inf and NaN
are legitimate results (log(0), 0/0).

Activations are whole ops (sigmoid, gelu, hard_swish, ...) so that fusion passes and
targets see them; their parameters (alpha, beta, gamma) are float attributes.

Modules: ``common`` (dtype checks, the f32 kernel wrapper), ``erf``, ``unary`` (math
tables), ``activations`` (parameterised activations, prelu), ``binary`` (arithmetic,
comparison, logic, bit operations, pow), ``select_clamp`` (where, clip), ``cast`` (cast,
bitcast).  Importing the package registers every op.
"""

from leptonc.ops.elementwise.activations import PRelu, gelu
from leptonc.ops.elementwise.binary import Pow, divide, equal, modulo, power
from leptonc.ops.elementwise.cast import BitCast, Cast, cast
from leptonc.ops.elementwise.erf import erf
from leptonc.ops.elementwise.select_clamp import Clip, Where
from leptonc.ops.elementwise.unary import sigmoid, softplus

__all__ = ["BitCast", "Cast", "Clip", "PRelu", "Pow", "Where", "cast", "divide", "equal", "erf",
           "gelu", "modulo", "power", "sigmoid", "softplus"]
