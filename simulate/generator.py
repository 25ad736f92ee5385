"""``generate(spec, rng)``: one dataset with its exact ground truth, as an ``xarray.DataTree``.

Layout (names are the estimand contract shared with ``recover/`` and ``reports/``)::

    /                         coordinates date, channel
    /observed                 what a modeller sees
        spend[date, channel], <target>[date], <proxy>[date], event_<name>[date],
        is_train[date]; lift tests lift_channel, lift_x, lift_delta_x, lift_delta_y,
        lift_sigma, lift_start, lift_end [experiment];
        attrs: target, controls, channels, freq, train_periods, model
    /truth                    parameters, per-period components and estimands;
        lift_delta_y_true, lift_total, lift_total_noise_free [experiment];
        attrs: spec (JSON), carry_over_periods (the causal estimands' scope runs that
        many periods past the data: simulate/truth.py)
    /truth/pymc_marketing     the truth in pymc-marketing's parameterization and internal
        (max-abs) units; mediation_factor[date, channel]; attrs: target (the target
        pymc-marketing's MMM is fitted to: log(target) for a multiplicative model)

Every variable of ``/truth`` is defined, with a worked number, in docs/definitions.md.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from numpy.typing import NDArray

from mmm_workbench.scenarios.spec import DataSpec
from mmm_workbench.simulate import baseline as bl
from mmm_workbench.simulate.external import external_dataset
from mmm_workbench.simulate.geo import generate_geo
from mmm_workbench.simulate.media import (
    World,
    carry_over,
    draw_noise,
    extend,
    realized_spend,
    simulate_outcome,
)
from mmm_workbench.simulate.priors import draw_truth
from mmm_workbench.simulate.spend import planned_spend
from mmm_workbench.simulate.tree import assemble
from mmm_workbench.simulate.truth import (
    counterfactual_truth,
    demand_unobserved,
    lift_test_truth,
    log_likelihood,
    pymc_marketing_truth,
)

__all__ = ["generate"]

Array = NDArray[np.float64]
_STREAMS = ("demand", "proxy", "spend", "noise", "lift_tests", "truth")
"""The replicate's child streams, in spawn order; ``truth`` (the priors' draws) comes last,
so a spec without priors draws its data from the same streams as before it existed."""


def generate(spec: DataSpec, rng: np.random.Generator) -> xr.DataTree:
    """Simulate one dataset and its exact truth.

    Parameters
    ----------
    spec
        A validated data spec (``mmm_workbench.scenarios.load_scenario(...).data``).
    rng
        The replicate's generator; independent child streams are spawned from it for
        demand, proxy, spend, noise, lift tests and the truth, so adding e.g. a lift test
        leaves the rest of the data unchanged. Where the spec gives priors instead of
        numbers, the truth is first drawn from them (its own stream;
        :func:`~mmm_workbench.simulate.priors.draw_truth`) and the dataset is that world's.
        A spec with ``source`` is an external dataset: its file and truth
        (:func:`~mmm_workbench.simulate.external.external_dataset`), whatever ``rng``; a
        spec with ``geo`` a panel world (:func:`~mmm_workbench.simulate.geo.generate_geo`).

    Returns
    -------
    xarray.DataTree
        ``/observed`` and ``/truth`` (see the module docstring); all values in the units
        of the original data.

    Raises
    ------
    ValueError
        When a multiplicative model meets a non-positive baseline.
    """
    if spec.source is not None:  # an external dataset: the same data in every replicate
        return external_dataset(spec)
    if spec.geo is not None:  # a panel world: simulate/geo.py
        return generate_geo(spec, rng)
    streams = dict(zip(_STREAMS, rng.spawn(len(_STREAMS)), strict=True))
    spec = draw_truth(spec, streams["truth"])
    index = bl.dates(spec)
    periods = len(index)
    latent = bl.demand(spec.demand, index, streams["demand"])
    indicators, event_effect = bl.events(spec, index)
    demand_term = spec.demand.effect * latent["demand"]
    base = spec.intercept + demand_term + event_effect
    if spec.model == "multiplicative" and np.min(base) <= 0:
        raise ValueError(
            f"data.model = 'multiplicative': the baseline must be positive, its minimum is "
            f"{np.min(base):.4g}; raise data.intercept or lower data.demand.noise_sd"
        )
    planned = planned_spend(spec, latent["demand"], streams["spend"])
    spend, refs = realized_spend(spec, planned)
    x_scale = np.array(
        [
            (float(np.max(spend[c])) or 1.0) if ch.x_scale == "max" else float(ch.x_scale)
            for c, ch in enumerate(spec.channels)
        ]
    )
    world = World(
        spec=spec,
        baseline=base,
        x_scale=x_scale,
        refs=refs,
        noise=draw_noise(spec, periods, streams["noise"]),
    )
    # the causal estimands' scope (simulate/truth.py): the world continues past the data
    # for as long as spend inside it carries over, with no spend there
    horizon = carry_over(spec)
    long_world = extend(world, horizon)
    long_planned = np.pad(planned, ((0, 0), (0, horizon)))
    with np.errstate(over="ignore"):
        long_factual = {
            k: v[0] for k, v in simulate_outcome(long_world, long_planned[None]).items()
        }
    if not np.all(np.isfinite(long_factual["y"])):
        raise ValueError(
            f"data: the simulated {spec.target} is not finite (overflow); with "
            "data.model = 'multiplicative' keep channel terms small (beta and x_scale)"
        )
    factual = {k: v[..., :periods] for k, v in long_factual.items()}
    truth = counterfactual_truth(long_world, long_planned, long_factual)
    lifts = lift_test_truth(long_world, long_planned, long_factual, streams["lift_tests"])
    pmm = pymc_marketing_truth(world, factual)

    observed = {
        "spend": factual["spend"].T,
        "y": factual["y"],
        "proxy": None
        if spec.proxy is None
        else bl.proxy(spec.proxy, latent["demand"], streams["proxy"]),
        "events": indicators,
    }
    per_period = {
        "y": factual["y"],
        "mu": factual["mu"],
        "noise": factual["y"] - factual["mu"],
        "baseline": base,
        "baseline_intercept": np.full(periods, spec.intercept),
        "baseline_demand": demand_term,
        "baseline_events": event_effect,
        "interaction": truth["interaction"],
        **latent,
    }
    train_y = factual["y"][: spec.train_periods]
    unobserved, unobserved_scalars = demand_unobserved(
        spec, latent["demand_noise"], train_y, factual["mu"]
    )
    per_period.update(unobserved)
    scalars = {"log_likelihood": log_likelihood(spec, train_y, factual["mu"]), **unobserved_scalars}
    per_channel = {
        "planned_spend": planned.T,
        "x_scale": x_scale,
        **{
            k: truth[k]
            for k in (
                "channel_contribution",
                "channel_total_effect",
                "contribution_total",
                "contribution_share",
                "roas",
                "roas_noise_free",
                "mroas",
                "mroas_noise_free",
                "response",
                "response_noise_free",
                "response_spend",
            )
        },
    }
    return assemble(
        spec,
        index,
        observed=observed,
        per_period=per_period,
        per_channel=per_channel,
        lifts=lifts,
        pmm=pmm,
        carry_over=horizon,
        scalars=scalars,
    )
