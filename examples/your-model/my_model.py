"""A media mix model written plainly in PyMC: geometric adstock, Hill saturation.

The builder contract of ``[model] kind = "python"`` (README, "Validate your own model"):
``build(data, **options)`` gets the model data of one replicate and returns a PyMC model
whose inputs are ``pm.Data`` containers, with ``channel_contribution[date, channel]`` in
the data's units, and a response function for ROAS, mROAS and response curves.

The model works on the workbench's scaling (spend / ``data.spend_scale``, target /
``data.target_scale``); the target's scale is itself a container, since it differs
between replicates.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pymc as pm  # noqa: TID251 (a user's model, outside the layers)
import pytensor.tensor as pt  # noqa: TID251


def adstock(x: pt.TensorVariable, alpha: pt.TensorVariable, l_max: int):
    """Geometric adstock with normalized weights ``alpha^l / sum(alpha^l)``, ``l < l_max``."""
    weights = alpha[None, :] ** pt.arange(l_max)[:, None]
    weights = weights / weights.sum(axis=0)
    periods = x.shape[0]
    padded = pt.concatenate([pt.zeros((l_max - 1, x.shape[1])), x], axis=0)
    lagged = [padded[l_max - 1 - lag : l_max - 1 - lag + periods] for lag in range(l_max)]
    return sum(weights[lag] * lagged[lag] for lag in range(l_max))


def hill(
    x: pt.TensorVariable, slope: pt.TensorVariable, kappa: pt.TensorVariable
) -> pt.TensorVariable:
    """Hill saturation ``x^slope / (kappa^slope + x^slope)``."""
    return x**slope / (kappa**slope + x**slope)


def build(data, l_max: int = 6):
    """Return the PyMC model on ``data`` and its response function."""
    scaled = data.scaled()
    coords = {
        "date": data.dates,
        "channel": list(data.channels),
        "control": list(data.control_names),
    }
    with pm.Model(coords=coords) as model:
        spend = pm.Data("spend", scaled["spend"], dims=("date", "channel"))
        target = pm.Data("target", scaled["target"], dims="date")
        controls = pm.Data("controls", scaled["controls"], dims=("date", "control"))
        target_scale = pm.Data("target_scale", data.target_scale)

        alpha = pm.Beta("adstock_alpha", alpha=1, beta=3, dims="channel")
        slope = pm.Gamma("saturation_slope", alpha=3, beta=2, dims="channel")
        kappa = pm.Gamma("saturation_kappa", alpha=2, beta=2, dims="channel")
        beta = pm.HalfNormal("beta", sigma=1, dims="channel")
        media = beta * hill(adstock(spend, alpha, l_max), slope, kappa)

        intercept = pm.Normal("intercept", 0, 1)
        gamma = pm.Normal("gamma_control", 0, 1, dims="control")
        mu = intercept + media.sum(axis=1) + pt.dot(controls, gamma)
        sigma = pm.HalfNormal("sigma_scaled", 0.5)
        pm.Normal("y", mu=mu, sigma=sigma, observed=target, dims="date")

        # what the workbench reads, in the data's units
        pm.Deterministic("channel_contribution", media * target_scale, dims=("date", "channel"))
        pm.Deterministic("mu", mu * target_scale, dims="date")
        pm.Deterministic("sigma", sigma * target_scale)
        pm.Deterministic("saturation_beta", beta * target_scale, dims="channel")

    def response(data, spend: np.ndarray, draws: Mapping[str, np.ndarray]) -> np.ndarray:
        """Contributions ``(sample, date, channel)`` of ``spend`` (data units) per draw."""
        x = spend / data.spend_scale
        alpha = draws["adstock_alpha"][:, None, :]
        weights = alpha ** np.arange(l_max)[None, :, None]
        weights = weights / weights.sum(axis=1, keepdims=True)
        padded = np.concatenate([np.zeros((l_max - 1, x.shape[1])), x])
        periods = len(x)
        carried = sum(
            weights[:, lag][:, None, :] * padded[l_max - 1 - lag : l_max - 1 - lag + periods]
            for lag in range(l_max)
        )
        slope = draws["saturation_slope"][:, None, :]
        kappa = draws["saturation_kappa"][:, None, :]
        saturated = carried**slope / (kappa**slope + carried**slope)
        return draws["saturation_beta"][:, None, :] * saturated

    return model, response
