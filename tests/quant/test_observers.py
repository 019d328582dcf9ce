"""Numeric checks of the streaming observers and of the range -> (scale, zero point) mapping."""

import numpy as np
import pytest

from leptonc.errors import UsageError
from leptonc.ir.dtypes import parse_dtype
from leptonc.quant.observers import (
    MSE,
    Entropy,
    Histogram,
    MinMax,
    MovingAverageMinMax,
    Percentile,
    range_qparams,
)

I8, U8, I4, U16 = (parse_dtype(n) for n in ("i8", "u8", "i4", "u16"))


def chunks(data: np.ndarray, n: int = 5) -> list[np.ndarray]:
    return np.array_split(data, n)


def fake_quant(x, scale, zero, dtype):
    q = np.clip(np.round(x / scale) + zero, dtype.min, dtype.max)
    return (q - zero) * scale


def test_minmax_is_exact_and_streaming_equals_one_shot():
    data = np.random.default_rng(0).normal(size=(40, 8)).astype(np.float32)
    streamed, once = MinMax(), MinMax()
    for part in chunks(data):
        streamed.observe(part)
    once.observe(data)
    assert streamed.min == data.min() and streamed.max == data.max()
    for symmetric in (True, False):
        a, b = streamed.qparams(I8, symmetric), once.qparams(I8, symmetric)
        assert a[0] == b[0] and a[1] == b[1]


def test_symmetric_int8_has_zero_point_zero_and_covers_max_abs():
    obs = MinMax()
    obs.observe(np.array([-3.0, 0.5, 2.0]))
    scale, zero = obs.qparams(I8, symmetric=True)
    assert zero.shape == () and zero == 0 and zero.dtype == np.int8
    assert scale == pytest.approx(3.0 / 127)


def test_asymmetric_uint8_covers_range_and_represents_zero_exactly():
    obs = MinMax()
    obs.observe(np.array([-1.3, 0.2, 5.7]))
    scale, zero = obs.qparams(U8, symmetric=False)
    assert U8.min <= zero <= U8.max
    assert fake_quant(np.float64(0.0), scale, zero, U8) == 0.0
    for x in (-1.3, 5.7):
        assert abs(fake_quant(x, scale, zero, U8) - x) <= scale / 2 + 1e-6
    assert scale == pytest.approx(7.0 / 255, rel=1e-6)


def test_four_bit_ranges():
    scale, zero = range_qparams(np.array([-2.0]), np.array([1.0]), I4, symmetric=True)
    assert zero[0] == 0 and scale[0] == pytest.approx(2.0 / 7)
    scale, zero = range_qparams(np.array([0.0]), np.array([1.5]), I4, symmetric=False)
    assert zero[0] == -8 and scale[0] == pytest.approx(1.5 / 15)


def test_all_zero_tensor_gets_a_usable_scale():
    obs = MinMax()
    obs.observe(np.zeros(4))
    scale, zero = obs.qparams(I8, symmetric=False)
    assert scale == 1.0 and zero == -128


def test_per_channel_shapes_and_values():
    data = np.random.default_rng(1).normal(size=(2, 3, 4, 4)) * np.array([1, 2, 4])[:, None, None]
    for make in (MinMax, lambda axis: Percentile(99.0, 256, axis=axis),
                 lambda axis: Entropy(256, axis=axis), lambda axis: MSE(256, axis=axis)):
        obs = make(axis=1)
        obs.observe(data)
        scale, zero = obs.qparams(I8, symmetric=True, per_channel_axis=1)
        assert scale.shape == (3,) and zero.shape == (3,)
        assert np.all(np.diff(scale) > 0)  # channel ranges grow 1 : 2 : 4
    exact = MinMax(axis=1)
    exact.observe(data)
    scale, _ = exact.qparams(I8, True, per_channel_axis=1)
    np.testing.assert_allclose(scale, np.abs(data).max(axis=(0, 2, 3)) / 127, rtol=1e-6)


def test_per_channel_axis_must_match_what_was_collected():
    obs = MinMax(axis=0)
    obs.observe(np.ones((2, 2)))
    with pytest.raises(UsageError, match="per-channel"):
        obs.qparams(I8, True, per_channel_axis=None)


