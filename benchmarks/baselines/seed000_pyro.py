# ruff: noqa
"""TIMING BASELINE ONLY -- not part of bayesvol, never imported by it.

The seed's Pyro AR(1)-GARCH(1,1)-t partial-pooling model (seed file 000_37ffebbcb03e161d.txt)
made runnable, vendored from the project's shared baselines so that benchmarks/hier_garch.py
can time it: underscores restored, missing parentheses closed, the model body unchanged; the
seed's hand-written guide is incomplete (its 'local latents' site matches no model site), so
the model is paired with Pyro's AutoNormal, the closest runnable guide. The only change to the
shared copy is in the __main__ block: it also prints CPU seconds per step (the benchmark
machine is shared, so wall seconds alone mislead). Needs torch and pyro-ppl in a separate
environment (pip install torch pyro-ppl); benchmarks/hier_garch.py finds the interpreter
through BAYESVOL_PYRO_PYTHON and this file through BAYESVOL_SEED000.

Usage: python seed000_pyro.py N_ASSETS T STEPS
  -> "seed-pyro N=.. T=.. s/step=.. cpu_s/step=.." (one untimed warm-up step first)
"""
import sys, time, warnings
import torch, pyro, pyro.distributions as dist
from pyro import poutine
from pyro.infer import SVI, Trace_ELBO
from pyro.infer.autoguide import AutoNormal
from pyro.util import ignore_jit_warnings


def model(returns, lengths, args, prior_predictive_checks=False, device=torch.device("cpu"), batch_size=None):
    returns = returns.to(device); lengths = lengths.to(device)
    num_assets, max_T = returns.shape
    omega_mu = pyro.sample("omega_mu", dist.Exponential(torch.tensor(1.0)))
    omega_sigma = pyro.sample("omega_sigma", dist.Exponential(torch.tensor(1.0)))
    ab_sum_a = pyro.sample("ab_sum_a_hyper", dist.Exponential(torch.tensor(2.0)))
    ab_sum_b = pyro.sample("ab_sum_b_hyper", dist.Exponential(torch.tensor(2.0)))
    ab_frac_a = pyro.sample("ab_frac_a_hyper", dist.Exponential(torch.tensor(2.0)))
    ab_frac_b = pyro.sample("ab_frac_b_hyper", dist.Exponential(torch.tensor(2.0)))
    phi_mu = pyro.sample("phi_mu", dist.Normal(torch.tensor(0.0), torch.tensor(1.0)))
    phi_sigma = pyro.sample("phi_sigma", dist.Exponential(torch.tensor(1.0)))
    sigma_init_mu = pyro.sample("sigma_init_mu", dist.Exponential(torch.tensor(10.0)))
    sigma_init_sigma = pyro.sample("sigma_init_sigma", dist.Exponential(torch.tensor(10.0)))
    df_mu = pyro.sample("df_mu", dist.Exponential(torch.tensor(1.0)))
    df_sigma = pyro.sample("df_sigma", dist.Exponential(torch.tensor(1.0)))
    lambda_decay = pyro.sample("lambda_decay", dist.Beta(torch.tensor(2.0), torch.tensor(2.0)))
    with ignore_jit_warnings():
        with pyro.plate("assets", num_assets, batch_size, dim=-1) as batch:
            n = batch.shape[0]
            asset_lengths = lengths[batch]; asset_returns = returns[batch]
            garch_omega = pyro.sample("garch_omega", dist.Normal(omega_mu, omega_sigma).expand([n])).clamp(min=1e-4)
            alpha_beta_sum = pyro.sample("alpha_beta_sum", dist.Beta(ab_sum_a, ab_sum_b).expand([n]))
            alpha_frac = pyro.sample("alpha_frac", dist.Beta(ab_frac_a, ab_frac_b).expand([n]))
            garch_alpha = alpha_beta_sum * alpha_frac
            garch_beta = alpha_beta_sum * (1.0 - alpha_frac)
            phi = pyro.sample("phi", dist.Normal(phi_mu, phi_sigma).expand([n]))
            sigma_init = pyro.sample("garch_sigma_init", dist.Normal(sigma_init_mu, sigma_init_sigma).expand([n])).clamp(min=1e-4)
            df = pyro.sample("degrees_of_freedom", dist.Normal(df_mu, df_sigma).expand([n])).clamp(min=2.05)
            asset_weight = pyro.sample("asset_weight", dist.Beta(torch.tensor(2.0), torch.tensor(2.0)).expand([n]))
            sigma_prev = sigma_init; e_prev = torch.zeros(n); r_prev = torch.zeros(n)
            for t in pyro.markov(range(max_T if getattr(args, "jit", False) else int(asset_lengths.max().item()))):
                valid = t < asset_lengths
                decay_exponent = max_T - t - 1
                if t == 0:
                    sigma_t = sigma_prev; mean_t = torch.zeros_like(sigma_prev)
                else:
                    sigma_t = torch.sqrt(garch_omega + garch_alpha * e_prev**2 + garch_beta * sigma_prev**2)
                    mean_t = phi * r_prev
                obs = None if prior_predictive_checks else asset_returns[:, t]
                if obs is not None:
                    lp = dist.StudentT(df, mean_t, sigma_t).log_prob(obs)
                    w = asset_weight * lambda_decay ** decay_exponent
                    pyro.factor(f"weighted_decay_{t}", torch.where(valid, w * lp, torch.zeros_like(lp)))
                with poutine.mask(mask=valid):
                    r_t = pyro.sample(f"r_{t}", dist.StudentT(df, mean_t, sigma_t), obs=obs)
                e_prev = r_t - mean_t; sigma_prev = sigma_t; r_prev = r_t


class Args: jit = False


if __name__ == "__main__":
    warnings.filterwarnings("ignore")
    N, T, steps = (int(a) for a in sys.argv[1:4])
    torch.manual_seed(0); torch.set_num_threads(1)
    y = 0.01 * torch.randn(N, T)
    lengths = torch.full((N,), T)
    guide = AutoNormal(model)
    svi = SVI(model, guide, pyro.optim.Adam({"lr": 0.01}), Trace_ELBO())
    svi.step(y, lengths, Args())
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        svi.step(y, lengths, Args())
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"seed-pyro N={N} T={T} s/step={wall / steps:.4f} cpu_s/step={cpu / steps:.4f}")
