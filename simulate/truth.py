"""Ground-truth estimands of a realized world, by counterfactual re-simulation.

Every counterfactual re-simulates the same :class:`~mmm_workbench.simulate.media.World`
(same demand, same noise) under another spend plan. docs/definitions.md gives every
estimand with a worked number.

Notation: ``W`` = the training periods ``0..train_periods-1``, ``T`` = the data's periods,
``S_c`` = channel ``c``'s realized spend, ``y`` = the target, ``mu`` = the target without
observation noise, ``H`` = :func:`~mmm_workbench.simulate.media.carry_over` (``/truth``
attribute ``carry_over_periods``).

Scope of the causal estimands (``roas``, ``mroas``, ``response``, lift tests), one for all:

- The intervention changes one channel's *planned* spend in a window: the training window
  ``W`` for ``roas``, ``mroas`` and ``response``, the test's window for a lift test. Every
  other period's planned spend stays as it was; spend mediation follows from the change
  (a mediated channel's realized spend moves with it).
- The effect is the change in ``y`` summed over every period from the window's start to
  the end of the carry-over: the rest of the training window, the holdout and ``H``
  periods past the data. Past the data the world continues with zero planned spend, the
  baseline at its last value and no noise, so what happens there is the carry-over of
  spend inside the data, through every mediated channel. Nothing is cut at the end of
  the data.
- Denominators are the channel's realized spend in the window.
- Inside the data ``y`` includes the realized noise (the same draws in every plan), so
  with log-normal noise or a multiplicative model the estimand weighs each period's
  effect by its noise factor. The ``*_noise_free`` twins (``roas_noise_free``,
  ``mroas_noise_free``, ``response_noise_free``, ``lift_total_noise_free``) use ``mu``
  instead: what a model's mean predicts. With additive normal or Student-t noise the
  noise cancels and the twins equal the originals.

Definitions:

- ``channel_contribution[date, channel]`` (data periods): the channel's part of the
  expected target. Additive model: its term ``beta * saturation(adstock(x))`` (times any
  effect-mediation factor). Multiplicative model: ``mu * (1 - exp(-term))``, what removing
  the term from the equation takes away. ``interaction`` is what the channels' parts do
  not explain, so ``y = baseline + sum(channel_contribution) + interaction + noise``
  exactly. These are an accounting of each period, not causal effects of a window.
- ``contribution_total = sum_W channel_contribution``; ``contribution_share`` divides it
  by ``sum_W y`` (the observed target, noise included).
- ``channel_total_effect[date, channel] = y(factual) - y(channel's planned spend = 0 in
  every period)`` per data period: the causal effect, including what flows through
  channel-to-channel links.
- ``roas = sum_{t < T+H} (y(factual) - y(planned spend 0 in W)) / sum_W S_c``.
- ``mroas = sum_{t < T+H} (y(planned spend x 1.01 in W) - y(factual)) / (0.01 sum_W S_c)``.
- ``response[channel, multiplier] = sum_{t < T+H} (y(m x planned spend in W) - y(planned
  spend 0 in W))``, at ``response_spend = m * sum_W S_c``; ``response`` at ``m = 1``
  equals ``roas * sum_W S_c``.
- Lift test: ``lift_total = sum_{start <= t < T+H} (y(test plan) - y(factual))``; the
  per-period ``delta_y_true = lift_total / periods`` is what pymc-marketing's lift-test
  calibration compares with its saturation curve; the measured ``delta_y = delta_y_true
  + N(0, sigma)`` with ``sigma`` given or ``sigma_rel * |delta_y_true|``. ``x`` and
  ``delta_x`` are the tested channel's per-period realized spend and its change over the
  window (a mediated channel's change is in the lift, not in ``delta_x``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np
from numpy.typing import NDArray

from mmm_workbench.scenarios.spec import DataSpec
from mmm_workbench.simulate.media import World, changed_terms, effect_factors, simulate_outcome
from mmm_workbench.simulate.transforms import SATURATIONS

__all__ = [
    "BATCH_BYTES",
    "DEMAND_UNOBSERVED",
    "LIFT_FIELDS",
    "MROAS_STEP",
    "NO_BETA",
    "PYMC_MARKETING_NOTES",
    "counterfactual_plans",
    "counterfactual_truth",
    "demand_unobserved",
    "lift_test_plans",
    "lift_test_truth",
    "log_likelihood",
    "pymc_marketing_truth",
    "resimulate",
]

Array = NDArray[np.float64]

MROAS_STEP = 0.01
"""Relative spend increase used for the marginal ROAS (+1%)."""

BATCH_BYTES = 1 << 25
"""Planned spend re-simulated at once (32 MiB): counterfactual plans go in batches of this
size, so memory grows with channels x periods, not with the number of plans."""

LIFT_FIELDS = (
    "channel_index",
    "start",
    "end",
    "x",
    "delta_x",
    "delta_y_true",
    "lift_total",
    "lift_total_noise_free",
    "sigma",
    "delta_y",
)
"""The fields of :func:`lift_test_truth`, one value per experiment each."""


def _ratio(num: Array, den: Array) -> Array:
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=np.broadcast_to(den != 0, out.shape))
    return out


def counterfactual_plans(
    planned: Array, multipliers: Array, train: int, rows: range | None = None
) -> Array:
    """Spend plans of the counterfactuals, shape ``(len(rows), channel, date)``.

    Every plan changes one channel's planned spend in the training window (periods
    ``0..train-1``) and leaves every other period as planned. The list: each channel
    switched off, each channel +1%, each channel times each response multiplier
    (``2C + C*M`` plans), then, when ``planned`` has periods after the training window,
    each channel switched off in every period (``C`` more, for the per-period
    ``channel_total_effect``; :func:`counterfactual_truth` asks for them only when the data
    has a holdout). ``rows`` selects a part of the list (all by default), so a long list is
    built and re-simulated a batch at a time.
    """
    n_ch = planned.shape[0]
    n_m = len(multipliers)
    rows = range(_n_plans(n_ch, n_m, planned.shape[-1] > train)) if rows is None else rows
    plans = np.repeat(planned[None], len(rows), axis=0)
    window = slice(0, train)
    for k, i in enumerate(rows):
        if i < n_ch:
            plans[k, i, window] = 0.0
        elif i < 2 * n_ch:
            plans[k, i - n_ch, window] *= 1.0 + MROAS_STEP
        elif i < 2 * n_ch + n_ch * n_m:
            c, m = divmod(i - 2 * n_ch, n_m)
            plans[k, c, window] *= multipliers[m]
        else:
            plans[k, i - 2 * n_ch - n_ch * n_m] = 0.0
    return plans


def _n_plans(n_ch: int, n_m: int, switch_off_all: bool) -> int:
    return 2 * n_ch + n_ch * n_m + (n_ch if switch_off_all else 0)


def resimulate(
    world: World,
    n_plans: int,
    build: Callable[[range], Array],
    changed: Callable[[int], int],
    factual: dict[str, Array],
) -> Iterator[tuple[range, dict[str, Array]]]:
    """Re-simulate ``n_plans`` spend plans a batch at a time.

    ``build(rows)`` returns the plans ``rows`` of the list, ``(len(rows), channel, date)``;
    plan ``i`` changes channel ``changed(i)``'s planned spend only, so the terms of the
    channels it cannot reach (:func:`~mmm_workbench.simulate.media.changed_terms`) are the
    ``factual`` ones and are not computed again (the same values, bit for bit). A batch
    holds at most :data:`BATCH_BYTES` of planned spend (at least one plan), so memory is
    linear in channels x periods however many plans there are.

    Yields
    ------
    tuple
        The batch's rows and :func:`~mmm_workbench.simulate.media.simulate_outcome` of its
        plans.
    """
    spec = world.spec
    n_ch = len(spec.channels)
    reach = [changed_terms(spec, c) for c in range(n_ch)]
    plan_bytes = 8 * n_ch * len(world.baseline)
    per_batch = max(1, BATCH_BYTES // max(plan_bytes, 1))
    for start in range(0, n_plans, per_batch):
        rows = range(start, min(n_plans, start + per_batch))
        hit = [reach[changed(i)] for i in rows]
        recompute = [np.flatnonzero([c in h for h in hit]) for c in range(n_ch)]
        with np.errstate(over="ignore"):
            yield rows, simulate_outcome(world, build(rows), (factual["terms"], recompute))


def counterfactual_truth(
    world: World, planned: Array, factual: dict[str, Array]
) -> dict[str, Array]:
    """Per-channel estimands from the re-simulated plans of :func:`counterfactual_plans`.

    Parameters
    ----------
    world, planned, factual
        The realized world, its planned spend ``(channel, date)`` and
        :func:`~mmm_workbench.simulate.media.simulate_outcome` of that plan, each continued
        past the data by the carry-over (:func:`~mmm_workbench.simulate.media.extend`,
        zero planned spend there): the module docstring's scope.

    Returns
    -------
    dict
        Over the data's periods: ``channel_contribution``, ``interaction``,
        ``channel_total_effect`` (``(date, channel)`` or ``(date,)``). Per channel:
        ``contribution_total``, ``contribution_share``, ``roas``, ``mroas`` and their
        ``*_noise_free`` twins; ``response``, ``response_noise_free``, ``response_spend``
        (``(channel, multiplier)``).
    """
    spec = world.spec
    n_ch = len(spec.channels)
    mults = np.asarray(spec.response_multipliers, dtype=float)
    data = slice(0, spec.periods)
    train = slice(0, spec.train_periods)
    off_all = spec.train_periods < spec.periods
    n_plans = _n_plans(n_ch, len(mults), off_all)
    dy, dmu = np.empty(n_plans), np.empty(n_plans)  # sum over every period of plan - factual
    total_effect = np.empty((n_ch, spec.periods))
    first_off = n_plans - n_ch if off_all else 0  # the plans behind channel_total_effect
    n_m = len(mults)

    def changed(i: int) -> int:  # the channel plan i changes (counterfactual_plans' order)
        if i < 2 * n_ch:
            return i % n_ch
        if i < 2 * n_ch + n_ch * n_m:
            return (i - 2 * n_ch) // n_m
        return i - 2 * n_ch - n_ch * n_m

    def plans(rows: range) -> Array:
        return counterfactual_plans(planned, mults, spec.train_periods, rows)

    for rows, out in resimulate(world, n_plans, plans, changed, factual):
        y_diff = out["y"] - factual["y"]
        dy[rows.start : rows.stop] = y_diff.sum(axis=-1)
        dmu[rows.start : rows.stop] = (out["mu"] - factual["mu"]).sum(axis=-1)
        for k, i in enumerate(rows):
            if first_off <= i < first_off + n_ch:
                total_effect[i - first_off] = -y_diff[k, data]
    spend_train = factual["spend"][:, train].sum(axis=-1)

    terms, mu = factual["terms"][:, data], factual["mu"][data]
    contribution = terms if spec.model == "additive" else mu * (1.0 - np.exp(-terms))
    contribution_total = contribution[:, train].sum(axis=-1)
    result: dict[str, Array] = {
        "channel_contribution": contribution.T,
        "interaction": mu - world.baseline[data] - contribution.sum(axis=0),
        "channel_total_effect": total_effect.T,
        "contribution_total": contribution_total,
        "contribution_share": _ratio(contribution_total, np.asarray(factual["y"][train].sum())),
        "response_spend": spend_train[:, None] * mults[None, :],
    }
    for suffix, delta in (("", dy), ("_noise_free", dmu)):
        off = delta[:n_ch]
        result["roas" + suffix] = _ratio(-off, spend_train)
        result["mroas" + suffix] = _ratio(delta[n_ch : 2 * n_ch], MROAS_STEP * spend_train)
        curve = delta[2 * n_ch : 2 * n_ch + n_ch * len(mults)].reshape(n_ch, len(mults))
        result["response" + suffix] = curve - off[:, None]
    return result


def lift_test_plans(spec: DataSpec, planned: Array, rows: range | None = None) -> Array:
    """Return the spend plans of the spec's lift tests ``rows`` (all by default).

    Their shape is ``(experiment, channel, date)``.
    """
    rows = range(len(spec.lift_tests)) if rows is None else rows
    plans = np.repeat(planned[None], len(rows), axis=0)
    for k, i in enumerate(rows):
        t = spec.lift_tests[i]
        c = spec.channel_names.index(t.channel)
        plans[k, c, t.start : t.start + t.periods] *= 1.0 + t.spend_change
    return plans


def lift_test_truth(
    world: World, planned: Array, factual: dict[str, Array], rng: np.random.Generator
) -> dict[str, Array]:
    """Compute every lift test of the spec, from the re-simulated plans of :func:`lift_test_plans`.

    ``planned`` is the factual planned spend; ``factual`` is its
    :func:`~mmm_workbench.simulate.media.simulate_outcome`.

    Returns
    -------
    dict
        Per experiment: ``channel_index``, ``start``, ``end`` (window, end exclusive),
        ``x``, ``delta_x``, ``delta_y_true``, ``lift_total`` (the true total incremental
        target), ``sigma`` and the measured ``delta_y = delta_y_true + N(0, sigma)``.
    """
    spec = world.spec
    fields: dict[str, list[float]] = {k: [] for k in LIFT_FIELDS}
    n_tests = len(spec.lift_tests)
    channel = [spec.channel_names.index(t.channel) for t in spec.lift_tests]

    def plans(rows: range) -> Array:
        return lift_test_plans(spec, planned, rows)

    for rows, out in resimulate(world, n_tests, plans, channel.__getitem__, factual):
        for k, i in enumerate(rows):
            values = _lift_values(world, factual, {key: v[k] for key, v in out.items()}, i, rng)
            for key in LIFT_FIELDS:
                fields[key].append(float(values[key]))
    return {k: np.asarray(v) for k, v in fields.items()}


def _lift_values(
    world: World,
    factual: dict[str, Array],
    out: dict[str, Array],
    i: int,
    rng: np.random.Generator,
) -> dict[str, float]:
    """Lift test ``i``'s fields, from the outcome ``out`` of its plan."""
    spec = world.spec
    t = spec.lift_tests[i]
    c = spec.channel_names.index(t.channel)
    window = slice(t.start, t.start + t.periods)
    total = float((out["y"] - factual["y"])[t.start :].sum())  # through the whole carry-over
    true_dy = total / t.periods
    sigma = t.sigma if t.sigma is not None else float(t.sigma_rel or 0.0) * abs(true_dy)
    return {
        "channel_index": c,
        "start": t.start,
        "end": t.start + t.periods,
        "x": float(factual["spend"][c, window].mean()),
        "delta_x": float((out["spend"][c, window] - factual["spend"][c, window]).mean()),
        "delta_y_true": true_dy,
        "lift_total": total,
        "lift_total_noise_free": float((out["mu"] - factual["mu"])[t.start :].sum()),
        "sigma": sigma,
        "delta_y": true_dy + float(rng.normal(0.0, sigma)) if sigma > 0 else true_dy,
    }


