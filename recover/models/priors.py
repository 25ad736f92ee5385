"""Priors of the workbench model: defaults, construction by name, and validation.

A prior is any PyMC distribution by name with its keyword arguments
(``{ dist = "Gamma", alpha = 3, beta = 1 }``). Every prior of a scenario is validated
before any fitting: the distribution must exist, its arguments must build it, its log
density at its initial point must be finite, and its draws must lie in the parameter's
support (a ``Normal`` prior on an adstock's ``alpha`` is rejected).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np
import pymc as pm

from mmm_workbench.recover.models.transforms import Support, param_names, parameter_support
from mmm_workbench.scenarios.spec import ModelSpec, PriorSpec

__all__ = [
    "DEFAULT_PRIORS",
    "KIND_DEFAULT_PRIORS",
    "default_scale",
    "make_prior",
    "parameter_shapes",
    "parameter_supports",
    "prior_for",
    "validate_priors",
]


def _p(dist: str, **args: float) -> PriorSpec:
    return PriorSpec(dist=dist, args=MappingProxyType(args))


DEFAULT_PRIORS: dict[str, PriorSpec] = {
    "adstock_alpha": _p("Beta", alpha=1, beta=3),
    "adstock_theta": _p("HalfNormal", sigma=2),
    "adstock_lam": _p("Gamma", mu=2, sigma=1),
    "adstock_k": _p("Gamma", mu=3, sigma=1),
    "saturation_lam": _p("Gamma", alpha=3, beta=1),
    "saturation_slope": _p("Gamma", mu=1.5, sigma=0.5),
    "saturation_kappa": _p("LogNormal", mu=-0.7, sigma=0.5),
    "saturation_alpha": _p("Gamma", mu=0.5, sigma=0.3),
    "saturation_b": _p("HalfNormal", sigma=1),
    "saturation_c": _p("HalfNormal", sigma=1),
    "saturation_beta": _p("HalfNormal", sigma=2),
    "intercept": _p("Normal", mu=0, sigma=2),
    "trend_slope": _p("Normal", mu=0, sigma=1),
    "gamma_control": _p("Normal", mu=0, sigma=2),
    "gamma_fourier": _p("Normal", mu=0, sigma=1),
    "sigma": _p("HalfNormal", sigma=2),
    "nu": _p("Gamma", alpha=25, beta=2),
}
"""Defaults, in the model's scaled units (pymc-marketing's where it has one).

Hill's are not pymc-marketing's (``kappa ~ HalfNormal(1.5)``, densest at 0, and a slope
prior reaching down to 0): they keep the curve's bend inside the data, as Meridian's
half-saturation prior does (``ec ~ TruncatedNormal(0.8, 0.8, 0.1, 10)`` in units of a
channel's median spend, slope fixed at 1). ``log kappa ~ Normal(-0.7, 0.5)`` in units of
the channel's maximum spend (median 0.50, 95% between 0.19 and 1.32; a channel's median
spend is 0.3 to 0.55 of its maximum in the shipped worlds), and ``slope ~ Gamma(mu=1.5,
sigma=0.5)`` (95% between 0.68 and 2.62). Under the old priors the posterior reached the
curve's flat corners, where the curve barely moves over the data (``kappa`` near 0 with a
steep slope, or a slope near 0) and ``beta`` trades with the intercept: every delayed + Hill
and geometric + Hill fit of ``bench/bench_families.py`` diverged there (17 to 258
divergences a fit, issue 14).
"""

KIND_DEFAULT_PRIORS: dict[tuple[str, str], PriorSpec] = {
    ("delayed", "adstock_alpha"): _p("Beta", alpha=3, beta=3),
}
"""Defaults of one transform kind's parameter, ``(kind, name)``, before :data:`DEFAULT_PRIORS`.

