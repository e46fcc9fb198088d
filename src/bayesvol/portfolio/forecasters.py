"""One adapter per model for the backtest: fit on a window (or update), then forecast one step
ahead for each date until the next refit.

Every adapter returns a :class:`BlockForecast` for the dates [end, stop) of a window: per date
t and asset i the predictive mean m_ti and variance v_ti of r_ti given the returns up to t-1
(the fit's parameters are not updated within a block, the filter runs on through it), a
covariance matrix Sigma_t, predictive draws of each r_ti (for CRPS, VaR and ES) and the log
predictive density of the realised r_ti.

Bayesian univariate models (``garch``, ``hier-garch``: any model with ``constrain``,
``residuals``, ``start_variance``, ``variance_path`` and ``simulate_ahead``): for each of S
posterior draws theta^(s) the variance recursion runs through the window and the block,
started by the model's rule on the window only (as ``fit.score`` does), giving
sigma^2_t(theta^(s)) and the conditional mean m_t(theta^(s)); one predictive draw per posterior
draw is r_t^(s) = m_t^(s) + sigma_t^(s) eps with eps from the model's innovations
(``model.simulate_ahead`` one step). Then

    m_t = (1/S) sum_s m_t^(s),   v_t = (1/S) sum_s sigma^2_t(theta^(s)) + Var_s(m_t^(s)).

The log score is ``fit.score`` (log-mean-exp over draws of the one-step density).

Covariance of univariate models, a constant conditional correlation (CCC, Bollerslev 1990)
construction: Sigma_t = D_t R D_t with D_t = diag(sqrt(v_t)) and R the correlation matrix of
the standardised residuals u_ti = e_ti / sigma_ti of the window (posterior-mean residual over
the square root of the posterior-mean variance; pairwise over dates where both assets are
observed), with negative eigenvalues clipped so R is a valid correlation matrix.

Factor SV (``dfsv``, ``fsv``) has its own covariance: the predictive means, covariances and
draws of the dates of a block are the k-step-ahead forecasts (k = 1..H) from the window's
last date (``forecast_moments``, ``predictive_draws``); its log score is the one-step score
of ``fit.score`` (a particle filter through the block), so only the score uses the block's
returns.

Baselines (docs/backtests.md): ``ewma``, RiskMetrics (J.P. Morgan 1996) exponentially
weighted covariance with lambda = 0.94, zero mean,

    Sigma_t = sum_{j<t} lambda^{t-1-j} q_j^{ab} r_j^a r_j^b / sum_{j<t} lambda^{t-1-j} q_j^{ab}

(q_j^{ab} = 1 when both returns are observed on date j: the weights are normalised over the
observed past, which also starts the recursion; for a long complete history it is the usual
Sigma_t = lambda Sigma_{t-1} + (1 - lambda) r_{t-1} r_{t-1}^T), from the window's first date
on; ``sample``, the window's sample mean and (pairwise) sample covariance, constant within a
block; ``arch-garch``, GARCH(1,1) with a constant mean and Student-t innovations fitted by
maximum likelihood per asset with the ``arch`` package (Sheppard et al.), its conditional
variance run through the block at the fitted parameters, covariance by the CCC construction
above. The baselines' predictive laws are normal (ewma, sample) or the fitted Student t
(arch-garch); their draws are seeded.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from ..data import ReturnsPanel
from ..errors import InputError

BASELINES = ("ewma", "sample", "arch-garch")
EWMA_LAMBDA = 0.94
_UNIVARIATE_INTERFACE = ("constrain", "residuals", "start_variance", "variance_path",
                         "simulate_ahead", "series")


@dataclass(frozen=True)
class Block:
    """The returns of one block: values [N, H] of the window's assets (NaN unobserved)."""

    values: np.ndarray
    dates: pd.DatetimeIndex
    assets: tuple[str, ...]

    @property
    def n_times(self) -> int:
        return len(self.dates)

    @property
    def mask(self) -> np.ndarray:
        return np.isfinite(self.values)

    def to_frame(self) -> pd.DataFrame:
        """Wide frame, dates x assets."""
        return pd.DataFrame(self.values.T, index=pd.DatetimeIndex(self.dates, name="date"),
                            columns=list(self.assets))

    def observed_panel(self) -> ReturnsPanel | None:
        """The assets observed at least once in the block, as a panel (None if none is)."""
        keep = self.mask.any(axis=1)
        if not keep.any():
            return None
        return ReturnsPanel.from_values(self.values[keep], self.dates,
                                        [a for a, k in zip(self.assets, keep, strict=True) if k])


