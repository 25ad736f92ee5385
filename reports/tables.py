"""Tidy tables from a run directory.

- :func:`estimand_table`: one row per (cell, replicate, estimand, coordinate) with the
  truth, the posterior summary (:func:`mmm_workbench.reports.metrics.summarize_draws`), the
  rank of the truth and the estimand's family (:func:`estimand_family`); every
  time-indexed estimand also gets its time mean, ``mean(<name>)``, as an estimand;
- :func:`fit_table`: one row per fit with its status (``ok``, ``failed``, ``corrupt``),
  diagnostics, timings and in-sample model fit (:mod:`mmm_workbench.reports.fit_metrics`);
- ``RunScores.correlations``: per fit, the posterior correlation of every pair of
  parameters (of their logs where positive), for the identifiability verdict;
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

from mmm_workbench.reports.aggregate import (
    FIT_METRICS,
    Health,
    fit_measures,
    performance_table,
)
from mmm_workbench.reports.contract import POSTERIOR
from mmm_workbench.reports.decision import (
    DECISION_ESTIMANDS,
    DECISION_FAMILY,
    DECISION_METRICS,
    record_decision,
)
from mmm_workbench.reports.fit_metrics import FIT_QUALITY, fit_quality
from mmm_workbench.reports.metrics import LEVELS, summary_columns
from mmm_workbench.reports.parallel import share
from mmm_workbench.reports.records import FitRecord, RecordError, read_record
from mmm_workbench.reports.rundir import Run, open_run
from mmm_workbench.reports.sbc import rank_rng, sbc_rank, sbc_uniformity

__all__ = [
    "AGGREGATE_COLUMNS",
    "DIAGNOSTICS",
    "FAMILIES",
    "FIT_METRICS",
    "GEO_FAMILY",
    "SBC_METRICS",
    "SUMMARY_VERSION",
    "TIMINGS",
    "RunScores",
    "aggregate_table",
    "estimand_family",
    "estimand_table",
    "fit_counts",
    "fit_table",
    "model_fit_table",
    "score_run",
    "scored",
    "summary_json",
]

log = logging.getLogger(__name__)

SUMMARY_VERSION = 2
"""Version of :func:`summary_json`'s dict. 2: per-date measures of time-indexed estimands
left out (they are in ``aggregates.csv``)."""
DIAGNOSTICS = (
    "draws", "max_rhat", "min_ess_bulk", "min_ess_tail", "divergences", "treedepth_hits",
    "ebfmi", "step_size",
)  # fmt: skip
TIMINGS = ("compile_s", "tune_s", "draw_s", "post_s")
SBC_METRICS = ("uniformity_p", "uniformity_p_holm")
"""Rank-uniformity p-values: raw per coordinate in the aggregates; ``uniformity_p_holm``
is Holm-corrected over what a gate rule selects (:mod:`mmm_workbench.reports.gate`).
They are SBC p-values only where the cell's truth was drawn per replicate
(:func:`mmm_workbench.reports.sbc.truth_design`)."""
GEO_FAMILY = "geo"
"""The family of a geo model's per-geo estimands (a ``geo`` dimension): scored, shown by
the report's per-geo figures, and judged only by rules that name it (the default rules do
not, so a panel of geos does not multiply the national verdict's checks)."""
FAMILIES = ("parameter", "derived", "series", "summary", "curve", DECISION_FAMILY, GEO_FAMILY)
"""Estimand families (:func:`estimand_family`)."""
TIME_DIMS = ("date",)
RunLike = str | Path | Run
CORRELATION_COLUMNS = ["cell", "replicate", "a", "b", "corr", "log"]


