"""Calibration data from each kind of source, its errors, and streaming collection."""

import numpy as np
import pytest

from leptonc.errors import UsageError
from leptonc.ir.dtypes import parse_dtype
from leptonc.ir.parser import parse_graph
from leptonc.quant import MinMax, calibration_data, collect, from_iterable, from_path

ONE_INPUT = """graph @g(%x: f32[N,3]) {
  %y = ew.relu(%x) : f32[N,3]
  return %y
}"""

TWO_INPUTS = """graph @g(%x: f32[2,3], %z: f32[2,3]) {
  %y = ew.add(%x, %z) : f32[2,3]
  return %y
}"""


@pytest.fixture
def one():
    return parse_graph(ONE_INPUT)


@pytest.fixture
def two():
    return parse_graph(TWO_INPUTS)


def arr(*shape, value=1.0):
    return np.full(shape, value, np.float32)


def test_folder_of_npz_and_npy(tmp_path, one):
    np.savez(tmp_path / "a.npz", x=arr(2, 3), label=np.zeros(2))  # extra arrays are ignored
    np.save(tmp_path / "b.npy", arr(4, 3, value=2.0))
    (tmp_path / "notes.txt").write_text("not data")
    data = from_path(one, tmp_path)
    batches = list(data)
    assert data.count == 2 and [b["x"].shape for b in batches] == [(2, 3), (4, 3)]
    assert list(batches[0]) == ["x"] and batches[1]["x"][0, 0] == 2.0
    assert len(list(data)) == 2  # re-iterable


def test_npz_with_batch_axis_is_split(tmp_path, one, two):
    np.savez(tmp_path / "s.npz", x=np.arange(30, dtype=np.float32).reshape(10, 3))
    data = from_path(one, tmp_path / "s.npz", batch_size=4)
    shapes = [b["x"].shape[0] for b in data]
    assert data.count == 3 and shapes == [4, 4, 2]
    # A fixed batch dim of 2: batches of 2, and an odd tail is dropped with a warning.
    np.savez(tmp_path / "t.npz", x=arr(5, 3), z=arr(5, 3))
    with pytest.warns(UserWarning, match="dropping the last 1"):
        data = from_path(two, tmp_path / "t.npz")
    assert data.count == 2 and all(b["z"].shape == (2, 3) for b in data)


def test_iterable_and_bare_arrays(one, two):
    data = from_iterable(one, [arr(1, 3), {"x": arr(2, 3)}])
    assert data.count == 2 and [b["x"].shape for b in data] == [(1, 3), (2, 3)]
    gen = calibration_data(two, ({"x": arr(2, 3), "z": arr(2, 3)} for _ in range(3)))
    assert gen.count is None and len(list(gen)) == 3
    with pytest.raises(UsageError, match="single-input"):
        list(from_iterable(two, [arr(2, 3)]))


def test_random_data_is_seeded_and_warns(two):
    with pytest.warns(UserWarning, match="smoke tests"):
        a = calibration_data(two, None, num_batches=3, seed=7)
    with pytest.warns(UserWarning):
        b = calibration_data(two, None, num_batches=3, seed=7)
    first, second = list(a), list(b)
    assert len(first) == 3 and first[0]["x"].shape == (2, 3)
    np.testing.assert_array_equal(first[2]["z"], second[2]["z"])
    assert not np.array_equal(first[0]["x"], first[1]["x"])


def test_errors_are_one_line_usage_errors(tmp_path, one, two):
    cases = []
    with pytest.raises(UsageError, match="does not exist") as e:
        from_path(one, tmp_path / "missing")
    cases.append(e)
    with pytest.raises(UsageError, match="no .npz or .npy") as e:
        from_path(one, tmp_path)
    cases.append(e)
    np.savez(tmp_path / "lack.npz", x=arr(2, 3))
    with pytest.raises(UsageError, match="lacks input 'z'") as e:
        list(from_path(two, tmp_path))
    cases.append(e)
    np.savez(tmp_path / "lack.npz", x=arr(2, 4), z=arr(2, 3))
    with pytest.raises(UsageError, match="lack.npz.*shape") as e:
        list(from_path(two, tmp_path))
    cases.append(e)
    np.savez(tmp_path / "lack.npz", x=np.ones((2, 3)), z=arr(2, 3))
    with pytest.raises(UsageError, match="dtype float64") as e:
        list(from_path(two, tmp_path))
    cases.append(e)
    np.savez(tmp_path / "uneven.npz", x=arr(4, 3), z=arr(6, 3))
    with pytest.raises(UsageError, match="leading sample axis") as e:
        from_path(two, tmp_path / "uneven.npz")
    cases.append(e)
    assert all("\n" not in str(c.value) for c in cases)


def test_collect_streams_into_observers(one, capsys):
    rng = np.random.default_rng(0)
    batches = [rng.normal(size=(2, 3)).astype(np.float32) for _ in range(6)]
    observers = collect(one, from_iterable(one, batches), lambda v: MinMax())
    every = np.concatenate(batches)
    assert set(observers) == {"x", "y"}
    assert observers["x"].min == every.min() and observers["x"].max == every.max()
    assert observers["y"].min == 0.0 and observers["y"].max == every.max()
    assert "6/6 batches" in capsys.readouterr().err
    scale, zero = observers["y"].qparams(parse_dtype("u8"), symmetric=False)
    assert zero == 0 and scale == pytest.approx(every.max() / 255)


def test_collect_selects_values_and_checks_names(one, capsys):
    observers = collect(one, [{"x": arr(1, 3)}], lambda v: MinMax(), values=["y"])
    assert list(observers) == ["y"] and capsys.readouterr().err == ""
    skipped = collect(one, [{"x": arr(1, 3)}], lambda v: None if v.name == "x" else MinMax())
    assert list(skipped) == ["y"]
    with pytest.raises(UsageError, match="unknown value"):
        collect(one, [], lambda v: MinMax(), values=["nope"])
    with pytest.raises(UsageError, match="no batches"):
        collect(one, [], lambda v: MinMax())


def test_progress_counts_batches_of_unknown_total(one, capsys):
    collect(one, ({"x": arr(1, 3)} for _ in range(5)), lambda v: MinMax())
    err = capsys.readouterr().err
    assert "calibrating: 5 batches" in err and err.endswith("\n")
    collect(one, ({"x": arr(1, 3)} for _ in range(5)), lambda v: MinMax(), progress=False)
    assert capsys.readouterr().err == ""
