"""Priors over the data-generating process's parameters: the distributions a scenario may name.

A number of a channel's true world (``beta``, every ``adstock.*`` and ``saturation.*``
parameter) and of ``[data]`` (``intercept``, ``noise.sd``) may be a prior table instead,
``beta = { dist = "HalfNormal", sigma = 300 }``. Each replicate then draws its truth from it
(:func:`mmm_workbench.simulate.priors.draw_truth`), which makes the run simulation-based
calibration (SBC) rather than PIT at a fixed truth.

The distributions and their arguments are PyMC's names and parameterizations, so a
``[model.priors]`` entry and a data prior read alike. This module declares them and checks
a prior at load: a known name, every required argument and no other, admissible argument
values, and a support inside the parameter's (a ``Normal`` on ``beta >= 0`` or a
``HalfNormal`` on an adstock's ``alpha`` in ``[0, 1)`` is refused). The draws are numpy's,
in ``simulate``; ``scenarios`` never imports pymc.

A spec holds the prior in its ``priors`` mapping and, in the numeric field itself, the
prior's mean (:func:`typical_value`): a value inside the support that the checks which
need a number (a zero target, a multiplicative model's bound) can use. It is never
simulated: :func:`mmm_workbench.simulate.generate` draws every prior first.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from mmm_workbench.scenarios.errors import SpecError
from mmm_workbench.scenarios.families import MAX_MAGNITUDE, Param, fmt_value, subpath


class PriorSpec(Protocol):
    """What a prior is here: :class:`mmm_workbench.scenarios.spec.PriorSpec`'s fields.

    A protocol, not an import: ``spec`` imports this module (its checks call
    :func:`check_truth_prior`), and the layer test allows no module cycle.
    """

    @property
    def dist(self) -> str:
        """The distribution's name."""

    @property
    def args(self) -> Mapping[str, Any]:
        """Its keyword arguments."""


__all__ = [
    "DISTRIBUTIONS",
    "Distribution",
    "check_truth_prior",
    "support",
    "typical_value",
]

_INF = math.inf


@dataclass(frozen=True, kw_only=True)
class Distribution:
    """A distribution a data prior may name.

    Attributes
    ----------
    name
        PyMC's name (``"HalfNormal"``).
    forms
        The accepted argument sets, each a tuple of names (Gamma takes ``alpha, beta`` or
        ``mu, sigma``); ``optional`` arguments may be added to any form.
    optional
        Arguments with defaults (``TruncatedNormal``'s ``lower`` and ``upper``).
    positive
        Arguments that must be > 0.
    """

    name: str
    forms: tuple[tuple[str, ...], ...]
    optional: Mapping[str, float]
    positive: tuple[str, ...]


def _dist(
    name: str, *forms: tuple[str, ...], positive: tuple[str, ...], **optional: float
) -> Distribution:
    return Distribution(name=name, forms=forms, optional=optional, positive=positive)


DISTRIBUTIONS: dict[str, Distribution] = {
    d.name: d
    for d in (
        _dist("Normal", ("mu", "sigma"), positive=("sigma",)),
        _dist("HalfNormal", ("sigma",), positive=("sigma",)),
        _dist("LogNormal", ("mu", "sigma"), positive=("sigma",)),
        _dist("Beta", ("alpha", "beta"), positive=("alpha", "beta")),
        _dist(
            "Gamma", ("alpha", "beta"), ("mu", "sigma"), positive=("alpha", "beta", "mu", "sigma")
        ),
        _dist("Uniform", ("lower", "upper"), positive=()),
        _dist("Exponential", ("lam",), positive=("lam",)),
        _dist("TruncatedNormal", ("mu", "sigma"), positive=("sigma",), lower=-_INF, upper=_INF),
    )
}
"""The distributions of data priors, by PyMC's name; arguments as in PyMC."""


def _args(prior: PriorSpec) -> dict[str, float]:
    """Return the prior's arguments with the optional ones' defaults filled in."""
    dist = DISTRIBUTIONS[prior.dist]
    return {**dist.optional, **{k: float(v) for k, v in prior.args.items()}}


def support(prior: PriorSpec) -> tuple[float, float]:
    """Return the closure ``[low, high]`` of a checked prior's support.

    Parameters
    ----------
    prior
        A prior :func:`check_truth_prior` accepted.

    Returns
    -------
    tuple of float
        The support's ends (``-inf`` / ``inf`` where unbounded). Every distribution is
        continuous, so an end itself has no mass.
    """
    a = _args(prior)
    ends: dict[str, Callable[[], tuple[float, float]]] = {
        "Normal": lambda: (-_INF, _INF),
        "HalfNormal": lambda: (0.0, _INF),
        "LogNormal": lambda: (0.0, _INF),
        "Beta": lambda: (0.0, 1.0),
        "Gamma": lambda: (0.0, _INF),
        "Uniform": lambda: (a["lower"], a["upper"]),
        "Exponential": lambda: (0.0, _INF),
        "TruncatedNormal": lambda: (a["lower"], a["upper"]),
    }
    return ends[prior.dist]()


