"""Rating histories -> pooled events (bayesvol.data.ratings): exact counts and at-risk numbers
on a hand-made history, the event-file format, and one error per malformed history."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayesvol.data.ratings import (
    RATING_TYPES,
    events_from_ratings,
    load_events,
    rating_class,
    read_events,
)
from bayesvol.errors import InputError

DATA = Path(__file__).parent / "data"
SMALL = DATA / "ratings_small.csv"
Y = 365.25


def test_rating_classes():
    assert [rating_class(r) for r in ("AAA", "bbb-", " BBB - ", "BB+", "C", "D", "SD", "NR",
                                      "WR", "AAB", "")] == [
        "IG", "IG", "IG", "SIG", "SIG", "DEF", "DEF", "NR", "NR", None, None]


def test_small_history_exact_counts_and_at_risk():
    ev = events_from_ratings(SMALL)
    # events: 2001-01-01 A IG->SIG and B SIG->D (pooled); 2002-01-01 E IG->SD (C's NR is no
    # event); 2003-01-01 A SIG->IG (D's B->CCC is inside SIG)
    assert list(ev.dates.strftime("%Y-%m-%d")) == ["2001-01-01", "2002-01-01", "2003-01-01"]
    np.testing.assert_array_equal(ev.y, [[1, 0, 0, 1], [0, 1, 0, 0], [0, 0, 1, 0]])
    np.testing.assert_allclose(ev.time, np.array([366, 731, 1096]) / Y, rtol=1e-14)
    np.testing.assert_allclose(ev.dtau, np.array([366, 365, 365]) / Y, rtol=1e-14)
    # just before each event: IG {A, C, E}, SIG {B, D}; then IG {C, E}, SIG {A, D}; then
    # IG nobody (C withdrawn, E defaulted), SIG {A, D}
    np.testing.assert_array_equal(ev.at_risk, [[3, 3, 2, 2], [2, 2, 2, 2], [0, 0, 2, 2]])
    # D entered on 2000-07-01: 184 of the 366 days of the first interval
    k_sig = (366 + 184) / 366
    np.testing.assert_allclose(ev.K, [[3, 3, k_sig, k_sig], [2, 2, 2, 2], [0, 0, 2, 2]],
                               rtol=1e-12)
    assert ev.types == RATING_TYPES and ev.firms == 5
    assert ev.counts() == {"IG_SIG": 1, "IG_DEF": 1, "SIG_IG": 1, "SIG_DEF": 1}
    data = ev.data(pad_to=5)
    assert data.y.shape == (5, 4) and data.mask.tolist() == [1, 1, 1, 0, 0]


def test_window_and_tail():
    ev = events_from_ratings(SMALL, end="2004-01-01", include_tail=True)
    assert ev.n_times == 4 and ev.y[-1].sum() == 0
    np.testing.assert_allclose(ev.dtau[-1], 365 / Y)
    np.testing.assert_allclose(ev.K[-1], [1, 1, 1, 1])  # A back in IG, D still SIG
    with pytest.raises(InputError, match=r"ratings_small.csv: column 'date', row 2: .*outside"):
        events_from_ratings(SMALL, start="2000-02-01")


def test_event_file_round_trip(tmp_path):
    ev = events_from_ratings(SMALL)
    path = tmp_path / "events.csv"
    ev.to_csv(path)
    head = path.read_text().splitlines()[0]
    assert head == ("date,time,y_IG_SIG,y_IG_DEF,y_SIG_IG,y_SIG_DEF,K_IG_SIG,K_IG_DEF,"
                    "K_SIG_IG,K_SIG_DEF")
    back = read_events(path)
    assert back.types == ev.types
    np.testing.assert_array_equal(back.y, ev.y)
    np.testing.assert_allclose(back.K, ev.K, rtol=1e-15)
    np.testing.assert_allclose(back.time, ev.time, rtol=1e-15)
    assert load_events(path).n_times == 3 and load_events(SMALL).n_times == 3


def _write(tmp_path, text: str, name: str = "hist.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


BASE = "firm,date,rating\nA,2000-01-01,AA\nA,2001-01-01,BB\n"


@pytest.mark.parametrize("text,pattern", [
    (BASE + "B,2000-01-01,AAB\n", r"hist.csv: column 'rating', row 4: unknown rating 'AAB'"),
    (BASE + "B,2000-01-01,\n", r"hist.csv: column 'rating', row 4: missing rating"),
    (BASE + "B,2001-13-45,A\n", r"hist.csv: column 'date', row 4: unparseable date"),
    (BASE + "A,2001-01-01,B\n",
     r"hist.csv: column 'rating', row 4: firm 'A' has two ratings on 2001-01-01: BB \(row 3\)"),
    (BASE + "A,2002-01-01,D\nA,2003-01-01,B\n",
     r"hist.csv: column 'rating', row 5: firm 'A' is rated B on 2003-01-01 after its default "
     r"on 2002-01-01 \(row 4\)"),
    ("", r"hist.csv: empty file"),
    ("firm,date,grade\nA,2000-01-01,AA\n", r"hist.csv: column 'rating': missing column"),
    ("firm,date,rating\nA,2000-01-01,AA\nA,2001-01-01,A\n",
     r"hist.csv: no rating transition"),
    ("firm,date,rating\n,2000-01-01,AA\n", r"hist.csv: column 'firm', row 2: missing firm"),
])
def test_malformed_histories(tmp_path, text, pattern):
    with pytest.raises(InputError, match=pattern) as info:
        events_from_ratings(_write(tmp_path, text))
    assert "\n" not in str(info.value)


def test_default_then_nr_is_fine_and_duplicates_identical_rows_dropped(tmp_path):
    ev = events_from_ratings(_write(tmp_path, BASE + "A,2002-01-01,D\nA,2003-01-01,NR\n"
                                    "A,2003-01-01,NR\n"))
    np.testing.assert_array_equal(ev.y, [[1, 0, 0, 0], [0, 0, 0, 1]])


def test_dataframe_input_and_aliases():
    df = pd.read_csv(SMALL).rename(columns={"firm": "Issuer", "rating": "RATING"})
    ev = events_from_ratings(df)
    np.testing.assert_array_equal(ev.at_risk[0], [3, 3, 2, 2])
    with pytest.raises(InputError, match=r"<DataFrame>: column 'date', row 3: unparseable"):
        events_from_ratings(df.assign(date=["2000-01-01", "2001-01-01", "bad"] + ["2000-01-01"]
                                      * (len(df) - 3)))


@pytest.mark.parametrize("text,pattern", [
    ("time,y_A,K_A\n0.5,1,10\n0.4,0,10\n", r"ev.csv: column 'time', row 3: times must increase"),
    ("time,y_A,K_A\n0.5,1.5,10\n", r"ev.csv: column 'y_A', row 2: count 1.5 is not"),
    ("time,y_A,K_A\n0.5,1,0\n", r"ev.csv: column 'y_A', row 2: 1 event\(s\) with nobody"),
    ("time,y_A,K_A\n0.5,1,-2\n", r"ev.csv: column 'K_A', row 2: number at risk -2"),
    ("time,y_A\n0.5,1\n", r"ev.csv: column 'K_A': missing column"),
    ("t,y_A,K_A\n0.5,1,3\n", r"ev.csv: column 'time': missing column"),
    ("time,y_A,K_A\n0.5,x,3\n", r"ev.csv: column 'y_A', row 2: non-numeric value 'x'"),
])
def test_malformed_event_files(tmp_path, text, pattern):
    with pytest.raises(InputError, match=pattern):
        read_events(_write(tmp_path, text, "ev.csv"))
