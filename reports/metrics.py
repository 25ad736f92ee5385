"""Scoring formulas.

The posterior summary of one fit, and performance measures over replicates with their Monte Carlo
standard errors. Pure functions: arrays in, arrays or a tidy frame out
(:mod:`mmm_workbench.reports.aggregate` applies them to the groups of a table).

Draws are ``(sample, k)`` arrays (``k`` scalar quantities), truths ``(k,)``. Performance
measures follow Morris, White & Crowther (2019), "Using simulation studies to evaluate
statistical methods", Statistics in Medicine 38:2074-2102, Table 6, with the true value
allowed to differ between replicates (it is drawn or simulated per replicate here): every
measure is taken over the errors ``estimate_i - truth_i``, and reduces to Morris et al.'s
when the truth is fixed. The point estimate is the posterior mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import special

__all__ = [
    "INTERVALS",
    "LEVELS",
    "Estimate",
    "absolute",
    "bias",
    "central_interval",
    "chi2_sd_interval",
    "clustered_mean",
    "coverage",
    "crps_draws",
    "empirical_se",
    "hdi_covers",
    "hdi_interval",
    "interval_column",
    "interval_score",
    "jeffreys_interval",
    "level_name",
    "mean_estimate",
    "model_se",
    "posterior_contraction",
    "prior_overlap",
    "proportion",
    "relative_bias",
    "rmse",
    "scaled",
    "sd_estimate",
    "summarize_draws",
    "summary_columns",
]

FloatArray = NDArray[np.float64]
IntervalKind = Literal["central", "hdi", "left", "right"]
LEVELS: tuple[float, ...] = (0.5, 0.8, 0.9, 0.95)
"""Default central credible levels for coverage, width and interval score."""
INTERVALS: tuple[str, ...] = ("central", "hdi", "left", "right")
"""Kinds of credible interval: ``central`` (equal-tailed), ``hdi`` (highest density, open
towards a support boundary it reaches), ``left`` (one-sided, ``(-inf, q_L]``: covers a
truth on a lower boundary such as a delay of 0) and ``right`` (``[q_(1-L), inf)``)."""


def level_name(level: float) -> str:
    """``0.9 -> "90"``, ``0.975 -> "97.5"``: the suffix of ``coverage_90`` etc."""
    return f"{100 * level:g}"


def interval_column(stat: str, kind: str, level: float) -> str:
    """Column or metric name of an interval statistic.

    Parameters
    ----------
    stat
        ``lower``, ``upper``, ``covered``, ``width``, ``interval_score`` (columns) or
        ``coverage`` (the metric).
    kind
        One of :data:`INTERVALS`; central intervals carry no kind in the name.
    level
        The credible level.

    Returns
    -------
    str
        ``covered_90`` (central), ``covered_hdi_90``, ``coverage_left_99``, ...
    """
    return (
        f"{stat}_{level_name(level)}" if kind == "central" else f"{stat}_{kind}_{level_name(level)}"
    )


# ---------------------------------------------------------------- one fit: summaries


def _quantile_sorted(x: FloatArray, prob: float) -> FloatArray:
    """``np.quantile(x, prob, axis=0)`` (linear interpolation) of an axis-0 sorted array."""
    pos = prob * (x.shape[0] - 1)
    lo = int(np.floor(pos))
    hi = min(lo + 1, x.shape[0] - 1)
    return np.asarray(x[lo] + (pos - lo) * (x[hi] - x[lo]))


def _central_sorted(x: FloatArray, level: float) -> tuple[FloatArray, FloatArray]:
    return _quantile_sorted(x, (1 - level) / 2), _quantile_sorted(x, (1 + level) / 2)


def _hdi_window(
    x: FloatArray, level: float
) -> tuple[FloatArray, FloatArray, NDArray[np.intp], int]:
    n = x.shape[0]
    inc = min(int(np.floor(level * n)), n - 1)
    start = np.argmin(x[inc:] - x[: n - inc], axis=0)
    lower = np.take_along_axis(x[: n - inc], start[None], axis=0)[0]
    upper = np.take_along_axis(x[inc:], start[None], axis=0)[0]
    return lower, upper, start, n - inc - 1


def _hdi_sorted(x: FloatArray, level: float) -> tuple[FloatArray, FloatArray]:
    lower, upper, _, _ = _hdi_window(x, level)
    return lower, upper


def _hdi_covers(
    x: FloatArray, y: FloatArray, level: float
) -> tuple[FloatArray, FloatArray, NDArray[np.bool_]]:
    """HDI bounds and coverage, the interval open towards a support boundary it reaches."""
    lower, upper, start, last = _hdi_window(x, level)
    slack = last // 10  # the densest window leaves at most a tenth of what it excludes ...
    open_low = (start <= slack) & (last > 0)  # ... below it: the density is piled at the bottom
    open_high = (start >= last - slack) & (last > 0)  # ... or at the top
    covered = (open_low | (lower <= y)) & (open_high | (y <= upper))
    return lower, upper, covered


def _crps_sorted(x: FloatArray, y: FloatArray) -> FloatArray:
    s = x.shape[0]
    weights = 2.0 * np.arange(1, s + 1) - s - 1
    spread = 2.0 * np.tensordot(weights, x, axes=(0, 0)) / s**2
    return np.asarray(np.mean(np.abs(x - y), axis=0) - 0.5 * spread)


def _sorted(draws: ArrayLike) -> FloatArray:
    return np.sort(np.asarray(draws, dtype=np.float64), axis=0)


def central_interval(draws: ArrayLike, level: float) -> tuple[FloatArray, FloatArray]:
    """Equal-tailed interval.

    The ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles (linear interpolation, as
    ``np.quantile``) along axis 0.
    """
    return _central_sorted(_sorted(draws), level)


def hdi_interval(draws: ArrayLike, level: float) -> tuple[FloatArray, FloatArray]:
    """Shortest interval holding ``floor(level * S)`` draw gaps along axis 0 (as ArviZ's HDI)."""
    return _hdi_sorted(_sorted(draws), level)


def hdi_covers(draws: ArrayLike, truth: ArrayLike, level: float) -> NDArray[np.bool_]:
    """Whether the ``level`` HDI of ``draws`` ``(sample, k)`` covers ``truth`` ``(k,)``.

    Notes
    -----
    An HDI that leaves at most a tenth of the draws it excludes below its lower bound
    belongs to a density piled against the lower end of its draws: a posterior against a
    support boundary (an adstock delay of 0, a share of 0). Its highest-density region
    reaches that boundary, so the interval is open below (and likewise above): a truth on
    the boundary, below every continuous draw, is covered. (A tenth, not none: with a
    few hundred draws the shortest window starts a draw or two above the smallest by
    chance.) A symmetric posterior excludes about half below and opens neither end; a
    window spanning every draw (a single draw, ``level`` near 1) opens neither end.
    """
    x = _sorted(draws)
    return _hdi_covers(x, np.asarray(truth, dtype=np.float64).reshape(x.shape[1]), level)[2]


def crps_draws(draws: ArrayLike, y: ArrayLike) -> FloatArray:
    """Continuous ranked probability score of the draws' empirical distribution at ``y``.

    Notes
    -----
    ``CRPS(F, y) = E|X - y| - 0.5 E|X - X'|`` with ``X, X'`` independent from ``F``
    (Gneiting & Raftery 2007, JASA 102:359, eq. 21); lower is better, in the units of
    ``y``. With ``F`` the empirical distribution of ``S`` sorted draws ``x_(i)``,
    ``E|X - X'| = 2 / S^2 * sum_i (2i - S - 1) x_(i)``, exact for that distribution.
    """
    return _crps_sorted(_sorted(draws), np.asarray(y, dtype=np.float64))


def interval_score(lower: ArrayLike, upper: ArrayLike, y: ArrayLike, level: float) -> FloatArray:
    """Interval score of a ``level`` central interval ``[lower, upper]`` at ``y``.

    Notes
    -----
    ``IS = (u - l) + (2 / a) (l - y) 1{y < l} + (2 / a) (y - u) 1{y > u}``, ``a = 1 - level``
    (Gneiting & Raftery 2007, JASA 102:359, eq. 43): width plus a penalty for a miss;
    lower is better.
    """
    lo, hi, obs = (np.asarray(v, dtype=np.float64) for v in (lower, upper, y))
    alpha = 1.0 - level
    return np.asarray(
        (hi - lo) + 2 / alpha * np.maximum(lo - obs, 0.0) + 2 / alpha * np.maximum(obs - hi, 0.0)
    )


def posterior_contraction(draws: ArrayLike, prior: ArrayLike | None) -> FloatArray:
    """``1 - Var(posterior) / Var(prior)`` along axis 0; NaN without prior draws.

    Notes
    -----
    Posterior contraction (Schad, Betancourt & Vasishth 2021, Psychological Methods 26:103;
    Betancourt 2018): near 1 the data determined the quantity, near 0 the prior did.
    """
    post = np.asarray(draws, dtype=np.float64)
    if prior is None or post.shape[0] < 2 or np.shape(prior)[0] < 2:
        return np.full(post.shape[1:], np.nan)
    prior_var = np.var(np.asarray(prior, dtype=np.float64), axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 1.0 - np.var(post, axis=0, ddof=1) / prior_var
    return np.where(prior_var > 0, out, np.nan)


def prior_overlap(draws: ArrayLike, prior: ArrayLike | None, level: float = 0.9) -> FloatArray:
    """Share of the prior draws inside the posterior's central ``level`` interval.

    NaN without prior draws.

    Notes
    -----
    The overlap of posterior and prior that the identifiability verdict reads beside
    :func:`posterior_contraction`: near ``level`` when the posterior is the prior (the data
    taught nothing), near 0 when the data moved or narrowed it. Contraction alone misses a
    posterior the data moved without narrowing; this share alone moves slowly with the
    width (``0.75`` at half the prior's variance), so the verdict asks for both.
    """
    post = np.asarray(draws, dtype=np.float64)
    if prior is None or np.shape(prior)[0] < 2 or post.shape[0] < 2:
        return np.full(post.shape[1:], np.nan)
    return _overlap_sorted(np.sort(post, axis=0), np.asarray(prior, dtype=np.float64), level)


def _overlap_sorted(xs: FloatArray, p: FloatArray, level: float = 0.9) -> FloatArray:
    lo, hi = _central_sorted(xs, level)
    share = np.mean((p >= lo) & (p <= hi), axis=0)
    return np.where(np.all(np.isfinite(p), axis=0), share, np.nan)


def summary_columns(
    draws: ArrayLike,
    truth: ArrayLike,
    *,
    prior: ArrayLike | None = None,
    levels: Sequence[float] = LEVELS,
    intervals: Sequence[str] = ("central",),
) -> dict[str, NDArray[Any]]:
    """Return the columns of :func:`summarize_draws` as a dict of ``(k,)`` arrays.

    A column of ``prior`` that is not finite throughout stands for a quantity without prior
    draws.
    """
    unknown = [k for k in intervals if k not in INTERVALS]
    if unknown:
        raise ValueError(f"intervals = {unknown!r}: each must be one of {', '.join(INTERVALS)}")
    x = np.asarray(draws, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"draws must be (sample, k), got shape {x.shape}")
    y = np.asarray(truth, dtype=np.float64).reshape(x.shape[1])
    xs = np.sort(x, axis=0)
    mean = x.mean(axis=0)
    sd = x.std(axis=0, ddof=1) if x.shape[0] > 1 else np.full(y.shape, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = (mean - y) / np.abs(y)
        z = (mean - y) / sd
    cols: dict[str, NDArray[Any]] = {
        "truth": y,
        "mean": mean,
        "median": _quantile_sorted(xs, 0.5) if x.shape[0] else np.full(y.shape, np.nan),
        "sd": sd,
        "error": mean - y,
        "relative_error": np.where(np.isfinite(rel), rel, np.nan),
        "z": np.where(np.isfinite(z), z, np.nan),
        "contraction": np.full(y.shape, np.nan),
        "prior_overlap": np.full(y.shape, np.nan),
        "crps": _crps_sorted(xs, y),
    }
    if prior is not None and np.shape(prior)[0] >= 2 and x.shape[0] >= 2:
        p = np.asarray(prior, dtype=np.float64)
        prior_var = np.var(p, axis=0, ddof=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            contraction = 1.0 - sd**2 / prior_var
        cols["contraction"] = np.where(prior_var > 0, contraction, np.nan)
        cols["prior_overlap"] = _overlap_sorted(xs, p)
    for kind in dict.fromkeys(intervals):
        for level in levels:
            cols |= _interval_columns(xs, y, kind, level)
    return cols


def _interval_columns(
    xs: FloatArray, y: FloatArray, kind: str, level: float
) -> dict[str, NDArray[Any]]:
    def col(stat: str) -> str:
        return interval_column(stat, kind, level)

    if kind == "left":
        hi = _quantile_sorted(xs, level)
        return {col("upper"): hi, col("covered"): y <= hi}
    if kind == "right":
        lo = _quantile_sorted(xs, 1 - level)
        return {col("lower"): lo, col("covered"): lo <= y}
    if kind == "hdi":
        lo, hi, covered = _hdi_covers(xs, y, level)
    else:
        lo, hi = _central_sorted(xs, level)
        covered = (lo <= y) & (y <= hi)
    return {
        col("lower"): lo,
        col("upper"): hi,
        col("covered"): covered,
        col("width"): hi - lo,
        col("interval_score"): interval_score(lo, hi, y, level),
    }


def summarize_draws(
    draws: ArrayLike,
    truth: ArrayLike,
    *,
    prior: ArrayLike | None = None,
    levels: Sequence[float] = LEVELS,
    intervals: Sequence[str] = ("central",),
) -> pd.DataFrame:
    """One row per quantity.

    The posterior summary of ``draws`` ``(sample, k)`` against ``truth`` ``(k,)``.

    Columns: ``truth, mean, median, sd, error, relative_error, z, contraction,
    prior_overlap, crps`` and per interval kind (:data:`INTERVALS`) and level the columns
    named by :func:`interval_column`: ``lower, upper, covered, width, interval_score``
    (``lower_90``, ``covered_hdi_90``, ...); one-sided kinds have their finite bound and
    ``covered`` only.

    Notes
    -----
    ``error = mean - truth``; ``relative_error = error / |truth|`` (NaN at zero truth);
    ``z = (mean - truth) / sd`` (posterior z-score); ``covered`` is ``lower <= truth <=
    upper`` (for the HDI see :func:`hdi_covers`); see :func:`crps_draws`,
    :func:`interval_score`, :func:`posterior_contraction`, :func:`prior_overlap`.
    """
    return pd.DataFrame(
        summary_columns(draws, truth, prior=prior, levels=levels, intervals=intervals)
    )


# ------------------------------------------------- over replicates: measures and MCSEs


@dataclass(frozen=True)
class Estimate:
    """A performance measure: its value, Monte Carlo SE, interval and replicate count."""

    value: float
    mcse: float
    lower: float
    upper: float
    n: int


@lru_cache(maxsize=32)
def _z(ci_prob: float) -> float:
    return float(special.ndtri(0.5 + ci_prob / 2))


def _normal(value: float, mcse: float, n: int, ci_prob: float) -> Estimate:
    half = _z(ci_prob) * mcse
    return Estimate(value, mcse, value - half, value + half, n)


def _finite(x: ArrayLike) -> FloatArray:
    a = np.asarray(x, dtype=np.float64).reshape(-1)
    return a[np.isfinite(a)]


def mean_estimate(x: ArrayLike, ci_prob: float = 0.95) -> Estimate:
    """Mean of the finite values with MCSE ``sd / sqrt(n)`` and a normal interval."""
    a = _finite(x)
    n = a.size
    if n == 0:
        return Estimate(np.nan, np.nan, np.nan, np.nan, 0)
    mcse = float(a.std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan
    return _normal(float(a.mean()), mcse, n, ci_prob)


def clustered_mean(x: ArrayLike, clusters: ArrayLike, ci_prob: float = 0.95) -> Estimate:
    """Mean of the finite values of ``x`` with a cluster-robust MCSE and a normal interval.

    Notes
    -----
    For values pooled over the coordinates of each replicate (a replicate is a cluster;
    its coordinates are dependent), with ``S_c`` and ``N_c`` the sum and count of cluster
    ``c``, ``m`` the mean and ``N`` the count: ``MCSE = sqrt(C / (C - 1) * sum_c (S_c -
    m N_c)^2) / N`` (the sandwich estimator of a ratio mean), reducing to ``sd / sqrt(n)``
    for clusters of one. ``n`` is the number of clusters. The interval is clipped to the
    values' range for proportions in [0, 1].
    """
    a = np.asarray(x, dtype=np.float64).reshape(-1)
    g = np.asarray(clusters).reshape(-1)
    keep = np.isfinite(a)
    a, g = a[keep], g[keep]
    if a.size == 0:
        return Estimate(np.nan, np.nan, np.nan, np.nan, 0)
    _, index = np.unique(g, return_inverse=True)
    c = int(index.max()) + 1
    mean = float(a.mean())
    if c < 2:
        return Estimate(mean, np.nan, np.nan, np.nan, c)
    resid = np.bincount(index, weights=a - mean, minlength=c)
    mcse = float(np.sqrt(c / (c - 1) * np.sum(resid**2)) / a.size)
    return _normal(mean, mcse, c, ci_prob)


def sd_estimate(x: ArrayLike, ci_prob: float = 0.95) -> Estimate:
    """Return the standard deviation of the finite values with MCSE ``sd / sqrt(2 (n - 1))``.

    The interval is the chi-square one, ``sd * sqrt((n - 1) / q)`` at the chi-square
    quantiles ``q`` with ``n - 1`` degrees of freedom: exact for normal values. (The normal
    interval ``sd +- z MCSE`` puts its upper end far too low at small ``n``: at 10
    replicates and 99.7% it excludes the true sd about six times too often from above.)
    """
    a = _finite(x)
    n = a.size
    if n < 2:
        return Estimate(np.nan, np.nan, np.nan, np.nan, n)
    sd = float(a.std(ddof=1))
    lower, upper = chi2_sd_interval(sd, n, ci_prob)
    return Estimate(sd, sd / np.sqrt(2 * (n - 1)), float(lower), float(upper), n)


def chi2_sd_interval(sd: ArrayLike, n: ArrayLike, ci_prob: float) -> tuple[FloatArray, FloatArray]:
    """Return the chi-square interval of standard deviations ``sd`` of ``n`` values each.

    Parameters
    ----------
    sd, n
        Sample standard deviations (``ddof = 1``) and their sample sizes (broadcast).
    ci_prob
        The interval's level.

    Returns
    -------
    lower, upper
        ``sd * sqrt((n - 1) / q)`` at the upper and lower ``(1 - ci_prob) / 2`` quantiles
        ``q`` of the chi-square distribution with ``n - 1`` degrees of freedom (NaN where
        ``n < 2``).
    """
    s = np.asarray(sd, np.float64)
    dof = np.asarray(n, np.float64) - 1
    tail = (1 - ci_prob) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        dof = np.where(dof >= 1, dof, np.nan)
        lower = s * np.sqrt(dof / special.chdtri(dof, tail))
        upper = s * np.sqrt(dof / special.chdtri(dof, 1 - tail))
    return np.asarray(lower, np.float64), np.asarray(upper, np.float64)


def bias(estimate: ArrayLike, truth: ArrayLike, ci_prob: float = 0.95) -> Estimate:
    """Bias ``mean(e_i)``, ``e_i = estimate_i - truth_i``.

    Notes
    -----
    Morris et al. (2019) Table 6: ``MCSE = sqrt(sum (e_i - mean e)^2 / (n (n - 1)))``.
    """
    return mean_estimate(np.asarray(estimate, np.float64) - np.asarray(truth, np.float64), ci_prob)


def relative_bias(estimate: ArrayLike, truth: ArrayLike, ci_prob: float = 0.95) -> Estimate:
    """Relative bias ``mean(e_i / |truth_i|)`` over replicates with non-zero truth.

    Notes
    -----
    With a fixed truth this is Morris et al.'s ``(mean estimate - truth) / truth`` (sign
    kept for positive truths) with ``MCSE = MCSE(bias) / |truth|``; here the mean and
    MCSE of the per-replicate relative errors.
    """
    t = np.asarray(truth, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = (np.asarray(estimate, np.float64) - t) / np.abs(t)
    return mean_estimate(rel, ci_prob)


def rmse(estimate: ArrayLike, truth: ArrayLike, ci_prob: float = 0.95) -> Estimate:
    """Root mean squared error.

    Notes
    -----
    Morris et al. (2019) Table 6 give ``MSE = mean(e_i^2)`` with
    ``MCSE(MSE) = sqrt(sum (e_i^2 - MSE)^2 / (n (n - 1)))``; by the delta method
    ``MCSE(RMSE) = MCSE(MSE) / (2 RMSE)``; the interval is the square root of MSE's.
    """
    sq = mean_estimate(np.square(np.asarray(estimate, np.float64) - np.asarray(truth, np.float64)))
    if sq.n == 0:
        return sq
    value = float(np.sqrt(sq.value))
    half = _z(ci_prob) * sq.mcse
    mcse = sq.mcse / (2 * value) if value > 0 else np.nan
    lower = float(np.sqrt(max(sq.value - half, 0.0)))
    return Estimate(value, mcse, lower, float(np.sqrt(sq.value + half)), sq.n)


def empirical_se(estimate: ArrayLike, truth: ArrayLike, ci_prob: float = 0.95) -> Estimate:
    """Empirical SE: the standard deviation of the errors over replicates.

    Notes
    -----
    Morris et al. (2019) Table 6: ``EmpSE = sqrt(sum (e_i - mean e)^2 / (n - 1))``,
    ``MCSE = EmpSE / sqrt(2 (n - 1))``. With a fixed truth this is the SD of the estimates.
    """
    return sd_estimate(np.asarray(estimate, np.float64) - np.asarray(truth, np.float64), ci_prob)


def model_se(sd: ArrayLike, ci_prob: float = 0.95) -> Estimate:
    """Average model SE ``sqrt(mean(sd_i^2))`` of the posterior SDs.

    Notes
    -----
    Morris et al. (2019) Table 6: ``MCSE = sqrt(Var(sd^2) / (4 n ModSE^2))``.
    """
    sq = mean_estimate(np.square(np.asarray(sd, np.float64)), ci_prob)
    if sq.n == 0 or sq.value <= 0:
        return Estimate(np.nan, np.nan, np.nan, np.nan, sq.n)
    value = float(np.sqrt(sq.value))
    half = _z(ci_prob) * sq.mcse
    lower = float(np.sqrt(max(sq.value - half, 0.0)))
    return Estimate(value, sq.mcse / (2 * value), lower, float(np.sqrt(sq.value + half)), sq.n)


def jeffreys_interval(successes: int, n: int, ci_prob: float = 0.95) -> tuple[float, float]:
    """Jeffreys interval for a binomial proportion.

    Notes
    -----
    Quantiles ``(1 -+ ci_prob) / 2`` of ``Beta(x + 1/2, n - x + 1/2)``, with the lower
    limit 0 at ``x = 0`` and the upper limit 1 at ``x = n`` (Brown, Cai & DasGupta 2001,
    Statistical Science 16:101).
    """
    if n <= 0:
        return np.nan, np.nan
    a, b = successes + 0.5, n - successes + 0.5
    tail = (1 - ci_prob) / 2
    lower = 0.0 if successes == 0 else float(special.betaincinv(a, b, tail))
    upper = 1.0 if successes == n else float(special.betaincinv(a, b, 1 - tail))
    return lower, upper


def proportion(successes: int, n: int, ci_prob: float = 0.95) -> Estimate:
    """Return the proportion ``p = x / n`` with its MCSE and a Jeffreys interval.

    The MCSE is ``sqrt(p (1 - p) / n)``.
    """
    if n <= 0:
        return Estimate(np.nan, np.nan, np.nan, np.nan, 0)
    p = successes / n
    return Estimate(
        p, float(np.sqrt(p * (1 - p) / n)), *jeffreys_interval(successes, n, ci_prob), n
    )


def coverage(covered: ArrayLike, ci_prob: float = 0.95) -> Estimate:
    """Coverage: the share of replicates whose interval holds the truth.

    Notes
    -----
    Morris et al. (2019) Table 6: ``MCSE = sqrt(p (1 - p) / n)``; interval: Jeffreys.
    """
    c = np.asarray(covered).reshape(-1)
    if c.dtype.kind == "f":
        c = c[np.isfinite(c)]
    return proportion(int(np.count_nonzero(c)), int(c.size), ci_prob)


def absolute(est: Estimate) -> Estimate:
    """``|value|`` with the image of the interval under ``|.|`` (0 when it straddles 0)."""
    lo, hi = est.lower, est.upper
    if lo <= 0 <= hi:
        lower, upper = 0.0, max(-lo, hi)
    else:
        lower, upper = min(abs(lo), abs(hi)), max(abs(lo), abs(hi))
    return Estimate(abs(est.value), est.mcse, lower, upper, est.n)


def scaled(est: Estimate, factor: float) -> Estimate:
    """Return the measure in other units: value, MCSE and interval times ``factor``."""
    return Estimate(
        est.value * factor, est.mcse * factor, est.lower * factor, est.upper * factor, est.n
    )
