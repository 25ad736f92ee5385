"""Rules: a rules file, and the judging of a run's measures against it.

This is the gate's mechanism; :mod:`mmm_workbench.reports.gate` is its entry point, and
:func:`mmm_workbench.reports.verdict.evaluate` puts the findings together.

A rules file (TOML; :func:`default_rules_path` is the shipped default, ``mmm-workbench
check --print-rules`` prints it)::

    [[rule]]
    metric = "coverage_90"        # any level: coverage_99, coverage_hdi_95, coverage_left_90
    family = "derived"            # parameter | derived | summary | series | curve (or a list)
    estimand = "roas"             # an estimand name or pattern; "*" (default) for all
    min = 0.8                     # and/or max = ...
    judge = "interval"            # default: fail only when the whole Monte Carlo interval
                                  # is beyond the bound; "point": the estimate itself
    [[rule]]
    metric = "tolerance_share"    # share of replicates with |relative error| <= tolerance
    tolerance = 0.15
    estimand = "roas"
    min = 0.9
    severity = "warn"             # a miss is reported as a warning; the gate still passes
    [[rule]]
    metric = "warning_share"      # fit-level measures are per cell; no estimand
    max = 0.2

    [health]                      # what makes a fit a sampler warning (see aggregate.Health)
    max_rhat = 1.05

Rule keys: ``metric`` (required), ``estimand``, ``family``, ``cell`` (id, label or
pattern), ``truth`` (``"any"``, or ``"drawn"``/``"fixed"``: the rule applies only to
cells whose truth was drawn per replicate, i.e. SBC, or fixed), ``min``, ``max``,
``judge``, ``alpha`` (the rule's family-wise error rate, default 0.05), ``tolerance``
(for ``tolerance_share``), ``pool`` (judge measures pooled over an estimand's
coordinates), ``baseline`` and ``z`` (no worse than a baseline summary by more than ``z``
combined Monte Carlo SEs), ``severity`` (``"fail"``, the default; ``"warn"``: a measure
beyond its bound has outcome ``warn`` and a warning in the verdict, and the gate still
passes), ``name``. Tables: ``[health]``, ``[identifiability]``,
``[calibration]`` (see :class:`RuleSet`).

Multiplicity is corrected per question: the Monte Carlo intervals of a rule are at level
``1 - alpha / m`` (Bonferroni) and ``uniformity_p_holm`` is Holm-adjusted, with ``m`` the
number of measures *that rule* judges, never the whole file. Time-indexed estimands
(per-date contributions, the baseline) are never judged date by date: a rule that selects
one judges its measure pooled over dates (cluster-robust) and its time mean ``mean(...)``
is an estimand of its own.
"""

from __future__ import annotations

import fnmatch
import importlib.resources
import json
import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import pandas as pd
from scipy import special

from mmm_workbench.reports.aggregate import FIT_METRICS, Health, badness, estimand_metric_names
from mmm_workbench.reports.decision import DECISION_ESTIMANDS
from mmm_workbench.reports.metrics import (
    INTERVALS,
    LEVELS,
    chi2_sd_interval,
    jeffreys_interval,
    level_name,
)
from mmm_workbench.reports.sbc import MIN_UNIFORMITY_REPLICATES, holm
from mmm_workbench.reports.tables import FAMILIES, SBC_METRICS
from mmm_workbench.scenarios.reader import ScenarioError, Table

__all__ = [
    "CHECK_COLUMNS",
    "FAILURE_COLUMNS",
    "Context",
    "Identifiability",
    "Rule",
    "RuleSet",
    "default_rules_path",
    "judge_rules",
    "load_baseline",
    "load_rules",
    "metric_kind",
    "required_intervals",
]

FAILURE_COLUMNS = [
    "rule", "cell", "cell_label", "estimand", "coords", "metric", "value", "lower", "upper",
    "bound", "judge", "detail",
]  # fmt: skip
CHECK_COLUMNS = [*FAILURE_COLUMNS, "outcome", "n", "subset", "rule_index"]
"""Every judged (rule, measure): the failure columns, ``outcome`` (``pass``, ``fail``,
``warn``: beyond the bound of a ``severity = "warn"`` rule, or ``not applicable``), ``n``
(replicates or fits behind the measure), ``subset`` (``all`` or ``clean`` fits) and the
rule's index."""
PASS, FAIL, NA = "pass", "fail", "not applicable"
WARN = "warn"
"""The outcome of a measure beyond the bound of a rule with ``severity = "warn"``."""

RulesLike = str | Path | Sequence[Mapping[str, Any]] | Mapping[str, Any]
BaselineLike = str | Path | Mapping[str, Any] | None

