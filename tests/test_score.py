"""Out-of-sample one-step log predictive scores (forecast/score.py, Fit.score, `bayesvol score`)
and the decay selection built on them (bayesvol.decay.select_decay)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import logsumexp

import bayesvol as bv
from bayesvol.cli import main
from bayesvol.data import ReturnsPanel
from bayesvol.errors import InputError
from bayesvol.forecast.score import score_fit, score_terms
from bayesvol.models.garch import GarchModel
from bayesvol.models.hier_garch import LOCAL, HierGarchModel
from bayesvol.results import Fit
from bayesvol.simulate import simulate_garch
from bayesvol.simulate.hier_garch import simulate_hier_garch

T_FIT, T_NEW = 260, 40  # old + new series share one bucket length (320): one program
TRUE = {"omega": 0.05, "alpha": 0.10, "beta": 0.85, "nu": 7.0, "phi": 0.05}


def ragged_frame() -> pd.DataFrame:
    """Two GARCH assets on T_FIT + T_NEW dates. B is listed from date 50, delisted 20 dates
    before the fit's end, back 10 dates after it, and misses one old and one new date."""
    sim = simulate_garch(T_FIT + T_NEW, omega=0.05, alpha=0.1, beta=0.85, n_assets=2, seed=5)
    df = pd.DataFrame(sim.returns.T, index=sim.dates, columns=["A", "B"])
    df.index.name = "date"
    for lo, hi in ((0, 50), (T_FIT - 20, T_FIT + 10), (T_FIT + 20, T_FIT + 21), (100, 101)):
        df.iloc[lo:hi, 1] = np.nan
    return df


