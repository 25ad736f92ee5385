"""What a model sees of one dataset, and the truth its estimates are scored against.

Scaling (the workbench model's documented convention, the same as pymc-marketing's
defaults): over the training rows, the target is divided by ``max|y|`` (or by the
model's fixed ``target_scale`` where it gives one), each channel's spend by its
``max|spend|`` and each control by its ``max|control|`` (1 where the maximum is 0).
Priors live in those scaled units; every estimand is converted back to the units of the
original data before it is stored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import xarray as xr
from numpy.typing import NDArray

from mmm_workbench.recover.models.panel import GeoPanel, geo_panel, geo_truth, national
from mmm_workbench.reports.contract import ESTIMANDS  # the names every model produces
from mmm_workbench.scenarios.spec import ModelSpec

__all__ = [
    "ESTIMANDS",
    "LIFT_CONTAINERS",
    "LiftTests",
    "ModelData",
    "model_data",
    "scored_spec",
    "truth_estimands",
]

Array = NDArray[np.float64]


def _scale(values: Array, axis: int | None = None) -> Array:
    peak = np.max(np.abs(values), axis=axis)
    return np.where(peak > 0, peak, 1.0)


LIFT_CONTAINERS = ("lift_x", "lift_delta_x", "lift_delta_y", "lift_sigma")
"""Data containers of a model's lift-test likelihood (scaled units, one value per test)."""


@dataclass(frozen=True, kw_only=True)
class LiftTests:
    """A dataset's lift tests as a model calibrates on them (``[model] lift_tests = true``).

    In raw units: per test, the channel's index, its spend per period ``x`` over the test
    window, the change ``delta_x``, the measured per-period lift ``delta_y`` and its
    standard error ``sigma`` (:func:`mmm_workbench.simulate.truth.lift_test_truth`).
    """

    channel_index: NDArray[np.int64]
    x: Array
    delta_x: Array
    delta_y: Array
    sigma: Array

    def scaled(self, spend_scale: Array, target_scale: float) -> dict[str, Array]:
        """Return the lift containers' values.

        Spend by its channel's scale, lift by the target's.
        """
        by_channel = spend_scale[self.channel_index]
        return dict(
            zip(
                LIFT_CONTAINERS,
                (
                    self.x / by_channel,
                    self.delta_x / by_channel,
                    self.delta_y / target_scale,
                    self.sigma / target_scale,
                ),
                strict=True,
            )
        )


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
    lift
        The lift tests, where the model calibrates on them.
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
    lift: LiftTests | None = None
    after: Array = field(default_factory=lambda: np.zeros((0, 0)))
    """Realized spend of the periods after the training window (the holdout), ``(date,
    channel)``: the causal estimands count the carry-over of training spend into them."""
    geo: GeoPanel | None = None
    """The panel per geo, for a geo model (``[model.geo]``); the fields above are then its
    national sums."""

    def scaled(self) -> dict[str, Array]:
        """Return the data containers of the model, in scaled units (lift tests included)."""
        out = {
            "spend": self.spend / self.spend_scale,
            "target": self.target / self.target_scale,
            "controls": self.controls / self.control_scale,
        }
        if self.lift is not None:
            out |= self.lift.scaled(self.spend_scale, self.target_scale)
        return out


def model_data(tree: xr.DataTree, spec: ModelSpec) -> ModelData:
    """Training rows of a generated dataset for a model spec.

    Raises
    ------
    ValueError
        A control the dataset does not have (named with the available ones).
    """
    panel = tree["observed"].to_dataset()
    obs = national(panel)  # a geo panel: its national series
    train = int(obs.attrs["train_periods"])
    rows = slice(0, train)
    missing = [c for c in spec.controls if c not in obs]
    if missing:
        available = json.loads(obs.attrs["controls"])
        raise ValueError(
            f"model.controls: the data has no column {missing[0]!r}; available: {available}"
        )
    spend = obs["spend"].isel(date=rows).to_numpy().astype(float)
    channels = tuple(str(c) for c in obs["channel"].to_numpy())
    target = obs[obs.attrs["target"]].isel(date=rows).to_numpy().astype(float)
    controls = (
        np.stack([obs[c].isel(date=rows).to_numpy().astype(float) for c in spec.controls], axis=-1)
        if spec.controls
        else np.zeros((train, 0))
    )
    return ModelData(
        dates=obs["date"].isel(date=rows).to_numpy(),
        channels=channels,
        control_names=spec.controls,
        spend=spend,
        target=target,
        controls=controls,
        spend_scale=_scale(spend, axis=0),
        target_scale=float(_scale(target) if spec.target_scale is None else spec.target_scale),
        control_scale=_scale(controls, axis=0) if spec.controls else np.ones(0),
        target_name=str(obs.attrs["target"]),
        lift=_lift_tests(obs, channels) if spec.lift_tests else None,
        after=obs["spend"].isel(date=slice(train, None)).to_numpy().astype(float),
        geo=geo_panel(panel, spec.controls) if spec.geo_level else None,
    )


