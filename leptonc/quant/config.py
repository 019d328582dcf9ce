"""What to quantize and how: the one configuration object the quantize pass, the CLI, the
sensitivity analysis and the accuracy-aware search share."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from leptonc.errors import UsageError
from leptonc.ir import dtypes
from leptonc.ir.dtypes import DType

METHODS = ("minmax", "moving-average", "percentile", "entropy", "mse")

# Named schemes for --quantize: (activations, weights); None activations = weight-only.
SCHEMES: dict[str, tuple[DType | None, DType]] = {
    "int8": (dtypes.i8, dtypes.i8),
    "uint8": (dtypes.u8, dtypes.i8),
    "int16": (dtypes.i16, dtypes.i8),
    "int4-weights": (None, dtypes.parse_dtype("i4")),
    "int8-weights": (None, dtypes.i8),
}


@dataclass(frozen=True)
class QuantConfig:
    """Integer types, granularity, calibration method and which nodes to leave in float.

    ``ignore`` entries match a node's name, its op type (``reduce.softmax``) or an fnmatch
    pattern of either (``*attention*``).  ``only``, when set, restricts quantization to those
    node names (sensitivity analysis and the accuracy-aware search use it).
    """

    activations: DType | None = dtypes.u8  # None: weight-only quantization
    weights: DType = dtypes.i8
    per_channel: bool = True
    symmetric_activations: bool = False
    symmetric_weights: bool = True
    method: str = "minmax"
    percentile: float = 99.99
    bins: int = 2048
    pow2_scales: bool = False  # fixed-point: every scale a power of two
    bias_correction: bool = False
    ignore: tuple[str, ...] = ()
    keep_fragile_in_float: bool = True  # final softmax, detection post-processing, ...
    only: frozenset[str] | None = None

    def __post_init__(self) -> None:
        for what, t in (("activation", self.activations), ("weight", self.weights)):
            if t is not None and not (t.is_integer and 2 <= t.bits <= 16):
                raise UsageError(f"{what} type must be an integer of 2 to 16 bits, got {t}")
        if self.method not in METHODS:
            raise UsageError(f"unknown calibration method '{self.method}' "
                             f"(choose from {', '.join(METHODS)})")
        if not 0.0 < self.percentile <= 100.0:
            raise UsageError(f"percentile must be in (0, 100], got {self.percentile}")
        if self.bins < 16:
            raise UsageError(f"bins must be at least 16, got {self.bins}")

    @property
    def weight_only(self) -> bool:
        return self.activations is None

    def with_only(self, names: frozenset[str] | set[str] | None) -> QuantConfig:
        return replace(self, only=None if names is None else frozenset(names))


def scheme_config(name: str, **overrides) -> QuantConfig:
    """The QuantConfig of a named scheme (``int8``, ``uint8``, ``int16``, ``int4-weights``,
    ``int8-weights``) or of ``wNaM`` (N-bit weights, M-bit activations, 2..16; ``wN``:
    weight-only), with keyword overrides."""
    if name in SCHEMES:
        activations, weights = SCHEMES[name]
    else:
        activations, weights = _parse_wa(name)
    return QuantConfig(activations=activations, weights=weights, **overrides)


def _parse_wa(name: str) -> tuple[DType | None, DType]:


    m = re.fullmatch(r"w(\d+)(?:a(\d+))?", name)
    if not m:
        known = ", ".join([*SCHEMES, "wNaM", "wN"])
        raise UsageError(f"unknown quantization scheme '{name}' (choose from {known})")
    w_bits, a_bits = int(m.group(1)), m.group(2)
    for bits in (w_bits, int(a_bits or 8)):
        if not 2 <= bits <= 16:
            raise UsageError(f"scheme '{name}': bit widths must be 2 to 16")
    weights = dtypes.parse_dtype(f"i{w_bits}")
    activations = None if a_bits is None else dtypes.parse_dtype(f"i{a_bits}")
    return activations, weights
