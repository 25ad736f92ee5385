"""The recovery gate: verdicts on the stubs, failure tables, baselines, bad input."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from mmm_workbench.reports.contract import FORMAT_VERSION
from mmm_workbench.reports.gate import FAILURE_COLUMNS, assert_recovery, check, load_rules
from mmm_workbench.reports.rundir import RunError
from mmm_workbench.reports.tables import RunScores, summary_json

RULES = """
[[rule]]
metric = "coverage_90"
estimand = "*"
min = 0.8
judge = "interval"

[[rule]]
metric = "abs_bias"
max = 0.25
"""


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    path = tmp_path / "recovery.toml"
    path.write_text(RULES)
    return path


def test_stub_acceptance_gate(stub_scores: RunScores, rules: Path) -> None:
    """The gate flags the overconfident and the biased stubs, and only them."""
    result = check(stub_scores, rules)
    assert not result.passed
    assert list(result.failures.columns) == FAILURE_COLUMNS
    flagged = result.failures.groupby("cell")["metric"].agg(set)
    assert set(flagged.index) == {"overconfident", "biased"}
    assert flagged["overconfident"] == {"coverage_90"}
    assert flagged["biased"] == {"coverage_90", "abs_bias"}
    row = result.failures[result.failures["cell"] == "overconfident"].iloc[0]
    assert row["rule"] == "#1 coverage_90 >= 0.8" and row["bound"] == 0.8
    assert row["upper"] < 0.8 and row["estimand"] in {
        "roas",
        "contribution_share",
        "sigma",
        "baseline",
    }
    assert result.checked == 2 * 3 * 7
    assert "FAILED" in result.report() and "overconfident" in result.report()


def test_calibrated_stub_passes(stub_scores: RunScores, rules: Path) -> None:
    result = check(
        stub_scores,
        [
            {"metric": "coverage_90", "min": 0.8, "cell": "stub=calibrated"},
            {"metric": "abs_bias", "max": 0.25, "cell": "calibrated"},
        ],
    )
    assert result.passed, result.report()
    assert result.failures.empty and list(result.failures.columns) == FAILURE_COLUMNS
    assert_recovery(stub_scores, [{"metric": "coverage_*", "min": 0.4, "cell": "calibrated"}])


def test_point_and_interval_judges_differ(stub_scores: RunScores) -> None:
    # biased coverage_90 is about 0.74 with Monte Carlo SE 0.025: a bound at 0.76 fails
    # the point estimate of most coordinates but not their interval
    rule = {"metric": "coverage_90", "min": 0.76, "cell": "biased", "estimand": "roas"}
    point = check(stub_scores, [rule | {"judge": "point"}])
    interval = check(stub_scores, [rule | {"judge": "interval"}])
    assert len(point.failures) > len(interval.failures)


def test_fit_level_and_pooled_rules(stub_scores: RunScores) -> None:
    result = check(stub_scores, [{"metric": "divergent_share", "max": 0.05, "judge": "point"}])
    assert list(result.failures["cell"]) == ["biased"] and list(result.failures["estimand"]) == [""]
    pooled = check(
        stub_scores,
        [{"metric": "bias_pp", "estimand": "contribution_share", "max": 20, "pool": True}],
    )
    assert set(pooled.failures["cell"]) == {"biased"} and set(pooled.failures["coords"]) == {"*"}
    counts = check(
        stub_scores,
        [
            {"metric": "n_failed", "max": 0},
            {"metric": "sbc_p_holm", "min": 0.01, "cell": "calibrated"},
        ],
    )
    assert counts.passed, counts.report()


def test_assert_recovery_raises_with_the_table(stub_scores: RunScores, rules: Path) -> None:
    with pytest.raises(
        AssertionError, match=r"recovery gate FAILED(.|\n)*coverage_90(.|\n)*overconfident"
    ):
        assert_recovery(stub_scores, rules)


def test_baseline_rule(stub_scores: RunScores) -> None:
    baseline = summary_json(stub_scores)
    same = check(stub_scores, [{"metric": "*", "baseline": True}], baseline)
    assert same.passed and same.checked > 100
    better = copy.deepcopy(baseline)
    for row in better["aggregates"]:
        if (row["cell"], row["estimand"], row["coords"], row["metric"]) == (
            "calibrated",
            "roas",
            "channel=tv",
            "rmse",
        ):
            row["value"], row["mcse"] = row["value"] / 2, 1e-6
    worse = check(stub_scores, [{"metric": "rmse", "estimand": "roas", "baseline": True}], better)
    assert not worse.passed
    (row,) = worse.failures.to_dict("records")
    assert (row["cell"], row["coords"], row["metric"]) == ("calibrated", "channel=tv", "rmse")
    assert "worse than baseline" in row["detail"]


def test_baseline_from_a_file(tmp_path: Path, small_run: Path) -> None:
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(summary_json(small_run), allow_nan=False))
    assert check(small_run, [{"metric": "*", "baseline": True}], path).passed
    with pytest.raises(ValueError, match="but none was given"):
        check(small_run, [{"metric": "*", "baseline": True}])
    with pytest.raises(ValueError, match="not a summary"):
        check(small_run, [{"metric": "*", "baseline": True}], {"cells": {}})


def test_check_from_a_directory(small_run: Path, rules: Path) -> None:
    result = check(small_run, rules)
    assert set(result.failures["cell"]) <= {"b"}
    assert result.fits["n_ok"].sum() == 12


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            {"metric": "coverage_90", "estimand": "roass", "min": 0.8},
            r"unknown estimand 'roass'; this run has baseline, contribution_share, roas, sigma",
        ),
        (
            {"metric": "coverage_99", "min": 0.8},
            r"unknown metric 'coverage_99'; known: .*coverage_90",
        ),
        ({"metric": "coverage_90", "cell": "nope", "min": 0.8}, r"unknown cell 'nope'"),
        (
            {"metric": "divergent_share", "estimand": "roas", "max": 0.1},
            r"fit-level metric; it takes no estimand",
        ),
        ({"metric": "coverage_90"}, r"rule #1: needs min, max or baseline = true"),
        ({"metric": "coverage_90", "min": "high"}, r"min = 'high': must be a number"),
        ({"metric": "coverage_90", "min": 0.8, "judge": "vibes"}, r"judge = 'vibes'"),
        ({"metric": "coverage_90", "min": 0.8, "maximum": 1}, r"unknown keys \['maximum'\]"),
        ({"metric": "*", "max": 1}, r"only for baseline = true"),
    ],
)
def test_bad_rules_are_named(small_run: Path, rule: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError, match=message):
        check(small_run, [rule])


def test_bad_rules_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[rule]\nmetric = 1")
    with pytest.raises(ValueError, match="cannot read rules"):
        load_rules(bad)
    bad.write_text('[gate]\nz = 2\n[[rule]]\nmetric = "rmse"\nmax = 1\n')
    with pytest.raises(ValueError, match=r"unknown top-level keys \['gate'\]"):
        load_rules(bad)
    bad.write_text("")
    with pytest.raises(ValueError, match="no rules"):
        load_rules(bad)
    with pytest.raises(ValueError, match="cannot read rules"):
        load_rules(tmp_path / "missing.toml")


def test_not_a_run_and_empty_run(tmp_path: Path, rules: Path) -> None:
    with pytest.raises(RunError, match="not a run directory"):
        check(tmp_path, rules)
    (tmp_path / "manifest.json").write_text(json.dumps({"format_version": FORMAT_VERSION}))
    (tmp_path / "scenario.toml").write_text("")
    with pytest.raises(RunError, match="empty run"):
        check(tmp_path, rules)


def test_corrupt_fit_is_reported_skipped_and_counted(small_run: Path, rules: Path) -> None:
    (small_run / "fits" / "a" / "4.arrow").write_bytes(b"")
    result = check(small_run, [{"metric": "n_corrupt", "max": 0}])
    assert not result.passed
    (row,) = result.failures.to_dict("records")
    assert (row["cell"], row["value"]) == ("a", 1)
    assert result.fits.set_index("cell").loc["a", "n_corrupt"] == 1
    assert "1 corrupt (skipped)" in result.report()
    assert check(small_run, [{"metric": "coverage_50", "min": 0.0, "cell": "a"}]).passed


def test_no_successful_fits_fail_estimand_rules(tmp_path: Path) -> None:
    root = tmp_path / "run"
    (root / "failures" / "c").mkdir(parents=True)
    (root / "scenario.toml").write_text("")
    (root / "manifest.json").write_text(
        json.dumps({"cells": {"c": {"label": "c"}}, "format_version": FORMAT_VERSION})
    )
    (root / "failures" / "c" / "0.json").write_text(json.dumps({"error": "x"}))
    result = check(
        root,
        [
            {"metric": "coverage_90", "min": 0.8},
            {"metric": "abs_bias", "estimand": "roas", "max": 0.1},
            {"metric": "failed_share", "max": 0.5, "judge": "point"},
        ],
    )
    assert not result.passed
    assert list(result.failures["metric"]) == ["coverage_90", "abs_bias", "failed_share"]
    assert result.failures["detail"].iloc[0].startswith("nothing to judge")


def test_options_only_apply_when_scoring(stub_scores: RunScores) -> None:
    with pytest.raises(TypeError, match="apply when scoring a path"):
        check(stub_scores, [{"metric": "rmse", "max": 1}], n_ranks=10)
