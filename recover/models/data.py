"""What a model sees of one dataset, and the truth its estimates are scored against.

Scaling (the workbench model's documented convention, the same as pymc-marketing's
defaults): over the training rows, the target is divided by ``max|y|``, each channel's
spend by its ``max|spend|`` and each control by its ``max|control|`` (1 where the maximum
is 0). Priors live in those scaled units; every estimand is converted back to the units
of the original data before it is stored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import xarray as xr
from numpy.typing import NDArray

from scenarios.spec import ModelSpec

__all__ = ["ESTIMANDS", "ModelData", "model_data", "truth_estimands"]

Array = NDArray[np.float64]

ESTIMANDS = (
    "channel_contribution",
    "baseline",
    "contribution_total",
    "contribution_share",
    "roas",
    "mroas",
    "response",
    "saturation_beta",
    "sigma",
)
"""Estimands every model produces (plus ``adstock_*`` / ``saturation_*`` parameters where the
model's family matches the data's)."""


def _scale(values: Array, axis: int | None = None) -> Array:
    peak = np.max(np.abs(values), axis=axis)
    return np.where(peak > 0, peak, 1.0)


@dataclass(frozen=True, kw_only=True)
class ModelData:
    """The training rows of one dataset, raw and with their scales.

    Attributes
    ----------
    spend, target, controls
        Raw training data: ``(date, channel)``, ``(date,)``, ``(date, control)``.
    target_name
        The target's column name in the observed data.
    spend_scale, target_scale, control_scale
        Divisors of the model's scaled data (see the module docstring).
    """

    dates: NDArray[np.datetime64]
    channels: tuple[str, ...]
    control_names: tuple[str, ...]
    spend: Array
    target: Array
    controls: Array
    spend_scale: Array
    target_scale: float
    control_scale: Array
    target_name: str = "y"

    def scaled(self) -> dict[str, Array]:
        """The data containers of the model, in scaled units."""
        return {
            "spend": self.spend / self.spend_scale,
            "target": self.target / self.target_scale,
            "controls": self.controls / self.control_scale,
        }


def model_data(tree: xr.DataTree, spec: ModelSpec) -> ModelData:
    """Training rows of a generated dataset for a model spec.

    Raises
    ------
    ValueError
        A control the dataset does not have (named with the available ones).
    """
    obs = tree["observed"].to_dataset()
    train = int(obs.attrs["train_periods"])
    rows = slice(0, train)
    missing = [c for c in spec.controls if c not in obs]
    if missing:
        available = json.loads(obs.attrs["controls"])
        raise ValueError(
            f"model.controls: the data has no column {missing[0]!r}; available: {available}"
        )
    spend = obs["spend"].isel(date=rows).to_numpy().astype(float)
    target = obs[obs.attrs["target"]].isel(date=rows).to_numpy().astype(float)
    controls = (
        np.stack([obs[c].isel(date=rows).to_numpy().astype(float) for c in spec.controls], axis=-1)
        if spec.controls
        else np.zeros((train, 0))
    )
    return ModelData(
        dates=obs["date"].isel(date=rows).to_numpy(),
        channels=tuple(str(c) for c in obs["channel"].to_numpy()),
        control_names=spec.controls,
        spend=spend,
        target=target,
        controls=controls,
        spend_scale=_scale(spend, axis=0),
        target_scale=float(_scale(target)),
        control_scale=_scale(controls, axis=0) if spec.controls else np.ones(0),
        target_name=str(obs.attrs["target"]),
    )


def truth_estimands(tree: xr.DataTree, spec: ModelSpec) -> xr.Dataset:
    """The truth of every estimand a model of ``spec`` is scored on, in data units.

    Per-period estimands are cut to the training rows. Transform parameters are included
    only where the model's family (and, for adstock, ``l_max`` and ``normalize``) equals
    the data's for that channel; elsewhere they are NaN (not comparable).
    """
    train = int(tree["observed"].attrs["train_periods"])
    truth = tree["truth"].to_dataset().isel(date=slice(0, train))  # not NaN-padded to all
    out = truth[[k for k in ESTIMANDS if k in truth]].copy()
    out["response_spend"] = truth["response_spend"]
    same_adstock = (
        (truth["adstock_kind"] == spec.adstock.kind)
        & (truth["adstock_l_max"] == spec.adstock.l_max)
        & (truth["adstock_normalize"] == spec.adstock.normalize)
    )
    same_saturation = truth["saturation_kind"] == spec.saturation.kind
    for name in truth.data_vars:
        name = str(name)
        role = name.split("_", 1)[0]
        if role in ("adstock", "saturation") and name not in out and "channel" in truth[name].dims:
            if truth[name].dtype.kind != "f" or name.endswith(("_kind", "_l_max", "_normalize")):
                continue
            same = same_adstock if role == "adstock" else same_saturation
            out[name] = truth[name].where(same)
    out["saturation_beta"] = truth["saturation_beta"].where(same_saturation)
    for var in out.data_vars:
        out[var].attrs = {}
    return out