NO_BETA: dict[str, Callable[[dict[str, float], float], dict[str, float]]] = {
    "michaelis_menten": lambda p, k: {"alpha": p["alpha"] * k, "lam": p["lam"]},
    "tanh": lambda p, k: {"b": p["b"] * k, "c": p["c"] / k},
}
"""Saturations whose pymc-marketing class has no ``beta``: ``fold(p, k)`` gives the
parameters with ``k * f(x; p) == f(x; fold(p, k))`` (``k alpha x / (lam + x)``;
``k b tanh(x / (b c)) == (k b) tanh(x / ((k b)(c / k)))``)."""

PYMC_MARKETING_NOTES = {
    "saturation_beta": (
        "NaN for channels whose saturation has no beta in pymc-marketing "
        "(michaelis_menten, tanh): the effect size is folded into their parameters "
        "(alpha; b and c)"
    ),
    "mediation_factor": (
        "1 + strength * activity(source) / ref over the effect-mediation links into the "
        "channel (1 without any): channel_contribution = mediation_factor * "
        "saturation_beta * saturation(adstock(spend / channel_scale)); pymc-marketing's "
        "MMM has no channel-to-channel effect, so for those channels its contribution "
        "cannot equal channel_contribution"
    ),
}
"""Attributes of ``/truth/pymc_marketing``'s variables: what a value means or why it is
missing."""