TOLERANCE = "tolerance_share"
UNIFORMITY = "uniformity_p"
UNIFORMITY_HOLM = "uniformity_p_holm"
_LEVELLED = re.compile(
    r"(?P<stat>coverage|width|interval_score)(?:_(?P<kind>hdi|left|right))?_(?P<level>[0-9.]+)"
)
_RENAMED = {
    "sbc_p_value": UNIFORMITY,
    "sbc_p_holm": UNIFORMITY_HOLM,
    "flagged_share": "warning_share",
}
_CALIBRATION = ("z_mean", "z_sd", UNIFORMITY, UNIFORMITY_HOLM)
_RANK_BASED = ("z_mean", "z_sd", UNIFORMITY, UNIFORMITY_HOLM)
_TRUTHS = ("any", "drawn", "fixed")
_PROPORTIONS = frozenset({"failed_share", "corrupt_share", "clean_share", TOLERANCE}) | frozenset(
    m for m in FIT_METRICS if m.endswith("_share")
)
_STANDARD_DEVIATIONS = frozenset({"z_sd", "empirical_se"})
"""Sample standard deviations over replicates: their intervals are chi-square ones."""


def default_rules_path() -> Path:
    """Return the shipped default rule set (``mmm_workbench/reports/rules/default.toml``)."""
    return Path(str(importlib.resources.files("mmm_workbench.reports") / "rules" / "default.toml"))


@dataclass(frozen=True, kw_only=True)
class Rule:
    """One validated rule (keys as in the module notes)."""

    index: int
    metric: str
    estimand: str = "*"
    family: tuple[str, ...] = ()
    cell: str = "*"
    truth: Literal["any", "drawn", "fixed"] = "any"
    min: float | None = None
    max: float | None = None
    judge: Literal["interval", "point"] = "interval"
    alpha: float = 0.05
    tolerance: float | None = None
    baseline: bool = False
    pool: bool = False
    z: float = 2.0
    name: str = ""
    severity: Literal["fail", "warn"] = "fail"

    @property
    def label(self) -> str:
        """``#3 coverage_90[roas] >= 0.8``, or the rule's ``name``."""
        if self.name:
            return f"#{self.index} {self.name}"
        metric = self.metric if self.tolerance is None else f"{self.metric}({self.tolerance:g})"
        what = metric if self.estimand == "*" else f"{metric}[{self.estimand}]"
        if self.family:
            what += f" ({'/'.join(self.family)})"
        bounds = []
        if self.min is not None:
            bounds.append(f">= {self.min:g}")
        if self.max is not None:
            bounds.append(f"<= {self.max:g}")
        if self.baseline:
            bounds.append("not worse than baseline")
        return f"#{self.index} {what} {' and '.join(bounds)}"


@dataclass(frozen=True, kw_only=True)
class Identifiability:
    """When a quantity counts as "not learned from the data", and a posterior ridge.

    A parameter (or derived quantity) with prior draws is *not learned* when its mean
    posterior contraction over a cell's fits is below ``contraction_below`` **and** the
    posterior's central 90% interval holds more than ``prior_overlap_above`` of the prior
    draws (:func:`mmm_workbench.reports.metrics.prior_overlap`; 0.9 when the posterior is
    the prior). Contraction alone would flag a posterior the data moved without
    narrowing; the overlap alone moves slowly with the width. ``fail_unlearned`` makes such
    a quantity fail the gate (else a warning). A pair of parameters whose posterior
    correlation (of the logs, for positive parameters) has a median absolute value over
    the cell's fits above ``correlation_above`` is a ridge: a warning naming the pair.
    """

    contraction_below: float = 0.1
    prior_overlap_above: float = 0.8
    correlation_above: float = 0.9
    fail_unlearned: bool = True


@dataclass(frozen=True, kw_only=True)
class RuleSet:
    """The rules and the settings of a rules file.

    ``fixed_truth_min_contraction`` (table ``[calibration]``): at a fixed truth an exact
    posterior is calibrated only where the data dominate its prior (it is shrunk towards
    the prior by ``1 - contraction`` of the prior mean's distance); coverage, z-score and
    uniformity measures of a coordinate whose mean contraction is below this are "not
    applicable: prior-dominated" in cells whose truth is not drawn (PIT, not SBC), and so
    are z-score and uniformity measures of a truth on its support boundary (outside every
    prior draw: no posterior is centred on it).
    """

    source: str
    rules: tuple[Rule, ...]
    health: Health = field(default_factory=Health)
    identifiability: Identifiability = field(default_factory=Identifiability)
    fixed_truth_min_contraction: float = 0.8


# ------------------------------------------------------------------------- metric names


