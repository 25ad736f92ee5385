"""Performance measures per group of an estimand table, in long form.

Also fit health, and which way each measure is worse (for the gate's baseline comparison). The
formulas are in :mod:`mmm_workbench.reports.metrics`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import special

from mmm_workbench.reports.fit_metrics import FIT_QUALITY
from mmm_workbench.reports.metrics import (
    LEVELS,
    FloatArray,
    chi2_sd_interval,
    coverage,
    interval_column,
    mean_estimate,
    proportion,
)

__all__ = [
    "CLEAN",
    "FAILED",
    "FIT_METRICS",
    "HEALTH_CLASSES",
    "WARNING",
    "Health",
    "badness",
    "classify_fits",
    "estimand_metric_names",
    "fit_measures",
    "performance_table",
    "tolerance_table",
]

FIT_METRICS = (
    "n_ok", "n_failed", "n_corrupt", "failed_share", "corrupt_share", "divergent_share",
    "high_rhat_share", "low_ess_share", "warning_share", "clean_share", *FIT_QUALITY,
)  # fmt: skip
"""Fit-level measures per cell (rows with ``estimand == ""``); the last five are the mean
model fit of the cell's ok fits (:mod:`mmm_workbench.reports.fit_metrics`)."""

CLEAN, WARNING, FAILED = "clean", "sampler warning", "failed"
HEALTH_CLASSES = (CLEAN, WARNING, FAILED)

_MEAN_COLUMNS = ("crps", "contraction", "prior_overlap")
TOLERANCE_METRIC = "tolerance_share"
_PER_LEVEL_MEANS = ("width", "interval_score")
_TWO_SIDED = ("central", "hdi")


@dataclass(frozen=True, kw_only=True)
class Health:
    """Thresholds that class a fit as clean, sampler warning or failed.

    A fit is **failed** when it raised, its record is unreadable, or its draws hold NaN or
    infinity. An ``ok`` fit is a **sampler warning** when any diagnostic it reports
    crosses a threshold: more than ``max_divergences`` divergent transitions, a maximum
    R-hat above ``max_rhat``, a minimum bulk or tail ESS below ``min_ess``, an E-BFMI
    below ``min_ebfmi``. A diagnostic a backend does not report (NaN: R-hat, ESS and
    divergences for ADVI or MAP) does not apply and never warns; such a fit is clean
    unless it failed.

    Notes
    -----
    ``max_rhat = 1.05``, not the 1.01 of Vehtari et al. (2021, Bayesian Analysis 16:667):
    the maximum over a model's parameters of R-hat from two chains of 1,000 draws
    exceeds 1.01 by chance alone in a good share of correct fits (5 of 20 NUTS fits of a
    well-specified quickstart world), while a chain stuck in another mode gives far
    more; 1.05 flags the latter. ``min_ess = 100`` is Vehtari et al.'s floor for reliable
    R-hat and interval estimates. ``min_ebfmi = 0.3`` is Betancourt's (2016,
    arXiv:1604.00695) warning level.
    """

    max_divergences: float = 0.0
    max_rhat: float = 1.05
    min_ess: float = 100.0
    min_ebfmi: float = 0.3


def _column(fits: pd.DataFrame, name: str) -> NDArray[np.float64]:
    if name not in fits:
        return np.full(len(fits), np.nan)
    return fits[name].to_numpy(np.float64)


