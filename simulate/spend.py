"""Planned media spend: demand-driven, a synthetic pattern, or a media plan from a file.

Demand-driven spend is correlated across channels and may be flighted; every form may be
shocked and go dark (:class:`~mmm_workbench.scenarios.spec.SpendSpec`). Spend is planned
before channel-to-channel effects (``mmm_workbench.simulate.media``) raise some of it; it is
never negative.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from mmm_workbench.scenarios.spec import DataSpec, FlightingSpec, PatternSpec, VarySpec
from mmm_workbench.simulate.sources import plan_values

__all__ = ["block_bootstrap", "flighting_mask", "pattern_spend", "planned_spend", "vary_plan"]

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


def pattern_spend(spec: PatternSpec, periods: int, rng: np.random.Generator) -> Array:
    """Draw one replicate of a synthetic spend pattern (formulas: :class:`PatternSpec`).

    Parameters
    ----------
    spec
        The pattern and its parameters.
    periods
        How many periods to draw.
    rng
        Source of randomness.

    Returns
    -------
    numpy.ndarray
        Non-negative spend per period.
    """
    p = spec.params
    match spec.kind:
        case "uniform":
            return rng.uniform(p["low"], p["high"], size=periods)
        case "threshold":
            u = rng.uniform(size=periods)
            return np.asarray(p["level"] * np.where(u > p["q"], u, p["factor"] * u))
        case "always_on":
            return np.asarray(p["level"] * np.exp(p["noise_sd"] * rng.standard_normal(periods)))
        case _:  # flighted
            level = p["level"] * np.exp(p["noise_sd"] * rng.standard_normal(periods))
            flights = FlightingSpec(on_mean=p["on_mean"], off_mean=p["off_mean"])
            return np.asarray(level * flighting_mask(flights, periods, rng))


def block_bootstrap(plan: Array, block: int, rng: np.random.Generator) -> Array:
    """Resample a plan by a moving-block bootstrap, to the plan's length.

    Blocks of ``block`` consecutive periods (the whole plan where it is shorter) start at
    uniformly drawn periods and are laid end to end, then cut to ``len(plan)``.
    """
    n = len(plan)
    size = min(block, n)
    count = -(-n // size)
    starts = rng.integers(0, n - size + 1, size=count)
    index = (starts[:, None] + np.arange(size)[None, :]).ravel()[:n]
    return np.asarray(plan[index])


def vary_plan(plan: Array, vary: VarySpec | None, rng: np.random.Generator) -> Array:
    """Return one replicate's version of a media plan (the plan itself without ``vary``).

    ``block_bootstrap``: :func:`block_bootstrap`; ``noise``: each period times
    ``exp(sd * z - sd**2 / 2)`` with ``z ~ N(0, 1)`` (mean 1).
    """
    if vary is None:
        return np.array(plan, dtype=float)
    if vary.kind == "block_bootstrap":
        return block_bootstrap(plan, vary.block, rng)
    z = rng.standard_normal(len(plan))
    return np.asarray(plan * np.exp(vary.sd * z - vary.sd**2 / 2))


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

    Raises
    ------
    ValueError
        A channel's plan file that does not fit the data (:func:`plan_values`).

    Notes
    -----
    Demand-driven: ``spend_ct = |share_c * (mean(d) + strength_c * (d_t - mean(d))) *
    noise_ct|`` where ``noise = 1 + sd * z`` (``normal``, the confounded-demand article's
    ``N(1, sd)``) or ``exp(sd * z)`` (``lognormal``) and ``z`` is standard normal with the
    channels' correlation matrix, then flighting. A pattern: :func:`pattern_spend`. A file:
    the plan (:func:`plan_values`), varied by :func:`vary_plan`. Then budget shocks and dark
    stretches apply in that order, and with ``total_budget`` all spend is rescaled to sum
    to it. The normals ``z`` are drawn for every channel first, then each channel's own
    draws in channel order.
    """
    periods = len(demand)
    z = _correlated_normals(spec, periods, rng)
    centre = float(np.mean(demand))
    out = np.empty((len(spec.channels), periods))
    for c, channel in enumerate(spec.channels):
        plan = channel.spend
        if plan.pattern is not None:
            spend = pattern_spend(plan.pattern, periods, rng)
        elif plan.plan is not None:
            spend = vary_plan(plan_values(spec, c), plan.vary, rng)
        else:
            assert plan.demand_share is not None  # SpendSpec: one of the three forms
            driver = centre + plan.demand_strength * (demand - centre)
            noise = (
                1.0 + plan.noise_sd * z[c]
                if plan.noise == "normal"
                else np.exp(plan.noise_sd * z[c])
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