def metric_kind(metric: str) -> tuple[str, str, float] | None:
    """``(stat, interval kind, level)`` of a levelled metric name, else None.

    ``coverage_hdi_95 -> ("coverage", "hdi", 0.95)``.
    """
    m = _LEVELLED.fullmatch(metric)
    if m is None:
        return None
    try:
        level = float(m["level"]) / 100
    except ValueError:
        return None
    return m["stat"], m["kind"] or "central", level


def _fixed_metrics() -> list[str]:
    return [*estimand_metric_names(levels=()), TOLERANCE, *SBC_METRICS, *FIT_METRICS]


def _known_text() -> str:
    kinds = "|".join(k for k in INTERVALS if k != "central")
    return (
        f"{', '.join(_fixed_metrics())}; and at any level L in (0, 100): coverage_L, "
        f"coverage_KIND_L (KIND {kinds}), width_L, width_hdi_L, interval_score_L, "
        "interval_score_hdi_L"
    )


def _check_metric(metric: str, where: str) -> None:
    if metric in _RENAMED:
        raise ScenarioError(f"{where}: metric = {metric!r} is now {_RENAMED[metric]!r}")
    if metric == "*" or metric in _fixed_metrics():
        return
    kind = metric_kind(metric)
    if kind is not None:
        stat, interval, level = kind
        if not 0 < level < 1:
            raise ScenarioError(f"{where}: metric = {metric!r}: the level must be in (0, 100)")
        if stat != "coverage" and interval in ("left", "right"):
            raise ScenarioError(
                f"{where}: metric = {metric!r}: a one-sided interval has no {stat}; "
                f"use coverage_{interval}_{level_name(level)}"
            )
        return
    if any(c in metric for c in "*?["):
        probe = [*_fixed_metrics(), *estimand_metric_names(LEVELS, INTERVALS)]
        if any(fnmatch.fnmatchcase(m, metric) for m in probe):
            return
    raise ScenarioError(f"{where}: unknown metric {metric!r}; known: {_known_text()}")


def required_intervals(rule_set: RuleSet) -> tuple[list[float], list[str]]:
    """Levels and interval kinds the rules ask for, with the default central levels."""
    levels = list(LEVELS)
    kinds = ["central"]
    for rule in rule_set.rules:
        kind = metric_kind(rule.metric)
        if kind is not None:
            if kind[2] not in levels:
                levels.append(kind[2])
            if kind[1] not in kinds:
                kinds.append(kind[1])
    return sorted(levels), kinds


# ------------------------------------------------------------------------------- loading


def _optional(tab: Table, key: str, **bounds: Any) -> float | None:
    return tab.num(key, **bounds) if tab.has(key) else tab.get(key, None)


def _rule(tab: Table, index: int) -> Rule:
    metric = tab.string("metric")
    _check_metric(metric, tab.sub("metric"))
    lo, hi = _optional(tab, "min"), _optional(tab, "max")
    baseline = tab.boolean("baseline", False)
    if lo is None and hi is None and not baseline:
        raise ScenarioError(f"{tab.path}: needs min, max or baseline = true")
    if metric == "*" and not baseline:
        raise ScenarioError(f'{tab.sub("metric")} = "*": only for baseline = true')
    raw_family = tab.get("family", "*")
    families = [raw_family] if isinstance(raw_family, str) else raw_family
    if not isinstance(families, list) or not all(isinstance(f, str) for f in families):
        raise ScenarioError(f"{tab.sub('family')} = {raw_family!r}: must be a string or strings")
    for f in families:
        if f != "*" and f not in FAMILIES:
            raise ScenarioError(
                f"{tab.sub('family')} = {f!r}: unknown family; known: {', '.join(FAMILIES)}"
            )
    tolerance = _optional(tab, "tolerance", low=0.0, low_open=True)
    if (metric == TOLERANCE) != (tolerance is not None):
        raise ScenarioError(
            f"{tab.path}: tolerance = <x> goes with metric = {TOLERANCE!r}, and only with it"
        )
    alpha = tab.num("alpha", 0.05, low=0.0, high=1.0, low_open=True, high_open=True)
    rule = Rule(
        index=index,
        metric=metric,
        estimand=tab.string("estimand", "*"),
        family=() if "*" in families else tuple(families),
        cell=tab.string("cell", "*"),
        truth=tab.string("truth", "any", choices=_TRUTHS),
        min=lo,
        max=hi,
        judge=tab.string("judge", "interval", choices=("interval", "point")),
        alpha=alpha,
        tolerance=tolerance,
        baseline=baseline,
        pool=tab.boolean("pool", False),
        z=tab.num("z", 2.0, low=0.0, low_open=True),
        name=tab.string("name", ""),
        severity=tab.string("severity", "fail", choices=("fail", "warn")),
    )
    tab.done()
    if rule.metric in FIT_METRICS and (rule.estimand != "*" or rule.family):
        raise ScenarioError(f"{tab.path}: {metric!r} is a fit-level metric; it takes no estimand")
    return rule