def classify_fits(fits: pd.DataFrame, health: Health | None = None) -> pd.DataFrame:
    """Class every fit of a fit table (:func:`mmm_workbench.reports.tables.fit_table`).

    Parameters
    ----------
    fits
        One row per fit with ``status`` and the diagnostics columns.
    health
        The thresholds (default :class:`Health`).

    Returns
    -------
    pandas.DataFrame
        ``health`` (one of :data:`HEALTH_CLASSES`), ``health_reason`` (what warned or
        failed, ``""`` when clean) and ``diagnosed`` (whether the fit reports any sampler
        diagnostic), aligned with ``fits``.
    """
    h = health or Health()
    status = fits["status"].astype(str).to_numpy() if "status" in fits else np.full(len(fits), "")
    nonfinite = np.nan_to_num(_column(fits, "nonfinite_draws")) > 0
    with np.errstate(invalid="ignore"):
        checks = [
            (_column(fits, "divergences"), _column(fits, "divergences") > h.max_divergences),
            (_column(fits, "max_rhat"), _column(fits, "max_rhat") > h.max_rhat),
            (_column(fits, "min_ess_bulk"), _column(fits, "min_ess_bulk") < h.min_ess),
            (_column(fits, "min_ess_tail"), _column(fits, "min_ess_tail") < h.min_ess),
            (_column(fits, "ebfmi"), _column(fits, "ebfmi") < h.min_ebfmi),
        ]
    labels = [
        "divergences",
        f"R-hat > {h.max_rhat:g}",
        f"bulk ESS < {h.min_ess:g}",
        f"tail ESS < {h.min_ess:g}",
        f"E-BFMI < {h.min_ebfmi:g}",
    ]
    reasons: list[list[str]] = [[] for _ in range(len(fits))]
    diagnosed = np.zeros(len(fits), dtype=bool)
    for (values, bad), label in zip(checks, labels, strict=True):
        known = np.isfinite(values)
        diagnosed |= known
        for i in np.flatnonzero(known & bad).tolist():
            reasons[i].append(label)
    classes = []
    for i, st in enumerate(status.tolist()):
        if st != "ok":
            classes.append(FAILED)
            reasons[i] = [str(st)]
        elif nonfinite[i]:
            classes.append(FAILED)
            reasons[i] = ["non-finite draws"]
        else:
            classes.append(WARNING if reasons[i] else CLEAN)
    return pd.DataFrame(
        {
            "health": classes,
            "health_reason": ["; ".join(r) for r in reasons],
            "diagnosed": diagnosed,
        },
        index=fits.index,
    )


def estimand_metric_names(
    levels: Sequence[float] = LEVELS, intervals: Sequence[str] = ("central",)
) -> list[str]:
    """Names of the per-estimand measures :func:`performance_table` produces."""
    names = ["bias", "abs_bias", "relative_bias", "abs_relative_bias", "bias_pp", "abs_bias_pp"]
    names += ["rmse", "empirical_se", "model_se", "z_mean", "z_sd", *_MEAN_COLUMNS]
    for kind in dict.fromkeys(intervals):
        for level in levels:
            names.append(interval_column("coverage", kind, level))
            if kind in _TWO_SIDED:
                names += [interval_column(stat, kind, level) for stat in _PER_LEVEL_MEANS]
    return names


