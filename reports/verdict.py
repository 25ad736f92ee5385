"""The verdict on a run.

One function, :func:`evaluate`, that ``mmm-workbench check``, the report's verdict banner and
``run``'s closing lines all call, so the three never disagree.

A verdict keeps four findings apart:

- **rules** (:mod:`mmm_workbench.reports.ruleset`): each measure a rule selects, judged over
  all successful fits and again over the clean fits only;
- **fit health** (:func:`mmm_workbench.reports.aggregate.classify_fits`): each fit clean,
  sampler warning or failed;
- **calibration design** (:func:`mmm_workbench.reports.sbc.truth_design`): per cell, SBC
  (truth drawn per replicate) or PIT at a fixed truth;
- **identifiability**: per quantity with prior draws, contraction and prior overlap (not
  learned from the data?), and posterior ridges between parameters.

and says where a problem lies: with the **sampler** (fit-health rules fail, or a rule
fails over all fits but holds over the clean ones), with the **model** (a rule fails over
the clean fits of an exact sampler), with an **approximation** (the same, but the backend
is approximate, ADVI or MAP, so the model and the approximation cannot be told apart), or
with **identifiability** (the data do not inform a quantity).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmm_workbench.reports.aggregate import (
    CLEAN,
    FAILED,
    WARNING,
    classify_fits,
    tolerance_table,
)
from mmm_workbench.reports.contract import TRUTH_VERSION, UNVERSIONED_TRUTH
from mmm_workbench.reports.decision import decision_summary
from mmm_workbench.reports.fit_metrics import FIT_QUALITY
from mmm_workbench.reports.plotdata import every_cell
from mmm_workbench.reports.ruleset import (
    CHECK_COLUMNS,
    FAIL,
    FAILURE_COLUMNS,
    NA,
    PASS,
    TOLERANCE,
    WARN,
    BaselineLike,
    Context,
    RuleSet,
    RulesLike,
    default_rules_path,
    judge_rules,
    load_baseline,
    load_rules,
    required_intervals,
)
from mmm_workbench.reports.rundir import Run
from mmm_workbench.reports.sbc import truth_design
from mmm_workbench.reports.tables import (
    GEO_FAMILY,
    RunScores,
    aggregate_table,
    fit_counts,
    score_run,
)

__all__ = [
    "APPROXIMATE_BACKENDS",
    "CAUSES",
    "DEFAULT_RULES_NAME",
    "IDENTIFIABILITY_COLUMNS",
    "RIDGE_COLUMNS",
    "Verdict",
    "evaluate",
    "named_rules",
    "rules_name",
    "score_options",
    "unlearned_words",
]

APPROXIMATE_BACKENDS = frozenset({"advi", "fullrank_advi", "map", "pathfinder"})
"""Backends whose posterior is an approximation of the model's, not the model's."""
CAUSES = ("records", "sampler", "model", "approximation", "identifiability")
IDENTIFIABILITY_COLUMNS = [
    "cell", "cell_label", "estimand", "family", "coords", "contraction", "prior_overlap", "n",
    "learned",
]  # fmt: skip
RIDGE_COLUMNS = ["cell", "cell_label", "a", "b", "corr", "n", "log"]
_IDENTIFIABILITY_RULE = "identifiability: learned from the data"


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """The verdict on a run (see the module notes).

    Attributes
    ----------
    passed
        No check failed.
    causes
        Where the failures lie, a subset of :data:`CAUSES` in that order (empty when
        passed).
    failures
        The failed checks over all fits (:data:`mmm_workbench.reports.ruleset.FAILURE_COLUMNS`)
        plus ``cause``.
    checks
        Every judged measure, over ``all`` fits and over ``clean`` fits
        (:data:`mmm_workbench.reports.ruleset.CHECK_COLUMNS`), with outcome ``pass``,
        ``fail`` or ``not applicable`` and why.
    checked
        Checks over all fits that passed, failed or warned (not the inapplicable ones).
    fits
        Per cell: ``n_ok, n_failed, n_corrupt, n_missing`` and ``n_clean, n_warning``.
    health
        Per fit: ``cell, replicate, backend, status, health, health_reason``.
    calibration
        Per cell: the truth design and its label ("SBC", "PIT at a fixed truth").
    identifiability
        Per quantity with prior draws: mean contraction and prior overlap, ``learned``.
    ridges
        Parameter pairs whose median absolute posterior correlation is above the
        threshold.
    warnings
        Tests without power, cells without SBC, unlearned quantities when they only warn.
    rules
        The rule set judged.
    decisions
        The budget decision per cell and channel
        (:func:`mmm_workbench.reports.decision.decision_summary`; empty without response
        curves): what the cell's sentence says beside the regret.
    """

    passed: bool
    causes: tuple[str, ...]
    failures: pd.DataFrame
    checks: pd.DataFrame
    checked: int
    fits: pd.DataFrame
    health: pd.DataFrame
    calibration: pd.DataFrame
    identifiability: pd.DataFrame
    ridges: pd.DataFrame
    warnings: tuple[str, ...]
    rules: RuleSet
    decisions: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)

    @property
    def not_applicable(self) -> int:
        """Checks over all fits that did not apply (a diagnostic a backend lacks, ...)."""
        subset = self.checks[self.checks["subset"] == "all"]
        return int((subset["outcome"] == NA).sum())

    @property
    def warned(self) -> int:
        """Checks over all fits beyond the bound of a ``severity = "warn"`` rule."""
        subset = self.checks[self.checks["subset"] == "all"]
        return int((subset["outcome"] == WARN).sum())

    @property
    def unlearned(self) -> pd.DataFrame:
        """The quantities flagged "not learned from the data"."""
        return self.identifiability[~self.identifiability["learned"].astype(bool)]

    def headline(self) -> str:
        """One line: passed or failed, where the problem lies, and the counts."""
        counts = f"{len(self.failures)} of {self.checked} checks failed"
        na = f", {self.not_applicable} not applicable" if self.not_applicable else ""
        if self.warned:
            na += f", {self.warned} warned"
        if self.passed:
            return f"verdict: passed: {self.checked} checks{na} ({self.rules.source})"
        return f"verdict: FAILED ({', '.join(self.causes)}): {counts}{na} ({self.rules.source})"

    def lines(self, names: Mapping[str, str] | None = None) -> list[str]:
        """Return the verdict in a few lines.

        For a terminal, the report's banner and ``run``'s closing lines: headline, fit health,
        calibration design, what the data do not inform, posterior ridges, where the problem
        lies, and warnings. ``names`` gives a cell label the name these lines use instead
        (the report's and ``run``'s short names,
        :func:`~mmm_workbench.reports.plotdata.cell_words`); ``check`` keeps whole labels.
        """
        name = _namer(names)
        out = [self.headline()]
        counts = self.health["health"].value_counts()
        corrupt = int((self.health["status"] == "corrupt").sum())
        records = f" ({corrupt} corrupt records skipped)" if corrupt else ""
        out.append(
            f"fits: {int(counts.get(CLEAN, 0))} clean, {int(counts.get(WARNING, 0))} sampler "
            f"warning, {int(counts.get(FAILED, 0))} failed{records}"
        )
        designs = self.calibration.groupby("label", sort=False)["cell_label"].agg(list)
        every = {str(c) for c in self.calibration["cell_label"]}
        for label, cells in designs.items():
            where = every_cell(cells, every) or _names([name(c) for c in cells])
            out.append(f"{label}: {where}")
        for label, rows in self.unlearned.groupby("cell_label", sort=False):
            out.append(f"{name(str(label))}: {'; '.join(unlearned_words(rows))}")
        if len(self.ridges):
            items = [
                f"{r['a']} ~ {r['b']} in {name(str(r['cell_label']))} "
                f"(|corr| {abs(float(r['corr'])):.2f})"
                for r in self.ridges.to_dict("records")
            ]
            out.append(f"posterior ridges: {_names(items)}")
        for cause in self.causes:
            out.append(f"{cause}: {_EXPLAIN[cause]}")
        grouped = self.grouped_warnings(names)
        out += [f"warning: {w}" for w in grouped[:10]]
        if len(grouped) > 10:
            out.append(f"... and {len(grouped) - 10} more warnings")
        return out

    def grouped_warnings(self, names: Mapping[str, str] | None = None) -> list[str]:
        """Return :attr:`warnings` with the same warning for several cells on one line.

        A rule's warning (``rule R, cell C: note``) or a cell's (``C: note``) that holds for
        several cells becomes one line naming them (``rule R, cells A, B and C: note``), in the
        order first seen; one that every cell of the run shares says ``both cells`` or ``all N
        cells`` instead; other warnings are kept as they are. ``names``: as in :meth:`lines`.
        """
        name = _namer(names)
        rules = sorted({r.label for r in self.rules.rules}, key=len, reverse=True)
        labels = {str(c) for c in self.fits.get("cell_label", pd.Series(dtype=str))}
        labels |= {str(c) for c in self.calibration.get("cell_label", pd.Series(dtype=str))}
        cells = sorted(labels, key=len, reverse=True)
        groups: dict[tuple[str, str], list[str]] = {}
        for warning in self.warnings:
            key, cell = _warning_key(warning, rules, cells)
            groups.setdefault(key, [])
            if cell and cell not in groups[key]:
                groups[key].append(cell)
        out = []
        for (rule, note), named in groups.items():
            if not named:
                out.append(note)
                continue
            where = every_cell(named, labels) or _cells([name(c) for c in named])
            if rule:
                out.append(f"rule {rule}, {where}: {note}")
            else:
                out.append(f"{where}: {note}")
        return out

    def report(self) -> str:
        """:meth:`lines` and the failure table, as plain text (an assertion message)."""
        text = "\n".join(self.lines())
        if self.failures.empty:
            return text
        shown = self.failures.drop(columns=["cell"]).head(50)
        more = len(self.failures) - len(shown)
        tail = f"\n... and {more} more" if more > 0 else ""
        table = shown.to_string(index=False, float_format=lambda v: f"{v:.4g}")
        return f"{text}\n{table}{tail}"


_EXPLAIN = {
    "records": "fit records could not be read (corrupt files) and were skipped",
    "sampler": "fit-health rules failed, or rules fail over all fits but hold over the "
    "clean ones: fix the sampler (more tuning, a reparameterization) before the model",
    "model": "rules fail over the clean fits of an exact sampler: the model does not "
    "recover this world",
    "approximation": "rules fail over the clean fits of an approximate backend (ADVI, "
    "MAP): its posterior is not the model's; refit with NUTS to tell the two apart",
    "identifiability": "the data do not inform a quantity (its posterior is its prior)",
}


def _warning_key(warning: str, rules: list[str], cells: list[str]) -> tuple[tuple[str, str], str]:
    """Split a warning into ``((rule, note), cell)``; ``(("", warning), "")`` if per no cell."""
    for rule in rules:
        for cell in cells:
            prefix = f"rule {rule}, cell {cell}: "
            if warning.startswith(prefix):
                return (rule, warning[len(prefix) :]), cell
    for cell in cells:
        if warning.startswith(f"{cell}: "):
            return ("", warning[len(cell) + 2 :]), cell
    return ("", warning), ""


def _namer(names: Mapping[str, str] | None) -> Callable[[str], str]:
    """Return a cell label's name in ``names``, the label itself where it has none."""
    given = dict(names or {})
    return lambda label: given.get(label, label)