def _health(tab: Table) -> Health:
    d = Health()
    out = Health(
        max_divergences=tab.num("max_divergences", d.max_divergences, low=0.0),
        max_rhat=tab.num("max_rhat", d.max_rhat, low=1.0),
        min_ess=tab.num("min_ess", d.min_ess, low=0.0),
        min_ebfmi=tab.num("min_ebfmi", d.min_ebfmi, low=0.0),
    )
    tab.done()
    return out


def _identifiability(tab: Table) -> Identifiability:
    d = Identifiability()
    out = Identifiability(
        contraction_below=tab.num("contraction_below", d.contraction_below, high=1.0),
        prior_overlap_above=tab.num(
            "prior_overlap_above", d.prior_overlap_above, low=0.0, high=1.0
        ),
        correlation_above=tab.num("correlation_above", d.correlation_above, low=0.0, high=1.0),
        fail_unlearned=tab.boolean("fail_unlearned", d.fail_unlearned),
    )
    tab.done()
    return out


def load_rules(rules: RulesLike | RuleSet | None = None) -> RuleSet:
    """Read and check a rule set.

    Parameters
    ----------
    rules
        A rules TOML file, a parsed document (``{"rule": [...], "health": {...}}``), a
        list of rule mappings (the keys of the ``[[rule]]`` tables), a :class:`RuleSet`,
        or None for the shipped default (:func:`default_rules_path`).

    Returns
    -------
    RuleSet

    Raises
    ------
    mmm_workbench.scenarios.reader.ScenarioError
        A ``ValueError`` naming the file and the path of the bad value: unreadable TOML,
        unknown keys, an unknown metric, level or family (listing the known ones), no
        bound, a bad ``judge``.
    """
    if isinstance(rules, RuleSet):
        return rules
    source = "rules"
    if rules is None:
        rules = default_rules_path()
    if isinstance(rules, str | Path):
        source = str(rules)
        try:
            document: Any = tomllib.loads(Path(rules).read_text())
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ScenarioError(f"{source}: cannot read rules: {exc}") from exc
    elif isinstance(rules, Mapping):
        document = rules
    else:
        document = {"rule": list(rules)}
    try:
        top = Table(document, "")
        tables = top.tables("rule")
        if not tables:
            raise ScenarioError("no rules ([[rule]] tables)")
        parsed = tuple(_rule(t, i) for i, t in enumerate(tables, start=1))
        for optional in ("health", "identifiability", "calibration"):
            top.get(optional, None)  # known keys, listed when another one is not
        health = _health(top.table("health")) if top.has("health") else Health()
        ident = (
            _identifiability(top.table("identifiability"))
            if top.has("identifiability")
            else Identifiability()
        )
        calibration = (
            top.table("calibration") if top.has("calibration") else Table({}, "calibration")
        )
        min_contraction = calibration.num("fixed_truth_min_contraction", 0.8, high=1.0)
        calibration.done()
        top.done()
    except ScenarioError as exc:
        raise ScenarioError(f"{source}: {exc}") from None
    return RuleSet(
        source=source,
        rules=parsed,
        health=health,
        identifiability=ident,
        fixed_truth_min_contraction=min_contraction,
    )


# ------------------------------------------------------------------------------- judging


@dataclass(frozen=True, kw_only=True)
class Context:
    """What judging needs besides the measures.

    The cells (id -> label); per cell the truth design (``drawn``, ``fixed``, ``partly``) and
    whether it has successful fits; per (cell, estimand, coords) the mean contraction and whether
    the truth is on a support boundary; the estimand names of the run; per (cell, estimand,
    coords) of a parameter the partners of its posterior ridges, ``(estimand, coords,
    |corr|)``; the (cell, estimand, coords) known exactly in every fit (zero posterior sd
    and zero error: the response at zero spend), which calibration rules do not judge.
    """

    cells: Mapping[str, str]  # id -> label
    truth: Mapping[str, str]
    cells_with_fits: frozenset[str]
    coordinates: Mapping[tuple[str, str, str], tuple[float, bool]]
    estimands: frozenset[str]
    ridges: Mapping[tuple[str, str, str], tuple[tuple[str, str, float], ...]] = field(
        default_factory=dict
    )
    points: frozenset[tuple[str, str, str]] = frozenset()


def _matches(pattern: str, *names: str) -> bool:
    return any(fnmatch.fnmatchcase(n, pattern) for n in names)


