"""``bayesvol report`` (bayesvol.reporting): the HTML page of a fit and of a backtest.

Tiny fixtures (two short GARCH fits, a factor SV fit, a two-window backtest); asset names hold
``<`` and ``&`` to check the escaping. Each page must have every section id, every image as
non-empty inline base64, no http(s) URL; it is rendered in headless Chromium and the
screenshot must not be blank (skipped, with the reason, where Chromium is not installed).
"""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayesvol.cli import main

FIT_IDS = ("data-summary", "posterior", "volatility", "vi-vs-mcmc")
BACKTEST_IDS = ("data-summary", "scores", "risk", "portfolios", "cumulative-returns",
                "volatility", "verdict")
ODD = ("A<1>", "B&C", "C\"q")   # names that must be escaped


def _garch_frame(T: int, n: int, seed: int) -> pd.DataFrame:
    """Correlated GARCH(1,1) returns (percent), T dates x n assets with ODD names."""
    rng = np.random.default_rng(seed)
    corr = np.full((n, n), 0.4) + 0.6 * np.eye(n)
    eps = rng.standard_normal((T, n)) @ np.linalg.cholesky(corr).T
    s2, out = np.ones(n), np.empty((T, n))
    for t in range(T):  # the simulator's loop over time (test data only)
        out[t] = np.sqrt(s2) * eps[t]
        s2 = 0.05 + 0.08 * out[t] ** 2 + 0.87 * s2
    return pd.DataFrame(out, index=pd.bdate_range("2021-01-01", periods=T, name="date"),
                        columns=list(ODD[:n]))


@pytest.fixture(scope="module")
def fits(tmp_path_factory) -> tuple[Path, Path]:
    """A VI fit and a second VI fit (another seed) as its reference, two assets."""
    import bayesvol as bv

    root = tmp_path_factory.mktemp("report-fits")
    frame = _garch_frame(300, 2, 0)
    frame.iloc[40:43, 1] = np.nan   # an interior gap
    a = bv.fit(frame, model="garch", dist="t", method="vi", seed=0, max_iter=300)
    b = bv.fit(frame, model="garch", dist="t", method="vi", seed=1, max_iter=300)
    return a.save(root / "vi"), b.save(root / "ref")


@pytest.fixture(scope="module")
def backtest_dir(tmp_path_factory) -> Path:
    import bayesvol as bv

    out = tmp_path_factory.mktemp("report-bt") / "bt"
    bv.backtest(_garch_frame(300, 3, 1), models=["garch"], window=200, step=50, out=out,
                baselines=("ewma", "sample"), n_draws=100, rebalance=50, seed=0,
                fit_options={"garch": {"max_iter": 300}})
    return out


def _check_page(path: Path, ids: tuple[str, ...]) -> str:
    text = path.read_text(encoding="utf-8")
    for sid in ids:
        assert f'<section id="{sid}">' in text, sid
    assert not re.search(r"https?://", text), "the page must link to nothing outside itself"
    assert "<script" not in text and "@import" not in text and "url(" not in text
    images = re.findall(r"<img [^>]*>", text)
    assert images, "no figure"
    for img in images:
        m = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', img)
        assert m and len(m.group(1)) > 100, img[:200]
        assert base64.b64decode(m.group(1))[:8] == b"\x89PNG\r\n\x1a\n"
    for name in ODD:   # escaped wherever it occurs, never raw
        if name in text:
            pytest.fail(f"unescaped asset name {name!r} in the page")
    return text


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _screenshot(page: Path, tmp_path: Path) -> None:
    """Render ``page`` in headless Chromium; the PNG must exist and not be one colour."""
    exe = _chromium()
    if exe is None:
        pytest.skip("Chromium is not installed (Debian's 'chromium' package; .ci/run installs "
                    "it where apt-get is usable): the page was checked but not rendered")
    shot = tmp_path / f"{page.stem}.png"
    done = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu",
                           "--hide-scrollbars", f"--screenshot={shot}",
                           "--window-size=1280,4000", page.resolve().as_uri()],
                          capture_output=True, text=True, timeout=180)
    assert shot.exists() and shot.stat().st_size > 0, done.stderr[-2000:]
    from matplotlib.image import imread

    pixels = imread(shot)
    assert pixels.shape[0] >= 1000 and pixels.shape[1] >= 1000, pixels.shape
    rgb = pixels[..., :3].reshape(-1, 3)
    assert float(rgb.std()) > 0.01, "blank screenshot"
    assert len(np.unique((rgb[::97] * 255).astype(np.uint8), axis=0)) > 20, "too few colours"