def estimand_family(name: str, dims: Sequence[str]) -> str:
    """Return the family of an estimand, by its name and dimensions.

    ``series``: indexed by time (a ``date`` dimension: per-date contributions, the
    baseline); ``summary``: the time mean of a series (``mean(<name>)``, added by
    :func:`score_run`); ``parameter``: a model parameter (``sigma``, ``adstock_*``,
    ``saturation_*``); ``curve``: the response curve (``response``, over spend
    multipliers); ``decision``: the budget decision of the response curves
    (:data:`mmm_workbench.reports.decision.DECISION_ESTIMANDS`); ``geo``: per geo (a
    ``geo`` dimension, :data:`GEO_FAMILY`); ``derived``: the rest (ROAS, mROAS,
    contribution shares and totals).
    """
    if name in DECISION_ESTIMANDS:
        return DECISION_FAMILY
    if GEO_FAMILY in dims:
        return GEO_FAMILY
    if any(d in TIME_DIMS for d in dims):
        return "series"
    if name.startswith("mean(") and name.endswith(")"):
        return "summary"
    if name == "sigma" or name.startswith(("adstock_", "saturation_")):
        return "parameter"
    if name == "response" or "multiplier" in dims:
        return "curve"
    return "derived"


@dataclass(frozen=True, kw_only=True)
class RunScores:
    """A scored run.

    The estimand, fit and parameter-correlation tables and the options that made them.
    """

    run: Run
    estimands: pd.DataFrame
    fits: pd.DataFrame
    options: dict[str, Any] = field(default_factory=dict)
    correlations: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=CORRELATION_COLUMNS)
    )
    _aggregates: dict[tuple[Any, ...], pd.DataFrame] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    """:func:`aggregate_table`'s results by their options: the report, its summary and the
    verdict ask for the same table (1.2 s of CPU each time on 100 records of 436
    coordinates). Not copied by ``dataclasses.replace``: a subset of the estimands starts
    empty. The tables of a ``RunScores`` are not modified in place."""