def _metric_rows(
    agg: pd.DataFrame, rule: Rule, where: str, tolerances: Mapping[float, pd.DataFrame]
) -> pd.DataFrame:
    if rule.metric == TOLERANCE and rule.tolerance is not None:
        return tolerances[rule.tolerance]
    metric = UNIFORMITY if rule.metric == UNIFORMITY_HOLM else rule.metric
    if any(c in metric for c in "*?["):
        names = [m for m in agg["metric"].unique() if fnmatch.fnmatchcase(str(m), metric)]
        if metric != "*" and not names:
            raise ScenarioError(f"{where}: metric {rule.metric!r} matches no measure of this run")
        return agg[agg["metric"].isin(names)] if metric != "*" else agg
    return agg[agg["metric"] == metric]


def _rule_cells(rule: Rule, where: str, ctx: Context) -> list[str]:
    chosen = [c for c, lab in ctx.cells.items() if _matches(rule.cell, c, lab)]
    if not chosen:
        raise ScenarioError(
            f"{where}: unknown cell {rule.cell!r}; this run has {sorted(ctx.cells)}"
        )
    return chosen


def _select(
    agg: pd.DataFrame,
    rule: Rule,
    where: str,
    ctx: Context,
    tolerances: Mapping[float, pd.DataFrame],
) -> pd.DataFrame:
    rows = _metric_rows(agg, rule, where, tolerances)
    if rule.cell != "*":
        rows = rows[rows["cell"].isin(_rule_cells(rule, where, ctx))]
    fit_level = rows["estimand"] == ""
    if rule.estimand != "*":
        names = sorted(e for e in ctx.estimands if fnmatch.fnmatchcase(e, rule.estimand))
        # a decision estimand exists only where records hold response curves: a rule on it
        # selects nothing (not applicable) in a run without them
        optional = any(fnmatch.fnmatchcase(e, rule.estimand) for e in DECISION_ESTIMANDS)
        if not names and ctx.estimands and not optional:  # no successful fit: rule fails instead
            raise ScenarioError(
                f"{where}: unknown estimand {rule.estimand!r}; this run has "
                f"{', '.join(sorted(ctx.estimands))}"
            )
        rows = rows[rows["estimand"].isin(names) | (fit_level & (rule.metric in FIT_METRICS))]
        fit_level = rows["estimand"] == ""
    if rule.family:
        rows = rows[rows["family"].isin(rule.family) | fit_level]
        fit_level = rows["estimand"] == ""
    series = rows["family"] == "series"
    pooled = rows["pooled"].astype(bool)
    keep = fit_level | (series & pooled) | (~series & (pooled == rule.pool))
    return rows[keep]


def _na(rule: Rule, row: Mapping[str, Any], ctx: Context, settings: RuleSet) -> str:
    """Why a measure does not apply ("" when it does)."""
    cell = str(row["cell"])
    design = ctx.truth.get(cell, "fixed")
    if rule.truth == "drawn" and design != "drawn":
        return f"truth not drawn per replicate in this cell ({design}): PIT, not SBC"
    if rule.truth == "fixed" and design == "drawn":
        return "truth drawn per replicate in this cell (SBC); the rule is for fixed truths"
    if row["estimand"] == "":
        if not np.isfinite(row["value"]):
            return "not reported by this backend"
        return ""
    calibration = rule.metric in _CALIBRATION or str(row["metric"]).startswith("coverage_")
    if calibration and (cell, str(row["estimand"]), str(row["coords"])) in ctx.points:
        return "known exactly in every fit (zero posterior sd and zero error): nothing to calibrate"
    if calibration and design != "drawn" and not bool(row["pooled"]):
        info = ctx.coordinates.get((cell, str(row["estimand"]), str(row["coords"])))
        if info is not None:
            c, boundary = info
            rank_based = str(row["metric"]) in _RANK_BASED or rule.metric in _RANK_BASED
            if rank_based and boundary:
                return "truth on a support boundary (outside every prior draw)"
            if np.isfinite(c) and c < settings.fixed_truth_min_contraction:
                return (
                    f"prior-dominated at a fixed truth (contraction {c:.2f} < "
                    f"{settings.fixed_truth_min_contraction:g})"
                )
        ridge = _prior_dominated_ridge(cell, row, ctx, settings.fixed_truth_min_contraction)
        if ridge:
            return ridge
    if not np.isfinite(row["value"]):
        return "undefined for these fits (zero truth, a single draw, no prior)"
    return ""


