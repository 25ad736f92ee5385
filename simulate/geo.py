"""Panel worlds: a scenario's national world in geos (``[data.geo]``), vectorized over geos.

Geo is a dimension, not a fork: the arrays of a national world gain a ``geo`` axis, and
every national estimand is a sum over it (a ratio of sums for ROAS and shares). The
semantics of each geo (its share of demand, spend and effect, the spread of its true
values around the national ones) are :class:`~mmm_workbench.scenarios.spec.GeoSpec`'s.

Layout of the dataset (the national layout of :mod:`mmm_workbench.simulate.generator`,
with these differences)::

    /observed        spend[date, geo, channel], <target>[date, geo], <proxy>[date, geo];
                     event indicators and is_train stay [date] (the same in every geo);
                     coordinate geo; attribute geo_sizes (JSON, the geos' sizes)
    /truth           the NATIONAL truth, in exactly the national layout: every estimand
                     summed over geos (channel_contribution, contribution_total, baseline,
                     response, response_spend, y, mu, ...), ``roas`` and ``mroas`` as the
                     summed effect over the summed spend, ``contribution_share`` as the
                     summed contribution over the summed target; the transform
                     parameters and ``saturation_beta`` are the national (pool-centre)
                     values; ``x_scale`` the national spend's; ``log_likelihood`` that of
                     the national target (exact for normal noise, NaN otherwise)
    /truth/geo       the same estimands per geo (a ``geo`` dim), each geo's ``size``,
                     ``share``, ``beta`` and transform parameters, ``x_scale``,
                     ``demand_level``, ``seasonality_amplitude`` and ``sigma``
    /truth/pymc_marketing   of the national series, at the national parameters

A model of one national series sees the panel summed over geos and is scored against
``/truth``; with no spread, no split noise and no confounding, the geos' media terms sum
to the national world's (``tests/simulate/test_geo.py``).

Per-period work is vectorized over geos (and over the counterfactual plans of a channel):
memory is linear in geos x channels x periods.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace

import numpy as np
import xarray as xr
from numpy.typing import NDArray

from mmm_workbench.scenarios.families import Param, TransformError, get_family
from mmm_workbench.scenarios.spec import DataSpec, GeoSpec
from mmm_workbench.simulate import baseline as bl
from mmm_workbench.simulate.media import World, carry_over
from mmm_workbench.simulate.priors import draw_truth
from mmm_workbench.simulate.spend import planned_spend
from mmm_workbench.simulate.transforms import adstock, adstock_weights, saturation
from mmm_workbench.simulate.tree import assemble
from mmm_workbench.simulate.truth import (
    LIFT_FIELDS,
    MROAS_STEP,
    log_likelihood,
    pymc_marketing_truth,
)

__all__ = ["GeoWorld", "generate_geo", "geo_outcome", "pooled", "split_spend"]

Array = NDArray[np.float64]
_STREAMS = ("demand", "proxy", "spend", "noise", "lift_tests", "truth", "geo")
"""The national generator's streams, then the geos' own (spread and split draws)."""


@dataclass(frozen=True, kw_only=True)
class GeoWorld:
    """The realized, non-spend part of a panel world.

    Attributes
    ----------
    spec
        The national data spec (priors already drawn).
    shares
        ``w_g``, each geo's share of the national size, ``(geo,)``.
    baseline
        Target without media, ``(geo, date)``.
    x_scale, beta
        Per geo and channel, ``(geo, channel)``: the spend unit the transforms see and
        the channel's coefficient in the geo (data units).
    adstock, saturation
        Per channel, each transform parameter's value per geo, ``(geo,)``.
    noise
        Observation noise draws, ``(geo, date)``.
    """

    spec: DataSpec
    shares: Array
    baseline: Array
    x_scale: Array
    beta: Array
    adstock: tuple[dict[str, Array], ...]
    saturation: tuple[dict[str, Array], ...]
    noise: Array


def pooled(value: float, param: Param, sd: float, z: Array) -> Array:
    """Return geo values spread around a national value, each admissible.

    Parameters
    ----------
    value
        The national value.
    param
        Its admissible interval: logit-normal inside a bounded interval, log-normal above
        (or below) a single bound, normal when unbounded.
    sd
        The spread, on that scale (0: every geo the national value).
    z
        Standard normal draws, one per geo.

    Returns
    -------
    numpy.ndarray
        One value per geo; the national value is their median. A national value on a
        closed bound of its interval stays there (no scale spreads it).
    """
    z = np.asarray(z, dtype=float)
    low, high = param.low, param.high
    if sd == 0 or value <= low or value >= high:
        return np.full(z.shape, float(value))
    if math.isfinite(low) and math.isfinite(high):
        u = (value - low) / (high - low)
        logit = math.log(u) - math.log1p(-u)
        out = low + (high - low) / (1.0 + np.exp(-(logit + sd * z)))
    elif math.isfinite(low):
        out = low + (value - low) * np.exp(sd * z)
    elif math.isfinite(high):
        out = high - (high - value) * np.exp(sd * z)
    else:
        out = value + sd * z
    # rounding may land on an excluded end: step inside it
    floor = np.nextafter(low, math.inf) if param.low_open else low
    ceiling = np.nextafter(high, -math.inf) if param.high_open else high
    return np.asarray(np.clip(out, floor, ceiling), dtype=float)


def _ar1(noise_sd: float, rho: float, shape: tuple[int, int], rng: np.random.Generator) -> Array:
    """AR(1) noise per row, ``e_t = rho e_{t-1} + N(0, sd)``, started stationary."""
    shocks = rng.normal(0.0, 1.0, shape) * noise_sd
    if rho == 0.0:
        return shocks
    shocks[:, 0] /= np.sqrt(1.0 - rho**2)
    out = np.empty(shape)
    acc = np.zeros(shape[0])
    for t in range(shape[1]):
        acc = rho * acc + shocks[:, t]
        out[:, t] = acc
    return out


def split_spend(geo: GeoSpec, planned: Array, demand: Array, rng: np.random.Generator) -> Array:
    """Split the national plan across geos, ``(geo, channel, date)``.

    Parameters
    ----------
    geo
        The panel's spec (shares, ``split_noise``, ``confounding``).
    planned
        The national planned spend, ``(channel, date)``.
    demand
        Each geo's latent demand, ``(geo, date)``.
    rng
        Draws of the split noise.

    Returns
    -------
    numpy.ndarray
        ``s_gct = S_ct * p_gct``, ``p_gct`` proportional to ``w_g * exp(confounding *
        (r_gt - 1) + split_noise * z_gct)`` with ``r_gt = d_gt / (w_g * sum_g d_gt)``
        (1 where the national demand is not positive); the shares sum to 1 over geos, so
        the geos' spend sums to the national plan.
    """
    w = np.asarray(geo.shares)
    n_geo, (n_ch, periods) = len(w), planned.shape
    logits = np.zeros((n_geo, 1, periods))
    if geo.confounding:
        total = demand.sum(axis=0)
        ratio = np.ones_like(demand)
        np.divide(demand, w[:, None] * total, out=ratio, where=total[None, :] > 0)
        logits = logits + geo.confounding * (ratio - 1.0)[:, None, :]
    if geo.split_noise:
        logits = logits + geo.split_noise * rng.standard_normal((n_geo, n_ch, periods))
    logits = logits - logits.max(axis=0, keepdims=True)  # exp of at most 0: no overflow
    weights = w[:, None, None] * np.exp(logits)
    shares = weights / weights.sum(axis=0, keepdims=True)
    return np.asarray(planned[None] * shares)


def _channel_term(world: GeoWorld, c: int, spend: Array) -> Array:
    """Channel ``c``'s term per geo for its spend ``(..., geo, date)``."""
    ch = world.spec.channels[c]
    x = spend / world.x_scale[:, c, None]
    ad, sat = ch.adstock, ch.saturation
    curve = {k: v[:, None] for k, v in world.saturation[c].items()}
    if ch.order == "adstock_first":
        x = adstock(x, ad.kind, world.adstock[c], l_max=ad.l_max, normalize=ad.normalize)
        x = saturation(x, sat.kind, curve)
    else:
        x = saturation(x, sat.kind, curve)
        x = adstock(x, ad.kind, world.adstock[c], l_max=ad.l_max, normalize=ad.normalize)
    return np.asarray(world.beta[:, c, None] * x)


