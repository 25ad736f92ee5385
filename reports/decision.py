"""Decision-level recovery: whether the model leads to the right budget allocation.

From per-channel response curves on the ``response_multipliers`` grid (the truth's in a
record's ``/truth``, the model's posterior draws in ``/posterior``;
:mod:`mmm_workbench.simulate.truth` defines ``response[channel, multiplier]``: the
incremental target of the training window's spend scaled by the multiplier, carry-over
included), this module finds

- the **model's plan**: the allocation of the observed total budget ``B = sum_c S_c``
  (``S_c`` the channel's spend in the training window) that maximises the *posterior
  expected* response ``sum_c E[R_c(m_c)]``, with channel spends ``x_c = m_c S_c``,
  ``sum_c x_c = B`` and every ``m_c`` within the grid's range;
- the **true optimum**: the same under the true curves;
- ``regret``: the true response at the true optimum minus the true response at the
  model's plan (data units, >= 0), and ``regret_share``, that regret over the true
  response at the optimum;
- ``optimal_share``: per channel, ``x_c / B`` of the model's plan (the estimate) and of
  the true optimum (the truth); ``optimal_multiplier``: the same as ``m_c``, the plan's
  spend over the observed (at the grid's edge, the optimum may lie beyond the grid).

Curves are piecewise linear in spend between the grid's points. The optimiser is exact
for that objective (:func:`optimal_allocation`). The posterior expected curve is the mean
of the draws' curves: interpolation is linear, so the expected response of an allocation
is the interpolated mean curve, exactly.

Approximations (what the regret is *not*)
-----------------------------------------
- **Separability.** The response of a plan that changes every channel at once is taken as
  the sum of each channel's curve changed alone. With spend or effect mediation
  (channel-to-channel links), a multiplicative model, or interactions in the
  data-generating process, channels' curves are not additive, and the true response of a
  joint plan differs from that sum; the true optimum here is the optimum of the additive
  approximation, for the truth and the model alike.
- **Scaling the realized plan.** A plan scales each channel's whole training-window spend
  by one multiplier (its timing kept); it does not re-time spend within the window.
- **The grid.** Allocations are limited to multipliers within the grid's range
  (default 0 to 2), and the curves are linear between its points: a coarse grid
  understates curvature between them. Where the plan and the true optimum put a channel
  at the same end of the range (both would give it more than twice its spend), that
  bound, not the model, sets the channel's spend, and a regret of 0 says only that the
  model got the rest of the budget right (with two channels: nothing);
  :func:`bound_words` says so beside the regret.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from mmm_workbench.reports.contract import TRUTH
from mmm_workbench.reports.records import FitRecord

__all__ = [
    "DECISION_ESTIMANDS",
    "DECISION_FAMILY",
    "DECISION_METRICS",
    "Allocation",
    "Decision",
    "bound_words",
    "decide",
    "decision_summary",
    "optimal_allocation",
    "record_decision",
]

DECISION_FAMILY = "decision"
DECISION_ESTIMANDS = ("optimal_share", "optimal_multiplier", "regret", "regret_share")
"""The decision estimands of a fit whose record holds response curves and their spend.