def pymc_marketing_truth(
    world: World, factual: dict[str, Array]
) -> tuple[dict[str, Array], dict[str, str], str]:
    """Return the truth in pymc-marketing's parameterization and internal (max-abs) units.

    pymc-marketing's MMM divides the target by ``max|y|`` and each channel by
    ``max|spend|``, both over the training rows; its channel contribution is
    ``saturation(adstock(spend / channel_scale))`` in units of ``target_scale``, with a
    ``beta`` only where the saturation class has one. Adstock is linear, so only the
    saturation's parameters and the effect size change: with ``c = x_scale /
    channel_scale`` the family's ``rescale`` gives ``f(x; p) = m * f(c x; p')``, and the
    effect size is ``k = beta * m / target_scale``: ``saturation_beta = k`` where the class
    has a beta, else folded into the parameters (:data:`NO_BETA`) and ``saturation_beta``
    is NaN.

    A multiplicative model is additive on the log scale (``log y = log baseline +
    sum(term) + noise``): its truth is that of pymc-marketing's MMM fitted to ``log(y)``
    (``target_scale = max|log y|`` over training, contributions and baseline in log units
    over it). Under effect mediation ``mediation_factor`` multiplies the contribution (see
    :data:`PYMC_MARKETING_NOTES`).

    Parameters
    ----------
    world
        The realized world (data periods only).
    factual
        :func:`~mmm_workbench.simulate.media.simulate_outcome` of the factual plan, data
        periods only.

    Returns
    -------
    tuple
        The values: ``target_scale`` (scalar), ``channel_scale`` and ``saturation_beta``
        (``(channel,)``), ``saturation_<param>`` per parameter name (NaN where a channel's
        family lacks it), ``channel_contribution`` and ``mediation_factor`` (``(channel,
        date)``), ``baseline`` (``(date,)``), all scaled; the notes of
        :data:`PYMC_MARKETING_NOTES` on them; and the target the model is fitted to
        (``sales`` or ``log(sales)``).
    """
    spec = world.spec
    train = slice(0, spec.train_periods)
    log = spec.model == "multiplicative"
    target = np.log(factual["y"]) if log else factual["y"]
    target_scale = float(np.max(np.abs(target[train]))) or 1.0
    channel_scale = np.max(np.abs(factual["spend"][:, train]), axis=-1)
    channel_scale = np.where(channel_scale > 0, channel_scale, 1.0)
    factor = np.ones_like(factual["terms"])
    for t, f in effect_factors(world, factual["spend"]):
        factor[t] *= f
    n_ch = len(spec.channels)
    out: dict[str, Array] = {
        "target_scale": np.asarray(target_scale),
        "channel_scale": channel_scale,
        "saturation_beta": np.full(n_ch, np.nan),
        "channel_contribution": factual["terms"].T / target_scale,
        "mediation_factor": factor.T,
        "baseline": (np.log(world.baseline) if log else world.baseline) / target_scale,
    }
    for c, ch in enumerate(spec.channels):
        kind = ch.saturation.kind
        family = SATURATIONS[kind]
        assert family.rescale is not None
        params, m = family.rescale(ch.saturation.params, world.x_scale[c] / channel_scale[c])
        k = ch.beta * m / target_scale
        if kind in NO_BETA:
            with np.errstate(divide="ignore", over="ignore"):  # beta = 0 (or a subnormal k)
                params = {
                    name: value if np.isfinite(value) else np.nan
                    for name, value in NO_BETA[kind](params, k).items()
                }
        else:
            out["saturation_beta"][c] = k
        for name, value in params.items():
            out.setdefault(f"saturation_{name}", np.full(n_ch, np.nan))[c] = value
    notes = {k: v for k, v in PYMC_MARKETING_NOTES.items() if k in out}
    return out, notes, f"log({spec.target})" if log else spec.target