def _prior_dominated_ridge(
    cell: str, row: Mapping[str, Any], ctx: Context, min_contraction: float
) -> str:
    """Say why a coordinate on a ridge with a prior-dominated partner is not judged.

    Along a posterior ridge the data inform a combination of the pair, and the position
    along it is set by the priors: a coordinate whose own marginal contraction is high (a
    wide prior) is shrunk towards the prior through its prior-dominated partner (a lam-beta
    ridge of a saturation curve), so at a fixed truth its z-scores and coverage are not
    those of a data-dominated posterior. "" when no such partner.
    """
    for estimand, coords, corr in ctx.ridges.get(
        (cell, str(row["estimand"]), str(row["coords"])), ()
    ):
        info = ctx.coordinates.get((cell, estimand, coords))
        if info is not None and np.isfinite(info[0]) and info[0] < min_contraction:
            name = f"{estimand}[{coords}]" if coords else estimand
            return (
                f"prior-dominated at a fixed truth through a posterior ridge with {name} "
                f"(|corr| {corr:.2f}; its contraction {info[0]:.2f} < {min_contraction:g})"
            )
    return ""


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return cast(list[dict[str, Any]], frame.to_dict("records"))


def _interval(metric: str, row: Mapping[str, Any], level: float) -> tuple[float, float]:
    value, mcse, n = float(row["value"]), float(row["mcse"]), int(row["n"] or 0)
    proportion = (metric in _PROPORTIONS or metric.startswith("coverage_")) and not bool(
        row["pooled"]
    )
    if proportion and n > 0:
        return jeffreys_interval(round(value * n), n, level)
    if metric in _STANDARD_DEVIATIONS and not bool(row["pooled"]) and n > 1:
        # chi-square, not value +- z mcse: the normal interval of an sd is far too short
        # above at 10 replicates (a correct model failed z_sd >= 0.67 with it)
        lower, upper = chi2_sd_interval(value, n, level)
        return float(lower), float(upper)
    if not np.isfinite(mcse):
        return value, value
    half = float(special.ndtri(0.5 + level / 2)) * mcse
    return value - half, value + half


def _row(
    rule: Rule,
    row: Mapping[str, Any],
    outcome: str,
    detail: str,
    bound: float = math.nan,
    interval: tuple[float, float] = (math.nan, math.nan),
) -> dict[str, Any]:
    out = {k: row.get(k, "") for k in ("cell", "cell_label", "estimand", "coords", "metric")}
    if rule.metric == UNIFORMITY_HOLM:
        out["metric"] = UNIFORMITY_HOLM
    return (
        {"rule": rule.label}
        | out
        | {"value": row.get("value", math.nan), "lower": interval[0], "upper": interval[1]}
        | {"bound": bound, "judge": rule.judge, "detail": detail, "outcome": outcome}
        | {"n": row.get("n", math.nan), "rule_index": rule.index}
    )


def _cannot_fail(rule: Rule, metric: str, row: Mapping[str, Any], level: float) -> str:
    n = int(row["n"]) if np.isfinite(row["n"]) else 0
    if metric in (UNIFORMITY, UNIFORMITY_HOLM) and n < MIN_UNIFORMITY_REPLICATES:
        return f"{n} replicates: a uniformity test needs {MIN_UNIFORMITY_REPLICATES} to have power"
    proportion = (metric in _PROPORTIONS or metric.startswith("coverage_")) and not bool(
        row["pooled"]
    )
    if proportion and rule.judge == "interval" and n > 0:
        # the rule judges the Jeffreys interval at ``level``: say what no outcome can show
        hits = " covered" if metric.startswith("coverage_") else ""
        low = rule.min is not None and jeffreys_interval(0, n, level)[1] >= rule.min
        high = rule.max is not None and jeffreys_interval(n, n, level)[0] <= rule.max
        percent = next(
            (f"{100 * level:.{d}g}" for d in range(3, 9) if f"{100 * level:.{d}g}" != "100"),
            f"{100 * level:.8g}",
        )
        at = f"at this rule's level ({percent}%)"  # 99.96%, never a rounded 100%
        head = f"cannot fail with {n} replicates: even"
        if low and high:
            return (
                f"{metric} >= {rule.min:g} and <= {rule.max:g} {head} 0 of {n}{hits} is not "
                f"shown below {rule.min:g}, nor {n} of {n} above {rule.max:g}, {at}"
            )
        if low:
            below = f"0 of {n}{hits} is not shown below {rule.min:g}"
            return f"{metric} >= {rule.min:g} {head} {below} {at}"
        if high:
            above = f"{n} of {n}{hits} is not shown above {rule.max:g}"
            return f"{metric} <= {rule.max:g} {head} {above} {at}"
    if not proportion and metric not in SBC_METRICS and n < 2 and rule.judge == "interval":
        return f"{n} replicate: no Monte Carlo error; judged at the point"
    return ""