def random_fit(df: pd.DataFrame, model: GarchModel, draws: int = 12, seed: int = 0) -> Fit:
    """A Fit on ``df`` whose draws scatter around TRUE (no inference: cheap and exact)."""
    panel = bv.load_returns(df)
    rng = np.random.default_rng(seed)
    z0 = np.asarray(model.unconstrain(TRUE))
    z = z0 + 0.15 * rng.standard_normal((panel.n_assets, 2, draws // 2, model.dim))
    return Fit(model=model, panel=panel, method="vi", z=z, seed=seed)


def hand_scores(fit: Fit, new: pd.DataFrame) -> dict[str, np.ndarray]:
    """log-mean-exp over draws of the AR(1)-GARCH(1,1) t or normal one-step density, by a loop
    over each asset's window (start value by the model's rule on the old data)."""
    out = {}
    old = fit.panel.to_frame()
    draws = fit.draws()
    for i, asset in enumerate(fit.assets):
        y_all = np.concatenate([old[asset].to_numpy(), new[asset].to_numpy()])
        y = y_all[int(fit.panel.first[i]):]
        n_old = T_FIT - int(fit.panel.first[i])
        obs = ~np.isnan(y)
        dens = []
        for s in range(draws["omega"][i].size):
            p = {k: float(v[i].reshape(-1)[s]) for k, v in draws.items()}
            phi = p.get("phi", 0.0)
            prev = np.concatenate([[0.0], np.where(obs, y, 0.0)[:-1]])
            e = np.where(obs, y - phi * prev, 0.0)
            s2 = (p["omega"] / (1.0 - p["alpha"] - p["beta"])
                  if fit.model.start == "unconditional" else np.mean(e[:n_old][obs[:n_old]] ** 2))
            terms = []
            for t in range(len(y)):
                if t >= n_old and obs[t] and "nu" in p:
                    scale = np.sqrt(s2 * (p["nu"] - 2.0) / p["nu"])
                    terms.append(stats.t.logpdf(e[t], p["nu"], scale=scale))
                elif t >= n_old and obs[t]:
                    terms.append(stats.norm.logpdf(e[t], scale=np.sqrt(s2)))
                e2 = e[t] ** 2 if obs[t] else s2
                s2 = p["omega"] + p["alpha"] * e2 + p["beta"] * s2
            dens.append(terms)
        dens = np.asarray(dens)
        out[asset] = logsumexp(dens, axis=0) - np.log(dens.shape[0])
    return out


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return ragged_frame()


@pytest.fixture(scope="module")
def ar_fit(frame) -> Fit:
    return random_fit(frame.iloc[:T_FIT], GarchModel(dist="t", ar=True))


@pytest.fixture(scope="module")
def plain_fit(frame) -> Fit:
    """Normal innovations, no mean, and a start value that does not depend on the data."""
    return random_fit(frame.iloc[:T_FIT], GarchModel(dist="normal", start="unconditional"),
                      draws=16, seed=1)


# ---------------------------------------------------------------------------- the numbers
def test_scores_match_a_hand_recursion(ar_fit, frame) -> None:
    new = frame.iloc[T_FIT:]
    got = score_fit(ar_fit, new)
    assert list(got.columns) == ["date", "asset", "log_score"]
    assert len(got) == int(new.notna().sum().sum())  # B misses one new date
    want = hand_scores(ar_fit, new)
    for asset in ("A", "B"):
        rows = got[got["asset"] == asset]
        assert rows["date"].tolist() == new.index[new[asset].notna()].tolist()
        np.testing.assert_allclose(rows["log_score"].to_numpy(), want[asset], rtol=1e-9)


def test_plain_fit_scores_match_a_hand_recursion(plain_fit, frame) -> None:
    new = frame.iloc[T_FIT:T_FIT + 15]  # B is back from T_FIT + 10
    got = plain_fit.score(new)
    want = hand_scores(plain_fit, new)
    for asset in ("A", "B"):
        np.testing.assert_allclose(got.loc[got["asset"] == asset, "log_score"], want[asset],
                                   rtol=1e-9)


def test_terms_are_per_draw_and_mixed_by_log_mean_exp(ar_fit, frame) -> None:
    res = score_terms(ar_fit, frame.iloc[T_FIT:])
    n_draws = ar_fit.z.shape[1] * ar_fit.z.shape[2]
    assert res.terms.shape == (2, n_draws, T_NEW) and res.assets == ("A", "B")
    mixed = logsumexp(res.terms, axis=1) - np.log(n_draws)
    np.testing.assert_allclose(res.log_score, mixed)  # NaN at the missing point in both
    assert np.isnan(res.log_score[1, 20]) and np.isnan(res.log_score[1, :10]).all()
    assert np.isfinite(res.log_score[0]).all()


def test_max_draws_subsamples_deterministically(ar_fit, frame) -> None:
    new = frame.iloc[T_FIT:]
    a = score_terms(ar_fit, new, max_draws=5, seed=3)
    b = score_terms(ar_fit, new, max_draws=5, seed=3)
    assert a.terms.shape[1] == 5 and np.array_equal(a.draws, b.draws)
    np.testing.assert_array_equal(a.log_score, b.log_score)
    only_b = score_terms(ar_fit, new[["B"]], max_draws=5, seed=3)  # same draws for B alone
    np.testing.assert_array_equal(only_b.log_score[0], a.log_score[1])


def test_scoring_in_two_pieces_equals_one_piece(ar_fit, plain_fit, frame) -> None:
    new = frame.iloc[T_FIT:]
    # with the start value from the old data, a prefix scores the same alone
    whole = score_fit(ar_fit, new)
    head = score_fit(ar_fit, new.iloc[:15])
    pd.testing.assert_frame_equal(head, whole[whole["date"] < new.index[15]],
                                  check_exact=False, rtol=1e-12)
    # with a start value that does not depend on the data, the second piece can be scored
    # from a fit whose panel holds the first: the filter simply runs on
    whole = score_fit(plain_fit, new)
    longer = Fit(model=plain_fit.model, panel=bv.load_returns(frame.iloc[:T_FIT + 15]),
                 method="vi", z=plain_fit.z, seed=plain_fit.seed)
    tail = score_fit(longer, new.iloc[15:]).reset_index(drop=True)
    pd.testing.assert_frame_equal(tail, whole[whole["date"] >= new.index[15]]
                                  .reset_index(drop=True), check_exact=False, rtol=1e-12)


def test_a_subset_of_assets_and_any_panel_input(ar_fit, frame, tmp_path) -> None:
    new = frame.iloc[T_FIT:]
    only_a = score_fit(ar_fit, new[["A"]])
    both = score_fit(ar_fit, new)
    pd.testing.assert_frame_equal(only_a, both[both["asset"] == "A"].reset_index(drop=True))
    path = tmp_path / "new.csv"
    new.to_csv(path)
    from_file = score_fit(ar_fit, str(path))
    np.testing.assert_allclose(from_file["log_score"], both["log_score"], rtol=1e-12)
    panel = ReturnsPanel.from_frame(new[["B", "A"]])  # column order does not matter
    pd.testing.assert_frame_equal(score_fit(ar_fit, panel), both)


# ----------------------------------------------------------------------------- errors
def test_unknown_asset_and_overlapping_dates_are_input_errors(ar_fit, frame) -> None:
    new = frame.iloc[T_FIT:].copy()
    with pytest.raises(InputError, match="column 'C'.*not in the fit"):
        score_fit(ar_fit, new.assign(C=new["A"]))
    last, first_bad = frame.index[T_FIT - 1].date(), frame.index[T_FIT - 2].date()
    with pytest.raises(InputError, match=f"strictly after the fit's last date {last}: "
                                         f"date {first_bad} does not"):
        score_fit(ar_fit, frame.iloc[T_FIT - 2:])
    with pytest.raises(InputError, match="dates"):
        score_fit(ar_fit, new.to_numpy().T)
    with pytest.raises(InputError, match="max_draws"):
        score_fit(ar_fit, new, max_draws=0)


# -------------------------------------------------------------------------------- CLI
@pytest.fixture(scope="module")
def saved(plain_fit, frame, tmp_path_factory):
    root = tmp_path_factory.mktemp("score")
    plain_fit.save(root / "fit")
    frame.iloc[T_FIT:].to_csv(root / "new.csv")
    return root


def test_cli_round_trip(saved, plain_fit, frame, capsys) -> None:
    out = saved / "scores.csv"
    assert main(["score", str(saved / "fit"), str(saved / "new.csv"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    got = pd.read_csv(out)
    assert list(got.columns) == ["date", "asset", "log_score"]
    assert got["date"].iloc[0] == str(frame.index[T_FIT].date())
    want = plain_fit.score(frame.iloc[T_FIT:])
    np.testing.assert_allclose(got["log_score"], want["log_score"], rtol=1e-9)
    assert "A" in printed and "total" in printed
    assert f"{want['log_score'].sum():.4f}" in printed
    assert str(int(frame["B"].iloc[T_FIT:].notna().sum())) in printed


@pytest.mark.parametrize(("edit", "match"), [
    (lambda df: df.assign(ZZZ=df["A"]), "column 'ZZZ'"),
    (lambda df: df, "strictly after"),
])
def test_cli_input_errors_exit_2(saved, frame, capsys, edit, match) -> None:
    bad = saved / "bad.csv"
    start = T_FIT if match != "strictly after" else T_FIT - 3
    edit(frame.iloc[start:]).to_csv(bad)
    rc = main(["score", str(saved / "fit"), str(bad), "--out", str(saved / "x.csv")])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("error: ") and match in err and len(err.strip().splitlines()) == 1
    assert not (saved / "x.csv").exists()


def test_score_help_does_not_import_jax(tmp_path) -> None:
    code = ("import sys\nfrom bayesvol.cli import main\nassert main(['score', '--help']) == 0\n"
            "heavy = [m for m in ('jax', 'arviz', 'pandas') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_cli_missing_fit_exits_2(tmp_path, capsys) -> None:
    (tmp_path / "new.csv").write_text("date,A\n2020-01-02,0.1\n")
    rc = main(["score", str(tmp_path), str(tmp_path / "new.csv"), "--out",
               str(tmp_path / "s.csv")])
    assert rc == 2 and "posterior.nc" in capsys.readouterr().err


# ------------------------------------------------------------------------- hier-garch
HIER_T, HIER_NEW = 640, 40  # fit on 12 x 600: the shape of the other pooled tests' fits
HIER_OPTS = {"num_draws": 40, "seed": 0}


@pytest.fixture(scope="module")
def hier_data() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A ragged hier-garch panel: the fit part, and the held-out dates for the assets that
    have data there. One asset stops 20 dates before the fit's end and comes back."""
    df = simulate_hier_garch(12, HIER_T, seed=3).to_frame()
    df.index.name = "date"
    cut = HIER_T - HIER_NEW
    df.iloc[cut - 20:cut, 0] = np.nan
    keep = [c for c in df.columns if df[c].iloc[:cut].notna().sum() >= 30]
    old = df[keep].iloc[:cut]
    new = df[keep].iloc[cut:]
    return old, new[[c for c in new.columns if new[c].notna().any()]]


@pytest.fixture(scope="module")
def hier_fit(hier_data) -> Fit:
    return bv.fit(hier_data[0], model="hier-garch", **HIER_OPTS)


def test_hier_garch_scores_are_finite_on_a_ragged_panel(hier_fit, hier_data) -> None:
    old, new = hier_data
    assert old.isna().any().any()  # ragged: gaps, late listings or early delistings
    got = hier_fit.score(new)
    assert len(got) == int(new.notna().sum().sum())
    assert np.isfinite(got["log_score"]).all()
    assert set(got["asset"]) == set(new.columns)
    # the per-asset filter is the AR(1)-GARCH-t one: same draws, same scores
    same = Fit(model=LOCAL, panel=hier_fit.panel, method="vi", z=hier_fit.z,
               seed=hier_fit.seed)
    np.testing.assert_allclose(got["log_score"], score_fit(same, new)["log_score"],
                               rtol=1e-12)


def test_hier_garch_saved_fit_scores_from_the_cli(hier_fit, hier_data, tmp_path,
                                                  capsys) -> None:
    hier_fit.save(tmp_path / "fit")
    hier_data[1].to_csv(tmp_path / "new.csv")
    rc = main(["score", str(tmp_path / "fit"), str(tmp_path / "new.csv"), "--out",
               str(tmp_path / "s.csv"), "--max-draws", "10"])
    assert rc == 0, capsys.readouterr().err
    got = pd.read_csv(tmp_path / "s.csv")
    want = hier_fit.score(hier_data[1], max_draws=10)
    np.testing.assert_allclose(got["log_score"], want["log_score"], rtol=1e-9)


# ------------------------------------------------------------------------ select_decay
def test_select_decay_reuses_the_holdout_split(hier_fit, hier_data) -> None:
    old, new = hier_data
    whole = pd.concat([old, new])
    sel = bv.select_decay(whole, grid=(1.0,), holdout=HIER_NEW, **HIER_OPTS)
    assert sel.best == 1.0 and sel.holdout == HIER_NEW and sel.split == new.index[0]
    want = hier_fit.score(new, seed=0)["log_score"].sum()  # the same fit (same data, seed)
    assert sel.scores["log_score"].iloc[0] == pytest.approx(want, rel=1e-9)
    assert list(sel.per_asset.columns) == list(new.columns)


def test_select_decay_input_errors(frame) -> None:
    with pytest.raises(InputError, match="no decay option"):
        bv.select_decay(frame, grid=(1.0,), model="garch")
    with pytest.raises(InputError, match=r"\(0, 1\]"):
        bv.select_decay(frame, grid=(1.0, 1.5))
    with pytest.raises(InputError, match="empty"):
        bv.select_decay(frame, grid=())
    with pytest.raises(InputError, match="no dates to fit"):
        bv.select_decay(frame, grid=(1.0,), holdout=len(frame))
    with pytest.raises(InputError, match="grid="):
        bv.select_decay(frame, grid=(1.0,), decay=0.9)


@pytest.mark.slow
def test_select_decay_picks_the_best_of_the_grid(hier_data) -> None:
    whole = pd.concat(hier_data)
    sel = bv.select_decay(whole, grid=(1.0, 0.98), holdout=HIER_NEW, **HIER_OPTS)
    assert list(sel.scores["decay"]) == [1.0, 0.98]
    assert np.isfinite(sel.scores["log_score"]).all()
    assert sel.best == sel.scores["decay"][sel.scores["log_score"].idxmax()]
    assert isinstance(HierGarchModel(decay=sel.best), HierGarchModel)