def _observe(world: GeoWorld, mu: Array) -> Array:
    """Return the target from its expectation, with the world's noise (any leading dims)."""
    if world.spec.noise.kind == "lognormal":
        return np.asarray(mu * np.exp(world.noise))
    return np.asarray(mu + world.noise)


def geo_outcome(world: GeoWorld, spend: Array) -> dict[str, Array]:
    """Simulate every geo under a spend plan ``(geo, channel, date)``, noise held fixed.

    Returns
    -------
    dict
        ``spend``, ``terms`` ``(geo, channel, date)``, ``mu`` and ``y`` ``(geo, date)``:
        ``mu = baseline + sum_c term_c`` per geo, ``y = mu + noise`` (``mu * exp(noise)``
        for log-normal noise).
    """
    terms = np.stack(
        [_channel_term(world, c, spend[..., c, :]) for c in range(spend.shape[-2])], -2
    )
    mu = world.baseline + terms.sum(axis=-2)
    return {"spend": spend, "terms": terms, "mu": mu, "y": _observe(world, mu)}


def _ratio(num: Array, den: Array) -> Array:
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=np.broadcast_to(den != 0, out.shape))
    return out


def _counterfactuals(
    world: GeoWorld, planned: Array, factual: dict[str, Array]
) -> tuple[Array, Array, Array]:
    """Re-simulate each channel's counterfactual plans, all geos at once.

    Per channel the plans scale its planned spend in the training window by 0 (``roas``),
    ``1 + MROAS_STEP`` (``mroas``) and each response multiplier, then, with a holdout,
    switch it off in every period (``channel_total_effect``); only that channel's term is
    computed again. Memory: plans x geos x periods, one channel at a time.

    Returns
    -------
    tuple
        ``dy`` and ``dmu`` ``(channel, plan, geo)``: the change in ``y`` and ``mu`` summed
        over every period; ``total_effect`` ``(channel, geo, date)`` over the data.
    """
    spec = world.spec
    mults = np.asarray(spec.response_multipliers, dtype=float)
    train, periods = spec.train_periods, spec.periods
    holdout = train < periods
    factors = np.concatenate([[0.0, 1.0 + MROAS_STEP], mults, [0.0] if holdout else []])
    n_ch, n_geo = planned.shape[1], planned.shape[0]
    dy = np.empty((n_ch, len(factors), n_geo))
    dmu = np.empty_like(dy)
    total_effect = np.empty((n_ch, n_geo, periods))
    for c in range(n_ch):
        plans = np.repeat(planned[None, :, c, :], len(factors), axis=0)  # (plan, geo, date)
        plans[:, :, :train] *= factors[:, None, None]
        if holdout:
            plans[-1] = 0.0
        with np.errstate(over="ignore"):
            term = _channel_term(world, c, plans)
        mu = factual["mu"] - factual["terms"][:, c, :] + term
        y_diff = _observe(world, mu) - factual["y"]
        dy[c] = y_diff.sum(axis=-1)
        dmu[c] = (mu - factual["mu"]).sum(axis=-1)
        total_effect[c] = -y_diff[-1 if holdout else 0, :, :periods]
    return dy, dmu, total_effect