@dataclass
class BlockForecast:
    """One-step-ahead forecasts of the dates of one block, for the assets of the window.

    mean, variance, log_score: [H, N]; cov: [H, N, N]; draws: [H, N, M] predictive draws.
    kind: "refit" or "update"; seconds: wall time of the fit (or update) and forecasts.
    """

    assets: tuple[str, ...]
    dates: pd.DatetimeIndex
    mean: np.ndarray
    variance: np.ndarray
    cov: np.ndarray
    draws: np.ndarray
    log_score: np.ndarray
    kind: str = "refit"
    seconds: float = 0.0


def task_seed(seed: int, model: str, window: int) -> int:
    """A seed per (run seed, model name, window index): the same on every machine and run."""
    return int(np.random.SeedSequence([int(seed), zlib.crc32(model.encode()), int(window)])
               .generate_state(1)[0] % (2**31 - 1))


# --------------------------------------------------------------------------- shared algebra
def ccc_correlation(std_resid: np.ndarray) -> np.ndarray:
    """R from standardised residuals [T, N] (NaN = unobserved): pairwise correlation, NaN
    pairs set to 0, eigenvalues clipped at 1e-8 and the diagonal rescaled to 1."""
    frame = pd.DataFrame(std_resid)
    r = frame.corr(min_periods=3).to_numpy()
    n = r.shape[0]
    r = np.where(np.isfinite(r), r, 0.0)
    np.fill_diagonal(r, 1.0)
    vals, vecs = np.linalg.eigh((r + r.T) / 2.0)
    r = (vecs * np.clip(vals, 1e-8, None)) @ vecs.T
    d = np.sqrt(np.diag(r))
    r = r / np.outer(d, d)
    r[np.diag_indices(n)] = 1.0
    return r


def ccc_covariance(variance: np.ndarray, corr: np.ndarray) -> np.ndarray:
    """Sigma_t = D_t R D_t for variances [H, N] and R [N, N] -> [H, N, N]."""
    sd = np.sqrt(variance)
    return sd[:, :, None] * corr[None] * sd[:, None, :]


def normal_block(window: ReturnsPanel, block_values: np.ndarray, dates: pd.DatetimeIndex,
                 mean: np.ndarray, cov: np.ndarray, n_draws: int, seed: int,
                 kind: str = "refit", seconds: float = 0.0) -> BlockForecast:
    """A BlockForecast with normal marginals N(mean, diag cov): log density and seeded draws."""
    var = np.diagonal(cov, axis1=1, axis2=2).copy()
    y = block_values.T  # [H, N]
    with np.errstate(invalid="ignore", divide="ignore"):
        ls = -0.5 * (np.log(2 * np.pi * var) + (y - mean) ** 2 / var)
    rng = np.random.default_rng(seed)
    draws = mean[..., None] + np.sqrt(var)[..., None] * rng.standard_normal(
        (*var.shape, n_draws))
    return BlockForecast(window.assets, dates, mean, var, cov, draws, ls, kind, seconds)


