"""QuantConfig and the named schemes behind --quantize."""

import pytest

from leptonc.errors import UsageError
from leptonc.ir import dtypes
from leptonc.quant.config import QuantConfig, scheme_config


@pytest.mark.parametrize("name, activations, weights", [
    ("int8", "i8", "i8"), ("uint8", "u8", "i8"), ("int16", "i16", "i8"),
    ("int4-weights", None, "i4"), ("int8-weights", None, "i8"), ("w4a8", "i8", "i4"),
    ("w3a16", "i16", "i3"), ("w2", None, "i2"),
])
def test_named_schemes(name, activations, weights):
    config = scheme_config(name)
    assert (None if config.activations is None else str(config.activations)) == activations
    assert str(config.weights) == weights
    assert config.weight_only == (activations is None)


@pytest.mark.parametrize("name", ["int9", "w1a8", "w8a17", "w", "fp8"])
def test_bad_scheme_names_are_one_line_errors(name):
    with pytest.raises(UsageError, match=name):
        scheme_config(name)


def test_options_are_checked():
    with pytest.raises(UsageError, match="calibration method 'kl'"):
        QuantConfig(method="kl")
    with pytest.raises(UsageError, match="percentile"):
        QuantConfig(percentile=0)
    with pytest.raises(UsageError, match="weight type"):
        QuantConfig(weights=dtypes.i32)


def test_with_only_restricts_to_a_frozen_set():
    config = scheme_config("uint8", per_channel=False).with_only({"conv1"})
    assert config.only == frozenset({"conv1"}) and not config.per_channel
    assert config.with_only(None).only is None