def _lift_tests(obs: xr.Dataset, channels: tuple[str, ...]) -> LiftTests:
    names = [str(c) for c in obs["lift_channel"].to_numpy()]
    sigma = obs["lift_sigma"].to_numpy().astype(float)
    # A test whose channel was dark through its window changed no spend: its true and
    # measured lift are 0 (sigma_rel * 0 = 0), and so is the model's lift at any parameters
    # (the steady-state response at x + 0 minus at x). Its term is constant whatever its
    # sigma; 1 keeps it, and the per-replicate shapes, without a zero-sd likelihood.
    idle = (obs["lift_delta_x"].to_numpy() == 0) & (obs["lift_delta_y"].to_numpy() == 0)
    sigma = np.where(idle & (sigma == 0), 1.0, sigma)
    if np.any(~(sigma > 0)):
        i = int(np.flatnonzero(~(sigma > 0))[0])
        raise ValueError(
            f"data.lift_tests[{i}] ({names[i]}): measured with sigma = {float(sigma[i])!r} "
            "(its true lift is 0?); a model can only calibrate on lift tests with sigma > 0"
        )
    return LiftTests(
        channel_index=np.array([channels.index(c) for c in names], dtype=np.int64),
        sigma=sigma,
        **{k: obs[f"lift_{k}"].to_numpy().astype(float) for k in ("x", "delta_x", "delta_y")},
    )


def truth_estimands(tree: xr.DataTree, spec: ModelSpec) -> xr.Dataset:
    """Return the truth of every estimand a model of ``spec`` is scored on, in data units.

    Per-period estimands are cut to the training rows. Transform parameters are included
    only where the model's family (and, for adstock, ``l_max`` and ``normalize``) equals
    the data's for that channel; elsewhere they are NaN (not comparable). Where latent
    demand has white noise and the model does not take the data's demand proxy as a
    control, ``sigma``, ``baseline`` and ``log_likelihood`` are the values such a model can
    reach (``sigma_demand_unobserved``, ``baseline - baseline_noise``,
    ``log_likelihood_demand_unobserved``: the demand's noise read as noise), not the
    world's observation noise alone. A geo model
    (``[model.geo]``) is also scored per geo, against ``/truth/geo``
    (:func:`mmm_workbench.recover.models.panel.geo_truth`).
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
    if "log_likelihood" in truth:  # the SBC test quantity; models that compute it rank it
        out["log_likelihood"] = truth["log_likelihood"]
    noise = truth.get("baseline_noise")
    if noise is not None and noise.attrs.get("observed_by", "") not in spec.controls:
        # white demand noise the model cannot see is noise to it: its pseudo-true values
        # (mmm_workbench.simulate.truth.demand_unobserved; docs/definitions.md)
        out["sigma"] = truth["sigma_demand_unobserved"]
        out["baseline"] = truth["baseline"] - noise
        if "log_likelihood" in out:
            out["log_likelihood"] = truth["log_likelihood_demand_unobserved"]
    if spec.geo_level:  # a geo model's per-geo estimands: /truth/geo
        out = out.merge(geo_truth(tree))
    for var in out.data_vars:
        out[var].attrs = {}
    return out


def scored_spec(cell: object, model: ModelSpec) -> ModelSpec:
    """Return the ``[model]`` table a cell's truth is scored against (:func:`truth_estimands`).

    The table the built model amounts to, where the cell model or its ``fitted`` model has
    one as ``spec``: for pymc-marketing from a YAML config, the config's transforms
    (:func:`mmm_workbench.recover.models.pymc_marketing.config_spec`), whether or not the
    scenario repeats them in ``[model.adstock]`` and ``[model.saturation]``. Otherwise the
    scenario's own ``model``.

    Parameters
    ----------
    cell
        The built cell model (:class:`mmm_workbench.recover.models.kinds.CellModel`).
    model
        The scenario's ``[model]`` table.

    Returns
    -------
    ModelSpec
        The spec whose transforms decide which transform parameters are scored.
    """
    for holder in (cell, getattr(cell, "fitted", None)):
        spec = getattr(holder, "spec", None)
        if isinstance(spec, ModelSpec):
            return spec
    return model