# ------------------------------------------------------------------------- Bayesian models
@lru_cache(maxsize=16)
def _block_program(model):
    """jit: per asset (lax.map) and posterior draw (vmap) -> window residual/variance means,
    the block's variances, means and one predictive draw per posterior draw and date."""
    import jax
    import jax.numpy as jnp

    from ..models.series import SeriesData

    def per_asset(args):
        z, y, mask, start, pos, key = args
        series = SeriesData(y, mask)
        old = mask * (jnp.arange(y.shape[-1]) < start)
        prev = jnp.maximum(pos - 1, 0)
        y_prev = jnp.where((pos > 0) & (mask[prev] > 0), y[prev], 0.0)

        def one(zs, k):
            p = model.constrain(zs)
            e = model.residuals(p, series)
            s2 = model.variance_path(p, series, model.start_variance(p, e, old))
            mu = p["mu"] if "mu" in p else 0.0
            m = jnp.where(mask > 0, y - e, mu)
            keys = jax.random.split(k, pos.shape[0])
            ret = jax.vmap(lambda s, kk, yp: model.simulate_ahead(p, s, 1, kk, yp)[0][0])(
                s2[pos], keys, y_prev)
            return e, s2, s2[pos], m[pos], ret

        e, s2, s2b, mb, ret = jax.vmap(one)(z, jax.random.split(key, z.shape[0]))
        return e.mean(0), s2.mean(0), s2b, mb, ret

    def run(z, y, mask, start, pos, keys):
        return jax.lax.map(per_asset, (z, y, mask, start, pos, keys))

    return jax.jit(run)


def _draw_subset(z_all: np.ndarray, n_draws: int, seed: int) -> np.ndarray:
    """[N, S, d]: S = min(n_draws, available) posterior draws per asset, seeded, without
    replacement."""
    n, d = z_all.shape[0], z_all.shape[-1]
    pooled = z_all.reshape(n, -1, d)
    total = pooled.shape[1]
    s = min(n_draws, total)
    out = np.empty((n, s, d))
    for i in range(n):
        rng = np.random.default_rng(np.random.SeedSequence([seed, i]))
        out[i] = pooled[i, np.sort(rng.choice(total, s, replace=False))]
    return out


def check_backtestable(name: str) -> None:
    """InputError unless ``name`` is a baseline or a registered model the backtest supports."""
    from ..models.registry import factor_preset, model_class

    if name in BASELINES:
        return
    try:
        cls = model_class(name)
    except ValueError as exc:
        raise InputError(f"{exc}; baselines: {', '.join(BASELINES)}") from None
    if factor_preset(name) is not None:
        return
    missing = [f for f in _UNIVARIATE_INTERFACE if not callable(getattr(cls, f, None))]
    if missing:
        raise InputError(f"model '{name}' cannot be backtested yet: it has no {missing[0]}")


def fit_model(name: str, window: ReturnsPanel, seed: int, options: dict):
    """``bayesvol.fit`` of a registered model on a window (VI), with ``options``."""
    from ..api import fit

    return fit(window, model=name, method="vi", seed=seed, **options)


def update_model(fit, block: Block, seed: int):
    """``fit.update`` with the returns of the last block: Seq-SVB (a VI warm-started at the
    fit's q, ``bayesvol.updating``) for garch, seq-VA for factor SV (``DfsvFit.update``)."""
    return fit.update(block.to_frame(), seed=seed)


