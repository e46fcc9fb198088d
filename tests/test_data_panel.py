"""ReturnsPanel: shapes, gap bookkeeping, subsets, round trip through a DataFrame, summary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayesvol.data import ReturnsPanel
from bayesvol.errors import InputError

NAN = np.nan


@pytest.fixture
def ragged() -> ReturnsPanel:
    # A: interior gap at t=2; B: listed from t=1; C: delisted after t=3; D: single obs at t=5
    values = np.array([
        [0.1, -0.2, NAN, 0.3, 0.05, -0.1],
        [NAN, 0.2, 0.1, -0.1, NAN, 0.4],
        [0.3, 0.1, -0.3, 0.2, NAN, NAN],
        [NAN, NAN, NAN, NAN, NAN, 0.7],
    ])
    dates = pd.bdate_range("2021-03-01", periods=6)
    return ReturnsPanel.from_values(values, dates, ["A", "B", "C", "D"], source="x.csv")


def test_bounds_mask_and_counts(ragged: ReturnsPanel) -> None:
    assert ragged.first.tolist() == [0, 1, 0, 5]
    assert ragged.last.tolist() == [5, 5, 3, 5]
    assert ragged.first.dtype == np.int64 and ragged.last.dtype == np.int64
    assert ragged.mask.dtype == np.bool_
    assert ragged.n_assets == 4 and ragged.n_times == 6 and ragged.n_obs == 14
    assert ragged.n_obs_per_asset.tolist() == [5, 4, 4, 1]
    interior = ragged.interior_missing()
    assert interior.shape == (4, 6)
    assert np.argwhere(interior).tolist() == [[0, 2], [1, 4]]


def test_arrays_are_read_only(ragged: ReturnsPanel) -> None:
    with pytest.raises(ValueError):
        ragged.values[0, 0] = 1.0
    with pytest.raises(ValueError):
        ragged.mask[0, 0] = False


def test_filled(ragged: ReturnsPanel) -> None:
    filled = ragged.filled()
    assert not np.isnan(filled).any()
    assert filled[0, 2] == 0.0 and filled[0, 1] == -0.2
    assert ragged.filled(fill=-9.0)[3, 0] == -9.0


def test_round_trip_frame_exact(ragged: ReturnsPanel) -> None:
    frame = ragged.to_frame()
    assert frame.index.name == "date"
    assert list(frame.columns) == ["A", "B", "C", "D"]
    assert np.isnan(frame.loc[frame.index[2], "A"])
    back = ReturnsPanel.from_frame(frame)
    assert back == ragged
    assert np.array_equal(back.values, ragged.values, equal_nan=True)
    assert back.dates.equals(ragged.dates)
    assert back.assets == ragged.assets
    assert back.first.tolist() == ragged.first.tolist()
    assert back.last.tolist() == ragged.last.tolist()
    assert back.source == "<DataFrame>"


def test_round_trip_odd_names_and_intraday_dates() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(size=(3, 7))
    values[1, :2] = NAN
    values[2, 5:] = NAN
    dates = pd.date_range("2022-01-03 09:30", periods=7, freq="5min")
    panel = ReturnsPanel.from_values(values, dates, ["A B", "1", "é"])
    back = ReturnsPanel.from_frame(panel.to_frame(), source="frame")
    assert back == panel and back.source == "frame"
    assert back.values.tobytes() == panel.values.tobytes()  # bit-exact


def test_to_frame_is_a_copy(ragged: ReturnsPanel) -> None:
    frame = ragged.to_frame()
    frame.iloc[0, 0] = 99.0
    assert ragged.values[0, 0] == 0.1


def test_select(ragged: ReturnsPanel) -> None:
    sub = ragged.select(["C", "A"])
    assert sub.assets == ("C", "A")
    assert np.array_equal(sub.values, ragged.values[[2, 0]], equal_nan=True)
    assert sub.first.tolist() == [0, 0] and sub.last.tolist() == [3, 5]
    assert ragged.select("B").assets == ("B",)
    with pytest.raises(InputError, match="unknown asset 'Z'"):
        ragged.select(["A", "Z"])


def test_slice_time_recomputes_and_drops(ragged: ReturnsPanel) -> None:
    sub = ragged.slice_time(2, 5)
    assert sub.dates.equals(ragged.dates[2:5])
    assert sub.assets == ("A", "B", "C")  # D has no data in [2, 5)
    assert sub.first.tolist() == [1, 0, 0]
    assert sub.last.tolist() == [2, 1, 1]
    assert sub.interior_missing().sum() == 0
    assert ragged.slice_time(4, 6).assets == ("A", "B", "D")
    assert ragged.slice_time(0, -1).n_times == 5


def test_summary(ragged: ReturnsPanel) -> None:
    s = ragged.summary()
    assert s["assets"] == ["A", "B", "C", "D"]
    assert (s["start"], s["end"]) == ("2021-03-01", "2021-03-08")
    assert s["n_obs"] == 14 and s["frequency"] == "business daily"
    assert s["per_asset"]["B"] == {
        "first": "2021-03-02", "last": "2021-03-08", "observations": 4,
        "not_yet_listed": 1, "delisted": 0, "interior_missing": 1,
    }
    assert s["per_asset"]["C"]["delisted"] == 2
    assert s["totals"] == {"not_yet_listed": 6, "delisted": 2, "interior_missing": 2}


@pytest.mark.parametrize("change", ["mask", "first", "dates", "assets", "dup_assets", "empty"])
def test_post_init_rejects_inconsistent_parts(ragged: ReturnsPanel, change: str) -> None:
    parts = dict(values=ragged.values, mask=ragged.mask, first=ragged.first, last=ragged.last,
                 dates=ragged.dates, assets=ragged.assets)
    if change == "mask":
        parts["mask"] = np.ones_like(ragged.mask)
    elif change == "first":
        parts["first"] = np.zeros(4, dtype=np.int64)
    elif change == "dates":
        parts["dates"] = ragged.dates[:-1]
    elif change == "assets":
        parts["assets"] = ("A", "B", "C")
    elif change == "dup_assets":
        parts["assets"] = ("A", "B", "C", "A")
    else:
        values = ragged.values.copy()
        values[3] = NAN
        parts.update(values=values, mask=~np.isnan(values))
    with pytest.raises(InputError, match="invalid ReturnsPanel"):
        ReturnsPanel(**parts)


def test_equality_ignores_source(ragged: ReturnsPanel) -> None:
    other = ReturnsPanel.from_values(ragged.values, ragged.dates, ragged.assets, source="y")
    assert other == ragged
    changed = ragged.values.copy()
    changed[0, 0] = 0.2
    assert ReturnsPanel.from_values(changed, ragged.dates, ragged.assets) != ragged
