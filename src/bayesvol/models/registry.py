"""Model registry: a model name -> its class. The API, CLI, simulate, forecast and score dispatch
through it; nothing else branches on model names. Adding a model is one file in models/ plus
one line in ``MODELS``.

Each class provides ``from_options(**options)`` (the fit options it understands; an unknown
one raises ValueError), ``config()`` / ``from_config(cfg)`` (saved with a fit),
``prepare(panel)`` (its input arrays) and ``series(panel)`` (per-asset (y, mask)).

Factor SV models (``dfsv``, and ``fsv``, its special case with Phi_f = 0) have their own
fitter (bayesvol.fit_factor); ``FACTOR_PRESETS`` maps their names to the fixed options that
make each one.

System models (class attribute ``system = True``: ``gas-t-cov``, one parameter vector for
the whole panel, and ``credit-intensity``, whose input is rating histories or event counts
rather than returns) are fitted by bayesvol.fit_system.

Classes are imported when first asked for (``model_class``): a GARCH fit then does not
import the other models' modules, some of which import NumPyro at the top (0.7 s).
"""

from __future__ import annotations

from importlib import import_module

MODELS: dict[str, str] = {  # name -> "module (in bayesvol.models):class"
    "garch": "garch:GarchModel",
    "hier-garch": "hier_garch:HierGarchModel",
    "dfsv": "dfsv:DfsvModel",
    "fsv": "dfsv:DfsvModel",
    "beta-t-egarch": "beta_t_egarch:BetaTEgarchModel",
    "gas-t-cov": "gas_t_cov:GasTCovModel",
    "credit-intensity": "credit_intensity:CreditIntensityModel",
}

FACTOR_PRESETS: dict[str, dict] = {"dfsv": {}, "fsv": {"factor_ar": False}}


def factor_preset(name: str) -> dict | None:
    """The fixed options of a factor SV model name, or None for other models."""
    return FACTOR_PRESETS.get(str(name).lower())


def model_class(name: str) -> type:
    """The class registered under ``name``; ValueError naming the known models otherwise."""
    key = str(name).lower()
    if key not in MODELS:
        raise ValueError(f"unknown model '{name}': available: {', '.join(MODELS)}")
    module, cls = MODELS[key].split(":")
    return getattr(import_module(f"{__package__}.{module}"), cls)


def build_model(name: str, **options):
    """A model object from its name and fit options (ValueError on a bad option)."""
    return model_class(name).from_options(**options)


def model_from_config(cfg: dict):
    """Rebuild a model object from its saved configuration."""
    return model_class(cfg["model"]).from_config(cfg)
