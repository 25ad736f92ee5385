"""The outcome of a realized world for any spend plan: mediation, media effects, noise.

Everything random is drawn once into a :class:`World`; :func:`simulate_outcome` is then
deterministic, so the same world can be re-simulated under counterfactual spend plans
(channel switched off, +1% spend, lift tests, response curves) with the noise held fixed.
Spend plans carry any leading batch dimensions: ``planned`` has shape ``(..., channel, date)``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from mmm_workbench.scenarios.spec import ChannelSpec, DataSpec
from mmm_workbench.simulate.transforms import adstock, saturation

__all__ = [
    "Known",
    "World",
    "activity",
    "carry_over",
    "changed_terms",
    "draw_noise",
    "effect_factors",
    "extend",
    "realized_spend",
    "simulate_outcome",
    "spend_order",
]

Array = NDArray[np.float64]
Known = tuple[Array, Sequence[NDArray[np.intp]]]
"""Terms known without computing them (:func:`media_terms`)."""


@dataclass(frozen=True, kw_only=True)
class World:
    """The realized, non-spend part of one dataset.

    Attributes
    ----------
    spec
        The data spec.
    baseline
        Target without media, per period (intercept + demand effect + events).
    x_scale
        Per channel, the spend unit the transforms see (``spend / x_scale``), fixed for
        every counterfactual of this world.
    refs
        Per channel, the factual maximum of its adstocked spend; mediation activity is
        ``adstock(spend) / ref`` (1 at the factual peak).
    noise
        Observation noise draws: data units (additive normal / Student-t) or log units.
    """

    spec: DataSpec
    baseline: Array
    x_scale: Array
    refs: Array
    noise: Array


def spend_order(spec: DataSpec) -> list[int]:
    """Channel indices so that every spend-mediation source precedes its targets."""
    names = list(spec.channel_names)
    edges = {(m.source, m.target) for m in spec.mediation if m.on == "spend"}
    order: list[int] = []
    remaining = list(names)
    while remaining:
        free = [n for n in remaining if not any(t == n and s in remaining for s, t in edges)]
        order.extend(names.index(n) for n in free)
        remaining = [n for n in remaining if n not in free]
    return order


def carry_over(spec: DataSpec) -> int:
    """Periods after a change of planned spend during which the target can still change.

    A channel's own carry-over lasts ``l_max - 1`` periods after its spend (its activity,
    which drives its effect-mediation links, too); through a spend-mediation link it
    changes the target channel's realized spend for as long, and that spend carries over
    in turn. The result is the longest such chain over all channels:
    ``reach(c) = l_max_c - 1 + max(reach(t) for spend links c -> t, default 0)``.
    """
    names = spec.channel_names
    reach: dict[int, int] = {}
    for c in reversed(spend_order(spec)):  # every spend-link target before its source
        targets = [
            names.index(m.target)
            for m in spec.mediation
            if m.on == "spend" and m.source == names[c]
        ]
        reach[c] = spec.channels[c].adstock.l_max - 1 + max((reach[t] for t in targets), default=0)
    return max(reach.values(), default=0)


def changed_terms(spec: DataSpec, c: int) -> frozenset[int]:
    """Return the channels whose term can change when channel ``c``'s planned spend changes.

    ``c`` itself, every channel whose spend it reaches through spend-mediation links, and
    the targets of effect-mediation links from any of those.
    """
    names = spec.channel_names
    reached, frontier = {c}, [c]
    while frontier:
        s = names[frontier.pop()]
        for m in spec.mediation:
            t = names.index(m.target)
            if m.on == "spend" and m.source == s and t not in reached:
                reached.add(t)
                frontier.append(t)
    effect = {names.index(m.target) for m in spec.mediation if m.on == "effect"
              and names.index(m.source) in reached}  # fmt: skip
    return frozenset(reached | effect)


def extend(world: World, periods: int) -> World:
    """Return the world continued ``periods`` periods past the end of the data.

    There the baseline stays at its last value and there is no observation noise (no
    noise was realized there); the caller plans zero spend for those periods, so what
    happens there is the carry-over of spend inside the data. ``x_scale`` and ``refs``
    are the data's.
    """
    if periods == 0:
        return world
    return replace(
        world,
        baseline=np.concatenate([world.baseline, np.full(periods, world.baseline[-1])]),
        noise=np.concatenate([world.noise, np.zeros(periods)]),
    )


def activity(channel: ChannelSpec, spend: Array) -> Array:
    """Return a channel's adstocked spend, with its own adstock family (used by mediation)."""
    a = channel.adstock
    return adstock(spend, a.kind, a.params, l_max=a.l_max, normalize=a.normalize)