def score_run(
    run: RunLike,
    *,
    levels: Sequence[float] = LEVELS,
    intervals: Sequence[str] = ("central",),
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
    intervals
        Interval kinds scored at every level (:data:`mmm_workbench.reports.metrics.INTERVALS`:
        ``central``, ``hdi``, ``left``, ``right``).
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
    entries = list(opened.entries)

    def score_entry(i: int) -> _Scored:
        entry = entries[i]
        row: dict[str, Any] = {"cell": entry.cell_id, "cell_label": opened.label(entry.cell_id)}
        row |= {
            "replicate": entry.replicate,
            "path": str(entry.path),
            "backend": "",
            "geometry": "",
            "truth_version": math.nan,
        }
        if entry.status != "ok":
            return _Scored(row | {"status": entry.status, "error": entry.error} | _diag(entry.info))
        try:
            record = read_record(entry.path, entry.cell_id, entry.replicate)
            quantities = _quantities(record, wanted)
            scored = _score_record(record, quantities, opened, levels, intervals, n_ranks, seed)
        except RecordError as exc:
            return _Scored(row | {"status": "corrupt", "error": str(exc)}, corrupt=str(exc))
        nonfinite = sum(int(np.count_nonzero(~np.isfinite(q.draws))) for q in quantities)
        info = _record_info(record) | {"nonfinite_draws": float(nonfinite)}
        return _Scored(
            row | {"status": "ok", "error": ""} | info,
            scored,
            _correlations(record, quantities),
        )

    # records are scored in two processes on two cores (half the wall time on 100 records)
    done = share(score_entry, len(entries), min_tasks=PARALLEL_RECORDS)
    for one in done:
        if one.corrupt:  # logged here: a helper process's log records would be lost
            log.warning("corrupt fit record, skipped: %s", one.corrupt)
    chunks = [one.columns for one in done if one.columns]
    corrs = [one.correlations for one in done if one.fit["status"] == "ok"]
    fits = [one.fit for one in done]
    options = {
        "levels": list(levels),
        "intervals": list(dict.fromkeys(intervals)),
        "n_ranks": n_ranks,
        "seed": seed,
    }
    nonempty = [c for c in corrs if c]
    return RunScores(
        run=opened,
        estimands=_concat(chunks, levels, intervals),
        fits=_fit_frame(fits),
        options=options,
        correlations=(
            pd.DataFrame(
                {c: np.concatenate([chunk[c] for chunk in nonempty]) for c in CORRELATION_COLUMNS}
            )
            if nonempty
            else pd.DataFrame(columns=CORRELATION_COLUMNS)
        ),
    )


PARALLEL_RECORDS = 16
"""Runs of fewer records are scored in one process
(:func:`mmm_workbench.reports.parallel.share`)."""


@dataclass(frozen=True)
class _Scored:
    """One entry of a run, scored: its fit row, estimand columns and correlations."""

    fit: dict[str, Any]
    columns: Columns = field(default_factory=dict)
    correlations: Columns = field(default_factory=dict)
    corrupt: str = ""


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
    info: dict[str, Any] = {
        "backend": str(record.attrs.get("backend", "")),
        "geometry": str(record.attrs.get("geometry", "")),
        "truth_version": _truth_version(record.attrs.get("truth_version")),
    }
    info |= _numbers(record.diagnostics, DIAGNOSTICS) | _numbers(record.timings, TIMINGS)
    return info | fit_quality(record)


def _truth_version(value: Any) -> float:
    """Return a record's ``truth_version``, NaN where it has none (written before it)."""
    try:
        return float(int(value))
    except (TypeError, ValueError):
        return math.nan


def _fit_frame(fits: list[dict[str, Any]]) -> pd.DataFrame:
    columns = ["cell", "cell_label", "replicate", "status", "backend", "geometry"]
    columns += ["truth_version"]
    columns += [*DIAGNOSTICS, *TIMINGS]
    columns += ["nonfinite_draws", *FIT_QUALITY]
    return pd.DataFrame(fits).reindex(columns=[*columns, "error", "path"])


def _coord_label(dim: str, value: Any) -> str:
    if isinstance(value, np.datetime64 | pd.Timestamp):
        stamp = pd.Timestamp(value)
        return f"{dim}={stamp.date() if stamp == stamp.normalize() else stamp.isoformat()}"
    if isinstance(value, float | np.floating):
        return f"{dim}={float(value):g}"
    return f"{dim}={value}"


_HEAD = ["cell", "cell_label", "replicate", "estimand", "family", "coords"]
_TAIL = ["rank", "rank_draws", "pit", "draws", "boundary"]
Columns = dict[str, NDArray[Any]]


@dataclass(frozen=True)
class _Quantity:
    """One estimand of one fit, flattened over its coordinates (as ``records.Estimand``)."""

    name: str
    family: str
    dims: tuple[str, ...]
    coords: dict[str, NDArray[Any]]
    draws: NDArray[np.float64]
    truth: NDArray[np.float64]
    prior: NDArray[np.float64] | None


def _quantities(record: FitRecord, wanted: set[str] | None) -> list[_Quantity]:
    """Return the record's estimands, and the time mean of each time-indexed one."""
    out = []
    for name in record.estimand_names():
        if wanted is not None and name not in wanted:
            continue
        e = record.estimand(name)
        q = _Quantity(
            name=e.name,
            family=estimand_family(e.name, e.dims),
            dims=tuple(e.dims),
            coords=dict(e.coords),
            draws=e.draws,
            truth=e.truth,
            prior=e.prior,
        )
        out.append(q)
        if q.family == "series":
            summary = _time_mean(q)
            if summary is not None:
                out.append(summary)
    if wanted is None or wanted & set(DECISION_ESTIMANDS):
        out += [q for q in _decision(record) if wanted is None or q.name in wanted]
    if len({q.draws.shape[0] for q in out}) > 1:
        raise RecordError(f"{record.cell_id}/{record.replicate}: estimands differ in draws")
    return out


def _decision(record: FitRecord) -> list[_Quantity]:
    """Return the fit's decision estimands (:mod:`mmm_workbench.reports.decision`), if any.

    The model's plan is one allocation: its draws are its value repeated (as many as the
    posterior's), the truth that of the true optimum (0 for ``regret``, ``regret_share``).
    """
    decision = record_decision(record)
    if decision is None:
        return []
    n = record.values[POSTERIOR].shape[1]
    channels = np.asarray(decision.channels, dtype=object)

    def point(name: str, value: NDArray[np.float64], truth: NDArray[np.float64]) -> _Quantity:
        dims = ("channel",) if name.startswith("optimal_") else ()
        return _Quantity(
            name=name,
            family=DECISION_FAMILY,
            dims=dims,
            coords={"channel": channels} if dims else {},
            draws=np.repeat(value.reshape(1, -1), n, axis=0),
            truth=truth.reshape(-1),
            prior=None,
        )

    zero = np.zeros(1)
    return [
        point("optimal_share", decision.plan.share, decision.optimum.share),
        point("optimal_multiplier", decision.plan.multiplier, decision.optimum.multiplier),
        point("regret", np.array([decision.regret]), zero),
        point("regret_share", np.array([decision.regret_share]), zero),
    ]


def _time_mean(q: _Quantity) -> _Quantity | None:
    """``mean(<name>)``: the mean over the time dimension, per remaining coordinate."""
    labels = {d: pd.unique(q.coords[d]) for d in q.dims}
    shape = tuple(len(labels[d]) for d in q.dims)
    if int(np.prod(shape, dtype=np.int64)) != q.truth.size:
        return None
    axes = tuple(i for i, d in enumerate(q.dims) if d in TIME_DIMS)
    rest = tuple(d for d in q.dims if d not in TIME_DIMS)

    def reduce(values: NDArray[np.float64], lead: tuple[int, ...]) -> NDArray[np.float64]:
        shaped = values.reshape(*lead, *shape)
        mean = shaped.mean(axis=tuple(len(lead) + a for a in axes))
        return np.asarray(mean.reshape(*lead, -1), dtype=np.float64)

    grids = np.meshgrid(*(labels[d] for d in rest), indexing="ij") if rest else []
    return _Quantity(
        name=f"mean({q.name})",
        family="summary",
        dims=rest,
        coords={d: g.reshape(-1) for d, g in zip(rest, grids, strict=True)},
        draws=reduce(q.draws, (q.draws.shape[0],)),
        truth=reduce(q.truth, ()),
        prior=None if q.prior is None else reduce(q.prior, (q.prior.shape[0],)),
    )


_LABELS: dict[tuple[Any, ...], NDArray[Any]] = {}


def _hashable(values: NDArray[Any]) -> tuple[Any, ...]:
    if values.dtype.kind == "O":
        return ("O", *values.tolist())
    return (values.dtype.str, values.tobytes())


def _coord_labels(q: _Quantity) -> NDArray[Any]:
    """Return ``"channel=tv,date=2024-01-05"`` per coordinate.

    Cached: the records of a cell share their coordinates.
    """
    key = (q.dims, *(_hashable(q.coords[d]) for d in q.dims))
    cached = _LABELS.get(key)
    if cached is not None and cached.size == q.truth.size:
        return cached
    parts = []
    for d in q.dims:
        uniq, inverse = np.unique(q.coords[d], return_inverse=True)
        parts.append(
            np.array([_coord_label(d, u) for u in uniq], dtype=object)[inverse.reshape(-1)]
        )
    if not parts:
        labels = np.full(q.truth.size, "", dtype=object)
    else:
        labels = parts[0]
        for more in parts[1:]:
            labels = labels + "," + more
    if len(_LABELS) > 4096:
        _LABELS.clear()
    _LABELS[key] = labels
    return labels


def _correlations(record: FitRecord, quantities: list[_Quantity]) -> Columns:
    """Posterior correlations of every pair of parameter coordinates of one fit.

    Of the logs where both are positive in every draw, else of the values.
    """
    names, columns, logs = [], [], []
    for q in quantities:
        if q.family != "parameter":
            continue
        for label, column in zip(_coord_labels(q).tolist(), q.draws.T, strict=True):
            if not np.all(np.isfinite(column)) or np.ptp(column) == 0:
                continue
            positive = bool(np.all(column > 0))
            names.append(f"{q.name}[{label}]" if label else q.name)
            columns.append(np.log(column) if positive else column)
            logs.append(positive)
    if len(columns) < 2 or columns[0].size < 3:
        return {}
    corr = np.corrcoef(np.stack(columns))
    i, j = np.triu_indices(len(columns), k=1)
    return {
        "cell": np.full(i.size, record.cell_id, dtype=object),
        "replicate": np.full(i.size, record.replicate),
        "a": np.asarray(names, dtype=object)[i],
        "b": np.asarray(names, dtype=object)[j],
        "corr": corr[i, j],
        "log": np.asarray(logs)[i] & np.asarray(logs)[j],
    }


def _outside_prior(q: _Quantity) -> NDArray[np.bool_]:
    """Truth at or beyond every prior draw: on a support boundary (a delay of 0)."""
    if q.prior is None or q.prior.shape[0] < 2:
        return np.zeros(q.truth.size, dtype=bool)
    with np.errstate(invalid="ignore"):
        return np.asarray((q.truth <= q.prior.min(axis=0)) | (q.truth >= q.prior.max(axis=0)))


def _fill(values: NDArray[Any]) -> tuple[Any, Any]:
    """Return the missing value and dtype of a coordinate column (NaT, NaN or None)."""
    if values.dtype.kind == "M":
        return np.datetime64("NaT"), values.dtype
    if values.dtype.kind in "fiub":
        return np.nan, np.float64
    return None, object


def _score_record(
    record: FitRecord,
    quantities: list[_Quantity],
    run: Run,
    levels: Sequence[float],
    intervals: Sequence[str],
    n_ranks: int,
    seed: int,
) -> Columns:
    if not quantities:
        return {}
    sizes = [q.truth.size for q in quantities]
    draws = np.concatenate([q.draws for q in quantities], axis=1)
    truth = np.concatenate([q.truth for q in quantities])
    cols = summary_columns(
        draws, truth, prior=_priors(quantities), levels=levels, intervals=intervals
    )
    ranks = [
        sbc_rank(
            q.draws, q.truth, n_ranks, rank_rng(seed, record.cell_id, record.replicate, q.name)
        )
        for q in quantities
    ]
    cols["rank"] = np.concatenate([r[0] for r in ranks])
    cols["rank_draws"] = np.repeat([r[1] for r in ranks], sizes)
    cols["pit"] = np.concatenate([r[2] for r in ranks])
    cols["draws"] = np.full(truth.size, draws.shape[0])
    cols["boundary"] = np.concatenate([_outside_prior(q) for q in quantities])
    k = truth.size
    cols["cell"] = np.full(k, record.cell_id, dtype=object)
    cols["cell_label"] = np.full(k, run.label(record.cell_id), dtype=object)
    cols["replicate"] = np.full(k, record.replicate)
    cols["estimand"] = np.repeat(np.array([q.name for q in quantities], dtype=object), sizes)
    cols["family"] = np.repeat(np.array([q.family for q in quantities], dtype=object), sizes)
    cols["coords"] = np.concatenate([_coord_labels(q) for q in quantities])
    offsets = np.cumsum([0, *sizes])
    for j, q in enumerate(quantities):
        for d in q.dims:
            if d not in cols:
                fill, dtype = _fill(q.coords[d])
                cols[d] = np.full(k, fill, dtype=dtype)
            cols[d][offsets[j] : offsets[j + 1]] = q.coords[d]
    keep = np.isfinite(truth)
    return {name: values[keep] for name, values in cols.items()}


def _priors(quantities: list[_Quantity]) -> NDArray[np.float64] | None:
    """Every quantity's prior draws side by side, NaN for a quantity without any.

    None when no quantity has them or their sample counts differ.
    """
    counts = {q.prior.shape[0] for q in quantities if q.prior is not None}
    if len(counts) != 1:
        return None
    (n,) = counts
    return np.concatenate(
        [
            q.prior if q.prior is not None else np.full((n, q.truth.size), np.nan)
            for q in quantities
        ],
        axis=1,
    )


def _summary_names(levels: Sequence[float], intervals: Sequence[str]) -> list[str]:
    return list(summary_columns(np.zeros((2, 0)), np.zeros(0), levels=levels, intervals=intervals))


def _concat(
    chunks: list[Columns], levels: Sequence[float], intervals: Sequence[str]
) -> pd.DataFrame:
    if not chunks:
        empty = summary_columns(np.zeros((2, 0)), np.zeros(0), levels=levels, intervals=intervals)
        cols = {c: np.zeros(0, dtype=object) for c in _HEAD} | empty
        tail = {c: np.zeros(0, dtype=bool if c == "boundary" else np.float64) for c in _TAIL}
        return pd.DataFrame(cols | tail)
    summary = [c for c in chunks[0] if c not in _HEAD and c not in _TAIL]
    fixed = set(_HEAD) | set(_TAIL) | set(_summary_names(levels, intervals))
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
    """One row per (cell, replicate, estimand, coordinate).

    ``cell, cell_label, replicate, estimand, coords``, one column per coordinate dimension
    (``channel``, ``date``, ...), the columns of
    :func:`mmm_workbench.reports.metrics.summarize_draws`, and ``rank, rank_draws, pit, draws``.
    ``options`` go to :func:`score_run`.
    """
    return scored(run, options).estimands


def fit_table(run: RunLike | RunScores) -> pd.DataFrame:
    """One row per fit.

    ``cell, cell_label, replicate, status`` (``ok``/``failed``/``corrupt``), ``backend``,
    ``geometry`` (the workbench model's sampling coordinates; empty for other models),
    ``truth_version`` (the definition of the truth the record holds,
    :data:`~mmm_workbench.reports.contract.TRUTH_VERSION`; NaN for a record without one), the
    diagnostics (``draws, max_rhat, min_ess_bulk, min_ess_tail, divergences, treedepth_hits, ebfmi,
    step_size``; NaN when absent), the timings (``compile_s, tune_s, draw_s, post_s``), ``error``
    and ``path``.
    """
    return scored(run, {}).fits


def fit_counts(scores: RunScores) -> pd.DataFrame:
    """Count each cell's fits by status.

    Per cell: ``cell, cell_label, n_ok, n_failed, n_corrupt, n_missing`` (replicates the manifest
    asks for with nothing on disk; NaN when it does not say).
    """
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
    "upper", "n", "family",
]  # fmt: skip