def _estimands(
    dy: Array, dmu: Array, spend_train: Array, n_mult: int, mults: Array
) -> dict[str, Array]:
    """ROAS, mROAS and response curves from summed changes; any leading dims.

    ``dy``/``dmu``: ``(..., channel, plan)``; ``spend_train``: ``(..., channel)``.
    """
    out: dict[str, Array] = {"response_spend": spend_train[..., None] * mults}
    for suffix, delta in (("", dy), ("_noise_free", dmu)):
        off = delta[..., 0]
        out["roas" + suffix] = _ratio(-off, spend_train)
        out["mroas" + suffix] = _ratio(delta[..., 1], MROAS_STEP * spend_train)
        out["response" + suffix] = delta[..., 2 : 2 + n_mult] - off[..., None]
    return out


def _draw_world(
    spec: DataSpec, geo: GeoSpec, streams: dict[str, np.random.Generator]
) -> tuple[GeoWorld, dict[str, Array], Array, Array]:
    """Draw the geos' demand, spend and parameters.

    Returns the world, the per-geo latent demand components, the planned spend
    ``(geo, channel, date)`` and the national plan ``(channel, date)``.
    """
    index = bl.dates(spec)
    periods = len(index)
    w = np.asarray(geo.shares)
    n_geo = len(w)
    media_rng, demand_rng, split_rng = streams["geo"].spawn(3)
    d = spec.demand
    level = np.exp(geo.spread.demand * demand_rng.standard_normal(n_geo))
    amplitude = np.exp(geo.spread.seasonality * demand_rng.standard_normal(n_geo))
    tr = bl.trend(d.trend, periods)
    season = bl.seasonality(d, index)
    e = _ar1(d.noise_sd, d.rho, (n_geo, periods), streams["demand"])
    shape = tr[None, :] * (1.0 + amplitude[:, None] * season[None, :]) + e
    demand = (w * level)[:, None] * d.scale * shape
    _, event_effect = bl.events(spec, index)
    base = w[:, None] * (spec.intercept + event_effect[None, :]) + d.effect * demand
    national = planned_spend(spec, demand.sum(axis=0), streams["spend"])
    planned = split_spend(geo, national, demand, split_rng)

    n_ch = len(spec.channels)
    beta = np.empty((n_geo, n_ch))
    ad_params: list[dict[str, Array]] = []
    sat_params: list[dict[str, Array]] = []
    for c, ch in enumerate(spec.channels):
        beta[:, c] = w * pooled(ch.beta, Param(name="beta", low=0.0), geo.spread.beta,
                                media_rng.standard_normal(n_geo))  # fmt: skip
        for role, out, sd in (
            ("adstock", ad_params, geo.spread.adstock),
            ("saturation", sat_params, geo.spread.saturation),
        ):
            transform = getattr(ch, role)
            family = get_family(role, transform.kind, role)
            out.append(
                {
                    p.name: pooled(
                        float(transform.params[p.name]), p, sd, media_rng.standard_normal(n_geo)
                    )
                    for p in family.params
                }
            )
        a = ch.adstock
        try:
            adstock_weights(a.kind, ad_params[c], l_max=a.l_max, normalize=a.normalize)
        except TransformError as err:
            raise ValueError(
                f"data.geo.spread.adstock = {geo.spread.adstock:g}: a geo's draw of "
                f"data.channels[{c}].adstock: {err}"
            ) from None
    # the curves mean the same per unit of size: a geo's spend unit is its share of the
    # nation's (for "max" the maximum of the national spend, the geos' sum as a national
    # model sees it)
    summed = planned.sum(axis=0)
    national_scale = np.array(
        [
            (float(np.max(summed[c])) or 1.0) if ch.x_scale == "max" else float(ch.x_scale)
            for c, ch in enumerate(spec.channels)
        ]
    )
    x_scale = w[:, None] * national_scale[None, :]
    noise = spec.noise
    sd = noise.sd if noise.kind == "lognormal" else noise.sd * np.sqrt(w)[:, None]
    draws = (
        streams["noise"].standard_t(noise.nu, (n_geo, periods))
        if noise.kind == "student_t"
        else streams["noise"].standard_normal((n_geo, periods))
    )
    world = GeoWorld(
        spec=spec,
        shares=w,
        baseline=base,
        x_scale=x_scale,
        beta=beta,
        adstock=tuple(ad_params),
        saturation=tuple(sat_params),
        noise=np.asarray(sd * draws),
    )
    latent = {
        "demand": demand,
        "demand_level": level,
        "seasonality_amplitude": amplitude,
        "trend": tr,
        "season": season,
        "event_effect": event_effect,
    }
    return world, latent, planned, national