@pytest.mark.parametrize("name", ["f32", "i32", "bool"])
def test_unsupported_dtypes(name):
    with pytest.raises(UsageError, match="2 to 16 bits"):
        range_qparams(np.zeros(1), np.ones(1), parse_dtype(name), True)


def test_moving_average_damps_an_outlier_batch():
    obs = MovingAverageMinMax(momentum=0.9)
    for _ in range(10):
        obs.observe(np.array([-1.0, 1.0]))
    obs.observe(np.array([-1.0, 100.0]))
    assert obs.max == pytest.approx(0.9 * 1.0 + 0.1 * 100.0)
    assert obs.min == pytest.approx(-1.0)


def test_histogram_rebinning_keeps_counts_and_covers_growth():
    h = Histogram(64)
    h.add(np.linspace(0.0, 1.0, 1000))
    h.add(np.array([-5.0, 7.0]))
    assert h.counts.sum() == 1002
    assert h.lo <= -5.0 and h.hi >= 7.0
    # Bin merging is exact: all of the first batch is still at or below 1 (plus one bin).
    below = h.counts[h.edges[1:] <= 1.0 + h.width].sum()
    assert below >= 1000


def test_percentile_matches_numpy_on_chunked_data():
    rng = np.random.default_rng(2)
    # Later chunks are wider, so the histogram has to grow twice.
    data = np.concatenate([rng.normal(size=20000) * s for s in (0.5, 1.0, 3.0)])
    obs = Percentile(99.0, bins=2048)
    for part in chunks(data, 6):
        obs.observe(part)
    lo, hi = obs._range(I8, symmetric=False)
    width = obs.histograms[0].width
    assert abs(hi[0] - np.percentile(data, 99.0)) < 2 * width
    assert abs(lo[0] - np.percentile(data, 1.0)) < 2 * width
    assert hi[0] < data.max()


def test_entropy_clips_heavy_tails_below_max():
    rng = np.random.default_rng(3)
    data = rng.standard_t(df=2, size=200000)  # heavy-tailed
    obs = Entropy(bins=2048)
    for part in chunks(data):
        obs.observe(part)
    scale, zero = obs.qparams(I8, symmetric=True)
    threshold = float(scale) * 127
    assert zero == 0
    assert np.percentile(np.abs(data), 90) < threshold < 0.5 * np.abs(data).max()


def test_entropy_is_not_pulled_down_by_the_zeros_of_a_relu():
    # Zeros are exact at any scale: a ReLU output's spike of them must not change the range.
    rng = np.random.default_rng(6)
    positive = rng.exponential(size=50000)
    relu_like = np.concatenate([positive, np.zeros(450000)])
    ranges = []
    for data in (positive, relu_like):
        obs = Entropy(bins=2048)
        for part in chunks(rng.permutation(data)):
            obs.observe(part)
        ranges.append(float(obs.qparams(U8, symmetric=False)[0]))
    assert ranges[0] == pytest.approx(ranges[1], rel=1e-6)


def test_entropy_without_room_to_search_keeps_full_range():
    obs = Entropy(bins=64)
    data = np.random.default_rng(4).normal(size=1000)
    obs.observe(data)
    scale, _ = obs.qparams(U16, symmetric=True)
    assert float(scale) * (U16.max - 32768) == pytest.approx(np.abs(data).max(), rel=1e-6)


def test_mse_clips_outliers_and_beats_minmax():
    rng = np.random.default_rng(5)
    data = np.append(rng.normal(size=50000), [60.0])
    mse, mm = MSE(bins=2048), MinMax()
    for part in chunks(data):
        mse.observe(part)
        mm.observe(part)

    def error(obs):
        scale, zero = obs.qparams(I4, symmetric=True)
        return np.mean((fake_quant(data, scale, zero, I4) - data) ** 2)

    assert float(mse.qparams(I4, True)[0]) * 7 < 60.0
    assert error(mse) < error(mm)


def test_histogram_observers_need_data_and_valid_options():
    with pytest.raises(UsageError, match="no data"):
        Percentile().qparams(I8, True)
    with pytest.raises(UsageError, match="percentile"):
        Percentile(40.0)
    with pytest.raises(UsageError, match="bins"):
        Entropy(bins=4)