def _cells(names: list[str], limit: int = 6) -> str:
    if len(names) == 1:
        return f"cell {names[0]}"
    if len(names) > limit:
        return f"cells {', '.join(names[:limit])} and {len(names) - limit} more"
    return f"cells {', '.join(names[:-1])} and {names[-1]}"


def unlearned_words(unlearned: pd.DataFrame, itemized: int = 3, named: int = 12) -> list[str]:
    """Say which of a cell's quantities the data did not inform, in a few words.

    Up to ``itemized`` quantities are named one by one with their numbers; more are grouped
    by estimand in one clause (a cell whose media stay at their prior has a hundred: every
    channel's response at every multiplier), with the range of their contraction and prior
    overlap, the first ``named`` estimands named and the rest counted.

    Parameters
    ----------
    unlearned
        Rows of :attr:`Verdict.unlearned` (``estimand``, ``coords`` as ``"k=v,k=v"``,
        ``contraction``, ``prior_overlap``), in the order to name them.
    """
    rows = unlearned.to_dict("records")
    if len(rows) <= itemized:
        return [
            f"{_estimand_words(str(r['estimand']), [str(r['coords'] or '')])} not learned "
            f"from the data (contraction {r['contraction']:.2f}, prior overlap "
            f"{r['prior_overlap']:.2f})"
            for r in rows
        ]
    groups: dict[str, list[str]] = {}
    for r in rows:
        groups.setdefault(str(r["estimand"]), []).append(str(r["coords"] or ""))
    words = [_estimand_words(name, coords) for name, coords in groups.items()]
    shown = "; ".join(words[:named])
    if len(words) > named:
        more = len(words) - named
        shown += f"; and {more} more estimand{'s' if more > 1 else ''}"
    c, o = unlearned["contraction"], unlearned["prior_overlap"]
    return [
        f"{len(rows)} quantities not learned from the data (contraction {c.min():.2f} to "
        f"{c.max():.2f}, prior overlap {o.min():.2f} to {o.max():.2f}): {shown}"
    ]


