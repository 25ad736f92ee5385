"""Ground-truth estimands of a realized world, by counterfactual re-simulation.

Every counterfactual re-simulates the same :class:`~mmm_workbench.simulate.media.World` (same
demand, same noise) under another spend plan; estimands are summed over the training window,
the window a model is fitted on.

Definitions (``W`` = training periods, ``S_c`` = realized spend, ``y`` = target):

- ``channel_contribution[date, channel]``: the channel's part of the expected target.
  Additive model: its term ``beta * saturation(adstock(x))`` (times any effect-mediation
  factor). Multiplicative model: ``mu * (1 - exp(-term))``, what removing the term from
  the equation takes away. ``interaction`` is what the channels' parts do not explain,
  so ``y = baseline + sum(channel_contribution) + interaction + noise`` exactly.
- ``contribution_total = sum_W channel_contribution``; ``contribution_share`` divides it
  by ``sum_W y``.
- ``channel_total_effect[date, channel] = y(all) - y(channel's planned spend = 0)``: the
  causal effect, including what flows through channel-to-channel links.
- ``roas = sum_W total_effect / sum_W S_c``; ``mroas`` the same for +1% spend
  (``(y(1.01 S_c) - y) / (0.01 S_c)`` summed over ``W``).
- ``response[channel, multiplier] = sum_W (y(m * S_c) - y(0))`` at total spend
  ``response_spend = m * sum_W S_c``.
- Lift test: ``delta_y`` is the incremental target over the test window plus the
  channel's adstock tail (``l_max - 1`` periods), divided by the window length, i.e.
  the per-period steady-state lift pymc-marketing's lift-test calibration compares with
  its saturation curve; ``x`` and ``delta_x`` are per-period realized spend and change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from numpy.typing import NDArray

from mmm_workbench.scenarios.spec import DataSpec
from mmm_workbench.simulate.media import World, simulate_outcome
from mmm_workbench.simulate.transforms import SATURATIONS

__all__ = [
    "BATCH_BYTES",
    "LIFT_FIELDS",
    "MROAS_STEP",
    "counterfactual_plans",
    "counterfactual_truth",
    "lift_test_plans",
    "lift_test_truth",
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
    "sigma",
    "delta_y",
)
"""The fields of :func:`lift_test_truth`, one value per experiment each."""


def _ratio(num: Array, den: Array) -> Array:
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=np.broadcast_to(den != 0, out.shape))
    return out


def counterfactual_plans(planned: Array, multipliers: Array, rows: range | None = None) -> Array:
    """Spend plans of the counterfactuals, shape ``(len(rows), channel, date)``.

    The full list, ``2C + C*M`` plans, is each channel switched off, each channel +1%,
    each channel times each response multiplier; ``rows`` selects a part of it (all by
    default), so that a long list is built and re-simulated a batch at a time."""
    n_ch = planned.shape[0]
    n_m = len(multipliers)
    rows = range(2 * n_ch + n_ch * n_m) if rows is None else rows
    plans = np.repeat(planned[None], len(rows), axis=0)
    for k, i in enumerate(rows):
        if i < n_ch:
            plans[k, i] = 0.0
        elif i < 2 * n_ch:
            plans[k, i - n_ch] *= 1.0 + MROAS_STEP
        else:
            c, m = divmod(i - 2 * n_ch, n_m)
            plans[k, c] *= multipliers[m]
    return plans


def resimulate(
    world: World, n_plans: int, build: Callable[[range], Array]
) -> Iterator[tuple[range, dict[str, Array]]]:
    """Re-simulate ``n_plans`` spend plans a batch at a time.

    ``build(rows)`` returns the plans ``rows`` of the list, ``(len(rows), channel, date)``;
    a batch holds at most :data:`BATCH_BYTES` of planned spend (at least one plan), so
    memory is linear in channels x periods however many plans there are.

    Yields
    ------
    tuple
        The batch's rows and :func:`~mmm_workbench.simulate.media.simulate_outcome` of its
        plans.
    """
    plan_bytes = 8 * len(world.spec.channels) * len(world.baseline)
    per_batch = max(1, BATCH_BYTES // max(plan_bytes, 1))
    for start in range(0, n_plans, per_batch):
        rows = range(start, min(n_plans, start + per_batch))
        with np.errstate(over="ignore"):
            yield rows, simulate_outcome(world, build(rows))


def counterfactual_truth(
    world: World, planned: Array, factual: dict[str, Array]
) -> dict[str, Array]:
    """Per-channel estimands from the re-simulated plans of :func:`counterfactual_plans`.

    Parameters
    ----------
    world
        The realized world.
    planned
        The factual planned spend, ``(channel, date)``.
    factual
        :func:`~mmm_workbench.simulate.media.simulate_outcome` of the factual plan.

    Returns
    -------
    dict
        ``channel_contribution``, ``interaction``, ``channel_total_effect`` (all
        ``(date, channel)`` or ``(date,)``), ``contribution_total``, ``contribution_share``,
        ``roas``, ``mroas`` (``(channel,)``), ``response``, ``response_spend``
        (``(channel, multiplier)``).
    """
    spec = world.spec
    n_ch = len(spec.channels)
    mults = np.asarray(spec.response_multipliers, dtype=float)
    y0 = factual["y"]
    n_plans = 2 * n_ch + n_ch * len(mults)
    y = np.empty((n_plans, len(y0)))
    for rows, out in resimulate(
        world, n_plans, lambda rows: counterfactual_plans(planned, mults, rows)
    ):
        y[rows.start : rows.stop] = out["y"]
    train = slice(0, spec.train_periods)
    spend_train = factual["spend"][:, train].sum(axis=-1)

    terms, mu = factual["terms"], factual["mu"]
    contribution = terms if spec.model == "additive" else mu * (1.0 - np.exp(-terms))
    total_effect = y0[None, :] - y[:n_ch]
    curve = y[2 * n_ch :].reshape(n_ch, len(mults), -1) - y[:n_ch, None, :]
    contribution_total = contribution[:, train].sum(axis=-1)
    return {
        "channel_contribution": contribution.T,
        "interaction": mu - world.baseline - contribution.sum(axis=0),
        "channel_total_effect": total_effect.T,
        "contribution_total": contribution_total,
        "contribution_share": contribution_total / y0[train].sum(),
        "roas": _ratio(total_effect[:, train].sum(axis=-1), spend_train),
        "mroas": _ratio((y[n_ch : 2 * n_ch] - y0)[:, train].sum(axis=-1), MROAS_STEP * spend_train),
        "response": curve[..., train].sum(axis=-1),
        "response_spend": spend_train[:, None] * mults[None, :],
    }


def lift_test_plans(spec: DataSpec, planned: Array, rows: range | None = None) -> Array:
    """The spend plans of the spec's lift tests ``rows`` (all by default),
    ``(experiment, channel, date)``."""
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
    """Every lift test of the spec, from the re-simulated plans of :func:`lift_test_plans`
    (``planned``: the factual planned spend; ``factual``: its
    :func:`~mmm_workbench.simulate.media.simulate_outcome`).

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
    for rows, out in resimulate(world, n_tests, lambda r: lift_test_plans(spec, planned, r)):
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
    tail_end = min(len(world.baseline), t.start + t.periods + spec.channels[c].adstock.l_max - 1)
    total = float((out["y"] - factual["y"])[t.start : tail_end].sum())
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
        "sigma": sigma,
        "delta_y": true_dy + float(rng.normal(0.0, sigma)) if sigma > 0 else true_dy,
    }