class _Groups:
    """Group codes of a table's rows, and vectorized per-group statistics of a column."""

    def __init__(self, codes: NDArray[Any], n_groups: int, clusters: NDArray[Any] | None):
        self.codes = codes
        self.n = n_groups
        self.pairs: NDArray[np.intp] | None = None
        if clusters is not None:
            cluster_codes, uniques = pd.factorize(pd.Series(clusters), use_na_sentinel=False)
            self.width = max(len(uniques), 1)
            self.pairs = codes * self.width + cluster_codes

    def _sum(
        self, codes: NDArray[np.intp], values: NDArray[np.float64] | None = None
    ) -> NDArray[np.float64]:
        return np.bincount(codes, weights=values, minlength=self.n).astype(np.float64)

    def moments(self, x: NDArray[np.float64]) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Per group: count, mean and sd (ddof 1) of the finite values."""
        fin = np.isfinite(x)
        codes, values = self.codes[fin], x[fin]
        n = self._sum(codes)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = self._sum(codes, values) / n
            ss = self._sum(codes, (values - mean[codes]) ** 2)
            sd = np.sqrt(ss / (n - 1))
        return n, mean, np.where(n > 1, sd, np.nan)

    def mean(self, x: NDArray[np.float64], ci_prob: float, clustered: bool = False) -> _Block:
        """:func:`mean_estimate` per group, or :func:`clustered_mean` by the clusters."""
        n, mean, sd = self.moments(x)
        if not clustered or self.pairs is None:
            with np.errstate(divide="ignore", invalid="ignore"):
                mcse = np.where(n > 1, sd / np.sqrt(n), np.nan)
            return _normal_block(mean, mcse, n, ci_prob)
        fin = np.isfinite(x)
        pairs = self.pairs[fin]
        resid = np.bincount(
            pairs, weights=x[fin] - mean[self.codes[fin]], minlength=self.n * self.width
        )
        seen = np.bincount(pairs, minlength=self.n * self.width) > 0
        r2 = (resid**2).reshape(self.n, self.width).sum(axis=1)
        c = seen.reshape(self.n, self.width).sum(axis=1).astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            mcse = np.where(c > 1, np.sqrt(c / (c - 1) * r2) / n, np.nan)
        block = _normal_block(mean, mcse, c, ci_prob)
        return block

    def sd(self, x: NDArray[np.float64], ci_prob: float) -> _Block:
        """:func:`sd_estimate` per group (its chi-square interval)."""
        n, _, sd = self.moments(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            mcse = sd / np.sqrt(2 * (n - 1))
        lower, upper = chi2_sd_interval(sd, n, ci_prob)
        return sd, mcse, lower, upper, n

    def proportion(self, hits: NDArray[np.bool_], ci_prob: float) -> _Block:
        """:func:`coverage` per group: Jeffreys intervals."""
        n = self._sum(self.codes)
        x = self._sum(self.codes, hits.astype(np.float64))
        return _proportion_block(x, n, ci_prob)


_Block = tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]
"""value, mcse, lower, upper, n per group."""


def _normal_block(value: FloatArray, mcse: FloatArray, n: FloatArray, ci_prob: float) -> _Block:
    half = float(special.ndtri(0.5 + ci_prob / 2)) * mcse
    return value, mcse, value - half, value + half, n


def _proportion_block(x: FloatArray, n: FloatArray, ci_prob: float) -> _Block:
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / n
        mcse = np.sqrt(p * (1 - p) / n)
    a, b = x + 0.5, n - x + 0.5
    tail = (1 - ci_prob) / 2
    with np.errstate(invalid="ignore"):
        lower = np.where(x == 0, 0.0, special.betaincinv(a, b, tail))
        upper = np.where(x == n, 1.0, special.betaincinv(a, b, 1 - tail))
    empty = n <= 0
    nan = np.full(p.shape, np.nan)
    return (
        np.where(empty, nan, p),
        np.where(empty, nan, mcse),
        np.where(empty, nan, lower),
        np.where(empty, nan, upper),
        n,
    )


def _absolute_block(block: _Block) -> _Block:
    value, mcse, lo, hi, n = block
    straddles = (lo <= 0) & (hi >= 0)
    lower = np.where(straddles, 0.0, np.minimum(np.abs(lo), np.abs(hi)))
    upper = np.where(straddles, np.maximum(-lo, hi), np.maximum(np.abs(lo), np.abs(hi)))
    return np.abs(value), mcse, lower, upper, n


def _root_block(square: _Block, ci_prob: float) -> _Block:
    """Return the square root of a mean of squares (RMSE, model SE), by the delta method."""
    m, mcse_sq, _, _, n = square
    half = float(special.ndtri(0.5 + ci_prob / 2)) * mcse_sq
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(m > 0, np.sqrt(m), np.where(m == 0, 0.0, np.nan))
        mcse = np.where(value > 0, mcse_sq / (2 * value), np.nan)
        lower = np.sqrt(np.maximum(m - half, 0.0))
        upper = np.sqrt(m + half)
    return value, mcse, lower, upper, n


def _measures(
    g: _Groups,
    columns: dict[str, NDArray[Any]],
    levels: Sequence[float],
    intervals: Sequence[str],
    ci_prob: float,
    clustered: bool,
) -> dict[str, _Block]:
    est, truth = columns["mean"], columns["truth"]
    err = est - truth
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = err / np.abs(truth)
    rel = np.where(np.isfinite(rel), rel, np.nan)
    b = g.mean(err, ci_prob, clustered)
    rb = g.mean(rel, ci_prob, clustered)
    root_mse = _root_block(g.mean(err**2, ci_prob), ci_prob)
    model = _root_block(g.mean(columns["sd"] ** 2, ci_prob), ci_prob)
    model = (np.where(model[0] > 0, model[0], np.nan), *model[1:])
    ab = _absolute_block(b)
    out = {
        "bias": b,
        "abs_bias": ab,
        "relative_bias": rb,
        "abs_relative_bias": _absolute_block(rb),
        "rmse": root_mse,
        "empirical_se": g.sd(err, ci_prob),
        "model_se": model,
        "z_mean": g.mean(columns["z"], ci_prob, clustered),
        "z_sd": g.sd(columns["z"], ci_prob),
        "bias_pp": (b[0] * 100, b[1] * 100, b[2] * 100, b[3] * 100, b[4]),
        "abs_bias_pp": (ab[0] * 100, ab[1] * 100, ab[2] * 100, ab[3] * 100, ab[4]),
    }
    for col in _MEAN_COLUMNS:
        out[col] = g.mean(columns[col], ci_prob, clustered)
    for kind in dict.fromkeys(intervals):
        for level in levels:
            covered = columns[interval_column("covered", kind, level)]
            name = interval_column("coverage", kind, level)
            if clustered:
                value, mcse, lo, hi, n = g.mean(covered.astype(np.float64), ci_prob, True)
                out[name] = (value, mcse, np.maximum(lo, 0.0), np.minimum(hi, 1.0), n)
            else:
                out[name] = g.proportion(covered, ci_prob)
            if kind in _TWO_SIDED:
                for stat in _PER_LEVEL_MEANS:
                    column = interval_column(stat, kind, level)
                    out[column] = g.mean(columns[column], ci_prob, clustered)
    return out


def performance_table(
    table: pd.DataFrame,
    by: Sequence[str] = ("cell", "estimand", "coords"),
    *,
    levels: Sequence[float] = LEVELS,
    intervals: Sequence[str] = ("central",),
    ci_prob: float = 0.95,
    percentage_points: Sequence[str] = ("contribution_share",),
    cluster: str | None = None,
) -> pd.DataFrame:
    """Compute performance measures per group of an estimand table, one row per (group, metric).

    Parameters
    ----------
    table
        The columns of :func:`mmm_workbench.reports.metrics.summarize_draws`, one row per
        replicate and quantity, with the ``by`` columns (and ``cluster``).
    by
        The grouping columns.
    levels, intervals
        The credible levels and interval kinds scored in ``table``.
    ci_prob
        Level of the Monte Carlo intervals.
    percentage_points
        Estimands that also get ``bias_pp`` and ``abs_bias_pp`` (bias in percentage
        points).
    cluster
        For groups that pool several dependent values per replicate (all coordinates of
        an estimand): the column naming the replicate. Means (bias, relative bias,
        coverage, widths, CRPS, z_mean, contraction) then take a cluster-robust MCSE
        (:func:`mmm_workbench.reports.metrics.clustered_mean`) and ``n`` counts
        replicates; RMSE, empirical and model SE and z_sd keep their independent-value
        MCSEs and are summaries.

    Returns
    -------
    pandas.DataFrame
        The ``by`` columns and ``metric, value, mcse, lower, upper, n``; ``lower``/
        ``upper`` is the ``ci_prob`` Monte Carlo interval (normal, or Jeffreys for
        coverage of single coordinates). The same values as the scalar functions of
        :mod:`mmm_workbench.reports.metrics` applied group by group (tested), computed
        for all groups at once.
    """
    keys = list(by)
    columns_out = [*keys, "metric", "value", "mcse", "lower", "upper", "n"]
    if table.empty:
        return pd.DataFrame(columns=columns_out)
    needed = ["mean", "truth", "sd", "z", *_MEAN_COLUMNS]
    for kind in dict.fromkeys(intervals):
        for level in levels:
            needed.append(interval_column("covered", kind, level))
            if kind in _TWO_SIDED:
                needed += [interval_column(stat, kind, level) for stat in _PER_LEVEL_MEANS]
    columns = {
        c: table[c].to_numpy(bool if c.startswith("covered_") else np.float64) for c in needed
    }
    grouped = table.groupby(keys, sort=True, dropna=False, observed=True)
    codes = grouped.ngroup().to_numpy(np.intp)
    ident = grouped.size().reset_index()[keys]
    clusters = None if cluster is None else table[cluster].to_numpy()
    g = _Groups(codes, len(ident), clusters)
    blocks = _measures(g, columns, levels, intervals, ci_prob, cluster is not None)
    pp = (
        ident["estimand"].isin(list(percentage_points)).to_numpy()
        if "estimand" in ident
        else np.zeros(len(ident), dtype=bool)
    )
    frames = []
    for metric, (value, mcse, lower, upper, n) in blocks.items():
        keep = pp if metric in ("bias_pp", "abs_bias_pp") else slice(None)
        frame = ident[keep].copy()
        frame["metric"] = metric
        frame["value"], frame["mcse"] = value[keep], mcse[keep]
        frame["lower"], frame["upper"] = lower[keep], upper[keep]
        frame["n"] = n[keep].astype(np.int64)
        frames.append(frame)
    long = pd.concat(frames, ignore_index=True)
    order = np.argsort(np.tile(np.arange(len(blocks)), 1), kind="stable")  # metric order
    del order
    group_of = np.concatenate(
        [
            np.flatnonzero(pp if m in ("bias_pp", "abs_bias_pp") else np.ones(len(ident), bool))
            for m in blocks
        ]
    )
    long = long.iloc[np.argsort(group_of, kind="stable")].reset_index(drop=True)
    return long[columns_out]


def tolerance_table(
    table: pd.DataFrame,
    tolerance: float,
    by: Sequence[str] = ("cell", "cell_label", "estimand", "family", "coords"),
    *,
    ci_prob: float = 0.95,
) -> pd.DataFrame:
    """Compute ``tolerance_share`` per group of an estimand table.

    ``tolerance_share`` is the share of replicates with ``|relative error| <= tolerance``, per group
    of an estimand table and pooled over each estimand's coordinates.

    Per coordinate a proportion with a Jeffreys interval; pooled (``coords == "*"``,
    ``pooled == True``) the mean over every (replicate, coordinate) with a cluster-robust
    MCSE (replicates are clusters). Relative errors that are NaN (zero truth) are left
    out. Long form as :func:`performance_table`, with ``pooled``.

    Notes
    -----
    The mean relative bias averages errors of both signs and sizes: 7 of 60 replicates
    off by 30% and the rest exact give a relative bias of 0.035; this measure gives 53/60.
    """
    keys = list(by)
    columns = [*keys, "metric", "value", "mcse", "lower", "upper", "n", "pooled"]
    rel = table["relative_error"].to_numpy(np.float64)
    known = table[np.isfinite(rel)]
    if known.empty:
        return pd.DataFrame(columns=columns)
    hit = np.abs(known["relative_error"].to_numpy(np.float64)) <= tolerance
    frames = []
    for pooled in (False, True):
        frame = known.assign(coords="*") if pooled else known
        grouped = frame.groupby(keys, sort=True, dropna=False, observed=True)
        ident = grouped.size().reset_index()[keys]
        clusters = frame["replicate"].to_numpy() if pooled else None
        g = _Groups(grouped.ngroup().to_numpy(np.intp), len(ident), clusters)
        if pooled:
            value, mcse, lo, hi, n = g.mean(hit.astype(np.float64), ci_prob, True)
            lo, hi = np.maximum(lo, 0.0), np.minimum(hi, 1.0)
        else:
            value, mcse, lo, hi, n = g.proportion(hit, ci_prob)
        out = ident.assign(metric=TOLERANCE_METRIC, value=value, mcse=mcse, lower=lo, upper=hi)
        frames.append(out.assign(n=n.astype(np.int64), pooled=pooled))
    result: pd.DataFrame = pd.concat(frames, ignore_index=True)
    return result.reindex(columns=columns)


def _nominal(metric: str) -> float:
    return float(metric.rsplit("_", 1)[1]) / 100


_SIGNED = frozenset({"bias", "relative_bias", "bias_pp", "z_mean"})
_NOT_RANKED = frozenset({"contraction", "model_se", "prior_overlap"})
_HIGHER_IS_BETTER = frozenset({"clean_share", "tolerance_share", "fit_r2"})


def badness(metric: str) -> Callable[[float], float] | None:
    """Return how bad a value of ``metric`` is (higher is worse), or None without a direction.

    None is for a metric that has no direction (``contraction``, ``prior_overlap``,
    ``model_se``, counts, p-values).

    ``|value|`` for signed errors, distance from nominal for ``coverage_*``, from 1 for
    ``z_sd``, minus the value for shares where more is better (``clean_share``,
    ``tolerance_share``), and the value itself for everything else that has a Monte
    Carlo error.
    """
    if metric in _SIGNED:
        return abs
    if metric.startswith("coverage_"):
        nominal = _nominal(metric)
        return lambda v: abs(v - nominal)
    if metric == "z_sd":
        return lambda v: abs(v - 1.0)
    if metric in _HIGHER_IS_BETTER:
        return lambda v: -v
    if metric in _NOT_RANKED or metric.startswith(("n_", "uniformity_")):
        return None
    return lambda v: v


def fit_measures(
    fits: pd.DataFrame,
    cells: Mapping[str, str],
    *,
    ci_prob: float = 0.95,
    health: Health | None = None,
) -> pd.DataFrame:
    """Compute fit-level measures per cell of a fit table (``cells``: id -> label).

    They come in the long form of :func:`performance_table` with ``estimand == coords == ""``.

    ``n_ok, n_failed, n_corrupt`` (counts, no MCSE); ``failed_share, corrupt_share`` (of
    all fits of the cell); ``divergent_share`` (more than ``health.max_divergences``
    divergences), ``high_rhat_share`` (max R-hat above ``health.max_rhat``),
    ``low_ess_share`` (bulk or tail ESS below ``health.min_ess``) and ``warning_share``
    (classed sampler warning by :func:`classify_fits`), each of the ok fits that report
    the diagnostic (NaN, "not applicable", when none does: ADVI, MAP);
    ``clean_share`` (classed clean, of all fits). Proportions have a Jeffreys interval.
    ``fit_r2``, ``fit_mape``, ``fit_crps``, ``holdout_mape``, ``holdout_crps``: the mean
    over the ok fits of each fit's model fit (:mod:`mmm_workbench.reports.fit_metrics`),
    with its MCSE and a normal interval.
    """
    h = health or Health()
    classes = classify_fits(fits, h) if len(fits) else pd.DataFrame(columns=["health", "diagnosed"])
    rows = []
    for cell, label in cells.items():
        mine = (fits["cell"] == cell).to_numpy()
        cell_fits = fits[mine]
        cls = classes[mine]
        ok = (cell_fits["status"] == "ok").to_numpy()
        n_ok, n_all = int(ok.sum()), len(cell_fits)
        n_failed = int((cell_fits["status"] == "failed").sum())
        n_corrupt = int((cell_fits["status"] == "corrupt").sum())
        div = _column(cell_fits, "divergences")[ok]
        rhat = _column(cell_fits, "max_rhat")[ok]
        ess = np.fmin(_column(cell_fits, "min_ess_bulk"), _column(cell_fits, "min_ess_tail"))[ok]
        diagnosed = cls["diagnosed"].to_numpy(bool)[ok]
        warned = (cls["health"].to_numpy() == WARNING)[ok]
        measures = {
            "failed_share": proportion(n_failed, n_all, ci_prob),
            "corrupt_share": proportion(n_corrupt, n_all, ci_prob),
            "divergent_share": coverage(div[np.isfinite(div)] > h.max_divergences, ci_prob),
            "high_rhat_share": coverage(rhat[np.isfinite(rhat)] > h.max_rhat, ci_prob),
            "low_ess_share": coverage(ess[np.isfinite(ess)] < h.min_ess, ci_prob),
            "warning_share": coverage(warned[diagnosed], ci_prob),
            "clean_share": proportion(int((cls["health"] == CLEAN).sum()), n_all, ci_prob),
        }
        for name in FIT_QUALITY:  # NaN (not applicable) where no ok fit reports it
            measures[name] = mean_estimate(_column(cell_fits, name)[ok], ci_prob)
        base = {"cell": cell, "cell_label": label, "estimand": "", "coords": "", "pooled": False}
        for name, count in (("n_ok", n_ok), ("n_failed", n_failed), ("n_corrupt", n_corrupt)):
            rows.append(base | {"metric": name, "value": float(count), "n": n_all})
        for name, e in measures.items():
            rows.append(
                base
                | {"metric": name, "value": e.value, "mcse": e.mcse}
                | {"lower": e.lower, "upper": e.upper, "n": e.n}
            )
    return pd.DataFrame(rows)