def _estimand_words(estimand: str, coords: list[str]) -> str:
    """``response (60: channel radio, search, tv; 20 values of multiplier)``, or one item."""
    if len(coords) == 1:
        return f"{estimand}[{coords[0]}]" if coords[0] else estimand
    values: dict[str, dict[str, None]] = {}
    for item in coords:
        for part in item.split(","):
            key, _, value = part.partition("=")
            values.setdefault(key, {})[value] = None
    dims = [
        f"{key} {', '.join(seen)}" if len(seen) <= 4 else f"{len(seen)} values of {key}"
        for key, seen in values.items()
    ]
    return f"{estimand} ({len(coords)}: {'; '.join(dims)})"


def _names(items: list[str], limit: int = 6) -> str:
    shown = ", ".join(str(i) for i in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _coords(coords: str) -> str:
    return f"[{coords}]" if coords else ""


def score_options(rules: RulesLike | RuleSet | None = None) -> dict[str, Any]:
    """Return the :func:`mmm_workbench.reports.tables.score_run` options that ``rules`` need.

    These are the ``levels`` and ``intervals`` that ``rules`` (default: the shipped set) need
    beside the default levels: score a run once with them and pass the scores to
    :func:`evaluate` and to the report, instead of reading every record twice.
    """
    levels, kinds = required_intervals(load_rules(rules))
    return {"levels": levels, "intervals": kinds}


def _rescore(scores: RunScores, levels: list[float], kinds: list[str]) -> RunScores:
    have_levels = set(scores.options.get("levels", []))
    have_kinds = set(scores.options.get("intervals", ["central"]))
    if set(levels) <= have_levels and set(kinds) <= have_kinds:
        return scores
    keep = {k: scores.options[k] for k in ("n_ranks", "seed") if k in scores.options}
    levels = sorted(have_levels | set(levels))
    kinds = list(dict.fromkeys([*scores.options.get("intervals", ["central"]), *kinds]))
    return score_run(scores.run, levels=levels, intervals=kinds, **keep)


def _score(
    run: str | Path | Run | RunScores, rule_set: RuleSet, options: dict[str, Any]
) -> RunScores:
    levels, kinds = required_intervals(rule_set)
    if isinstance(run, RunScores):
        if options:
            raise TypeError(f"options {sorted(options)} apply when scoring a path, not RunScores")
        return _rescore(run, levels, kinds)
    levels = sorted(set(levels) | set(options.pop("levels", [])))
    kinds = list(dict.fromkeys([*options.pop("intervals", []), *kinds]))
    return score_run(run, levels=levels, intervals=kinds, **options)


def _ridge_partners(
    ridges: pd.DataFrame,
) -> dict[tuple[str, str, str], tuple[tuple[str, str, float], ...]]:
    """Map each (cell, estimand, coords) on a posterior ridge to its partners.

    The partners are ``(estimand, coords, |corr|)``.
    """
    out: dict[tuple[str, str, str], list[tuple[str, str, float]]] = {}
    for cell, a, b, corr in ridges[["cell", "a", "b", "corr"]].itertuples(index=False):
        one, other = _split_name(str(a)), _split_name(str(b))
        out.setdefault((str(cell), *one), []).append((*other, abs(float(corr))))
        out.setdefault((str(cell), *other), []).append((*one, abs(float(corr))))
    return {k: tuple(v) for k, v in out.items()}


def _split_name(name: str) -> tuple[str, str]:
    """``saturation_lam[channel=tv]`` -> ``("saturation_lam", "channel=tv")``."""
    if name.endswith("]") and "[" in name:
        head, _, coords = name[:-1].partition("[")
        return head, coords
    return name, ""


def _context(scores: RunScores, design: pd.DataFrame, ridges: pd.DataFrame) -> Context:
    table = scores.estimands
    grouped = (
        table.groupby(["cell", "estimand", "coords"], sort=False, observed=True)
        .agg(contraction=("contraction", "mean"), boundary=("boundary", "any"))
        .reset_index()
    )
    coords = {
        (str(c), str(e), str(k)): (float(v), bool(b))
        for c, e, k, v, b in grouped.itertuples(index=False)
    }
    exact = (table["sd"].to_numpy(np.float64) == 0) & (table["error"].to_numpy(np.float64) == 0)
    known = (
        table.assign(_exact=exact)
        .groupby(["cell", "estimand", "coords"], observed=True)["_exact"]
        .all()
        .reset_index()
    )
    known = known[known["_exact"].astype(bool)]
    points = frozenset(
        zip(
            known["cell"].astype(str),
            known["estimand"].astype(str),
            known["coords"].astype(str),
            strict=True,
        )
    )
    return Context(
        cells=dict(scores.run.cells),
        truth=dict(zip(design["cell"], design["truth"], strict=True)),
        cells_with_fits=frozenset(table["cell"].astype(str).unique()),
        coordinates=coords,
        estimands=frozenset(table["estimand"].astype(str).unique()),
        ridges=_ridge_partners(ridges),
        points=points,
    )


def _tolerances(
    table: pd.DataFrame, rule_set: RuleSet, ci_prob: float
) -> dict[float, pd.DataFrame]:
    wanted = {r.tolerance for r in rule_set.rules if r.metric == TOLERANCE}
    return {t: tolerance_table(table, t, ci_prob=ci_prob) for t in wanted if t is not None}


def _identifiability(scores: RunScores, rule_set: RuleSet) -> tuple[pd.DataFrame, pd.DataFrame]:
    settings = rule_set.identifiability
    table = scores.estimands
    with_prior = table[np.isfinite(table["contraction"].to_numpy(np.float64))]
    with_prior = with_prior[~with_prior["family"].astype(str).isin(("series", GEO_FAMILY))]
    ident = (
        with_prior.groupby(
            ["cell", "cell_label", "estimand", "family", "coords"], sort=True, observed=True
        )
        .agg(
            contraction=("contraction", "mean"),
            prior_overlap=("prior_overlap", "mean"),
            n=("contraction", "size"),
        )
        .reset_index()
    )
    unlearned = (ident["contraction"] < settings.contraction_below) & (
        ident["prior_overlap"] > settings.prior_overlap_above
    )
    ident["learned"] = ~unlearned
    ident = ident.reindex(columns=IDENTIFIABILITY_COLUMNS)
    corr = scores.correlations
    if corr.empty:
        return ident, pd.DataFrame(columns=RIDGE_COLUMNS)
    corr = corr.assign(abs_corr=corr["corr"].abs())
    ridges = (
        corr.groupby(["cell", "a", "b"], sort=True)
        .agg(abs_corr=("abs_corr", "median"), corr=("corr", "median"), n=("corr", "size"))
        .reset_index()
    )
    logs = corr.groupby(["cell", "a", "b"], sort=True)["log"].all().reset_index(drop=True)
    ridges["log"] = logs.to_numpy()
    ridges = ridges[ridges["abs_corr"] > settings.correlation_above]
    labels = scores.run.cells
    ridges = ridges.assign(cell_label=ridges["cell"].map(lambda c: labels.get(c, c)))
    return ident, ridges.reindex(columns=RIDGE_COLUMNS).reset_index(drop=True)


def _identifiability_checks(ident: pd.DataFrame, rule_set: RuleSet) -> pd.DataFrame:
    settings = rule_set.identifiability
    rows = []
    for r in ident.to_dict("records"):
        learned = bool(r["learned"])
        outcome = PASS if learned or not settings.fail_unlearned else FAIL
        detail = (
            ""
            if learned
            else (
                f"not learned from the data (contraction {r['contraction']:.2f} < "
                f"{settings.contraction_below:g}, prior overlap {r['prior_overlap']:.2f} > "
                f"{settings.prior_overlap_above:g})"
            )
        )
        if not learned and not settings.fail_unlearned:
            detail += "; a warning ([identifiability] fail_unlearned = false)"
        rows.append(
            {
                "rule": _IDENTIFIABILITY_RULE,
                "cell": r["cell"],
                "cell_label": r["cell_label"],
                "estimand": r["estimand"],
                "coords": r["coords"],
                "metric": "contraction",
                "value": r["contraction"],
                "lower": math.nan,
                "upper": math.nan,
                "bound": settings.contraction_below,
                "judge": "point",
                "detail": detail,
                "outcome": outcome,
                "n": r["n"],
                "subset": "all",
                "rule_index": 0,
            }
        )
    return pd.DataFrame(rows, columns=CHECK_COLUMNS)


def _stale_truth(fits: pd.DataFrame) -> list[str]:
    """Return a warning when fit records hold an older definition of the truth.

    A record keeps the truth it was scored against at fit time (``truth_version``); a run
    resumed, or re-scored, after a change of definition judges those records against the old
    truth. A record without ``truth_version`` is of version
    :data:`~mmm_workbench.reports.contract.UNVERSIONED_TRUTH` or older.
    """
    if "truth_version" not in fits:
        return []
    ok = fits[fits["status"] == "ok"]
    known = pd.to_numeric(ok["truth_version"], errors="coerce")
    newest = known.fillna(UNVERSIONED_TRUTH)
    stale = ok[newest < TRUTH_VERSION]
    if stale.empty:
        return []
    found = sorted({"unrecorded" if math.isnan(v) else f"{v:g}" for v in known[stale.index]})
    return [
        f"{len(stale)} of {len(ok)} fit records were scored against an older definition of "
        f"the truth (truth_version {', '.join(found)}; this workbench's: {TRUTH_VERSION}, "
        "docs/definitions.md): their truth of the estimands redefined since is stale; fit "
        "them again (delete their records, then run) or re-judge a copy "
        "(bench/rejudge_truth.py)"
    ]


def _float(value: object) -> float:
    """``value`` as a float, NaN where it is not a number."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def _held_by_clean_fits(failure: Mapping[Any, Any], held: Mapping[tuple[Any, ...], float]) -> bool:
    """Whether the warned fits made a measure fail that the clean fits hold.

    The clean fits' pass counts for the sampler only where leaving the warned fits out moves
    the measure at least half-way back from where it failed to its bound; not where fewer
    fits merely widen its interval around the same value (a model bug's measure stays where
    it was, beyond the bound, over the clean fits too).
    """
    key = (failure["rule_index"], failure["cell"], failure["estimand"], failure["coords"])
    if key not in held:
        return False
    clean_value = held[key]
    value, bound = (_float(failure.get(k)) for k in ("value", "bound"))
    if not all(np.isfinite(x) for x in (clean_value, value, bound)):
        return True  # nothing to compare: the clean fits' pass stands
    gap = bound - value  # > 0 below a min, < 0 above a max
    return bool((clean_value - value) / gap >= 0.5) if gap else True


def _causes(failures: pd.DataFrame, clean: pd.DataFrame | None, health: pd.DataFrame) -> list[str]:
    approximate = (
        health[health["backend"].astype(str).isin(APPROXIMATE_BACKENDS)]["cell"]
        .astype(str)
        .unique()
    )
    ok = health[health["status"] == "ok"]
    no_clean = set(ok["cell"].astype(str)) - set(ok.loc[ok["health"] == CLEAN, "cell"].astype(str))
    held: dict[tuple[Any, ...], float] = {}
    if clean is not None:
        ok = clean[clean["outcome"] != FAIL]
        keys = zip(ok["rule_index"], ok["cell"], ok["estimand"], ok["coords"], strict=True)
        held = dict(zip(keys, map(_float, ok["value"]), strict=True))
    out = []
    for r in failures.to_dict("records"):
        if r["rule"] == _IDENTIFIABILITY_RULE:
            out.append("identifiability")
        elif r["metric"] in ("n_corrupt", "corrupt_share"):
            out.append("records")
        elif r["metric"] in FIT_QUALITY:  # how the model predicts the data, not fit health
            out.append("approximation" if str(r["cell"]) in approximate else "model")
        elif (
            r["estimand"] == ""
            or str(r["cell"]) in no_clean  # no clean fit to judge the model on
            or _held_by_clean_fits(r, held)
        ):
            out.append("sampler")
        elif str(r["cell"]) in approximate:
            out.append("approximation")
        else:
            out.append("model")
    return out


def evaluate(
    run: str | Path | Run | RunScores,
    rules: RulesLike | RuleSet | None = None,
    baseline: BaselineLike = None,
    *,
    ci_prob: float = 0.95,
    **options: Any,
) -> Verdict:
    """Judge a run: the one verdict of ``check``, the report's banner and ``run``'s end.

    Parameters
    ----------
    run
        A run directory (or an opened run), or a run scored by
        :func:`mmm_workbench.reports.tables.score_run` (re-scored when the rules ask for
        levels or interval kinds it lacks).
    rules
        A rules file, document or list of rules (:func:`mmm_workbench.reports.ruleset.load_rules`);
        None for the shipped default rule set.
    baseline
        A ``summary.json`` (path or dict) for ``baseline = true`` rules.
    ci_prob
        Level of the Monte Carlo intervals in the aggregates (each rule judges at
        ``1 - alpha / m``).
    options
        Passed to :func:`mmm_workbench.reports.tables.score_run` when ``run`` is a path.

    Returns
    -------
    Verdict

    Raises
    ------
    mmm_workbench.reports.rundir.RunError
        Not a run directory, or an empty run.
    ValueError
        Bad rules (naming the file, the rule and the value; an unknown metric, level,
        estimand or cell lists the known ones), a baseline rule without a baseline.
    """
    rule_set = load_rules(rules)
    base = load_baseline(baseline)
    for rule in rule_set.rules:
        if rule.baseline and base is None:
            raise ValueError(f"rule {rule.label}: compares with a baseline, but none was given")
    scores = _score(run, rule_set, dict(options))
    classes = classify_fits(scores.fits, rule_set.health)
    health = pd.concat(
        [scores.fits[["cell", "cell_label", "replicate", "backend", "status"]], classes], axis=1
    )
    design = truth_design(scores.estimands)
    labels = scores.run.cells
    design["cell_label"] = design["cell"].map(lambda c: labels.get(c, c))
    ident, ridges = _identifiability(scores, rule_set)
    ctx = _context(scores, design, ridges)

    agg = aggregate_table(scores, ci_prob=ci_prob, health=rule_set.health)
    tolerances = _tolerances(scores.estimands, rule_set, ci_prob)
    checks, warnings = judge_rules(rule_set, agg, ctx, baseline=base, tolerances=tolerances)

    clean_checks = None
    ok = health[health["status"] == "ok"]
    if (ok["health"] != CLEAN).any() and (ok["health"] == CLEAN).any():
        keep = list(
            zip(
                ok.loc[ok["health"] == CLEAN, "cell"],
                ok.loc[ok["health"] == CLEAN, "replicate"],
                strict=True,
            )
        )
        table = scores.estimands
        # vectorized: a Python loop over the table's rows took 0.1 s on 43,600 rows
        mask = pd.MultiIndex.from_arrays([table["cell"], table["replicate"]]).isin(keep)
        clean = dataclasses.replace(scores, estimands=table[np.asarray(mask, dtype=bool)])
        clean_agg = aggregate_table(clean, ci_prob=ci_prob, health=rule_set.health)
        clean_tol = _tolerances(clean.estimands, rule_set, ci_prob)
        clean_checks, _ = judge_rules(
            rule_set,
            clean_agg,
            _context(clean, design, ridges),
            subset="clean",
            baseline=base,
            fit_rules=False,
            tolerances=clean_tol,
        )
        unjudged = clean_checks["detail"].astype(str).str.startswith("nothing to judge")
        clean_checks = clean_checks[~unjudged]  # cells without a clean fit

    ident_checks = _identifiability_checks(ident, rule_set)
    frames = [f for f in (checks, ident_checks, clean_checks) if f is not None and len(f)]
    all_checks = (
        pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=CHECK_COLUMNS)
    )
    over_all = all_checks[all_checks["subset"] == "all"]
    failed = over_all[over_all["outcome"] == FAIL]
    causes = _causes(failed, clean_checks, health)
    failures = failed.reindex(columns=FAILURE_COLUMNS).assign(cause=causes).reset_index(drop=True)

    notes = list(dict.fromkeys(warnings))
    for r in design.itertuples():
        if r.truth != "drawn":
            notes.append(
                f"{r.cell_label}: {r.label}; rank statistics are not SBC (truth not drawn "
                "per replicate) and calibration rules judge data-dominated quantities only"
            )
    if not rule_set.identifiability.fail_unlearned:
        unlearned = ident[~ident["learned"]]
        notes += [
            f"{r['cell_label']}: {r['estimand']}{_coords(str(r['coords']))} not learned "
            "from the data"
            for r in unlearned.to_dict("records")
        ]
    notes += _stale_truth(scores.fits)
    counts = fit_counts(scores)
    per_cell = health.groupby("cell")["health"].value_counts().unstack(fill_value=0)
    counts["n_clean"] = counts["cell"].map(per_cell.get(CLEAN, pd.Series(dtype=int))).fillna(0)
    counts["n_warning"] = counts["cell"].map(per_cell.get(WARNING, pd.Series(dtype=int))).fillna(0)
    counts[["n_clean", "n_warning"]] = counts[["n_clean", "n_warning"]].astype(int)
    return Verdict(
        passed=failures.empty,
        causes=tuple(c for c in CAUSES if c in set(causes)),
        failures=failures,
        checks=all_checks.reset_index(drop=True),
        checked=int(over_all["outcome"].isin([PASS, FAIL, WARN]).sum()),
        fits=counts,
        health=health,
        calibration=design,
        identifiability=ident,
        ridges=ridges,
        warnings=tuple(notes),
        rules=rule_set,
        decisions=decision_summary(scores.estimands),
    )


DEFAULT_RULES_NAME = "default rules"


def rules_name(source: str, cwd: str | Path | None = None) -> str:
    """Name a rules file for a log: relative to ``cwd`` where it lies below it.

    Parameters
    ----------
    source
        :attr:`mmm_workbench.reports.ruleset.RuleSet.source`: a path, or ``"rules"`` for
        rules given as data.
    cwd
        The directory names are relative to (default: the working directory).

    Returns
    -------
    str
        ``"default rules"`` for the shipped set (:func:`default_rules_path`), the path
        relative to ``cwd`` when the file lies under it, else the path as given.
    """
    if source == str(default_rules_path()):
        return DEFAULT_RULES_NAME
    path = Path(source)
    if not path.is_absolute():
        return source
    base = Path(cwd) if cwd is not None else Path.cwd()
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except (ValueError, OSError):
        return source


def named_rules(verdict: Verdict, cwd: str | Path | None = None) -> Verdict:
    """Return ``verdict`` with its rules named by :func:`rules_name` (for headlines)."""
    shown = rules_name(verdict.rules.source, cwd)
    if shown == verdict.rules.source:
        return verdict
    return dataclasses.replace(verdict, rules=dataclasses.replace(verdict.rules, source=shown))