def pymc_marketing_truth(
    world: World, factual: dict[str, Array], contribution: Array
) -> dict[str, Array]:
    """The truth in pymc-marketing's internal units (max-abs scaling over training).

    pymc-marketing divides the target by ``max|y|`` and each channel by ``max|spend|``,
    both over the training rows. Adstock is linear, so only the saturation's parameters
    and the effect size change: with ``c = x_scale / channel_scale`` the family's
    ``rescale`` gives ``f(x; p) = m * f(c x; p')``, hence ``saturation_beta' = beta * m /
    target_scale``. Per-period contributions divide by ``target_scale``.

    Returns
    -------
    dict
        ``target_scale`` (scalar), ``channel_scale`` and ``saturation_beta``
        (``(channel,)``), ``saturation_<param>`` per parameter name (NaN where a
        channel's family lacks it), ``channel_contribution`` and ``baseline`` scaled.
    """
    spec = world.spec
    train = slice(0, spec.train_periods)
    target_scale = float(np.max(np.abs(factual["y"][train]))) or 1.0
    channel_scale = np.max(np.abs(factual["spend"][:, train]), axis=-1)
    channel_scale = np.where(channel_scale > 0, channel_scale, 1.0)
    out: dict[str, Array] = {
        "target_scale": np.asarray(target_scale),
        "channel_scale": channel_scale,
        "saturation_beta": np.empty(len(spec.channels)),
        "channel_contribution": contribution / target_scale,
        "baseline": world.baseline / target_scale,
    }
    n_ch = len(spec.channels)
    for c, ch in enumerate(spec.channels):
        family = SATURATIONS[ch.saturation.kind]
        assert family.rescale is not None
        params, m = family.rescale(ch.saturation.params, world.x_scale[c] / channel_scale[c])
        out["saturation_beta"][c] = ch.beta * m / target_scale
        for name, value in params.items():
            out.setdefault(f"saturation_{name}", np.full(n_ch, np.nan))[c] = value
    return out
