"""The CI gate.

Judge a run against rules (``mmm-workbench check``), and an assertion for pytest suites.

The rules file, its keys and how a rule judges are described in
:mod:`mmm_workbench.reports.ruleset`; the shipped default is :func:`default_rules_path`
(``mmm-workbench check --print-rules`` prints it). Every verdict comes from
:func:`mmm_workbench.reports.verdict.evaluate`, which ``check``, the report's banner and
``run``'s closing lines share.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmm_workbench.reports.ruleset import (
    CHECK_COLUMNS,
    FAIL,
    FAILURE_COLUMNS,
    NA,
    BaselineLike,
    Context,
    Identifiability,
    Rule,
    RuleSet,
    RulesLike,
    default_rules_path,
    judge_rules,
    load_baseline,
    load_rules,
    metric_kind,
    required_intervals,
)
from mmm_workbench.reports.rundir import Run
from mmm_workbench.reports.tables import RunScores
from mmm_workbench.reports.verdict import (
    DEFAULT_RULES_NAME,
    Verdict,
    evaluate,
    named_rules,
    rules_name,
)

__all__ = [
    "CHECK_COLUMNS",
    "CHECK_FORMATS",
    "DEFAULT_RULES_NAME",
    "FAILURE_COLUMNS",
    "JSON_VERSION",
    "Context",
    "Identifiability",
    "Rule",
    "RuleSet",
    "Verdict",
    "assert_recovery",
    "check",
    "check_message",
    "default_rules_path",
    "failure_rows",
    "judge_rules",
    "load_baseline",
    "load_rules",
    "metric_kind",
    "named_rules",
    "plain_table",
    "required_intervals",
    "rules_name",
    "verdict_json",
    "verdict_junit",
]


def check(
    run_dir: str | Path | Run | RunScores,
    rules_path: RulesLike | RuleSet | None = None,
    baseline: BaselineLike = None,
    *,
    ci_prob: float = 0.95,
    **options: Any,
) -> Verdict:
    """Judge a run against rules: :func:`mmm_workbench.reports.verdict.evaluate`.

    Parameters
    ----------
    run_dir
        A run directory, or a run already scored by
        :func:`mmm_workbench.reports.tables.score_run`.
    rules_path
        A rules TOML file, a list of rule mappings, or None for the shipped default.
    baseline
        A ``summary.json`` (path or dict) for ``baseline = true`` rules.
    ci_prob
        Level of the Monte Carlo intervals in the aggregates (a rule's own level is
        ``1 - alpha / m``).
    options
        Passed to :func:`mmm_workbench.reports.tables.score_run` when ``run_dir`` is a path.

    Returns
    -------
    mmm_workbench.reports.verdict.Verdict
        ``passed``, ``failures`` (:data:`FAILURE_COLUMNS`), ``checks``, ``checked``,
        ``fits`` and the health, identifiability and calibration findings.
    """
    return evaluate(run_dir, rules_path, baseline, ci_prob=ci_prob, **options)


def assert_recovery(
    run_dir: str | Path | Run | RunScores,
    rules: RulesLike | RuleSet | None = None,
    baseline: BaselineLike = None,
    **options: Any,
) -> Verdict:
    """:func:`check`, raising ``AssertionError`` with the failure table when a rule fails.

    For users' pytest suites::

        def test_my_model_recovers(tmp_path):
            assert_recovery("runs/my-grid", "recovery.toml")
    """
    result = check(run_dir, rules, baseline, **options)
    if not result.passed:
        raise AssertionError(result.report())
    return result


# ------------------------------------------------------------------ output formats of check

CHECK_FORMATS = ("text", "json", "junit")
"""The output formats of ``mmm-workbench check --format``."""
JSON_VERSION = 1
"""Version of the JSON that :func:`verdict_json` returns (``format_version``)."""
_CHECK_FIELDS = ("rule", "estimand", "coords", "metric", "value", "lower", "upper", "bound")
_JUNIT_ROOT = "mmm-workbench check"


def _json_value(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer | np.bool_):
        return value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def _check_record(row: Mapping[Hashable, Any], extra: tuple[str, ...]) -> dict[str, Any]:
    out = {k: _json_value(row.get(k)) for k in ("cell", "cell_label", *_CHECK_FIELDS, *extra)}
    for key in ("cell", "cell_label", "estimand", "coords", "rule", "metric"):
        value = out[key]
        out[key] = "" if value is None else str(value)
    out["interval"] = [out.pop("lower"), out.pop("upper")]
    return out


def _cell_backends(verdict: Verdict, cell: str) -> list[str]:
    health = verdict.health
    backends = health.loc[health["cell"].astype(str) == cell, "backend"]
    return sorted({str(b) for b in backends.dropna() if str(b)})


def verdict_json(verdict: Verdict, cwd: str | Path | None = None) -> dict[str, Any]:
    """Return a verdict as a JSON-ready dict (``check --format json``; NaN written as null).

    Parameters
    ----------
    verdict
        The run's verdict (:func:`check`).
    cwd
        Where the rules file is named relative to (:func:`rules_name`).

    Returns
    -------
    dict
        ``format_version``, ``passed``, ``causes``, ``headline``, ``rules``, ``checked``,
        ``failed``, ``not_applicable`` (counts over all fits); ``cells``: per cell and model
        its ``cell`` id, ``label``, ``backends``, ``passed``, the plain-words ``verdict``
        and the fit counts; ``failures``: every failed check with ``rule, cell,
        cell_label, estimand, coords, metric, value, interval`` (the Monte Carlo interval it
        was judged on, nulls when judged at the point), ``bound``, ``judge``, ``detail``
        and ``cause``; ``not_applicable_checks``: every check that did not apply, with
        why (``detail``); ``lines`` (the text verdict) and ``warnings``.
    """
    from mmm_workbench.reports.report import cell_verdicts

    verdict = named_rules(verdict, cwd)
    over_all = verdict.checks[verdict.checks["subset"] == "all"]
    na = over_all[over_all["outcome"] == NA]
    words = {c.cell: c for c in cell_verdicts(verdict)}
    cells = []
    for fit in verdict.fits.to_dict("records"):
        cell = str(fit["cell"])
        said = words.get(cell)
        counts = {
            k: _json_value(fit[k])
            for k in ("n_ok", "n_failed", "n_corrupt", "n_missing", "n_clean", "n_warning")
            if k in fit
        }
        cells.append(
            {
                "cell": cell,
                "label": str(fit["cell_label"]),
                "backends": _cell_backends(verdict, cell),
                "passed": bool(said.passed) if said is not None else False,
                "verdict": said.text if said is not None else "",
                "failed": int((verdict.failures["cell"].astype(str) == cell).sum()),
            }
            | counts
        )
    return {
        "format_version": JSON_VERSION,
        "passed": bool(verdict.passed),
        "causes": list(verdict.causes),
        "headline": verdict.headline(),
        "rules": verdict.rules.source,
        "checked": int(verdict.checked),
        "failed": len(verdict.failures),
        "not_applicable": int(verdict.not_applicable),
        "cells": cells,
        "failures": [
            _check_record(r, ("judge", "detail", "cause"))
            for r in verdict.failures.to_dict("records")
        ],
        "not_applicable_checks": [_check_record(r, ("detail",)) for r in na.to_dict("records")],
        "lines": verdict.lines(),
        "warnings": list(verdict.warnings),
    }


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float | np.floating) else str(value)


def check_message(row: Mapping[Hashable, Any]) -> str:
    """Describe a failed or inapplicable check: its value, interval and bound."""
    coords = f"[{row['coords']}]" if row.get("coords") else ""
    what = f"{row.get('estimand') or 'fits'}{coords} {row.get('metric', '')}".strip()
    value = row.get("value")
    text = what if value is None or _is_nan(value) else f"{what} = {_number(value)}"
    lower, upper = row.get("lower"), row.get("upper")
    if not (_is_nan(lower) or _is_nan(upper)) and lower != upper:
        text += f" (Monte Carlo interval [{_number(lower)}, {_number(upper)}])"
    bound = row.get("bound")
    if not _is_nan(bound) and row.get("outcome", FAIL) == FAIL:
        text += f", bound {_number(bound)}"
    detail = str(row.get("detail") or "")
    return f"{text}: {detail}" if detail else text


def _is_nan(value: Any) -> bool:
    if value is None:
        return True
    try:
        return not math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def verdict_junit(verdict: Verdict) -> str:
    """Return a verdict as JUnit XML (``check --format junit``), for CI test reports.

    One ``<testsuite>`` per cell (named by its label), one ``<testcase>`` per rule (named
    by the rule's label, ``classname`` ``mmm-workbench.<cell label>``); a rule that failed
    any measure of the cell carries a ``<failure>`` whose ``message`` names the first
    failed measure and whose text lists them all with values, Monte Carlo intervals and
    bounds; a rule that applied to none of the cell's measures is ``<skipped>`` with why.
    Only the checks over all fits count (the clean-fit pass names causes). Element and
    attribute names are those of the common JUnit schema that Jenkins, GitLab and GitHub
    test reporters read (``testsuites``/``testsuite``/``testcase``/``failure``/
    ``skipped``/``properties``/``system-out``).
    """
    checks = verdict.checks[verdict.checks["subset"] == "all"]
    failures = verdict.failures
    root = ET.Element("testsuites", name=_JUNIT_ROOT)
    total = {"tests": 0, "failures": 0, "skipped": 0}
    rule_labels: dict[int, str] = {r.index: r.label for r in verdict.rules.rules}
    for label in checks.loc[checks["rule_index"] == 0, "rule"].astype(str).unique():
        rule_labels.setdefault(0, label)
    general = checks[checks["cell"].isna() | (checks["cell"].astype(str) == "")]
    for fit in verdict.fits.to_dict("records"):
        cell, cell_label = str(fit["cell"]), str(fit["cell_label"])
        mine = checks[checks["cell"].astype(str) == cell]
        suite = ET.SubElement(root, "testsuite", name=cell_label, id=cell)
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="cell_id", value=cell)
        ET.SubElement(
            props, "property", name="backend", value=", ".join(_cell_backends(verdict, cell))
        )
        ET.SubElement(props, "property", name="rules", value=verdict.rules.source)
        counts = {"tests": 0, "failures": 0, "skipped": 0}
        for index, rule_label in sorted(rule_labels.items(), key=lambda kv: (kv[0] == 0, kv[0])):
            rows = mine[mine["rule_index"] == index]
            if index == 0 and rows.empty:
                continue
            case = ET.SubElement(
                suite, "testcase", name=rule_label, classname=f"mmm-workbench.{cell_label}",
                time="0",
            )  # fmt: skip
            counts["tests"] += 1
            failed = rows[rows["outcome"] == FAIL]
            if len(failed):
                causes = failures[
                    (failures["cell"].astype(str) == cell) & (failures["rule"] == rule_label)
                ]["cause"].astype(str)
                lines = [check_message(r) for r in failed.to_dict("records")]
                cause = ", ".join(dict.fromkeys(causes)) or "model"
                more = f" (and {len(lines) - 1} more)" if len(lines) > 1 else ""
                element = ET.SubElement(
                    case, "failure", message=f"{lines[0]}{more}", type=f"{cause}"
                )
                element.text = "\n".join(lines)
                counts["failures"] += 1
            elif rows.empty or (rows["outcome"] == NA).all():
                why = rows["detail"].astype(str).iloc[0] if len(rows) else ""
                if not why:
                    rest = general[general["rule_index"] == index]["detail"].astype(str)
                    why = rest.iloc[0] if len(rest) else "selects nothing in this cell"
                ET.SubElement(case, "skipped", message=f"not applicable: {why}")
                counts["skipped"] += 1
        suite.set("tests", str(counts["tests"]))
        suite.set("failures", str(counts["failures"]))
        suite.set("errors", "0")
        suite.set("skipped", str(counts["skipped"]))
        suite.set("time", "0")
        for key in total:
            total[key] += counts[key]
    for key, value in total.items():
        root.set(key, str(value))
    root.set("errors", "0")
    root.set("time", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def failure_rows(verdict: Verdict) -> list[dict[str, str]]:
    """Return the failed checks as text columns: cells named by their labels, short rules."""
    rows = []
    for r in verdict.failures.to_dict("records"):
        rows.append(
            {
                "rule": str(r["rule"]).split()[0],
                "cell": str(r["cell_label"] or r["cell"]),
                "estimand": str(r["estimand"]),
                "coords": str(r["coords"]),
                "metric": str(r["metric"]),
                "value": _number(r["value"]),
                "interval": (
                    ""
                    if _is_nan(r["lower"]) or _is_nan(r["upper"])
                    else f"[{_number(r['lower'])}, {_number(r['upper'])}]"
                ),
                "bound": _number(r["bound"]),
                "detail": str(r["detail"]),
            }
        )
    return rows


def plain_table(rows: Sequence[Mapping[str, str]]) -> list[str]:
    """Lay rows of text out as aligned columns, one line per row, never wrapped (logs)."""
    if not rows:
        return []
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in columns}

    def line(values: Mapping[str, str]) -> str:
        return "  ".join(str(values[c]).ljust(widths[c]) for c in columns).rstrip()

    return [line({c: c for c in columns}), *(line(r) for r in rows)]