def aggregate_table(
    run: RunLike | RunScores,
    *,
    ci_prob: float = 0.95,
    sbc_method: Literal["pot_c", "chi2", "ecdf"] = "pot_c",
    health: Health | None = None,
    **options: Any,
) -> pd.DataFrame:
    """Compute performance measures in long form, one row per (cell, estimand, coords, metric).

    Columns: :data:`AGGREGATE_COLUMNS`. Rows with ``pooled == False`` are per coordinate;
    ``pooled == True`` rows (``coords == "*"``) pool all coordinates of an estimand, with
    cluster-robust MCSEs for the means (a replicate's coordinates are one cluster; see
    :func:`mmm_workbench.reports.aggregate.performance_table`). Fit-level measures
    (:data:`FIT_METRICS`, thresholds from ``health``) have ``estimand == ""``.
    ``uniformity_p`` is the raw rank-uniformity p-value per coordinate (SBC where the
    cell's truth was drawn, PIT at a fixed truth otherwise; none per date for
    time-indexed estimands, whose time mean is tested instead); its Holm correction is
    the gate's, over what a rule selects. ``lower``/``upper`` is the ``ci_prob`` Monte
    Carlo interval. ``options`` go to :func:`score_run` when ``run`` is a path.

    Computed once per scored run and options (``RunScores`` keeps it); each call returns
    its own copy.
    """
    scores = scored(run, options)
    key = (ci_prob, sbc_method, health or Health())
    cached = scores._aggregates.get(key)
    if cached is None:
        cached = _aggregate_table(scores, ci_prob, sbc_method, key[2])
        scores._aggregates[key] = cached
    return cached.copy()


