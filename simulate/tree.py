"""Assemble a generated dataset's arrays into the ``xarray.DataTree`` of the estimand contract.

``date`` and ``channel`` are coordinates of the root and inherited by every group;
``multiplier`` lives on ``/truth``; lift tests are variables over ``experiment``
(``lift_*``) in ``/observed`` and ``/truth``. Variables
are built as ``xarray.Variable`` directly (the tree is built once per replicate, so its
cost matters next to the simulation itself).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from numpy.typing import NDArray

from mmm_workbench.scenarios.families import ADSTOCKS, SATURATIONS
from mmm_workbench.scenarios.spec import DataSpec, spec_to_dict

__all__ = ["assemble", "parameters"]

Array = NDArray[np.float64]
_DIMS = {0: (), 1: ("channel",), 2: ("date", "channel")}
_spec_json: tuple[DataSpec, str] | None = None


def _json(spec: DataSpec) -> str:
    """Return the spec as JSON, remembered for the last spec seen (replicates share one spec)."""
    global _spec_json
    if _spec_json is None or _spec_json[0] is not spec:
        _spec_json = (spec, json.dumps(spec_to_dict(spec)))
    return _spec_json[1]


def parameters(spec: DataSpec) -> dict[str, xr.Variable]:
    """Per-channel transform parameters in the DGP's own parameterization.

    ``adstock_<param>`` and ``saturation_<param>`` for every parameter any channel's family
    has (NaN for channels whose family lacks it), ``saturation_beta``, and the families'
    names, ``l_max``, ``normalize`` and order.
    """
    chans = spec.channels
    out = {
        "adstock_kind": np.array([c.adstock.kind for c in chans]),
        "adstock_l_max": np.array([c.adstock.l_max for c in chans]),
        "adstock_normalize": np.array([c.adstock.normalize for c in chans]),
        "saturation_kind": np.array([c.saturation.kind for c in chans]),
        "saturation_beta": np.array([c.beta for c in chans], dtype=float),
        "adstock_first": np.array([c.order == "adstock_first" for c in chans]),
    }
    for role, registry in (("adstock", ADSTOCKS), ("saturation", SATURATIONS)):
        specs = [getattr(c, role) for c in chans]
        names = sorted({p.name for t in specs for p in registry[t.kind].params})
        for name in names:
            out[f"{role}_{name}"] = np.array([t.params.get(name, np.nan) for t in specs])
    return {k: xr.Variable(("channel",), v) for k, v in out.items()}


def _lift_variables(
    index: pd.DatetimeIndex, channels: list[str], lifts: Mapping[str, Array]
) -> tuple[dict[str, xr.Variable], dict[str, xr.Variable]]:
    """Return the observed and the true lift-test variables over ``experiment``.

    Observed: ``lift_channel``, ``lift_x``, ..., ``lift_start``, ``lift_end``; true:
    ``lift_delta_y_true``, ``lift_total``, ``lift_total_noise_free``.
    """
    idx = lifts["channel_index"].astype(int)
    exp = ("experiment",)
    dates = index.to_numpy()
    observed = {
        "lift_channel": xr.Variable(exp, np.array([channels[i] for i in idx], dtype=str)),
        **{f"lift_{k}": xr.Variable(exp, lifts[k]) for k in ("x", "delta_x", "delta_y", "sigma")},
        "lift_start": xr.Variable(exp, dates[lifts["start"].astype(int)]),
        "lift_end": xr.Variable(exp, dates[lifts["end"].astype(int) - 1]),
    }
    truth = {
        "lift_delta_y_true": xr.Variable(exp, lifts["delta_y_true"]),
        "lift_total": xr.Variable(exp, lifts["lift_total"]),
        "lift_total_noise_free": xr.Variable(exp, lifts["lift_total_noise_free"]),
    }
    return observed, truth


def assemble(
    spec: DataSpec,
    index: pd.DatetimeIndex,
    *,
    observed: Mapping[str, Any],
    per_period: Mapping[str, Array],
    per_channel: Mapping[str, Array],
    lifts: Mapping[str, Array],
    pmm: tuple[Mapping[str, Array], Mapping[str, str], str],
    carry_over: int = 0,
    scalars: Mapping[str, float] | None = None,
) -> xr.DataTree:
    """Build the dataset's tree (layout in :mod:`mmm_workbench.simulate.generator`).

    Parameters
    ----------
    spec
        The data spec.
    index
        Period start dates.
    observed
        ``spend`` (date, channel), ``y``, ``proxy`` (or None), ``events`` (event, date).
    per_period
        Truth variables over ``date``.
    per_channel
        Truth variables over ``channel`` (1-d), ``(date, channel)``, or, for ``response*``,
        ``(channel, multiplier)``.
    lifts
        Output of :func:`mmm_workbench.simulate.truth.lift_test_truth`.
    pmm
        Output of :func:`mmm_workbench.simulate.truth.pymc_marketing_truth`: the values,
        notes on some of them (attribute ``note``) and the target pymc-marketing is
        fitted to (group attribute ``target``).
    carry_over
        Periods the causal estimands run past the data (``/truth`` attribute
        ``carry_over_periods``; :func:`mmm_workbench.simulate.media.carry_over`).
    scalars
        Further scalar truth variables (``log_likelihood``, those of
        :func:`mmm_workbench.simulate.truth.demand_unobserved`).
    """
    channels = list(spec.channel_names)
    date = ("date",)
    obs = {
        "spend": xr.Variable(("date", "channel"), observed["spend"]),
        spec.target: xr.Variable(date, observed["y"]),
        "is_train": xr.Variable(date, np.arange(len(index)) < spec.train_periods),
    }
    controls: list[str] = []
    if observed["proxy"] is not None and spec.proxy is not None:
        obs[spec.proxy.name] = xr.Variable(date, observed["proxy"])
        controls.append(spec.proxy.name)
    for e, event in enumerate(spec.events):
        obs[f"event_{event.name}"] = xr.Variable(date, observed["events"][e])
        controls.append(f"event_{event.name}")
    obs_attrs = {
        "target": spec.target,
        "controls": json.dumps(controls),
        "channels": json.dumps(channels),
        "freq": spec.freq,
        "train_periods": spec.train_periods,
        "model": spec.model,
    }

    truth = {k: xr.Variable(date, v) for k, v in per_period.items()}
    truth.update(parameters(spec))
    for k, v in per_channel.items():
        dims = ("channel", "multiplier") if k.startswith("response") else _DIMS[v.ndim]
        truth[k] = xr.Variable(dims, v)
    truth["intercept"] = xr.Variable((), spec.intercept)
    truth["demand_effect"] = xr.Variable((), spec.demand.effect)
    truth["sigma"] = xr.Variable((), spec.noise.sd)
    if "baseline_noise" in truth:  # the column through which a model observes demand
        truth["baseline_noise"].attrs["observed_by"] = spec.proxy.name if spec.proxy else ""
    truth.update({k: xr.Variable((), v) for k, v in (scalars or {}).items()})
    pmm_values, pmm_notes, pmm_target = pmm
    pmm_vars = {
        k: xr.Variable(
            date if k == "baseline" else _DIMS[np.ndim(v)],
            v,
            attrs={"note": pmm_notes[k]} if k in pmm_notes else None,
        )
        for k, v in pmm_values.items()
    }
    lift_obs, lift_truth = _lift_variables(index, channels, lifts)
    experiment = {"experiment": np.arange(len(spec.lift_tests))}
    return xr.DataTree.from_dict(
        {
            "/": xr.Dataset(coords={"date": index, "channel": channels}),
            "/observed": xr.Dataset(obs | lift_obs, coords=experiment, attrs=obs_attrs),
            "/truth": xr.Dataset(
                truth | lift_truth,
                coords={"multiplier": list(spec.response_multipliers), **experiment},
                attrs={"spec": _json(spec), "carry_over_periods": carry_over},
            ),
            "/truth/pymc_marketing": xr.Dataset(
                pmm_vars, attrs={"target": pmm_target, "model": "pymc_marketing.mmm.MMM"}
            ),
        }
    )