def realized_spend(
    spec: DataSpec, planned: Array, refs: Array | None = None
) -> tuple[Array, Array]:
    """Apply spend mediation (``target *= 1 + strength * activity(source) / ref``).

    Parameters
    ----------
    spec
        The data spec.
    planned
        Planned spend, shape ``(..., channel, date)``.
    refs
        Activity references; ``None`` computes them from this (factual) plan.

    Returns
    -------
    tuple
        Realized spend (same shape) and the activity references per channel.
    """
    names = spec.channel_names
    out = np.array(planned, dtype=float, copy=True)
    new_refs = np.ones(len(names)) if refs is None else refs
    act: dict[int, Array] = {}
    for c in spend_order(spec):
        for link in spec.mediation:
            if link.on == "spend" and link.target == names[c]:
                s = names.index(link.source)
                out[..., c, :] *= 1.0 + link.strength * act[s] / new_refs[s]
        if any(m.source == names[c] for m in spec.mediation):
            act[c] = activity(spec.channels[c], out[..., c, :])
            if refs is None:
                peak = float(np.max(act[c]))
                new_refs[c] = peak if peak > 0 else 1.0
    return out, new_refs


def media_terms(world: World, spend: Array, known: Known | None = None) -> Array:
    """Each channel's term in the outcome equation, shape ``(..., channel, date)``.

    Parameters
    ----------
    world
        The realized world.
    spend
        Realized spend, ``(..., channel, date)``.
    known
        Only for a batch of plans, ``spend`` of shape ``(plan, channel, date)``: terms known
        to equal the given ``(channel, date)`` values (the factual plan's) and, per channel,
        the plans whose term must be computed; the others take the known term. The values
        are the same bit for bit; it only saves the work.

    Notes
    -----
    ``term_c = beta_c * saturation(adstock(spend_c / x_scale_c))`` (or adstock of the
    saturated spend when ``order = "saturation_first"``), times ``1 + strength * a_s`` for
    every effect-mediation link from a source ``s``. Additive model: the term is in data
    units; multiplicative model: in log units.
    """
    if known is None:
        terms = np.empty_like(spend)
        for c in range(len(world.spec.channels)):
            terms[..., c, :] = _term(world, c, spend[..., c, :])
        for t, factor in effect_factors(world, spend):
            terms[..., t, :] *= factor
        return terms
    given, rows = known
    terms = np.repeat(given[None], spend.shape[0], axis=0)
    for c in range(len(world.spec.channels)):
        if len(rows[c]):
            terms[rows[c], c, :] = _term(world, c, spend[rows[c], c, :])
    for t, factor in effect_factors(world, spend):
        terms[rows[t], t, :] *= factor[rows[t]]
    return terms


def _term(world: World, c: int, spend: Array) -> Array:
    """Channel ``c``'s term for its realized spend ``(..., date)``."""
    ch = world.spec.channels[c]
    x = spend / world.x_scale[c]
    ad, sat = ch.adstock, ch.saturation
    if ch.order == "adstock_first":
        x = adstock(x, ad.kind, ad.params, l_max=ad.l_max, normalize=ad.normalize)
        x = saturation(x, sat.kind, sat.params)
    else:
        x = saturation(x, sat.kind, sat.params)
        x = adstock(x, ad.kind, ad.params, l_max=ad.l_max, normalize=ad.normalize)
    return ch.beta * x


def effect_factors(world: World, spend: Array) -> Iterator[tuple[int, Array]]:
    """Each effect-mediation link's factor on its target's term, in the spec's order.

    Yields
    ------
    tuple
        The target channel's index and ``1 + strength * activity(source) / ref``, shape
        ``(..., date)``.
    """
    spec = world.spec
    names = spec.channel_names
    for link in spec.mediation:
        if link.on == "effect":
            s, t = names.index(link.source), names.index(link.target)
            a = activity(spec.channels[s], spend[..., s, :]) / world.refs[s]
            yield t, 1.0 + link.strength * a


def draw_noise(spec: DataSpec, periods: int, rng: np.random.Generator) -> Array:
    """Observation noise draws: ``sd * N(0, 1)``, or ``sd * t(nu)`` for ``student_t``."""
    if spec.noise.kind == "student_t":
        return spec.noise.sd * rng.standard_t(spec.noise.nu, periods)
    return spec.noise.sd * rng.standard_normal(periods)


def simulate_outcome(world: World, planned: Array, known: Known | None = None) -> dict[str, Array]:
    """Re-simulate the world under a spend plan, noise held fixed.

    Parameters
    ----------
    world
        The realized world.
    planned
        Planned spend, shape ``(..., channel, date)``.
    known
        As :func:`media_terms` (a batch of plans only).

    Returns
    -------
    dict
        ``spend`` (realized), ``terms``, ``mu`` (expected target) and ``y`` (target).

    Notes
    -----
    Additive: ``mu = baseline + sum_c term_c``; ``y = mu + noise`` (``mu * exp(noise)`` for
    log-normal noise). Multiplicative: ``mu = baseline * exp(sum_c term_c)``,
    ``y = mu * exp(noise)``.
    """
    spec = world.spec
    spend, _ = realized_spend(spec, planned, world.refs)
    terms = media_terms(world, spend, known)
    if spec.model == "additive":
        mu = world.baseline + terms.sum(axis=-2)
        y = mu * np.exp(world.noise) if spec.noise.kind == "lognormal" else mu + world.noise
    else:
        mu = world.baseline * np.exp(terms.sum(axis=-2))
        y = mu * np.exp(world.noise)
    return {"spend": spend, "terms": terms, "mu": mu, "y": y}