def _aggregate_table(
    scores: RunScores,
    ci_prob: float,
    sbc_method: Literal["pot_c", "chi2", "ecdf"],
    health: Health,
) -> pd.DataFrame:
    table = scores.estimands
    levels = scores.options.get("levels", LEVELS)
    intervals = scores.options.get("intervals", ("central",))
    keys = ["cell", "cell_label", "estimand", "family", "coords"]
    fit_rows = fit_measures(scores.fits, scores.run.cells, ci_prob=ci_prob, health=health)
    frames = [fit_rows.assign(family="")]
    if len(table):
        options = {"levels": levels, "intervals": intervals, "ci_prob": ci_prob}
        options["percentage_points"] = ("contribution_share", "optimal_share")
        per = performance_table(table, keys, **options)
        pooled = performance_table(table.assign(coords="*"), keys, cluster="replicate", **options)
        decision = table["family"].astype(str) == DECISION_FAMILY
        sbc = sbc_uniformity(table[~decision], method=sbc_method)
        sbc = sbc.merge(table[["cell", "estimand", "family"]].drop_duplicates(), how="left")
        sbc_rows = sbc[[*keys, "n", "p_value"]].rename(columns={"p_value": "value"})
        frames += [
            _point_only(per).assign(pooled=False),
            _point_only(pooled).assign(pooled=True),
            sbc_rows.assign(metric="uniformity_p", pooled=False),
        ]
    out = pd.concat([f for f in frames if len(f)], ignore_index=True)
    out = out.reindex(columns=AGGREGATE_COLUMNS)
    out["pooled"] = out["pooled"].astype(bool)
    return out.sort_values(
        ["cell", "pooled", "estimand", "coords"], kind="stable", ignore_index=True
    )


