"""Planned media spend: demand-driven, correlated across channels, flighted, shocked.

Spend is planned before channel-to-channel effects (``mmm_workbench.simulate.media``) raise some of
it; it is never negative.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from mmm_workbench.scenarios.spec import DataSpec, FlightingSpec

__all__ = ["flighting_mask", "planned_spend"]

Array = NDArray[np.float64]


def flighting_mask(spec: FlightingSpec, periods: int, rng: np.random.Generator) -> Array:
    """On/off indicator from a two-state Markov chain that starts on.

    Notes
    -----
    Run lengths are geometric with means ``on_mean`` and ``off_mean``: the chain leaves the
    on state with probability ``1 / on_mean`` and the off state with ``1 / off_mean``.
    """
    leave = (1.0 / spec.on_mean, 1.0 / spec.off_mean)
    u = rng.random(periods)
    mask = np.empty(periods)
    on = True
    for t in range(periods):
        mask[t] = 1.0 if on else 0.0
        if u[t] < leave[0 if on else 1]:
            on = not on
    return mask


def _correlated_normals(spec: DataSpec, periods: int, rng: np.random.Generator) -> Array:
    z = rng.standard_normal((len(spec.channels), periods))
    if not spec.spend_correlation:
        return z
    values, vectors = np.linalg.eigh(np.asarray(spec.spend_correlation))
    root = vectors * np.sqrt(np.clip(values, 0.0, None))
    return np.asarray(root @ z)


def planned_spend(spec: DataSpec, demand: Array, rng: np.random.Generator) -> Array:
    """Planned spend per channel, shape ``(channel, date)``.

    Parameters
    ----------
    spec
        The data spec (channels' ``spend`` tables, ``spend_correlation``, ``total_budget``).
    demand
        Latent demand per period.
    rng
        Source of randomness (noise, then flighting, in channel order).

    Notes
    -----
    ``spend_ct = |share_c * (mean(d) + strength_c * (d_t - mean(d))) * noise_ct|`` where
    ``noise = 1 + sd * z`` (``normal``, the confounded-demand article's ``N(1, sd)``) or
    ``exp(sd * z)`` (``lognormal``) and ``z`` is standard normal with the channels'
    correlation matrix. Then flighting, budget shocks and dark stretches apply in that
    order, and with ``total_budget`` all spend is rescaled to sum to it.
    """
    periods = len(demand)
    z = _correlated_normals(spec, periods, rng)
    centre = float(np.mean(demand))
    out = np.empty((len(spec.channels), periods))
    for c, channel in enumerate(spec.channels):
        plan = channel.spend
        driver = centre + plan.demand_strength * (demand - centre)
        noise = (
            1.0 + plan.noise_sd * z[c] if plan.noise == "normal" else np.exp(plan.noise_sd * z[c])
        )
        spend = np.abs(plan.demand_share * driver * noise)
        if plan.flighting is not None:
            spend *= flighting_mask(plan.flighting, periods, rng)
        for shock in plan.shocks:
            spend[shock.start : shock.start + shock.periods] *= shock.factor
        for stretch in plan.dark:
            spend[stretch.start : stretch.start + stretch.periods] = 0.0
        out[c] = spend
    if spec.total_budget is not None:
        total = out.sum()
        if total > 0:
            out *= spec.total_budget / total
    return out