def forecast_univariate(fit, block: Block, horizon_pad: int, n_draws: int, seed: int,
                        kind: str, seconds: float) -> BlockForecast:
    """Block forecasts of a Bayesian univariate model (module docstring)."""
    import jax

    from ..forecast.score import score_terms

    t0 = time.perf_counter()
    old = fit.panel
    h = block.n_times
    values = np.concatenate([old.values, block.values], axis=1)
    full = ReturnsPanel.from_values(values, old.dates.append(block.dates), old.assets)
    model = fit.model
    data = model.series(full)
    y = np.asarray(data.y)
    mask = np.asarray(data.mask)
    length = y.shape[-1]
    first = np.asarray(full.first)
    start = (old.n_times - first).astype(np.int64)
    pos = np.minimum(start[:, None] + np.arange(horizon_pad)[None, :], length - 1)
    z = _draw_subset(np.asarray(fit.z, dtype=np.float64), n_draws, seed)
    n = z.shape[0]
    keys = jax.random.split(jax.random.key(seed), n)
    e_bar, s2_bar, s2b, mb, ret = (np.asarray(a) for a in _block_program(model)(
        z, y, mask, start.astype(np.int32), pos.astype(np.int32), keys))
    s2b, mb, ret = s2b[:, :, :h], mb[:, :, :h], ret[:, :, :h]  # [N, S, h]
    mean = mb.mean(1).T
    var = (s2b.mean(1) + mb.var(1)).T
    # standardised residuals of the window on the date grid, for R
    u = np.full((old.n_times, n), np.nan)
    for i in range(n):  # a loop over assets (placing each left-aligned series on the grid)
        j = np.arange(start[i])
        obs = mask[i, j] > 0
        u[first[i] + j[obs], i] = e_bar[i, j[obs]] / np.sqrt(s2_bar[i, j[obs]])
    cov = ccc_covariance(var, ccc_correlation(u))
    log_score = np.full((h, n), np.nan)
    sub = block.observed_panel()
    if sub is not None:
        terms = score_terms(fit, sub, max_draws=n_draws, seed=seed)
        for k, a in enumerate(terms.assets):
            log_score[:, old.assets.index(a)] = terms.log_score[k]
    draws = np.transpose(ret, (2, 0, 1))  # [h, N, S]
    return BlockForecast(old.assets, block.dates, mean, var, cov, draws, log_score, kind,
                         seconds + time.perf_counter() - t0)


def forecast_factor(fit, block: Block, horizon_pad: int, n_draws: int, seed: int,
                    kind: str, seconds: float) -> BlockForecast:
    """Block forecasts of a factor SV fit (module docstring): k-step moments and draws from
    the window's end, one-step scores through the block."""
    t0 = time.perf_counter()
    h = block.n_times
    means, covs = fit.forecast_moments(horizon=horizon_pad)
    means, covs = np.asarray(means)[:h], np.asarray(covs)[:h]
    draws = np.asarray(fit.predictive_draws(horizon=horizon_pad, n_paths=n_draws, seed=seed))
    draws = np.transpose(draws[:, :h], (1, 2, 0))  # [h, N, M]
    assets = tuple(fit.assets)
    var = np.diagonal(covs, axis1=1, axis2=2).copy()
    log_score = np.full((h, len(assets)), np.nan)
    sub = block.observed_panel()
    if sub is not None:
        terms = fit.score(sub.to_frame(), max_draws=min(n_draws, 200), seed=seed)
        for k, a in enumerate(terms.assets):
            if a in assets:
                log_score[:, assets.index(a)] = terms.log_score[k]
    return BlockForecast(assets, block.dates, means, var, covs, draws, log_score, kind,
                         seconds + time.perf_counter() - t0)


# ------------------------------------------------------------------------------ baselines
def _grid(window: ReturnsPanel, block: Block) -> np.ndarray:
    """Window and block returns of the window's assets, [T_w + H, N] (NaN unobserved)."""
    return np.concatenate([window.values, block.values], axis=1).T


def forecast_ewma(window: ReturnsPanel, block: Block, n_draws: int, seed: int,
                  lam: float = EWMA_LAMBDA) -> BlockForecast:
    """RiskMetrics EWMA covariance (module docstring), zero mean, normal predictive."""
    from scipy.signal import lfilter

    t0 = time.perf_counter()
    r = _grid(window, block)
    seen = np.isfinite(r)
    x = np.where(seen, r, 0.0)
    outer = x[:, :, None] * x[:, None, :]
    pairs = (seen[:, :, None] & seen[:, None, :]).astype(float)
    num = lfilter([1.0], [1.0, -lam], outer, axis=0)
    den = lfilter([1.0], [1.0, -lam], pairs, axis=0)
    tw, h = window.n_times, block.n_times
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = num[tw - 1:tw - 1 + h] / den[tw - 1:tw - 1 + h]
    mean = np.zeros((h, window.n_assets))
    return normal_block(window, block.values, block.dates, mean, cov, n_draws, seed,
                        seconds=time.perf_counter() - t0)


