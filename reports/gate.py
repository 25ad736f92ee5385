"""The CI gate.

Judge a run against rules (``mmm-workbench check``), and an assertion for pytest suites.

The rules file, its keys and how a rule judges are described in
:mod:`mmm_workbench.reports.ruleset`; the shipped default is :func:`default_rules_path`
(``mmm-workbench check --print-rules`` prints it). Every verdict comes from
:func:`mmm_workbench.reports.verdict.evaluate`, which ``check``, the report's banner and
``run``'s closing lines share.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmm_workbench.reports.ruleset import (
    CHECK_COLUMNS,
    FAILURE_COLUMNS,
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
from mmm_workbench.reports.verdict import Verdict, evaluate

__all__ = [
    "CHECK_COLUMNS",
    "FAILURE_COLUMNS",
    "Context",
    "Identifiability",
    "Rule",
    "RuleSet",
    "Verdict",
    "assert_recovery",
    "check",
    "default_rules_path",
    "judge_rules",
    "load_baseline",
    "load_rules",
    "metric_kind",
    "required_intervals",
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
