"""Draw a replicate's true world from the priors of its data spec (numpy only).

A scenario may give a prior instead of a number for a channel's ``beta``, ``adstock.*``
and ``saturation.*`` parameters and for ``intercept`` and ``noise.sd``
(:mod:`mmm_workbench.scenarios.truth_priors`). :func:`draw_truth` replaces each by one
draw and returns a spec without priors, which the generator simulates like any other; the
dataset's ``/truth`` then holds the drawn values, so the truth varies across replicates
and the rank statistics are simulation-based calibration (SBC).

Distributions follow PyMC's parameterizations (``Gamma(mu, sigma)`` is ``Gamma(alpha =
mu**2 / sigma**2, beta = mu / sigma**2)``; ``Exponential(lam)`` has mean ``1 / lam``;
``TruncatedNormal`` is drawn by inverting the normal CDF between its bounds).
"""

from __future__ import annotations

import dataclasses
import math
from statistics import NormalDist
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mmm_workbench.scenarios.errors import ScenarioError
from mmm_workbench.scenarios.spec import ChannelSpec, DataSpec, PriorSpec

__all__ = ["draw_prior", "draw_truth", "has_priors"]

_STANDARD = NormalDist()


def draw_prior(
    prior: PriorSpec, rng: np.random.Generator, size: int | None = None
) -> float | NDArray[np.float64]:
    """Draw from a data prior.

    Parameters
    ----------
    prior
        A prior the scenario's checks accepted (a distribution of
        :data:`~mmm_workbench.scenarios.truth_priors.DISTRIBUTIONS`, scalar arguments).
    rng
        The generator to draw with.
    size
        ``None`` for one float, else the number of draws (a float array).

    Returns
    -------
    float or numpy.ndarray
        The draw(s).
    """
    a = {k: float(v) for k, v in prior.args.items()}
    dist = prior.dist
    out: Any
    if dist == "Normal":
        out = rng.normal(a["mu"], a["sigma"], size)
    elif dist == "HalfNormal":
        out = np.abs(rng.normal(0.0, a["sigma"], size))
    elif dist == "LogNormal":
        out = rng.lognormal(a["mu"], a["sigma"], size)
    elif dist == "Beta":
        out = rng.beta(a["alpha"], a["beta"], size)
    elif dist == "Gamma":
        if "mu" in a:
            shape, rate = a["mu"] ** 2 / a["sigma"] ** 2, a["mu"] / a["sigma"] ** 2
        else:
            shape, rate = a["alpha"], a["beta"]
        out = rng.gamma(shape, 1.0 / rate, size)
    elif dist == "Uniform":
        out = rng.uniform(a["lower"], a["upper"], size)
    elif dist == "Exponential":
        out = rng.exponential(1.0 / a["lam"], size)
    elif dist == "TruncatedNormal":
        out = _truncated_normal(a, rng, size)
    else:
        raise ValueError(f"dist = {dist!r}: not a distribution of a data prior")
    return float(out) if size is None else np.asarray(out, dtype=float)


def _truncated_normal(a: dict[str, float], rng: np.random.Generator, size: int | None) -> Any:
    mu, sigma = a["mu"], a["sigma"]
    low, high = a.get("lower", -math.inf), a.get("upper", math.inf)
    cdf_low = _STANDARD.cdf((low - mu) / sigma) if math.isfinite(low) else 0.0
    cdf_high = _STANDARD.cdf((high - mu) / sigma) if math.isfinite(high) else 1.0
    u = rng.uniform(cdf_low, cdf_high, size)
    tiny = np.nextafter(0.0, 1.0)
    z = np.vectorize(_STANDARD.inv_cdf, otypes=[float])(np.clip(u, tiny, 1.0 - 1e-16))
    return np.clip(mu + sigma * z, low, high)


def _one(prior: PriorSpec, rng: np.random.Generator) -> float:
    return float(draw_prior(prior, rng))


def has_priors(spec: DataSpec) -> bool:
    """Return whether any number of the data spec is a prior (the truth is drawn)."""
    return bool(spec.priors) or any(ch.priors for ch in spec.channels)


def _channel(ch: ChannelSpec, rng: np.random.Generator) -> ChannelSpec:
    values = {key: _one(prior, rng) for key, prior in sorted(ch.priors.items())}
    changes: dict[str, object] = {"priors": MappingProxyType({})}
    for role in ("adstock", "saturation"):
        transform = getattr(ch, role)
        drawn = {k.split(".", 1)[1]: v for k, v in values.items() if k.startswith(f"{role}.")}
        if drawn:
            params = MappingProxyType(dict(transform.params) | drawn)
            changes[role] = dataclasses.replace(transform, params=params)
    if "beta" in values:
        changes["beta"] = values["beta"]
    return dataclasses.replace(ch, **changes)  # type: ignore[arg-type]


def draw_truth(spec: DataSpec, rng: np.random.Generator) -> DataSpec:
    """Return the spec with every prior replaced by one draw from it.

    Parameters
    ----------
    spec
        A validated data spec, with or without priors.
    rng
        The replicate's truth stream (the generator spawns it beside the data's streams,
        so a spec without priors simulates exactly as before).

    Returns
    -------
    DataSpec
        The drawn world, validated again (a draw the spec's checks refuse, such as a
        multiplicative model's channel term over its bound, raises), with no priors left.
        Draws are made in a fixed order: the data priors by name, then each channel's by
        name.

    Raises
    ------
    mmm_workbench.scenarios.ScenarioError
        When a drawn value breaks one of the spec's invariants (named by path).
    """
    if not has_priors(spec):
        return spec
    values = {key: _one(prior, rng) for key, prior in sorted(spec.priors.items())}
    try:
        channels = tuple(_channel(ch, rng) if ch.priors else ch for ch in spec.channels)
        changes: dict[str, object] = {"channels": channels, "priors": MappingProxyType({})}
        if "intercept" in values:
            changes["intercept"] = values["intercept"]
        if "noise.sd" in values:
            changes["noise"] = dataclasses.replace(spec.noise, sd=values["noise.sd"])
        return dataclasses.replace(spec, **changes)  # type: ignore[arg-type]
    except ScenarioError as err:
        raise ScenarioError(f"data: a value drawn from its prior is refused: {err}") from None