def _extend(world: GeoWorld, periods: int) -> GeoWorld:
    """Return the world continued ``periods`` periods past the data (last baseline, no noise)."""
    if periods == 0:
        return world
    return replace(
        world,
        baseline=np.concatenate([world.baseline, np.repeat(world.baseline[:, -1:], periods, 1)], 1),
        noise=np.concatenate([world.noise, np.zeros((world.noise.shape[0], periods))], 1),
    )


def generate_geo(spec: DataSpec, rng: np.random.Generator) -> xr.DataTree:
    """Simulate one panel dataset and its exact truth, per geo and national.

    Parameters
    ----------
    spec
        A validated data spec with ``geo`` set.
    rng
        The replicate's generator: child streams as the national generator's (demand,
        proxy, spend, noise, lift tests, truth), then the geos' own (spread draws, split
        noise).

    Returns
    -------
    xarray.DataTree
        The layout of this module's docstring.

    Raises
    ------
    ValueError
        A geo's drawn adstock kernel that is degenerate, or a target that is not finite.
    """
    geo = spec.geo
    assert geo is not None
    streams = dict(zip(_STREAMS, rng.spawn(len(_STREAMS)), strict=True))
    spec = draw_truth(spec, streams["truth"])
    index = bl.dates(spec)
    periods, train = len(index), spec.train_periods
    world, latent, planned, national_plan = _draw_world(spec, geo, streams)
    horizon = carry_over(spec)
    long_world = _extend(world, horizon)
    long_planned = np.pad(planned, ((0, 0), (0, 0), (0, horizon)))
    with np.errstate(over="ignore"):
        long_factual = geo_outcome(long_world, long_planned)
    if not np.all(np.isfinite(long_factual["y"])):
        raise ValueError(f"data: the simulated {spec.target} is not finite (overflow)")
    dy, dmu, total_effect = _counterfactuals(long_world, long_planned, long_factual)
    fact = {k: v[..., :periods] for k, v in long_factual.items()}
    mults = np.asarray(spec.response_multipliers, dtype=float)
    n_m = len(mults)

    # per geo: (geo, channel) and (geo, channel, multiplier)
    spend_train = fact["spend"][..., :train].sum(axis=-1)
    contribution = fact["terms"]  # additive model: the term is the contribution
    geo_truth = _estimands(np.moveaxis(dy, 2, 0), np.moveaxis(dmu, 2, 0), spend_train, n_m, mults)
    geo_truth["contribution_total"] = contribution[..., :train].sum(axis=-1)
    geo_truth["contribution_share"] = _ratio(
        geo_truth["contribution_total"], fact["y"][:, None, :train].sum(axis=-1)
    )
    # national: sums over geos, ratios of sums
    nat = _estimands(dy.sum(axis=2), dmu.sum(axis=2), spend_train.sum(axis=0), n_m, mults)
    nat_y, nat_mu = fact["y"].sum(axis=0), fact["mu"].sum(axis=0)
    nat_terms = contribution.sum(axis=0)  # (channel, date)
    nat["contribution_total"] = geo_truth["contribution_total"].sum(axis=0)
    nat["contribution_share"] = _ratio(nat["contribution_total"], np.asarray(nat_y[:train].sum()))
    nat_base = world.baseline.sum(axis=0)
    nat_spend = fact["spend"].sum(axis=0)  # (channel, date)
    x_scale = np.array(
        [
            (float(np.max(nat_spend[c])) or 1.0) if ch.x_scale == "max" else float(ch.x_scale)
            for c, ch in enumerate(spec.channels)
        ]
    )  # the geos' unit over their shares (which sum to 1 up to rounding)
    nat_world = World(
        spec=spec, baseline=nat_base, x_scale=x_scale, refs=np.ones(len(x_scale)),
        noise=np.zeros(periods),
    )  # fmt: skip
    pmm = pymc_marketing_truth(nat_world, {"y": nat_y, "spend": nat_spend, "terms": nat_terms})
    d = spec.demand
    demand = latent["demand"].sum(axis=0)
    proxy = None
    if spec.proxy is not None:
        p = spec.proxy
        lagged = np.concatenate(
            [np.repeat(latent["demand"][:, :1], p.lag, 1), latent["demand"][:, : periods - p.lag]],
            axis=1,
        )
        draws = streams["proxy"].normal(1.0, p.noise_sd, lagged.shape)
        proxy = np.abs(lagged * (1.0 + p.bias) * draws)
    indicators, _ = bl.events(spec, index)
    per_period = {
        "y": nat_y,
        "mu": nat_mu,
        "noise": nat_y - nat_mu,
        "baseline": nat_base,
        "baseline_intercept": np.full(periods, spec.intercept),
        "baseline_demand": d.effect * demand,
        "baseline_events": latent["event_effect"],
        "interaction": nat_mu - nat_base - nat_terms.sum(axis=0),
        "demand": demand,
        "demand_trend": latent["trend"],
        "demand_seasonality": latent["season"],
        # the national residual, so that demand = scale * (trend * (1 + season) + noise)
        "demand_noise": demand / d.scale - latent["trend"] * (1.0 + latent["season"]),
    }
    normal = spec.noise.kind == "normal"
    scalars = {
        "log_likelihood": log_likelihood(spec, nat_y[:train], nat_mu) if normal else math.nan
    }
    per_channel = {
        "planned_spend": national_plan.T,
        "x_scale": x_scale,
        "channel_contribution": nat_terms.T,
        "channel_total_effect": total_effect.sum(axis=1).T,
        **{k: nat[k] for k in sorted(nat)},
    }
    tree = assemble(
        spec,
        index,
        observed={"spend": nat_spend.T, "y": nat_y, "proxy": None, "events": indicators},
        per_period=per_period,
        per_channel=per_channel,
        lifts={k: np.zeros(0) for k in LIFT_FIELDS},
        pmm=pmm,
        carry_over=horizon,
        scalars=scalars,
    )
    return _with_panel(tree, spec, geo, world, fact, proxy, planned, geo_truth, latent,
                       total_effect)  # fmt: skip