def _too_coarse(rule: Rule, metric: str, row: Mapping[str, Any]) -> str:
    """Say why a tolerance share judged at the point cannot be judged on so few replicates.

    A share of ``n`` replicates moves in steps of ``1 / n``: when one miss alone takes it
    below ``min`` (``(n - 1) / n < min``; fewer than 10 replicates for ``min = 0.9``), the
    rule would fail a sound model on a single unlucky replicate, so it is not applicable.
    """
    n = int(row["n"]) if np.isfinite(row["n"]) else 0
    if rule.judge != "point" or rule.min is None or not 0 < rule.min < 1 or n == 0:
        return ""
    if metric != TOLERANCE:  # coverage at the point is a strictness a user asks for
        return ""
    if (n - 1) / n >= rule.min:
        return ""
    need = math.ceil(1 / (1 - rule.min) - 1e-9)
    return f"{n} replicates: one miss alone breaks min {rule.min:g}; needs >= {need} to judge"


def _judge_bounds(
    rule: Rule, rows: pd.DataFrame, ctx: Context, settings: RuleSet
) -> tuple[list[dict[str, Any]], list[str]]:
    out: list[dict[str, Any]] = []
    live: list[dict[str, Any]] = []
    for row in _records(rows):
        why = _na(rule, row, ctx, settings)
        if why:
            out.append(_row(rule, row, NA, why))
        else:
            live.append(row)
    warnings: list[str] = []
    m = max(len(live), 1)
    level = 1.0 - rule.alpha / m
    if rule.metric == UNIFORMITY_HOLM and live:
        adjusted = holm([r["value"] for r in live])
        for r, p in zip(live, adjusted, strict=True):
            r["value"] = float(p)
    for row in live:
        metric = str(row["metric"])
        coarse = _too_coarse(rule, metric, row)
        if coarse:
            warnings.append(f"rule {rule.label}, cell {row['cell_label']}: {coarse}")
            out.append(_row(rule, row, NA, coarse))
            continue
        note = _cannot_fail(rule, rule.metric if rule.metric in SBC_METRICS else metric, row, level)
        if note:
            warnings.append(f"rule {rule.label}, cell {row['cell_label']}: {note}")
        lo, hi = (row["value"], row["value"])
        interval = (math.nan, math.nan)
        if rule.judge == "interval" and metric not in SBC_METRICS:
            lo, hi = _interval(metric, row, level)
            interval = (lo, hi)
        failed = ""
        bound = math.nan
        if rule.min is not None and hi < rule.min:
            failed, bound = f"below min {rule.min:g}", rule.min
        if rule.max is not None and lo > rule.max:
            failed, bound = f"above max {rule.max:g}", rule.max
        if failed and np.isfinite(interval[0]) and interval[0] != interval[1]:
            failed += f" (Monte Carlo interval at {100 * level:.3g}%, {m} measures)"
        if failed and rule.severity == "warn":
            what = f"{row['estimand']}[{row['coords']}]" if row["coords"] else row["estimand"]
            value = f"{metric} {row['value']:.3g}"
            warnings.append(
                f"rule {rule.label}, cell {row['cell_label']}: {what} {value} {failed} "
                '(a warning: severity = "warn")'
            )
            out.append(_row(rule, row, WARN, failed, bound, interval))
        elif failed:
            out.append(_row(rule, row, FAIL, failed, bound, interval))
        else:
            what = rule.min if rule.min is not None else rule.max
            out.append(
                _row(rule, row, PASS, note, what if what is not None else math.nan, interval)
            )
    return out, warnings


def _judge_baseline(rule: Rule, rows: pd.DataFrame, base: pd.DataFrame) -> list[dict[str, Any]]:
    keys = ["cell", "estimand", "coords", "pooled", "metric"]
    merged = rows.merge(base, on=keys, how="inner")
    out = []
    for row in _records(merged):
        worse = badness(str(row["metric"]))
        values = [row["value"], row["mcse"], row["base_value"], row["base_mcse"]]
        if worse is None or not all(np.isfinite(v) for v in values):
            continue
        tolerance = rule.z * math.hypot(row["mcse"], row["base_mcse"])
        if worse(row["value"]) - worse(row["base_value"]) > tolerance:
            detail = f"worse than baseline {row['base_value']:.4g} by more than {tolerance:.3g}"
            out.append(_row(rule, row, FAIL, detail, row["base_value"]))
        else:
            out.append(_row(rule, row, PASS, "", row["base_value"]))
    return out


def load_baseline(baseline: BaselineLike) -> pd.DataFrame | None:
    """Return a baseline summary (``summary.json`` path or dict) as a frame of measures."""
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