def forecast_sample(window: ReturnsPanel, block: Block, n_draws: int, seed: int
                    ) -> BlockForecast:
    """The window's sample mean and pairwise sample covariance, normal predictive."""
    t0 = time.perf_counter()
    frame = pd.DataFrame(window.values.T)
    cov = frame.cov(min_periods=3).to_numpy()
    h = block.n_times
    mean = np.broadcast_to(np.nanmean(window.values, axis=1), (h, window.n_assets)).copy()
    return normal_block(window, block.values, block.dates, mean,
                        np.broadcast_to(cov, (h, *cov.shape)).copy(), n_draws, seed,
                        seconds=time.perf_counter() - t0)


def _arch_missing() -> InputError:
    return InputError("the arch-garch baseline needs the arch package: "
                      "pip install 'bayesvol[backtest]' (or leave out arch-garch)")


def forecast_arch(window: ReturnsPanel, block: Block, n_draws: int, seed: int
                  ) -> BlockForecast:
    """GARCH(1,1)-t MLE per asset with ``arch`` (module docstring)."""
    try:
        from arch import arch_model
    except ImportError:
        raise _arch_missing() from None
    from scipy import stats

    t0 = time.perf_counter()
    r = _grid(window, block)
    tw, h = window.n_times, block.n_times
    n = window.n_assets
    mean, var = np.full((h, n), np.nan), np.full((h, n), np.nan)
    log_score = np.full((h, n), np.nan)
    nus = np.full(n, 30.0)
    u = np.full((tw, n), np.nan)
    for i in range(n):  # a loop over assets: arch fits one series at a time
        col = r[:, i]
        obs = np.flatnonzero(np.isfinite(col))
        obs_w = obs[obs < tw]
        scale = 1.0 / max(float(np.std(col[obs_w])), 1e-12)
        res = arch_model(col[obs_w] * scale, mean="Constant", vol="GARCH", p=1, q=1,
                         dist="t", rescale=False).fit(disp="off", show_warning=False)
        fixed = arch_model(col[obs] * scale, mean="Constant", vol="GARCH", p=1, q=1,
                           dist="t", rescale=False).fix(res.params)
        sig = np.asarray(fixed.conditional_volatility) / scale
        mu, nu = float(res.params["mu"]) / scale, float(res.params["nu"])
        nus[i] = nu
        inw = obs < tw
        u[obs[inw], i] = (col[obs[inw]] - mu) / sig[inw]
        blk = ~inw
        rows = obs[blk] - tw
        mean[:, i] = mu
        var[rows, i] = sig[blk] ** 2
        sd_t = sig[blk] * np.sqrt((nu - 2.0) / nu)  # the scale of the t with variance sig^2
        log_score[rows, i] = stats.t.logpdf(col[obs[blk]], nu, loc=mu, scale=sd_t)
    # dates an asset is not observed get no forecast; fill the variance by carrying the
    # last one forward so the covariance stays defined
    var = pd.DataFrame(var).ffill().bfill().to_numpy()
    cov = ccc_covariance(var, ccc_correlation(u))
    rng = np.random.default_rng(seed)
    t_draws = rng.standard_t(nus[None, :, None], size=(h, n, n_draws))
    draws = mean[..., None] + np.sqrt(var * (nus - 2.0) / nus)[..., None] * t_draws
    return BlockForecast(window.assets, block.dates, mean, var, cov, draws, log_score,
                         "refit", time.perf_counter() - t0)


def forecast_baseline(name: str, window: ReturnsPanel, block: Block, n_draws: int,
                      seed: int) -> BlockForecast:
    """Dispatch to the baseline ``name`` (one of BASELINES)."""
    if name == "ewma":
        return forecast_ewma(window, block, n_draws, seed)
    if name == "sample":
        return forecast_sample(window, block, n_draws, seed)
    if name == "arch-garch":
        return forecast_arch(window, block, n_draws, seed)
    raise InputError(f"unknown baseline '{name}': choose from {', '.join(BASELINES)}")
