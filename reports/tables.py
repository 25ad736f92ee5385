"""Tidy tables from a run directory.

- :func:`estimand_table`: one row per (cell, replicate, estimand, coordinate) with the
  truth, the posterior summary (:func:`mmm_workbench.reports.metrics.summarize_draws`) and the SBC
  rank;
- :func:`fit_table`: one row per fit with its status (``ok``, ``failed``, ``corrupt``),
  diagnostics and timings;
- :func:`aggregate_table`: the performance measures per (cell, estimand, coordinate), and
  pooled over coordinates, plus fit-level measures and SBC p-values, in long form;
- :func:`summary_json`: the aggregates and fit counts as a JSON-ready dict (``summary.json``,
  and the baseline of :func:`mmm_workbench.reports.gate.check`).

A run is read once by :func:`score_run`; every other function takes its result or a path.
A record that cannot be read is logged, counted as ``corrupt`` and skipped; it is never
dropped silently. Truth values that are NaN (a parameter the model does not share) are
left out of the estimand table: they are not comparable, not misses.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from mmm_workbench.reports.aggregate import FIT_METRICS, fit_measures, performance_table
from mmm_workbench.reports.metrics import LEVELS, posterior_contraction, summary_columns
from mmm_workbench.reports.records import FitRecord, RecordError, read_record
from mmm_workbench.reports.rundir import Run, open_run
from mmm_workbench.reports.sbc import rank_rng, sbc_rank, sbc_uniformity

__all__ = [
    "AGGREGATE_COLUMNS",
    "DIAGNOSTICS",
    "FIT_METRICS",
    "SBC_METRICS",
    "SUMMARY_VERSION",
    "TIMINGS",
    "RunScores",
    "aggregate_table",
    "estimand_table",
    "fit_counts",
    "fit_table",
    "score_run",
    "scored",
    "summary_json",
]

log = logging.getLogger(__name__)

SUMMARY_VERSION = 1
DIAGNOSTICS = (
    "draws", "max_rhat", "min_ess_bulk", "min_ess_tail", "divergences", "treedepth_hits",
    "ebfmi", "step_size",
)  # fmt: skip
TIMINGS = ("compile_s", "tune_s", "draw_s", "post_s")
SBC_METRICS = ("sbc_p_value", "sbc_p_holm")
RunLike = str | Path | Run


@dataclass(frozen=True, kw_only=True)
class RunScores:
    """A scored run: the estimand and fit tables and the options that made them."""

    run: Run
    estimands: pd.DataFrame
    fits: pd.DataFrame
    options: dict[str, Any] = field(default_factory=dict)


def score_run(
    run: RunLike,
    *,
    levels: Sequence[float] = LEVELS,
    interval: Literal["central", "hdi"] = "central",
    n_ranks: int = 100,
    seed: int = 0,
    estimands: Sequence[str] | None = None,
) -> RunScores:
    """Read every record of a run once and build its estimand and fit tables.

    Parameters
    ----------
    run
        A run directory (or an opened :class:`mmm_workbench.reports.rundir.Run`).
    levels
        Credible levels for intervals, coverage, widths and interval scores.
    interval
        ``"central"`` (equal-tailed quantiles) or ``"hdi"`` (highest density).
    n_ranks
        Draws kept (evenly thinned) for the SBC rank; fewer if a fit has fewer.
    seed
        Root seed of the rank tie-breaking, combined with (cell, replicate, estimand).
    estimands
        Score only these estimands (default: every variable in both posterior and truth).

    Raises
    ------
    mmm_workbench.reports.rundir.RunError
        Not a run directory, or an empty run.
    """
    opened = run if isinstance(run, Run) else open_run(run)
    wanted = None if estimands is None else set(estimands)
    chunks: list[Columns] = []
    fits: list[dict[str, Any]] = []
    for entry in opened.entries:
        row: dict[str, Any] = {"cell": entry.cell_id, "cell_label": opened.label(entry.cell_id)}
        row |= {"replicate": entry.replicate, "path": str(entry.path), "backend": ""}
        if entry.status != "ok":
            fits.append(row | {"status": entry.status, "error": entry.error} | _diag(entry.info))
            continue
        try:
            record = read_record(entry.path, entry.cell_id, entry.replicate)
            scored = _score_record(record, opened, levels, interval, n_ranks, seed, wanted)
        except RecordError as exc:
            log.warning("corrupt fit record, skipped: %s", exc)
            fits.append(row | {"status": "corrupt", "error": str(exc)})
            continue
        if scored:
            chunks.append(scored)
        fits.append(row | {"status": "ok", "error": ""} | _record_info(record))
    options = {"levels": list(levels), "interval": interval, "n_ranks": n_ranks, "seed": seed}
    return RunScores(
        run=opened,
        estimands=_concat(chunks, levels),
        fits=_fit_frame(fits),
        options=options,
    )


def _diag(info: dict[str, Any]) -> dict[str, Any]:
    diagnostics = info.get("diagnostics")
    return _numbers(diagnostics, DIAGNOSTICS) if isinstance(diagnostics, dict) else {}


def _numbers(source: dict[str, Any], names: Sequence[str]) -> dict[str, float]:
    out = {}
    for name in names:
        try:
            out[name] = float(source[name])
        except (KeyError, TypeError, ValueError):
            out[name] = math.nan
    return out


def _record_info(record: FitRecord) -> dict[str, Any]:
    info: dict[str, Any] = {"backend": str(record.attrs.get("backend", ""))}
    return info | _numbers(record.diagnostics, DIAGNOSTICS) | _numbers(record.timings, TIMINGS)


def _fit_frame(fits: list[dict[str, Any]]) -> pd.DataFrame:
    columns = ["cell", "cell_label", "replicate", "status", "backend", *DIAGNOSTICS, *TIMINGS]
    return pd.DataFrame(fits).reindex(columns=[*columns, "error", "path"])


def _coord_label(dim: str, value: Any) -> str:
    if isinstance(value, np.datetime64 | pd.Timestamp):
        stamp = pd.Timestamp(value)
        return f"{dim}={stamp.date() if stamp == stamp.normalize() else stamp.isoformat()}"
    if isinstance(value, float | np.floating):
        return f"{dim}={float(value):g}"
    return f"{dim}={value}"


_HEAD = ["cell", "cell_label", "replicate", "estimand", "coords"]
_TAIL = ["rank", "rank_draws", "pit", "draws"]
Columns = dict[str, NDArray[Any]]


def _fill(values: NDArray[Any]) -> tuple[Any, Any]:
    """The missing value and dtype of a coordinate column (NaT, NaN or None)."""
    if values.dtype.kind == "M":
        return np.datetime64("NaT"), values.dtype
    if values.dtype.kind in "fiub":
        return np.nan, np.float64
    return None, object


def _score_record(
    record: FitRecord,
    run: Run,
    levels: Sequence[float],
    interval: Literal["central", "hdi"],
    n_ranks: int,
    seed: int,
    wanted: set[str] | None,
) -> Columns:
    names = [n for n in record.estimand_names() if wanted is None or n in wanted]
    ests = [record.estimand(n) for n in names]
    if not ests:
        return {}
    if len({e.draws.shape[0] for e in ests}) != 1:
        raise RecordError(f"{record.cell_id}/{record.replicate}: estimands differ in draws")
    sizes = [e.truth.size for e in ests]
    draws = np.concatenate([e.draws for e in ests], axis=1)
    truth = np.concatenate([e.truth for e in ests])
    cols = summary_columns(draws, truth, levels=levels, interval=interval)
    cols["contraction"] = np.concatenate([posterior_contraction(e.draws, e.prior) for e in ests])
    ranks = [
        sbc_rank(
            e.draws, e.truth, n_ranks, rank_rng(seed, record.cell_id, record.replicate, e.name)
        )
        for e in ests
    ]
    cols["rank"] = np.concatenate([r[0] for r in ranks])
    cols["rank_draws"] = np.repeat([r[1] for r in ranks], sizes)
    cols["pit"] = np.concatenate([r[2] for r in ranks])
    cols["draws"] = np.full(truth.size, draws.shape[0])
    k = truth.size
    cols["cell"] = np.full(k, record.cell_id, dtype=object)
    cols["cell_label"] = np.full(k, run.label(record.cell_id), dtype=object)
    cols["replicate"] = np.full(k, record.replicate)
    cols["estimand"] = np.repeat(np.array(names, dtype=object), sizes)
    cols["coords"] = np.array(
        [
            ",".join(_coord_label(d, e.coords[d][i]) for d in e.dims)
            for e in ests
            for i in range(e.truth.size)
        ],
        dtype=object,
    )
    offsets = np.cumsum([0, *sizes])
    for j, e in enumerate(ests):
        for d in e.dims:
            if d not in cols:
                fill, dtype = _fill(e.coords[d])
                cols[d] = np.full(k, fill, dtype=dtype)
            cols[d][offsets[j] : offsets[j + 1]] = e.coords[d]
    keep = np.isfinite(truth)
    return {name: values[keep] for name, values in cols.items()}


def _concat(chunks: list[Columns], levels: Sequence[float]) -> pd.DataFrame:
    if not chunks:
        empty = summary_columns(np.zeros((2, 0)), np.zeros(0), levels=levels)
        cols = {c: np.zeros(0, dtype=object) for c in _HEAD} | empty
        return pd.DataFrame(cols | {c: np.zeros(0) for c in _TAIL})
    summary = [c for c in chunks[0] if c not in _HEAD and c not in _TAIL]
    fixed = (
        set(_HEAD) | set(_TAIL) | set(summary_columns(np.zeros((2, 0)), np.zeros(0), levels=levels))
    )
    dims: dict[str, tuple[Any, Any]] = {}
    for chunk in chunks:
        for name, values in chunk.items():
            if name not in fixed and name not in dims:
                dims[name] = _fill(values)
    for chunk in chunks:
        n = chunk["truth"].size
        for dim, (fill, dtype) in dims.items():
            if dim not in chunk:
                chunk[dim] = np.full(n, fill, dtype=dtype)
    order = [*_HEAD, *dims, *[c for c in summary if c not in dims], *_TAIL]
    return pd.DataFrame({c: np.concatenate([chunk[c] for chunk in chunks]) for c in order})


def scored(run: RunLike | RunScores, options: dict[str, Any]) -> RunScores:
    """``run`` if already scored (then ``options`` must be empty), else ``score_run``."""
    if isinstance(run, RunScores):
        if options:
            raise TypeError(f"options {sorted(options)} apply when scoring a path, not RunScores")
        return run
    return score_run(run, **options)


def estimand_table(run: RunLike | RunScores, **options: Any) -> pd.DataFrame:
    """One row per (cell, replicate, estimand, coordinate): ``cell, cell_label, replicate,
    estimand, coords``, one column per coordinate dimension (``channel``, ``date``, ...),
    the columns of :func:`mmm_workbench.reports.metrics.summarize_draws`, and ``rank, rank_draws,
    pit, draws``. ``options`` go to :func:`score_run`."""
    return scored(run, options).estimands


def fit_table(run: RunLike | RunScores) -> pd.DataFrame:
    """One row per fit: ``cell, cell_label, replicate, status`` (``ok``/``failed``/
    ``corrupt``), ``backend``, the diagnostics (``draws, max_rhat, min_ess_bulk,
    min_ess_tail, divergences, treedepth_hits, ebfmi, step_size``; NaN when absent), the
    timings (``compile_s, tune_s, draw_s, post_s``), ``error`` and ``path``."""
    return scored(run, {}).fits


def fit_counts(scores: RunScores) -> pd.DataFrame:
    """Per cell: ``cell, cell_label, n_ok, n_failed, n_corrupt, n_missing`` (replicates
    the manifest asks for with nothing on disk; NaN when it does not say)."""
    fits = scores.fits
    rows = []
    expected = scores.run.replicates
    for cell, label in scores.run.cells.items():
        status = fits.loc[fits["cell"] == cell, "status"]
        counts = {f"n_{s}": int((status == s).sum()) for s in ("ok", "failed", "corrupt")}
        seen = int(fits.loc[fits["cell"] == cell, "replicate"].ge(0).sum())
        missing = max(expected - seen, 0) if expected is not None else math.nan
        rows.append({"cell": cell, "cell_label": label} | counts | {"n_missing": missing})
    return pd.DataFrame(rows)


AGGREGATE_COLUMNS = [
    "cell", "cell_label", "estimand", "coords", "pooled", "metric", "value", "mcse", "lower",
    "upper", "n",
]  # fmt: skip


def aggregate_table(
    run: RunLike | RunScores,
    *,
    ci_prob: float = 0.95,
    sbc_method: Literal["pot_c", "chi2", "ecdf"] = "pot_c",
    rhat_max: float = 1.01,
    **options: Any,
) -> pd.DataFrame:
    """Performance measures in long form, one row per (cell, estimand, coords, metric).

    Columns: ``cell, cell_label, estimand, coords, pooled, metric, value, mcse, lower,
    upper, n``. Rows with ``pooled == False`` are per coordinate; ``pooled == True`` rows
    (``coords == "*"``) pool all coordinates of an estimand (their MCSEs treat the pooled
    values as independent, which quantities of one fit are not: read them as summaries).
    Fit-level measures (:data:`FIT_METRICS`) have ``estimand == ""``; SBC p-values
    (``sbc_p_value``, ``sbc_p_holm``, from :func:`mmm_workbench.reports.sbc.sbc_uniformity`) are per
    coordinate. ``lower``/``upper`` is the ``ci_prob`` Monte Carlo interval. ``options``
    go to :func:`score_run` when ``run`` is a path.
    """
    scores = scored(run, options)
    table = scores.estimands
    levels = scores.options.get("levels", LEVELS)
    keys = ["cell", "cell_label", "estimand", "coords"]
    frames = [fit_measures(scores.fits, scores.run.cells, ci_prob=ci_prob, rhat_max=rhat_max)]
    if len(table):
        per = performance_table(table, keys, levels=levels, ci_prob=ci_prob)
        pooled = performance_table(table.assign(coords="*"), keys, levels=levels, ci_prob=ci_prob)
        sbc = sbc_uniformity(table, method=sbc_method)
        sbc_rows = sbc.melt(
            id_vars=[*keys, "n"], value_vars=["p_value", "p_holm"], var_name="metric"
        )
        sbc_rows["metric"] = "sbc_" + sbc_rows["metric"]
        frames += [
            per.assign(pooled=False),
            pooled.assign(pooled=True),
            sbc_rows.assign(pooled=False),
        ]
    out = pd.concat(frames, ignore_index=True).reindex(columns=AGGREGATE_COLUMNS)
    return out.sort_values(
        ["cell", "pooled", "estimand", "coords"], kind="stable", ignore_index=True
    )


def _json_value(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer | np.bool_):
        return value.item()
    return value


def summary_json(
    run: RunLike | RunScores, *, ci_prob: float = 0.95, **options: Any
) -> dict[str, Any]:
    """The run's aggregates and fit counts as a JSON-ready dict (NaN written as null).

    Keys: ``summary_version``, ``run``, ``scenario``, ``options``, ``cells`` (per cell:
    label and ``n_ok, n_failed, n_corrupt, n_missing``), ``fits`` (totals), ``problems``
    (failed and corrupt fits: cell, replicate, status, error) and ``aggregates`` (the rows
    of :func:`aggregate_table`). Suitable for ``report/summary.json`` and as the baseline
    of :func:`mmm_workbench.reports.gate.check`.
    """
    scores = scored(run, options)
    aggregates = aggregate_table(scores, ci_prob=ci_prob)
    counts = fit_counts(scores)
    cells = {
        str(r["cell"]): {k: _json_value(v) for k, v in r.items() if k != "cell"}
        for r in counts.to_dict("records")
    }
    totals = {
        k: _json_value(counts[k].sum()) for k in ("n_ok", "n_failed", "n_corrupt", "n_missing")
    }
    problems = scores.fits.loc[
        scores.fits["status"] != "ok", ["cell", "replicate", "status", "error"]
    ]
    return {
        "summary_version": SUMMARY_VERSION,
        "run": str(scores.run.root),
        "scenario": scores.run.name,
        "options": scores.options | {"ci_prob": ci_prob},
        "cells": cells,
        "fits": totals,
        "problems": [
            {k: _json_value(v) for k, v in r.items()} for r in problems.to_dict("records")
        ],
        "aggregates": [
            {k: _json_value(v) for k, v in r.items()} for r in aggregates.to_dict("records")
        ],
    }