The model's plan is a decision, not a posterior: its "draws" are its value repeated, and
the truth of ``regret`` and ``regret_share`` is 0 (no regret), so their ``bias`` is the
mean regret over replicates."""
DECISION_METRICS = (
    "bias", "abs_bias", "relative_bias", "abs_relative_bias", "bias_pp", "abs_bias_pp",
    "rmse", "empirical_se", "crps",
)  # fmt: skip
"""The aggregate measures of decision estimands: point errors only (a plan has no
posterior spread, so coverage, z-scores and rank statistics do not apply)."""

FloatArray = NDArray[np.float64]
_ENUMERATION_LIMIT = 2_000_000
"""Most breakpoint combinations the exact vertex enumeration visits per free channel;
beyond it a dynamic programme on a budget grid of :data:`_DP_UNITS` units is used."""
_DP_UNITS = 2000


@dataclass(frozen=True, kw_only=True)
class Allocation:
    """A budget allocation: per channel its spend, multiplier and share of the budget.

    ``value`` is the objective at the allocation (the sum of the curves it was optimised
    on); ``method`` says how it was found: ``greedy`` (all curves concave: exact),
    ``vertices`` (exact enumeration), ``grid`` (dynamic programme on a budget grid:
    within one grid unit of the optimum's spend).
    """

    spend: FloatArray
    multiplier: FloatArray
    share: FloatArray
    value: float
    method: str


@dataclass(frozen=True, kw_only=True)
class Decision:
    """The model's plan against the true optimum (see the module notes).

    ``regret = true_value - plan_value``, both under the true curves; ``regret_share =
    regret / true_value`` (NaN when the true optimum's response is not positive).
    """

    channels: tuple[str, ...]
    budget: float
    plan: Allocation
    optimum: Allocation
    plan_value: float
    true_value: float
    regret: float
    regret_share: float


def _interp(x: float | FloatArray, xs: FloatArray, ys: FloatArray) -> FloatArray:
    return np.asarray(np.interp(x, xs, ys), dtype=np.float64)


def _check_grid(multipliers: ArrayLike) -> FloatArray:
    m = np.asarray(multipliers, dtype=np.float64).reshape(-1)
    if m.size < 2 or not np.all(np.isfinite(m)) or np.any(np.diff(m) <= 0):
        raise ValueError(
            f"response_multipliers = {m.tolist()}: need two or more finite, increasing values"
        )
    if not m[0] <= 1.0 <= m[-1]:
        raise ValueError(
            f"response_multipliers = {m.tolist()}: must span 1 (the observed budget) to allocate it"
        )
    return m


def optimal_allocation(curves: ArrayLike, multipliers: ArrayLike, spend: ArrayLike) -> Allocation:
    """Allocate the observed total budget to maximise the sum of per-channel curves.

    Parameters
    ----------
    curves
        ``(channel, multiplier)``: each channel's response at ``multiplier x spend``.
    multipliers
        The increasing grid of spend multipliers; it must span 1.
    spend
        ``(channel,)``: the observed spend; the budget is its sum. A channel with no
        spend stays at none.

    Returns
    -------
    Allocation
        Spends ``x_c = m_c S_c`` with ``sum x_c = sum S_c`` and ``m_c`` within the grid's
        range, maximising ``sum_c R_c(x_c)``, ``R_c`` linear between the grid points.

    Raises
    ------
    ValueError
        A grid that is not increasing or does not span 1; curves or spend that are not
        finite, or shapes that do not match.

    Notes
    -----
    Exact for piecewise-linear curves. When every channel's curve is concave in spend
    (slopes non-increasing), filling segments in decreasing order of slope is optimal
    (greedy marginal allocation). Otherwise an optimum lies at a vertex of the linear
    programme of its segments: every channel but at most one at a grid point; these are
    enumerated (for each free channel, every combination of the others' grid points).
    When that is more than :data:`_ENUMERATION_LIMIT` combinations (many channels, a
    fine grid, curves that are not concave), a dynamic programme over a budget grid of
    :data:`_DP_UNITS` units is used instead (``method = "grid"``, near-optimal).
    """
    m = _check_grid(multipliers)
    r = np.asarray(curves, dtype=np.float64)
    s = np.asarray(spend, dtype=np.float64).reshape(-1)
    if r.shape != (s.size, m.size):
        raise ValueError(f"curves of shape {r.shape}: expected (channel, multiplier) = "
                         f"{(s.size, m.size)}")  # fmt: skip
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(s))) or np.any(s < 0):
        raise ValueError("curves and spend must be finite, spend >= 0")
    budget = float(s.sum())
    active = np.flatnonzero(s > 0)
    mult = np.ones(s.size)
    if active.size <= 1 or budget <= 0:
        value = float(sum(_interp(1.0, m, r[c]) for c in range(s.size)))
        return Allocation(
            spend=s.copy(), multiplier=mult, share=_shares(s, budget), value=value,
            method="greedy",
        )  # fmt: skip
    xs = s[active, None] * m[None, :]  # (A, M) spend at the grid points
    ys = r[active]
    fixed = float(sum(_interp(1.0, m, r[c]) for c in range(s.size) if s[c] <= 0))
    slopes = np.diff(ys, axis=1) / np.diff(xs, axis=1)
    scale = max(float(np.max(np.abs(slopes))), 1e-300)
    concave = bool(np.all(np.diff(slopes, axis=1) <= 1e-9 * scale))
    if concave:
        x, method = _greedy(xs, slopes, budget), "greedy"
    else:
        combos = (m.size ** (active.size - 1)) if active.size > 1 else 1
        if combos <= _ENUMERATION_LIMIT:
            x, method = _vertices(xs, ys, budget), "vertices"
        else:
            x, method = _grid(xs, ys, budget), "grid"
    spend_out = np.zeros(s.size)
    spend_out[active] = x
    mult[active] = x / s[active]
    value = fixed + float(sum(_interp(x[i], xs[i], ys[i]) for i in range(active.size)))
    return Allocation(
        spend=spend_out, multiplier=mult, share=_shares(spend_out, budget), value=value,
        method=method,
    )  # fmt: skip


def _shares(x: FloatArray, budget: float) -> FloatArray:
    return x / budget if budget > 0 else np.full(x.shape, np.nan)


def _greedy(xs: FloatArray, slopes: FloatArray, budget: float) -> FloatArray:
    """Fill segments in decreasing order of slope from every channel's lowest spend."""
    x = xs[:, 0].copy()
    left = budget - float(x.sum())
    lengths = np.diff(xs, axis=1)
    order = sorted(
        ((float(slopes[c, k]), c, k) for c in range(xs.shape[0]) for k in range(slopes.shape[1])),
        key=lambda t: (-t[0], t[1], t[2]),
    )
    for _, c, k in order:
        if left <= 0:
            break
        take = min(float(lengths[c, k]), left)
        x[c] += take
        left -= take
    return x


def _vertices(xs: FloatArray, ys: FloatArray, budget: float) -> FloatArray:
    """Enumerate every vertex: all channels but one (free) at a grid point."""
    n, k = xs.shape
    best, best_x = -math.inf, xs[:, 0].copy()
    tol = 1e-9 * max(budget, 1.0)
    for free in range(n):
        others = [c for c in range(n) if c != free]
        spend_sum = np.zeros(1)
        value_sum = np.zeros(1)
        for c in others:  # the others' grid points, every combination (C order)
            spend_sum = np.add.outer(spend_sum, xs[c]).reshape(-1)
            value_sum = np.add.outer(value_sum, ys[c]).reshape(-1)
        x_free = budget - spend_sum
        ok = (x_free >= xs[free, 0] - tol) & (x_free <= xs[free, -1] + tol)
        if not ok.any():
            continue
        clipped = np.clip(x_free, xs[free, 0], xs[free, -1])
        total = np.where(ok, value_sum + _interp(clipped, xs[free], ys[free]), -np.inf)
        i = int(np.argmax(total))
        if total[i] > best + 1e-12 * max(abs(best), 1.0) or not math.isfinite(best):
            best = float(total[i])
            picks = np.unravel_index(i, (k,) * len(others)) if others else ()
            x = np.empty(n)
            for c, j in zip(others, picks, strict=True):
                x[c] = xs[c, int(j)]
            x[free] = clipped[i]
            best_x = x
    return best_x


def _grid(xs: FloatArray, ys: FloatArray, budget: float) -> FloatArray:
    """Dynamic programme over a budget grid of :data:`_DP_UNITS` units (near-optimal)."""
    n = xs.shape[0]
    units = _DP_UNITS
    step = budget / units
    lo = np.ceil(xs[:, 0] / step - 1e-9).astype(int)
    hi = np.floor(xs[:, -1] / step + 1e-9).astype(int)
    if lo.sum() > units or hi.sum() < units:
        return _greedy(xs, np.diff(ys, axis=1) / np.diff(xs, axis=1), budget)
    best = np.full(units + 1, -np.inf)
    best[0] = 0.0
    choice = np.zeros((n, units + 1), dtype=int)
    for c in range(n):
        levels = np.arange(lo[c], hi[c] + 1)
        gain = _interp(levels * step, xs[c], ys[c])
        total = np.full((units + 1, levels.size), -np.inf)
        for j, level in enumerate(levels.tolist()):
            if level <= units:
                total[level:, j] = best[: units + 1 - level] + gain[j]
        pick = np.argmax(total, axis=1)
        choice[c] = levels[pick]
        best = total[np.arange(units + 1), pick]
    x = np.empty(n)
    left = units
    for c in range(n - 1, -1, -1):
        x[c] = choice[c, left] * step
        left -= choice[c, left]
    return x


def decide(
    draws: ArrayLike,
    truth: ArrayLike,
    multipliers: ArrayLike,
    spend: ArrayLike,
    channels: Sequence[str] = (),
) -> Decision:
    """Compare the model's budget plan with the true optimum.

    Parameters
    ----------
    draws
        ``(sample, channel, multiplier)``: posterior draws of the response curves.
    truth
        ``(channel, multiplier)``: the true response curves.
    multipliers
        The grid (increasing, spanning 1).
    spend
        ``(channel,)``: the observed spend in the training window.
    channels
        The channels' names (default ``0, 1, ...``).

    Returns
    -------
    Decision
        The plan maximising the posterior expected response, the true optimum, and the
        regret of following the plan (module notes: what is approximate).
    """
    post = np.asarray(draws, dtype=np.float64)
    true = np.asarray(truth, dtype=np.float64)
    if post.ndim != 3 or post.shape[1:] != true.shape:
        raise ValueError(f"draws of shape {post.shape} do not match truth of shape {true.shape}")
    m = _check_grid(multipliers)
    s = np.asarray(spend, dtype=np.float64).reshape(-1)
    plan = optimal_allocation(post.mean(axis=0), m, s)
    optimum = optimal_allocation(true, m, s)
    plan_value = _value(true, m, s, plan.spend)
    true_value = max(optimum.value, plan_value)  # a near-optimal grid search can only lose
    regret = true_value - plan_value
    names = tuple(channels) or tuple(str(i) for i in range(s.size))
    return Decision(
        channels=names,
        budget=float(s.sum()),
        plan=plan,
        optimum=optimum,
        plan_value=plan_value,
        true_value=true_value,
        regret=regret,
        regret_share=regret / true_value if true_value > 0 else math.nan,
    )


def _value(curves: FloatArray, m: FloatArray, spend: FloatArray, x: FloatArray) -> float:
    """Sum the curves at spends ``x`` (a channel without spend at multiplier 1)."""
    total = 0.0
    for c in range(spend.size):
        if spend[c] > 0:
            total += float(_interp(x[c], spend[c] * m, curves[c]))
        else:
            total += float(_interp(1.0, m, curves[c]))
    return total


def record_decision(record: FitRecord) -> Decision | None:
    """Return the decision of one fit record, or None when it lacks what one needs.

    A record needs the estimand ``response`` (``channel, multiplier``) and the truth-only
    ``response_spend`` (the spend at each multiplier; ``S_c`` is it over the multiplier),
    on a grid that spans 1.
    """
    names = {v.name for v in record.variables}
    if "response" not in record.estimand_names() or "response_spend" not in names:
        return None
    response = record.estimand("response")
    if set(response.dims) != {"channel", "multiplier"}:
        return None
    channels = pd.unique(response.coords["channel"])
    grid = np.sort(pd.unique(np.asarray(response.coords["multiplier"], dtype=np.float64)))
    try:
        grid = _check_grid(grid)
    except ValueError:
        return None
    ci = pd.Index(channels).get_indexer(pd.Index(response.coords["channel"]))
    mi = pd.Index(grid).get_indexer(pd.Index(response.coords["multiplier"], dtype=np.float64))
    if len(ci) != channels.size * grid.size or ci.min() < 0 or mi.min() < 0:
        return None
    draws = np.full((response.draws.shape[0], channels.size, grid.size), np.nan)
    draws[:, ci, mi] = response.draws
    truth = np.full((channels.size, grid.size), np.nan)
    truth[ci, mi] = response.truth
    var = record.variable("response_spend")
    if set(var.dims) != {"channel", "multiplier"}:
        return None
    spend_at = record.values[TRUTH][var.rows]
    sc = pd.Index(channels).get_indexer(pd.Index(record.coords["channel"][var.rows]))
    sm = np.asarray(record.coords["multiplier"][var.rows], dtype=np.float64)
    top = sm == sm.max()
    if sm.max() <= 0 or np.any(sc[top] < 0):
        return None
    spend = np.full(channels.size, np.nan)
    spend[sc[top]] = spend_at[top] / sm.max()
    if not (np.all(np.isfinite(draws)) and np.all(np.isfinite(truth))):
        return None
    if not np.all(np.isfinite(spend)):
        return None
    return decide(draws, truth, grid, spend, [str(c) for c in channels])


def decision_summary(estimands: pd.DataFrame) -> pd.DataFrame:
    """Summarise the decision estimands of an estimand table per cell and channel.

    Parameters
    ----------
    estimands
        :func:`mmm_workbench.reports.tables.estimand_table`, with its ``decision`` rows
        (and the ``response`` rows, whose multipliers give the grid's range).

    Returns
    -------
    pandas.DataFrame
        ``cell, cell_label, channel``; ``plan_share, true_share`` and ``plan_multiplier,
        true_multiplier`` (means over the cell's fits of the model plan's and the true
        optimum's budget share and spend multiplier); ``at_edge``: the fits where either
        puts the channel at the grid's lowest or highest multiplier (the optimum may lie
        beyond the grid); ``at_bound``: the fits where both put it at the same one, and
        ``bound``, that multiplier (the highest where both ends occur; NaN in none): the
        grid, not the model, set its spend there; ``regret`` and ``regret_share`` (means
        over the fits; the same on each row of a cell) and ``fits``. Empty when no record
        held response curves.
    """
    columns = ["cell", "cell_label", "channel", "plan_share", "true_share", "plan_multiplier"]
    columns += ["true_multiplier", "at_edge", "at_bound", "bound", "regret", "regret_share"]
    columns += ["fits"]
    d = estimands[estimands["family"].astype(str) == DECISION_FAMILY]
    if d.empty:
        return pd.DataFrame(columns=columns)
    keys = ["cell", "cell_label", "channel"]
    shares = d[d["estimand"] == "optimal_share"]
    out = (
        shares.groupby(keys, sort=False, observed=True)
        .agg(plan_share=("mean", "mean"), true_share=("truth", "mean"))
        .reset_index()
    )
    mult = d[d["estimand"] == "optimal_multiplier"]
    curves = estimands[estimands["estimand"] == "response"]
    if len(mult) and "multiplier" in curves:
        grid = curves.groupby("cell")["multiplier"].agg(["min", "max"])
        lo = mult["cell"].map(grid["min"]).astype(float)
        hi = mult["cell"].map(grid["max"]).astype(float)
        values = mult[["mean", "truth"]].astype(float)
        low, high = values.le(lo + 1e-9, axis=0), values.ge(hi - 1e-9, axis=0)
        edge = (low | high).any(axis=1)
        both_low, both_high = low.all(axis=1), high.all(axis=1)
        bound = np.where(both_high, hi, np.where(both_low, lo, np.nan))
        per = (
            mult.assign(edge=edge, both=both_low | both_high, bound=bound)
            .groupby(keys, sort=False, observed=True)
            .agg(
                plan_multiplier=("mean", "mean"),
                true_multiplier=("truth", "mean"),
                at_edge=("edge", "sum"),
                at_bound=("both", "sum"),
                bound=("bound", "max"),
            )
            .reset_index()
        )
        out = out.merge(per, on=keys, how="left")
    per_cell = (
        d[d["estimand"].isin(["regret", "regret_share"])]
        .pivot_table(index="cell", columns="estimand", values="mean", aggfunc="mean")
        .reindex(columns=["regret", "regret_share"])
    )
    fits = d[d["estimand"] == "regret"].groupby("cell")["replicate"].nunique()
    out["regret"] = out["cell"].map(per_cell["regret"])
    out["regret_share"] = out["cell"].map(per_cell["regret_share"])
    out["fits"] = out["cell"].map(fits).fillna(0).astype(int)
    return out.reindex(columns=columns)


def bound_words(summary: pd.DataFrame) -> str:
    """Say which channels' spend the grid's bound set in both plans (one cell's rows).

    Parameters
    ----------
    summary
        The rows of one cell of :func:`decision_summary`.

    Returns
    -------
    str
        For example ``"both plans put tv at the grid's highest multiplier (2x its spend) in
        5 of 5 fits, so that bound, not the model, set the whole plan"``; empty where no
        channel is at the same bound in both plans in any fit.
    """
    if summary.empty or "at_bound" not in summary:
        return ""
    rows = summary[summary["at_bound"].fillna(0).astype(int) > 0]
    if rows.empty:
        return ""
    parts = []
    for r in rows.to_dict("records"):
        end = "highest" if float(r["bound"]) >= 1.0 else "lowest"
        parts.append(
            f"{r['channel']} at the grid's {end} multiplier ({float(r['bound']):g}x its spend) "
            f"in {int(r['at_bound'])} of {int(r['fits'])} fits"
        )
    whole = len(rows) >= len(summary) - 1 and bool((rows["at_bound"] == rows["fits"]).all())
    what = "the whole plan" if whole else ("its spend" if len(rows) == 1 else "their spends")
    return f"both plans put {'; '.join(parts)}, so that bound, not the model, set {what}"