def _with_panel(
    tree: xr.DataTree,
    spec: DataSpec,
    geo: GeoSpec,
    world: GeoWorld,
    fact: dict[str, Array],
    proxy: Array | None,
    planned: Array,
    geo_truth: dict[str, Array],
    latent: dict[str, Array],
    total_effect: Array,
) -> xr.DataTree:
    """Replace the national observations by the panel and add ``/truth/geo``."""
    groups = dict(tree.to_dict(relative=False))
    coords = {"geo": list(geo.geo_names)}
    obs = groups["/observed"].copy()
    dgc = ("date", "geo", "channel")
    obs["spend"] = xr.Variable(dgc, np.transpose(fact["spend"], (2, 0, 1)))
    obs[spec.target] = xr.Variable(("date", "geo"), fact["y"].T)
    if proxy is not None and spec.proxy is not None:
        obs[spec.proxy.name] = xr.Variable(("date", "geo"), proxy.T)
        obs.attrs["controls"] = json.dumps([spec.proxy.name, *json.loads(obs.attrs["controls"])])
    # the geos' sizes (populations) are known data: a geo model weighs the geos by them
    obs.attrs["geo_sizes"] = json.dumps([float(s) for s in (geo.sizes or geo.shares)])
    groups["/observed"] = obs.assign_coords(coords)
    gc, gcm = ("geo", "channel"), ("geo", "channel", "multiplier")
    geo_vars = {
        "size": xr.Variable(("geo",), np.asarray(geo.sizes or geo.shares, dtype=float)),
        "share": xr.Variable(("geo",), world.shares),
        "demand_level": xr.Variable(("geo",), latent["demand_level"]),
        "seasonality_amplitude": xr.Variable(("geo",), latent["seasonality_amplitude"]),
        "sigma": xr.Variable(
            ("geo",),
            np.full(len(world.shares), spec.noise.sd)
            if spec.noise.kind == "lognormal"
            else spec.noise.sd * np.sqrt(world.shares),
        ),
        "saturation_beta": xr.Variable(gc, world.beta),
        "x_scale": xr.Variable(gc, world.x_scale),
        "planned_spend": xr.Variable(dgc, np.transpose(planned, (2, 0, 1))),
        "channel_contribution": xr.Variable(dgc, np.transpose(fact["terms"], (2, 0, 1))),
        "channel_total_effect": xr.Variable(dgc, np.transpose(total_effect, (2, 1, 0))),
        "y": xr.Variable(("date", "geo"), fact["y"].T),
        "mu": xr.Variable(("date", "geo"), fact["mu"].T),
        "baseline": xr.Variable(("date", "geo"), world.baseline.T),
        "demand": xr.Variable(("date", "geo"), latent["demand"].T),
    }
    for k, v in geo_truth.items():
        geo_vars[k] = xr.Variable(gcm if k.startswith("response") else gc, v)
    for role, params in (("adstock", world.adstock), ("saturation", world.saturation)):
        names = sorted({name for p in params for name in p})
        for name in names:
            values = np.full((len(world.shares), len(params)), np.nan)
            for c, p in enumerate(params):
                if name in p:
                    values[:, c] = p[name]
            geo_vars[f"{role}_{name}"] = xr.Variable(gc, values)
    groups["/truth/geo"] = xr.Dataset(geo_vars, coords=coords)
    return xr.DataTree.from_dict(groups)