def typical_value(prior: PriorSpec) -> float:
    """Return the mean of a checked prior (TruncatedNormal: ``mu`` clipped to its bounds).

    A value inside the support, held by a spec's numeric field where a prior stands, for
    the checks that need a number; it is never simulated.
    """
    a = _args(prior)
    if prior.dist == "Normal":
        return a["mu"]
    if prior.dist == "HalfNormal":
        return a["sigma"] * math.sqrt(2.0 / math.pi)
    if prior.dist == "LogNormal":
        return math.exp(a["mu"] + a["sigma"] ** 2 / 2.0)
    if prior.dist == "Beta":
        return a["alpha"] / (a["alpha"] + a["beta"])
    if prior.dist == "Gamma":
        return a["mu"] if "mu" in a else a["alpha"] / a["beta"]
    if prior.dist == "Uniform":
        return (a["lower"] + a["upper"]) / 2.0
    if prior.dist == "Exponential":
        return 1.0 / a["lam"]
    return min(max(a["mu"], a["lower"]), a["upper"])


def _describe(low: float, high: float) -> str:
    left = "(" if math.isinf(low) else "["
    right = ")" if math.isinf(high) else "]"
    return f"{left}{fmt_value(low)}, {fmt_value(high)}{right}"


def check_truth_prior(name: str, prior: PriorSpec, param: Param) -> float:
    """Check a prior over one parameter of the data-generating process.

    Parameters
    ----------
    name
        The parameter's path relative to the spec that holds it (``beta``,
        ``adstock.alpha``), named in errors.
    prior
        The prior as read (distribution name and scalar arguments).
    param
        The parameter's admissible interval (its support, not the documented maxima).

    Returns
    -------
    float
        :func:`typical_value` of the prior.

    Raises
    ------
    SpecError
        An unknown distribution (listing the known ones), a missing, unknown or array
        argument, an argument out of range (``sigma`` <= 0, ``lower >= upper``), or a
        support that reaches outside the parameter's interval.
    """
    label = f"{name} = {{ dist = {prior.dist!r} }}" if isinstance(prior.dist, str) else name
    dist = DISTRIBUTIONS.get(prior.dist) if isinstance(prior.dist, str) else None
    if dist is None:
        raise SpecError.invalid(
            f"{name}.dist",
            prior.dist,
            f"unknown distribution of a data prior; known: {', '.join(DISTRIBUTIONS)}",
        )
    keys = set(prior.args)
    for key, value in prior.args.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SpecError.invalid(
                subpath(name, key), value, "a data prior's arguments must be single numbers"
            )
        if not math.isfinite(float(value)) and key not in dist.optional:
            raise SpecError.invalid(subpath(name, key), value, "must be a finite number")
        if abs(float(value)) > MAX_MAGNITUDE and math.isfinite(float(value)):
            raise SpecError.invalid(
                subpath(name, key), value, f"must be at most {MAX_MAGNITUDE:g} in magnitude"
            )
    forms = [f for f in dist.forms if keys - set(dist.optional) == set(f)]
    if not forms:
        wanted = " or ".join(", ".join(f) for f in dist.forms)
        extra = f" (optional: {', '.join(dist.optional)})" if dist.optional else ""
        raise SpecError.wrong(
            name,
            f"{dist.name} takes {wanted}{extra}; got {', '.join(sorted(keys)) or 'none'}",
        )
    for key in dist.positive:
        if key in prior.args and not float(prior.args[key]) > 0:
            raise SpecError.invalid(subpath(name, key), prior.args[key], "must be > 0")
    low, high = support(prior)
    if not low < high:
        raise SpecError.wrong(
            label, f"lower = {fmt_value(low)} must be below upper = {fmt_value(high)}"
        )
    if dist.name == "Uniform" and not (math.isfinite(low) and math.isfinite(high)):
        raise SpecError.wrong(label, "Uniform needs finite lower and upper")
    if low < param.low or high > param.high:
        raise SpecError.wrong(
            label,
            f"the prior's support {_describe(low, high)} reaches outside the parameter's "
            f"values ({param.describe()})",
        )
    value = typical_value(prior)
    if not (math.isfinite(value) and abs(value) <= MAX_MAGNITUDE):
        raise SpecError.wrong(label, f"its mean {value:g} is not a usable amount")
    return value
