"""The workbench's own Bayesian MMM in PyMC, and its estimands in the data's units.

On scaled data (:mod:`mmm_workbench.recover.models.data`), with ``x`` the scaled spend::

    y ~ Normal | StudentT(mu, sigma)
    mu = intercept + trend_slope * t + fourier @ gamma_fourier + controls @ gamma_control
         + sum_c saturation_beta_c * saturation(adstock(x_c))      (or adstock(saturation(x)))

with ``t`` running from 0 to 1 over the training rows. With ``lift_tests = true`` each
lift test adds ``delta_y ~ Normal(lift, sigma)``, ``lift`` the model's steady-state
per-period lift (:func:`mmm_workbench.recover.models.media.lift_graph`), all in scaled units.
Transform parameters are per channel (``pooling = "channel"``) or shared; a parameter
given in the scenario is held fixed. The data enter as ``pm.Data`` containers (``spend``,
``target``, ``controls``; ``lift_x``, ``lift_delta_x``, ``lift_delta_y``, ``lift_sigma``)
whose shapes depend only on the cell, so one compiled model serves every replicate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from numpy.typing import NDArray

from mmm_workbench.recover.models.data import LIFT_CONTAINERS, ModelData
from mmm_workbench.recover.models.media import (
    MediaModel,
    compile_media,
    fourier_features,
    lift_graph,
    media_graph,
)
from mmm_workbench.recover.models.priors import make_prior, prior_for
from mmm_workbench.recover.models.transforms import param_names
from mmm_workbench.scenarios.spec import ModelSpec

__all__ = ["WorkbenchModel", "build_workbench"]

Array = NDArray[np.float64]


@dataclass(frozen=True, kw_only=True)
class WorkbenchModel(MediaModel):
    """The built PyMC model of a cell, with its media function for estimands."""

    model: pm.Model

    def set_data(self, data: ModelData) -> dict[str, Array]:
        """Return the data containers' new values for one replicate (shapes must match the cell)."""
        scaled = data.scaled()
        values = {"spend": scaled["spend"], "target": scaled["target"]}
        if self.spec.controls:
            values["controls"] = scaled["controls"]
        if self.spec.lift_tests:
            values |= {name: scaled[name] for name in LIFT_CONTAINERS}
        return values


def build_workbench(spec: ModelSpec, data: ModelData) -> WorkbenchModel:
    """Build the PyMC model for a cell from its first replicate's data."""
    periods = len(data.dates)
    fourier = fourier_features(periods, spec.seasonality_period, spec.seasonality_order)
    coords = {
        "date": data.dates,
        "channel": list(data.channels),
        "control": list(data.control_names),
        "fourier": [
            f"{f}_{k}" for f in ("sin", "cos") for k in range(1, spec.seasonality_order + 1)
        ],
        "lift_test": np.arange(0 if data.lift is None else len(data.lift.x)),
    }
    per = "channel" if spec.pooling == "channel" else None
    scaled = data.scaled()
    params: dict[str, Any] = {}
    free: list[str] = []
    with pm.Model(coords=coords) as model:
        spend = pm.Data("spend", scaled["spend"], dims=("date", "channel"))
        target = pm.Data("target", scaled["target"], dims="date")
        for role, transform in (("adstock", spec.adstock), ("saturation", spec.saturation)):
            for p in param_names(role, transform.kind):
                name = f"{role}_{p}"
                if p in transform.params:
                    params[name] = np.asarray(transform.params[p], dtype=float)  # or (C,)
                else:
                    params[name] = make_prior(name, prior_for(name, spec), dims=per)
                    free.append(name)
        params["saturation_beta"] = make_prior(
            "saturation_beta", prior_for("saturation_beta", spec), dims="channel"
        )
        free.append("saturation_beta")
        contribution = pm.Deterministic(
            "channel_contribution", media_graph(spec, spend, params), dims=("date", "channel")
        )
        mu = contribution.sum(axis=1)
        if spec.intercept:
            mu = mu + make_prior("intercept", prior_for("intercept", spec))
        if spec.trend:
            t = np.linspace(0.0, 1.0, periods)
            mu = mu + make_prior("trend_slope", prior_for("trend_slope", spec)) * t
        if spec.seasonality_order:
            gamma = make_prior("gamma_fourier", prior_for("gamma_fourier", spec), dims="fourier")
            mu = mu + pt.dot(fourier, gamma)
        if spec.controls:
            controls = pm.Data("controls", scaled["controls"], dims=("date", "control"))
            gamma = make_prior("gamma_control", prior_for("gamma_control", spec), dims="control")
            mu = mu + pt.dot(controls, gamma)
        mu = pm.Deterministic("mu", mu, dims="date")
        sigma = make_prior("sigma", prior_for("sigma", spec))
        if spec.likelihood == "student_t":
            nu = make_prior("nu", prior_for("nu", spec))
            pm.StudentT("y", nu=nu, mu=mu, sigma=sigma, observed=target, dims="date")
        else:
            pm.Normal("y", mu=mu, sigma=sigma, observed=target, dims="date")
        if spec.lift_tests:
            assert data.lift is not None
            lift = {n: pm.Data(n, scaled[n], dims="lift_test") for n in LIFT_CONTAINERS}
            estimated = pm.Deterministic(
                "lift_model",
                lift_graph(
                    spec, params, data.lift.channel_index, lift["lift_x"], lift["lift_delta_x"]
                ),
                dims="lift_test",
            )
            pm.Normal(
                "lift_measurements",
                mu=estimated,
                sigma=lift["lift_sigma"],
                observed=lift["lift_delta_y"],
                dims="lift_test",
            )

    media = compile_media(spec, tuple(free), per is None, len(data.channels), periods)
    return WorkbenchModel(spec=spec, model=model, free=tuple(free), media=media)
