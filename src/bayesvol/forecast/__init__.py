"""Predictive draws, volatility paths and risk measures."""

from .risk import expected_shortfall, value_at_risk

__all__ = ["expected_shortfall", "value_at_risk"]