Delayed adstock's ``alpha`` gets Jin et al.'s (2017) ``Beta(3, 3)``, not geometric's
``Beta(1, 3)`` (densest at 0, where geometric adstock is merely short): with weights
``alpha ** ((l - theta) ** 2)``, an ``alpha`` near 0 puts the whole kernel on the lag
nearest ``theta``, a near-step function of ``theta``. Measured on the delayed + Hill
bench world (issue 14): a weak channel's posterior reached that corner (``alpha`` 0.01 to
0.04 with ``theta`` near 3) and its divergences sat there.
"""

_GLOBAL_SUPPORT: dict[str, Support | None] = {
    "saturation_beta": "nonnegative",
    "sigma": "positive",
    "nu": "positive",
    "intercept": None,
    "trend_slope": None,
    "gamma_control": None,
    "gamma_fourier": None,
}


def parameter_supports(spec: ModelSpec) -> dict[str, Support | None]:
    """Every model parameter of ``spec`` with the support its prior must respect."""
    out: dict[str, Support | None] = {}
    for role, transform in (("adstock", spec.adstock), ("saturation", spec.saturation)):
        for param in param_names(role, transform.kind):
            out[f"{role}_{param}"] = parameter_support(role, transform.kind, param)
    return out | _GLOBAL_SUPPORT


def prior_for(name: str, spec: ModelSpec) -> PriorSpec:
    """Return the scenario's prior for a parameter, else its kind's default, else the default."""
    if name in spec.priors:
        return spec.priors[name]
    role = name.split("_", 1)[0]
    if role in ("adstock", "saturation"):
        kind = (spec.adstock if role == "adstock" else spec.saturation).kind
        if (kind, name) in KIND_DEFAULT_PRIORS:
            return KIND_DEFAULT_PRIORS[(kind, name)]
    if name in DEFAULT_PRIORS:
        return DEFAULT_PRIORS[name]
    support = parameter_supports(spec).get(name)
    return _p("Beta", alpha=2, beta=2) if support == "unit" else _p("HalfNormal", sigma=2)


def make_prior(
    name: str, prior: PriorSpec, *, dims: str | Sequence[str] | None = None, **kwargs: Any
) -> Any:
    """Create the prior random variable in the current model context.

    ``kwargs`` go to the distribution (``transform``, ``default_transform``).
    """
    dist = _distribution(name, prior)
    args = {k: np.asarray(v, dtype=float) for k, v in prior.args.items()}
    try:
        return dist(name, **args, dims=dims, **kwargs)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"model.priors.{name} = {prior.dist}({_fmt(prior.args)}): invalid arguments: {err}"
        ) from None


def default_scale(name: str, prior: PriorSpec) -> str | None:
    """Return the scale PyMC samples the prior's variable on: ``"log"``, ``"logit"`` or other.

    ``"log"`` for a support (0, inf) (``HalfNormal``, ``Gamma``), ``"logit"`` for (0, 1)
    (``Beta``); ``None`` for any other (``Uniform``'s interval, an unbounded ``Normal``): a
    reparameterization meant for one of the first two would leave such a support.
    """
    from pymc.distributions.transforms import _default_transform
    from pymc.logprob.transforms import LogOddsTransform, LogTransform

    dist = _distribution(name, prior)
    args = {k: np.asarray(v, dtype=float) for k, v in prior.args.items()}
    try:
        rv = dist.dist(**args)
    except (TypeError, ValueError):
        return None  # make_prior names the bad arguments
    transform = _default_transform(rv.owner.op, rv)
    if isinstance(transform, LogTransform):
        return "log"
    if isinstance(transform, LogOddsTransform):
        return "logit"
    return None


def _distribution(name: str, prior: PriorSpec) -> Any:
    """Return the PyMC distribution class of a prior; raise naming it if unknown or misused."""
    dist = getattr(pm, prior.dist, None)
    if not (isinstance(dist, type) and issubclass(dist, pm.Distribution)):
        raise ValueError(
            f"model.priors.{name}.dist = {prior.dist!r}: not a PyMC distribution "
            "(names as in pymc, e.g. 'HalfNormal', 'Gamma', 'Beta')"
        )
    accepted = [
        p.name
        for p in inspect.signature(getattr(dist, "dist")).parameters.values()  # noqa: B009
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        and p.name not in ("cls", "size", "shape")
    ]
    unknown = [k for k in prior.args if k not in accepted]
    if unknown:
        raise ValueError(
            f"model.priors.{name} = {prior.dist}({_fmt(prior.args)}): invalid arguments: "
            f"{prior.dist} takes {', '.join(accepted)}, not {', '.join(unknown)}"
        )
    return dist


def _point_logps(model: pm.Model) -> dict[str, float]:
    """Each variable's log density at the model's initial point.

    PyMC's compile rewrites turn a parameter check (``sigma > 0``) into a log density of
    -inf; a PyTensor mode without them (``optimizer=None``) raises instead, naming the
    check but not the prior, so there each variable is evaluated alone and a raised check
    reads as -inf.
    """
    from pymc.logprob.utils import ParameterValueError

    point = model.initial_point(0)
    try:
        return {k: float(v) for k, v in model.point_logps(point).items()}
    except ParameterValueError:
        logps = {}
        for rv in model.free_RVs:
            try:
                logps[rv.name] = float(model.compile_logp(vars=[rv])(point))
            except ParameterValueError:
                logps[rv.name] = -np.inf
        return logps


def _fmt(args: Mapping[str, object]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in args.items())


def parameter_shapes(spec: ModelSpec, channels: int) -> dict[str, tuple[int, ...]]:
    """Return the shape of each workbench-model parameter for ``channels`` channels.

    Transform parameters are per channel (``pooling = "channel"``) or one shared value;
    ``saturation_beta`` is per channel; ``gamma_fourier`` has ``2 * seasonality_order``
    entries and ``gamma_control`` one per control; the rest are scalars.
    """
    per = (channels,) if spec.pooling == "channel" else ()
    shapes: dict[str, tuple[int, ...]] = dict.fromkeys(parameter_supports(spec), ())
    for name in shapes:
        if name.startswith(("adstock_", "saturation_")):
            shapes[name] = per
    shapes["saturation_beta"] = (channels,)
    shapes["gamma_fourier"] = (2 * spec.seasonality_order,)
    shapes["gamma_control"] = (len(spec.controls),)
    return shapes


def _check_shapes(name: str, prior: PriorSpec, shape: tuple[int, ...]) -> None:
    for arg, value in prior.args.items():
        given = np.shape(value)
        try:
            fits = np.broadcast_shapes(given, shape) == shape
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(
                f"model.priors.{name}.{arg} = {np.asarray(value).tolist()}: shape {given} "
                f"does not fit the "
                f"parameter's shape {shape} (give one value, or one per entry)"
            )


def validate_priors(spec: ModelSpec, channels: int | None = None) -> None:
    """Check every prior the model would use, without fitting anything.

    Parameters
    ----------
    spec
        The model spec.
    channels
        The number of channels the model will be fitted to: when given, each prior
        argument must also broadcast to its parameter's shape (:func:`parameter_shapes`),
        so ``sigma = [1, 2, 3]`` on two channels is refused here, not in every fit.

    Raises
    ------
    ValueError
        Unknown distribution, arguments that do not build it, arguments whose shape does
        not fit the parameter, a non-finite log density at its initial point, or draws
        outside the parameter's support.
    """
    supports = parameter_supports(spec)
    shapes = parameter_shapes(spec, channels) if channels is not None else {}
    labels, rvs = {}, []
    # one model holds every prior, so its log density and its draws compile once each
    # (not once per prior: 18 compilations took about 3 s before every run)
    with pm.Model() as model:
        for name in supports:
            prior = prior_for(name, spec)
            if name in shapes:
                _check_shapes(name, prior, shapes[name])
            labels[name] = f"model.priors.{name} = {prior.dist}({_fmt(prior.args)})"
            rvs.append(make_prior(name, prior))
    logps = _point_logps(model)
    for name in supports:
        if not np.isfinite(logps[name]):
            raise ValueError(f"{labels[name]}: invalid arguments (log density not finite)")
    drawn = pm.draw(rvs, draws=200, random_seed=0)
    for (name, support), values in zip(supports.items(), drawn, strict=True):
        label = labels[name]
        draws = np.asarray(values)
        if not np.all(np.isfinite(draws)):
            raise ValueError(f"{label}: invalid arguments (draws not finite)")
        low_ok = {"unit": draws >= 0, "positive": draws > 0, "nonnegative": draws >= 0}
        if support is not None and not (
            np.all(low_ok[support]) and (support != "unit" or np.all(draws <= 1))
        ):
            where = {"unit": "[0, 1]", "positive": "(0, inf)", "nonnegative": "[0, inf)"}[support]
            raise ValueError(f"{label}: draws fall outside the parameter's support {where}")
