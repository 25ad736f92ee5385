"""The CI gate: rules over a run's aggregate measures, and an assertion for pytest suites.

A rules file (TOML)::

    [[rule]]
    metric = "coverage_90"        # an aggregate metric name (patterns such as "coverage_*")
    estimand = "roas"             # an estimand name or pattern; "*" (default) for all
    min = 0.8                     # and/or max = ...
    judge = "interval"            # default: pass while the Monte Carlo interval reaches the
                                  # bound (benefit of the doubt); "point": the estimate itself
    [[rule]]
    metric = "divergent_share"    # fit-level measures are per cell; no estimand
    max = 0.05
    [[rule]]
    metric = "*"
    baseline = true               # no metric worse than the baseline by more than z MCSEs

Optional keys: ``cell`` (a cell id or label, or a pattern), ``pool = true`` (judge the
measures pooled over an estimand's coordinates instead of each coordinate), ``name`` (shown
in the failure table) and ``z`` (baseline rules: the tolerance in combined Monte Carlo
SEs, default 2). A measure whose value is NaN (a relative bias at zero truth) is not
judged; a rule that finds nothing finite to judge fails.
"""

from __future__ import annotations

import fnmatch
import json
import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from mmm_workbench.reports.aggregate import badness, estimand_metric_names
from mmm_workbench.reports.rundir import Run
from mmm_workbench.reports.tables import (
    FIT_METRICS,
    SBC_METRICS,
    RunScores,
    aggregate_table,
    fit_counts,
    scored,
)

__all__ = ["FAILURE_COLUMNS", "GateResult", "Rule", "assert_recovery", "check", "load_rules"]

FAILURE_COLUMNS = [
    "rule", "cell", "cell_label", "estimand", "coords", "metric", "value", "lower", "upper",
    "bound", "judge", "detail",
]  # fmt: skip
_KEYS = frozenset(
    {"metric", "estimand", "cell", "min", "max", "judge", "baseline", "pool", "name", "z"}
)
RulesLike = str | Path | Sequence[Mapping[str, Any]]
BaselineLike = str | Path | Mapping[str, Any] | None


@dataclass(frozen=True, kw_only=True)
class Rule:
    """One validated rule."""

    index: int
    metric: str
    estimand: str = "*"
    cell: str = "*"
    min: float | None = None
    max: float | None = None
    judge: Literal["interval", "point"] = "interval"
    baseline: bool = False
    pool: bool = False
    z: float = 2.0
    name: str = ""

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        what = self.metric if self.estimand == "*" else f"{self.metric}[{self.estimand}]"
        bounds = []
        if self.min is not None:
            bounds.append(f">= {self.min:g}")
        if self.max is not None:
            bounds.append(f"<= {self.max:g}")
        if self.baseline:
            bounds.append("not worse than baseline")
        return f"#{self.index} {what} {' and '.join(bounds)}"


@dataclass(frozen=True, kw_only=True)
class GateResult:
    """The verdict: ``passed``, the failure table (:data:`FAILURE_COLUMNS`), the number of
    (rule, measure) checks made, and the fit counts per cell (corrupt fits included)."""

    passed: bool
    failures: pd.DataFrame
    checked: int
    fits: pd.DataFrame

    def report(self) -> str:
        """A plain-text account (for an assertion message or a terminal)."""
        totals = {c: int(self.fits[c].sum()) for c in ("n_ok", "n_failed", "n_corrupt")}
        head = (
            f"recovery gate {'passed' if self.passed else 'FAILED'}: {self.checked} checks, "
            f"{len(self.failures)} failures; fits: {totals['n_ok']} ok, "
            f"{totals['n_failed']} failed, {totals['n_corrupt']} corrupt (skipped)"
        )
        if self.failures.empty:
            return head
        shown = self.failures.drop(columns=["cell"]).head(50)  # labels read better
        more = len(self.failures) - len(shown)
        tail = f"\n... and {more} more" if more > 0 else ""
        return f"{head}\n{shown.to_string(index=False, float_format=lambda v: f'{v:.4g}')}{tail}"


def _number(raw: Mapping[str, Any], key: str, where: str) -> float | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where}: {key} = {value!r}: must be a number")
    return float(value)


