"""Performance measures per group of an estimand table, in long form, and which way each
measure is worse (for the gate's baseline comparison). The formulas are in
:mod:`mmm_workbench.reports.metrics`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from mmm_workbench.reports.metrics import (
    LEVELS,
    Estimate,
    absolute,
    bias,
    coverage,
    empirical_se,
    level_name,
    mean_estimate,
    model_se,
    proportion,
    relative_bias,
    rmse,
    scaled,
    sd_estimate,
)

__all__ = ["FIT_METRICS", "badness", "estimand_metric_names", "fit_measures", "performance_table"]

FIT_METRICS = (
    "n_ok", "n_failed", "n_corrupt", "failed_share", "corrupt_share", "divergent_share",
    "high_rhat_share", "flagged_share",
)  # fmt: skip
"""Fit-level measures per cell (rows with ``estimand == ""``)."""

_MEAN_COLUMNS = ("crps", "contraction")
_PER_LEVEL_MEANS = ("width", "interval_score")


def estimand_metric_names(levels: Sequence[float] = LEVELS) -> list[str]:
    """Names of the per-estimand measures :func:`performance_table` produces."""
    names = ["bias", "abs_bias", "relative_bias", "abs_relative_bias", "bias_pp", "abs_bias_pp"]
    names += ["rmse", "empirical_se", "model_se", "z_mean", "z_sd", *_MEAN_COLUMNS]
    for level in levels:
        names += [f"{kind}_{level_name(level)}" for kind in ("coverage", *_PER_LEVEL_MEANS)]
    return names


def _group_measures(
    g: dict[str, NDArray[Any]], levels: Sequence[float], ci_prob: float, percentage_points: bool
) -> dict[str, Estimate]:
    est, truth = g["mean"], g["truth"]
    b = bias(est, truth, ci_prob)
    rb = relative_bias(est, truth, ci_prob)
    out = {
        "bias": b,
        "abs_bias": absolute(b),
        "relative_bias": rb,
        "abs_relative_bias": absolute(rb),
        "rmse": rmse(est, truth, ci_prob),
        "empirical_se": empirical_se(est, truth, ci_prob),
        "model_se": model_se(g["sd"], ci_prob),
        "z_mean": mean_estimate(g["z"], ci_prob),
        "z_sd": sd_estimate(g["z"], ci_prob),
    }
    if percentage_points:
        out |= {"bias_pp": scaled(b, 100.0), "abs_bias_pp": scaled(absolute(b), 100.0)}
    for col in _MEAN_COLUMNS:
        out[col] = mean_estimate(g[col], ci_prob)
    for level in levels:
        name = level_name(level)
        out[f"coverage_{name}"] = coverage(g[f"covered_{name}"], ci_prob)
        for kind in _PER_LEVEL_MEANS:
            out[f"{kind}_{name}"] = mean_estimate(g[f"{kind}_{name}"], ci_prob)
    return out


def performance_table(
    table: pd.DataFrame,
    by: Sequence[str] = ("cell", "estimand", "coords"),
    *,
    levels: Sequence[float] = LEVELS,
    ci_prob: float = 0.95,
    percentage_points: Sequence[str] = ("contribution_share",),
) -> pd.DataFrame:
    """Performance measures per group of an estimand table, one row per (group, metric).

    ``table`` has the columns of :func:`summarize_draws` (one row per replicate and
    quantity). Returns the ``by`` columns and ``metric, value, mcse, lower, upper, n``;
    ``lower``/``upper`` is the ``ci_prob`` Monte Carlo interval (normal, or Jeffreys for
    coverage). ``bias_pp`` and ``abs_bias_pp`` (bias in percentage points) are given for
    the estimands in ``percentage_points``.
    """
    keys = list(by)
    needed = ["mean", "truth", "sd", "z", *_MEAN_COLUMNS]
    for level in levels:
        needed += [f"{kind}_{level_name(level)}" for kind in ("covered", *_PER_LEVEL_MEANS)]
    arrays = {
        c: table[c].to_numpy(bool if c.startswith("covered_") else np.float64) for c in needed
    }
    rows: list[dict[str, Any]] = []
    for key, index in table.groupby(keys, sort=True, dropna=False).indices.items():
        ident = dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
        pp = str(ident.get("estimand", "")) in percentage_points
        group = {c: a[index] for c, a in arrays.items()}
        for metric, e in _group_measures(group, levels, ci_prob, pp).items():
            rows.append(
                ident
                | {"metric": metric, "value": e.value, "mcse": e.mcse}
                | {"lower": e.lower, "upper": e.upper, "n": e.n}
            )
    columns = [*keys, "metric", "value", "mcse", "lower", "upper", "n"]
    return pd.DataFrame(rows, columns=columns)


def _nominal(metric: str) -> float:
    return float(metric.rsplit("_", 1)[1]) / 100


_SIGNED = frozenset({"bias", "relative_bias", "bias_pp", "z_mean"})
_NOT_RANKED = frozenset({"contraction", "model_se"})


def badness(metric: str) -> Callable[[float], float] | None:
    """How bad a value of ``metric`` is (higher is worse), or None when the metric has no
    direction (``contraction``, ``model_se``, counts, p-values).

    ``|value|`` for signed errors, distance from nominal for ``coverage_*``, from 1 for
    ``z_sd``, and the value itself for everything else that has a Monte Carlo error.
    """
    if metric in _SIGNED:
        return abs
    if metric.startswith("coverage_"):
        nominal = _nominal(metric)
        return lambda v: abs(v - nominal)
    if metric == "z_sd":
        return lambda v: abs(v - 1.0)
    if metric in _NOT_RANKED or metric.startswith(("n_", "sbc_")):
        return None
    return lambda v: v


def fit_measures(
    fits: pd.DataFrame,
    cells: Mapping[str, str],
    *,
    ci_prob: float = 0.95,
    rhat_max: float = 1.01,
) -> pd.DataFrame:
    """Fit-level measures per cell of a fit table (``cells``: id -> label), in the long
    form of :func:`performance_table` with ``estimand == coords == ""``.

    ``n_ok, n_failed, n_corrupt`` (counts, no MCSE); ``failed_share, corrupt_share`` (of
    all fits of the cell); ``divergent_share`` (ok fits with divergences),
    ``high_rhat_share`` (max R-hat above ``rhat_max``), ``flagged_share`` (either), each of
    the ok fits that report the diagnostic, with a Jeffreys interval.
    """
    rows = []
    for cell, label in cells.items():
        cell_fits = fits[fits["cell"] == cell]
        ok = cell_fits[cell_fits["status"] == "ok"]
        n_ok, n_all = len(ok), len(cell_fits)
        n_failed = int((cell_fits["status"] == "failed").sum())
        n_corrupt = int((cell_fits["status"] == "corrupt").sum())
        div = ok["divergences"].to_numpy(np.float64)
        rhat = ok["max_rhat"].to_numpy(np.float64)
        known = np.isfinite(div) | np.isfinite(rhat)
        flagged = (np.nan_to_num(div) > 0) | (np.nan_to_num(rhat) > rhat_max)
        measures = {
            "failed_share": proportion(n_failed, n_all, ci_prob),
            "corrupt_share": proportion(n_corrupt, n_all, ci_prob),
            "divergent_share": coverage(div[np.isfinite(div)] > 0, ci_prob),
            "high_rhat_share": coverage(rhat[np.isfinite(rhat)] > rhat_max, ci_prob),
            "flagged_share": coverage(flagged[known], ci_prob),
        }
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