def test_fit_report_with_reference(fits, tmp_path, capsys) -> None:
    vi, ref = fits
    out = tmp_path / "fit.html"
    assert main(["report", str(vi), "--reference", str(ref), "--out", str(out)]) == 0
    assert str(out) in " ".join(capsys.readouterr().out.split())
    text = _check_page(out, FIT_IDS)
    assert "A&lt;1&gt;" in text and "B&amp;C" in text
    assert "(mean - mean_ref) / sd_ref" in text and "No reference fit" not in text
    assert text.count("<img ") >= 4   # ELBO, two volatility bands, marginals
    _screenshot(out, tmp_path)


def test_fit_report_without_reference_says_so(fits) -> None:
    import bayesvol as bv

    vi, _ = fits
    path = bv.report(vi)   # default: DIR/report.html
    assert path == vi / "report.html"
    text = _check_page(path, FIT_IDS)
    assert "No reference fit was given" in text
    assert bv.report(vi) == path   # a report of ours is rewritten


def test_backtest_report(backtest_dir, tmp_path) -> None:
    assert main(["report", str(backtest_dir)]) == 0
    page = backtest_dir / "report.html"
    text = _check_page(page, BACKTEST_IDS)
    for phrase in ("mean log score", "each model against the best", "p Kupiec",
                   "p Christoffersen", "Z2", "max drawdown", "Sharpe", "turnover"):
        assert phrase in text, phrase
    # three models (garch, ewma, sample): the model confidence set where arch is installed
    summary = json.loads((backtest_dir / "summary.json").read_text())
    if summary.get("model_confidence_set_log_score"):
        assert "MCS p-value" in text
    for line in summary["verdict"]:
        assert html.escape(line) in text, line
    _screenshot(page, tmp_path)


def test_factor_fit_report(tmp_path) -> None:
    import bayesvol as bv
    from bayesvol.fit_factor import write_factor_fit
    from bayesvol.simulate.dfsv import simulate_dfsv

    frame = simulate_dfsv(3, 1, 150, seed=3).to_frame()
    frame.columns = list(ODD)
    res = bv.fit(frame, model="dfsv", factors=1, seed=0)
    write_factor_fit(res, tmp_path / "fac")
    path = bv.report(tmp_path / "fac")
    text = _check_page(path, FIT_IDS)
    assert "Covariance and log-variance paths" in text and "lambda[A&lt;1&gt;,1]" in text


def test_system_fit_reports(tmp_path) -> None:
    """Reports of system fits: a gas-t-cov fit (covariance paths; the comparison section
    against a second MAP fit with other Laplace draws, which needs no new compilation) and a
    credit-intensity fit (event counts, intensity paths)."""
    import bayesvol as bv
    from bayesvol.models.credit_intensity import CreditIntensityModel
    from bayesvol.simulate.credit_intensity import simulate_credit_intensity
    from bayesvol.simulate.gas_t_cov import simulate_gas_t_cov

    frame = simulate_gas_t_cov(200, n_assets=3, seed=1).to_frame()
    frame.columns = list(ODD)
    bv.fit(frame, model="gas-t-cov", variant="scalar", method="map",
           num_draws=100).save(tmp_path / "map")
    bv.fit(frame, model="gas-t-cov", variant="scalar", method="map", num_draws=100,
           seed=1).save(tmp_path / "ref")
    path = bv.report(tmp_path / "map", reference=tmp_path / "ref")
    text = _check_page(path, FIT_IDS)
    assert "Covariance paths" in text and "b_D[A&lt;1&gt;]" in text
    assert "Marginals of both fits" in text
    sim = simulate_credit_intensity(CreditIntensityModel(factors=1), n_events=150, seed=2)
    bv.fit(sim.events, model="credit-intensity", factors=1, method="map",
           num_draws=100).save(tmp_path / "credit")
    text = _check_page(bv.report(tmp_path / "credit"), FIT_IDS)
    assert "Intensity paths" in text and "The fitted events" in text


def test_neither_a_fit_nor_a_backtest_exits_2_and_nothing_is_overwritten(
        fits, tmp_path, capsys) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("x")
    assert main(["report", str(other)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(other) in err[0] and "neither a fit" in err[0]
    assert sorted(p.name for p in other.iterdir()) == ["notes.txt"]
    vi, _ = fits
    keep = tmp_path / "keep.html"
    keep.write_text("<html>mine</html>")
    assert main(["report", str(vi), "--out", str(keep)]) == 2
    assert "not overwritten" in capsys.readouterr().err
    assert keep.read_text() == "<html>mine</html>"
    assert main(["report", str(tmp_path / "missing")]) == 2