def judge_rules(
    settings: RuleSet,
    agg: pd.DataFrame,
    ctx: Context,
    *,
    subset: str = "all",
    baseline: pd.DataFrame | None = None,
    fit_rules: bool = True,
    tolerances: Mapping[float, pd.DataFrame] | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Judge every rule of ``settings`` against an aggregate table.

    Parameters
    ----------
    settings
        The rule set.
    agg
        Aggregates (:func:`mmm_workbench.reports.tables.aggregate_table`, with the
        ``tolerance_share`` rows the rules need).
    ctx
        Truth designs, fitted cells and per-coordinate contraction and boundary flags.
    subset
        Written to the ``subset`` column (``all`` or ``clean`` fits).
    baseline
        Baseline measures (:func:`load_baseline`) for ``baseline = true`` rules.
    fit_rules
        Judge fit-level rules (off for the clean-fit pass: they are about every fit).
    tolerances
        ``tolerance_share`` measures per tolerance
        (:func:`mmm_workbench.reports.aggregate.tolerance_table`).

    Returns
    -------
    (pandas.DataFrame, list of str)
        One row per judged measure (:data:`CHECK_COLUMNS`), and warnings (tests without
        power).
    """
    rows: list[dict[str, Any]] = []
    warnings: list[str] = []
    for rule in settings.rules:
        where = f"{settings.source}: rule {rule.label}"
        if rule.baseline and baseline is None:
            raise ValueError(f"rule {rule.label}: compares with a baseline, but none was given")
        is_fit = rule.metric in FIT_METRICS
        if is_fit and not fit_rules:
            continue
        picked = _select(agg, rule, where, ctx, tolerances or {})
        if not fit_rules:
            picked = picked[picked["estimand"] != ""]
        found: list[dict[str, Any]] = []
        if rule.min is not None or rule.max is not None:
            more, notes = _judge_bounds(rule, picked, ctx, settings)
            found += more
            warnings += notes
        if rule.baseline and baseline is not None:
            found += _judge_baseline(
                rule, picked[picked["estimand"] != ""] if not is_fit else picked, baseline
            )
        unfitted = [c for c in _rule_cells(rule, where, ctx) if c not in ctx.cells_with_fits]
        if not is_fit and unfitted and rule.metric != "*":
            for cell in unfitted:
                found.append(
                    _row(
                        rule,
                        {"cell": cell, "metric": rule.metric},
                        FAIL,
                        "nothing to judge: no successful fit",
                    )
                )
        if not found:
            found.append(_row(rule, {"metric": rule.metric}, NA, "selects nothing in this run"))
        rows += found
    table = pd.DataFrame(rows).reindex(columns=CHECK_COLUMNS)
    table["subset"] = subset
    if "cell_label" in agg and len(table):
        labels = agg[["cell", "cell_label"]].drop_duplicates().set_index("cell")["cell_label"]
        missing = table["cell_label"].isna() | (table["cell_label"] == "")
        table.loc[missing, "cell_label"] = table.loc[missing, "cell"].map(labels).fillna("")
    if subset == "all":
        warnings += _unjudged_notes(table)
    return table, warnings


UNJUDGED_NOTE = (
    "not judged for calibration at this fixed truth (prior-dominated: contraction below "
    "[calibration] fixed_truth_min_contraction, or on a ridge with such a quantity): {names}; "
    "a bug that moves only these passes unseen (make the data inform them, e.g. flighted "
    "spend or a lift test, or draw the truth per replicate)"
)
"""The warning naming, per cell, the quantities the calibration rules skipped."""


def _unjudged_notes(table: pd.DataFrame, limit: int = 8) -> list[str]:
    """One warning per cell naming the quantities skipped as prior-dominated at a fixed truth.

    A skipped quantity is not a passed one: the gate cannot test it, and says so instead of
    passing it silently (the power study's dropped adstock normalization moved only such a
    quantity, ``saturation_lam``, in an always-on world).
    """
    if table.empty:
        return []
    skipped = table[
        (table["outcome"] == NA)
        & table["detail"].astype(str).str.startswith("prior-dominated at a fixed truth")
    ]
    notes = []
    for cell, rows in skipped.groupby("cell", sort=False):
        label = str(rows["cell_label"].iloc[0] or cell)
        names = list(
            dict.fromkeys(
                f"{e}[{c}]" if c else str(e)
                for e, c in zip(rows["estimand"], rows["coords"].astype(str), strict=True)
            )
        )
        shown = ", ".join(names[:limit]) + (
            f" and {len(names) - limit} more" if len(names) > limit else ""
        )
        notes.append(f"{label}: " + UNJUDGED_NOTE.format(names=shown))
    return notes