def load_rules(rules: RulesLike) -> list[Rule]:
    """Parse and check rules from a TOML file (``[[rule]]`` tables) or a list of mappings.

    Raises
    ------
    ValueError
        Unreadable TOML, unknown keys, no bound, a bad ``judge``; each message names the
        rule and the value.
    """
    source = "rules"
    if isinstance(rules, str | Path):
        source = str(rules)
        try:
            document = tomllib.loads(Path(rules).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(f"{source}: cannot read rules: {exc}") from exc
        unknown = set(document) - {"rule"}
        if unknown:
            raise ValueError(f"{source}: unknown top-level keys {sorted(unknown)}; use [[rule]]")
        raw_rules = document.get("rule", [])
    else:
        raw_rules = list(rules)
    if not raw_rules:
        raise ValueError(f"{source}: no rules ([[rule]] tables)")
    out = []
    for i, raw in enumerate(raw_rules, start=1):
        where = f"{source}: rule #{i}"
        if not isinstance(raw, Mapping):
            raise ValueError(f"{where}: must be a table, got {raw!r}")
        unknown = set(raw) - _KEYS
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(_KEYS)}")
        if not isinstance(raw.get("metric"), str) or not raw["metric"]:
            raise ValueError(f'{where}: needs metric = "<name>"')
        judge = raw.get("judge", "interval")
        if judge not in ("interval", "point"):
            raise ValueError(f"{where}: judge = {judge!r}: must be 'interval' or 'point'")
        lo, hi = _number(raw, "min", where), _number(raw, "max", where)
        baseline = bool(raw.get("baseline", False))
        if lo is None and hi is None and not baseline:
            raise ValueError(f"{where}: needs min, max or baseline = true")
        if raw["metric"] == "*" and not baseline:
            raise ValueError(f'{where}: metric = "*" is only for baseline = true')
        out.append(
            Rule(
                index=i,
                metric=raw["metric"],
                estimand=str(raw.get("estimand", "*")),
                cell=str(raw.get("cell", "*")),
                min=lo,
                max=hi,
                judge=judge,
                baseline=baseline,
                pool=bool(raw.get("pool", False)),
                z=2.0 if (z := _number(raw, "z", where)) is None else z,
                name=str(raw.get("name", "")),
            )
        )
    return out


def _load_baseline(baseline: BaselineLike) -> pd.DataFrame | None:
    if baseline is None:
        return None
    if isinstance(baseline, str | Path):
        try:
            summary = json.loads(Path(baseline).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"baseline {baseline}: cannot read summary JSON: {exc}") from exc
    else:
        summary = baseline
    if not isinstance(summary, Mapping) or "aggregates" not in summary:
        raise ValueError("baseline: not a summary (no 'aggregates'); write one with summary_json")
    frame = pd.DataFrame(summary["aggregates"])
    keys = ["cell", "estimand", "coords", "pooled", "metric"]
    frame = frame.reindex(columns=[*keys, "value", "mcse"])
    frame[["value", "mcse"]] = frame[["value", "mcse"]].astype(np.float64)
    return frame.rename(columns={"value": "base_value", "mcse": "base_mcse"})


def _select(agg: pd.DataFrame, rule: Rule, where: str, estimands: set[str]) -> pd.DataFrame:
    known = set(estimand_metric_names(_levels(agg))) | set(FIT_METRICS) | set(SBC_METRICS)
    metrics = sorted(m for m in known if fnmatch.fnmatchcase(m, rule.metric))
    if not metrics:
        raise ValueError(
            f"{where}: unknown metric {rule.metric!r}; known: {', '.join(sorted(known))}"
        )
    rows = agg[agg["metric"].isin(metrics)]
    cells = agg[["cell", "cell_label"]].drop_duplicates()
    if rule.cell != "*":
        chosen = [
            c
            for c, lab in cells.itertuples(index=False)
            if fnmatch.fnmatchcase(c, rule.cell) or fnmatch.fnmatchcase(lab, rule.cell)
        ]
        if not chosen:
            raise ValueError(
                f"{where}: unknown cell {rule.cell!r}; this run has {sorted(cells['cell'])}"
            )
        rows = rows[rows["cell"].isin(chosen)]
    if rule.estimand != "*":
        if all(m in FIT_METRICS for m in metrics):
            raise ValueError(
                f"{where}: {rule.metric!r} is a fit-level metric; it takes no estimand"
            )
        names = sorted(e for e in estimands if fnmatch.fnmatchcase(e, rule.estimand))
        if not names and estimands:  # with no successful fit, the rule fails instead
            raise ValueError(
                f"{where}: unknown estimand {rule.estimand!r}; this run has "
                f"{', '.join(sorted(estimands)) or 'no scored estimands'}"
            )
        rows = rows[rows["estimand"].isin(names)]
    return rows[(rows["estimand"] == "") | (rows["pooled"] == rule.pool)]


def _levels(agg: pd.DataFrame) -> list[float]:
    names = agg.loc[agg["metric"].str.startswith("coverage_"), "metric"].unique()
    return sorted(float(n.split("_", 1)[1]) / 100 for n in names) or [0.5, 0.8, 0.9, 0.95]


def _failure(rule: Rule, row: Mapping[Any, Any], bound: float, detail: str) -> dict[str, Any]:
    out = {k: row.get(k, "") for k in ("cell", "cell_label", "estimand", "coords", "metric")}
    out |= {k: row.get(k, math.nan) for k in ("value", "lower", "upper")}
    return {"rule": rule.label} | out | {"bound": bound, "judge": rule.judge, "detail": detail}