def log_likelihood(spec: DataSpec, y: Array, mu: Array, sd: float | None = None) -> float:
    """Return the log density of the observed target ``y`` at the true world.

    A data-dependent test quantity of simulation-based calibration (Modrak et al. 2023,
    Bayesian Analysis, doi:10.1214/23-BA1404): ranked like a parameter, it catches a
    posterior that equals the prior, which every parameter's ranks alone may miss.

    Parameters
    ----------
    spec
        The (drawn) data spec: the noise's kind, ``sd`` and ``nu``, and the model.
    y
        The observed target over the periods to score (the training window).
    mu
        The expected target (at least as many periods as ``y``).
    sd
        The noise's sd (default ``spec.noise.sd``): :func:`demand_unobserved` passes the sd
        a model that does not observe demand sees.

    Returns
    -------
    float
        ``sum_t log p(y_t | mu_t)`` in the data's units: additive normal or Student-t noise
        is a density of ``y - mu`` (Student-t scaled by ``sd``); log-normal noise and the
        multiplicative model's are densities of ``log y - log mu`` on the log scale, with the
        Jacobian ``-log y``. NaN when ``noise.sd`` is 0 (no density) or a log is undefined.
    """
    noise = spec.noise
    sd = float(noise.sd if sd is None else sd)
    mean = mu[: len(y)]
    if not sd > 0:
        return math.nan
    on_log = spec.model == "multiplicative" or noise.kind == "lognormal"
    with np.errstate(divide="ignore", invalid="ignore"):
        z = ((np.log(y) - np.log(mean)) if on_log else (y - mean)) / sd
    if noise.kind == "student_t":
        nu = float(noise.nu)
        const = math.lgamma((nu + 1) / 2) - math.lgamma(nu / 2) - 0.5 * math.log(nu * math.pi)
        density = const - (nu + 1) / 2 * np.log1p(z**2 / nu)
    else:
        density = -0.5 * z**2 - 0.5 * math.log(2 * math.pi)
    total = float(np.sum(density)) - len(y) * math.log(sd)
    if on_log:
        with np.errstate(divide="ignore", invalid="ignore"):
            total -= float(np.sum(np.log(y)))
    return total if math.isfinite(total) else math.nan