def _point_only(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop the spread measures of decision estimands (a plan has no posterior spread)."""
    decision = frame["family"].astype(str) == DECISION_FAMILY
    return frame[~decision | frame["metric"].isin(DECISION_METRICS)]


def _json_value(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer | np.bool_):
        return value.item()
    return value


def model_fit_table(aggregates: pd.DataFrame) -> pd.DataFrame:
    """Return the in-sample model fit per cell: one row per cell, one column per measure.

    :data:`~mmm_workbench.reports.fit_metrics.FIT_QUALITY` (``fit_r2``, ..., ``holdout_crps``),
    each the mean over the cell's ok fits as ``value [lower, upper]`` (its Monte Carlo
    interval), and ``fits``, how many fits report them; empty when no fit does (records of
    format 2, least squares).
    """
    rows = aggregates[(aggregates["estimand"] == "") & aggregates["metric"].isin(FIT_QUALITY)]
    rows = rows[np.isfinite(rows["value"].to_numpy(np.float64))]
    out = []
    for (cell, label), group in rows.groupby(["cell", "cell_label"], sort=False):
        row: dict[str, Any] = {"cell": label or cell}
        for r in group.to_dict("records"):
            interval = ""
            if np.isfinite(r.get("lower", np.nan)) and np.isfinite(r.get("upper", np.nan)):
                interval = f" [{r['lower']:.3g}, {r['upper']:.3g}]"
            row[str(r["metric"])] = f"{r['value']:.3g}{interval}"
        row["fits"] = int(group["n"].max())
        out.append(row)
    return pd.DataFrame(out, columns=["cell", *FIT_QUALITY, "fits"])


def summary_json(
    run: RunLike | RunScores, *, ci_prob: float = 0.95, **options: Any
) -> dict[str, Any]:
    """Return the run's aggregates and fit counts as a JSON-ready dict (NaN written as null).

    Keys: ``summary_version``, ``run``, ``scenario``, ``options``, ``cells`` (per cell:
    label and ``n_ok, n_failed, n_corrupt, n_missing``), ``fits`` (totals), ``problems``
    (failed and corrupt fits: cell, replicate, status, error), ``aggregates`` (the rows
    of :func:`aggregate_table` but the per-date ones of time-indexed estimands, which no
    rule judges one by one: their pooled rows and their time means ``mean(...)`` stay)
    and ``left_out`` (how many per-date rows were left out; ``aggregates.csv`` has them
    all). Suitable for ``report/summary.json`` and as the baseline of
    :func:`mmm_workbench.reports.gate.check`.
    """
    scores = scored(run, options)
    aggregates = aggregate_table(scores, ci_prob=ci_prob)
    per_date = (aggregates["family"].astype(str) == "series") & ~aggregates["pooled"]
    aggregates = aggregates[~per_date]
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
        "left_out": {"per_date_rows": int(per_date.sum()), "in": "aggregates.csv"},
    }