def _judge_bounds(rule: Rule, rows: pd.DataFrame) -> tuple[list[dict[str, Any]], int]:
    failures = []
    finite = rows[np.isfinite(rows["value"].to_numpy(np.float64))]
    for row in finite.to_dict("records"):
        lo, hi = (
            (row["value"], row["value"]) if rule.judge == "point" else (row["lower"], row["upper"])
        )
        if not (np.isfinite(lo) and np.isfinite(hi)):
            lo, hi = row["value"], row["value"]  # no Monte Carlo interval (counts, p-values)
        if rule.min is not None and hi < rule.min:
            failures.append(_failure(rule, row, rule.min, f"below min {rule.min:g}"))
        if rule.max is not None and lo > rule.max:
            failures.append(_failure(rule, row, rule.max, f"above max {rule.max:g}"))
    return failures, len(finite)


def _judge_baseline(
    rule: Rule, rows: pd.DataFrame, base: pd.DataFrame
) -> tuple[list[dict[str, Any]], int]:
    keys = ["cell", "estimand", "coords", "pooled", "metric"]
    merged = rows.merge(base, on=keys, how="inner")
    failures, checked = [], 0
    for row in merged.to_dict("records"):
        worse = badness(str(row["metric"]))
        values = [row["value"], row["mcse"], row["base_value"], row["base_mcse"]]
        if worse is None or not all(np.isfinite(v) for v in values):
            continue
        checked += 1
        tolerance = rule.z * math.hypot(row["mcse"], row["base_mcse"])
        if worse(row["value"]) - worse(row["base_value"]) > tolerance:
            detail = f"worse than baseline {row['base_value']:.4g} by more than {tolerance:.3g}"
            failures.append(_failure(rule, row, row["base_value"], detail))
    return failures, checked


def check(
    run_dir: str | Path | Run | RunScores,
    rules_path: RulesLike,
    baseline: BaselineLike = None,
    *,
    ci_prob: float = 0.95,
    **options: Any,
) -> GateResult:
    """Judge a run against rules.

    Parameters
    ----------
    run_dir
        A run directory, or a run already scored by :func:`mmm_workbench.reports.tables.score_run`.
    rules_path
        A rules TOML file, or a list of rule mappings (the keys of the TOML tables).
    baseline
        A ``summary.json`` (path or dict from :func:`mmm_workbench.reports.tables.summary_json`) for
        ``baseline = true`` rules; its measures are matched by cell, estimand, coordinate.
    ci_prob
        Level of the Monte Carlo intervals an ``interval`` judge uses.
    options
        Passed to :func:`mmm_workbench.reports.tables.score_run` when ``run_dir`` is a path.

    Returns
    -------
    GateResult
        ``passed`` is False when any rule fails; ``failures`` names rule, cell, estimand,
        coordinate, metric, value, interval and bound. Corrupt fits are counted in
        ``fits`` and skipped.

    Raises
    ------
    mmm_workbench.reports.rundir.RunError
        Not a run directory, or an empty run.
    ValueError
        Bad rules: unknown metric, estimand or cell, a baseline rule without a baseline.
    """
    rules = load_rules(rules_path)
    base = _load_baseline(baseline)
    for rule in rules:
        if rule.baseline and base is None:
            raise ValueError(f"rule {rule.label}: compares with a baseline, but none was given")
    scores = scored(run_dir, options)
    agg = aggregate_table(scores, ci_prob=ci_prob)
    estimands = set(scores.estimands["estimand"].unique())
    failures: list[dict[str, Any]] = []
    checked = 0
    for rule in rules:
        where = f"rule {rule.label}"
        rows = _select(agg, rule, where, estimands)
        found, n = (
            _judge_bounds(rule, rows) if rule.min is not None or rule.max is not None else ([], 0)
        )
        if rule.baseline and base is not None:
            more, m = _judge_baseline(rule, rows, base)
            found, n = found + more, n + m
        if n == 0:
            detail = "nothing to judge: no finite value" + (
                " matched in the baseline" if rule.baseline else ""
            )
            found.append(_failure(rule, {"metric": rule.metric}, math.nan, detail))
        failures += found
        checked += max(n, 1)
    table = pd.DataFrame(failures, columns=FAILURE_COLUMNS)
    return GateResult(passed=table.empty, failures=table, checked=checked, fits=fit_counts(scores))


def assert_recovery(
    run_dir: str | Path | Run | RunScores,
    rules: RulesLike,
    baseline: BaselineLike = None,
    **options: Any,
) -> GateResult:
    """:func:`check`, raising ``AssertionError`` with the failure table when a rule fails.

    For users' pytest suites::

        def test_my_model_recovers(tmp_path):
            assert_recovery("runs/my-grid", "recovery.toml")
    """
    result = check(run_dir, rules, baseline, **options)
    if not result.passed:
        raise AssertionError(result.report())
    return result