DEMAND_UNOBSERVED = (
    "baseline_noise",
    "sigma_demand_unobserved",
    "log_likelihood_demand_unobserved",
)
"""The truth variables :func:`demand_unobserved` adds (where it applies)."""


def demand_unobserved(
    spec: DataSpec, demand_noise: Array, y: Array, mu: Array
) -> tuple[dict[str, Array], dict[str, float]]:
    """Return the truth of a model that does not observe demand, where that truth exists.

    Latent demand with white noise (``rho = 0``) adds ``baseline_noise_t = effect * scale *
    e_t`` to the target, independent over time and normal like the observation noise of an
    additive model with normal noise. A model without a proxy of demand cannot tell the two
    apart: the best it can do (its pseudo-true values, the world's projection on the model)
    reads them as one noise of sd ``sqrt(sd^2 + (effect * scale * noise_sd)^2)`` around a
    baseline without ``baseline_noise``, so its ``sigma`` and log-likelihood are calibrated
    against those, not against ``noise.sd``. Elsewhere (autocorrelated demand noise, another
    noise kind, the multiplicative model, no demand noise) nothing is returned: the model's
    noise is then misspecified (or the truth already is the model's), and ``noise.sd`` stays
    the truth; geo panels (``simulate/geo.py``) are not covered (docs/definitions.md).
    :func:`mmm_workbench.recover.models.data.truth_estimands` takes these for a model whose
    controls do not include the data's demand proxy.

    Parameters
    ----------
    spec
        The (drawn) data spec.
    demand_noise
        The demand's noise ``e_t`` before scaling, every period.
    y, mu
        The observed target over the training window, the expected target (every period).

    Returns
    -------
    tuple
        ``({"baseline_noise": effect * scale * e_t}, {"sigma_demand_unobserved": ...,
        "log_likelihood_demand_unobserved": ...})``, or two empty dicts.
    """
    demand = spec.demand
    white = demand.rho == 0.0 and demand.noise_sd > 0.0 and demand.effect != 0.0
    if not white or spec.model != "additive" or spec.noise.kind != "normal":
        return {}, {}
    noise = demand.effect * demand.scale * np.asarray(demand_noise, dtype=float)
    sd = math.hypot(float(spec.noise.sd), demand.effect * demand.scale * demand.noise_sd)
    return {"baseline_noise": noise}, {
        "sigma_demand_unobserved": sd,
        "log_likelihood_demand_unobserved": log_likelihood(spec, y, mu - noise, sd=sd),
    }
