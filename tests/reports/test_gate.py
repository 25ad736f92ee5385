"""The gate's rules: verdicts on the stubs, multiplicity per rule, failure tables,
baselines, bad input."""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmm_workbench.reports.gate import (
    FAILURE_COLUMNS,
    Context,
    assert_recovery,
    check,
    default_rules_path,
    judge_rules,
    load_rules,
    metric_kind,
)
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
    assert list(result.failures.columns) == [*FAILURE_COLUMNS, "cause"]
    flagged = result.failures.groupby("cell")["metric"].agg(set)
    assert set(flagged.index) == {"overconfident", "biased"}
    assert flagged["overconfident"] == {"coverage_90"}
    assert flagged["biased"] == {"coverage_90", "abs_bias"}
    row = result.failures[result.failures["cell"] == "overconfident"].iloc[0]
    assert row["rule"] == "#1 coverage_90 >= 0.8" and row["bound"] == 0.8
    assert row["upper"] < 0.8
    assert "Monte Carlo interval at" in row["detail"]
    # per cell: roas[2], share[2], sigma, mean(baseline), and baseline pooled over dates;
    # and the identifiability of the 5 quantities with prior draws
    ruled = result.checks[(result.checks["subset"] == "all") & (result.checks["rule_index"] > 0)]
    assert len(ruled) == 2 * 3 * 7
    assert result.checked == 2 * 3 * 7 + 3 * 5
    assert "FAILED" in result.report() and "overconfident" in result.report()


def test_calibrated_stub_passes(stub_scores: RunScores) -> None:
    result = check(
        stub_scores,
        [
            {"metric": "coverage_90", "min": 0.8, "cell": "stub=calibrated"},
            {"metric": "abs_bias", "max": 0.25, "cell": "calibrated"},
            {"metric": "coverage_99", "min": 0.95, "cell": "calibrated"},
            {"metric": "uniformity_p_holm", "min": 0.01, "cell": "calibrated"},
        ],
    )
    assert result.passed, result.report()
    assert result.failures.empty and list(result.failures.columns) == [*FAILURE_COLUMNS, "cause"]
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
    assert list(result.failures["cause"]) == ["sampler"]
    pooled = check(
        stub_scores,
        [{"metric": "bias_pp", "estimand": "contribution_share", "max": 20, "pool": True}],
    )
    assert set(pooled.failures["cell"]) == {"biased"} and set(pooled.failures["coords"]) == {"*"}
    counts = check(stub_scores, [{"metric": "n_failed", "max": 0}])
    assert counts.passed, counts.report()


def test_series_are_never_judged_date_by_date(stub_scores: RunScores) -> None:
    result = check(stub_scores, [{"metric": "coverage_90", "estimand": "baseline", "min": 0.0}])
    judged = result.checks[(result.checks["rule_index"] == 1) & (result.checks["subset"] == "all")]
    assert set(judged["coords"]) == {"*"} and len(judged) == 3  # one pooled measure per cell
    summary = check(stub_scores, [{"metric": "coverage_90", "family": "summary", "min": 0.0}])
    ruled = summary.checks[
        (summary.checks["rule_index"] == 1) & (summary.checks["subset"] == "all")
    ]
    assert set(ruled["estimand"]) == {"mean(baseline)"}


def _context(cells: list[str], truth: str = "drawn") -> Context:
    return Context(
        cells={c: c for c in cells},
        truth={c: truth for c in cells},
        cells_with_fits=frozenset(cells),
        coordinates={},
        estimands=frozenset({"roas", "mean(channel_contribution)"}),
    )


def _agg(rows: list[dict[str, object]]) -> pd.DataFrame:
    base = {"cell": "c", "cell_label": "c", "pooled": False, "mcse": np.nan, "lower": np.nan}
    return pd.DataFrame([base | {"upper": np.nan} | r for r in rows])


def test_holm_runs_over_what_the_rule_selects() -> None:
    """A ROAS p-value of 0.002 fails a ROAS rule (Holm over 2 coordinates) but would pass
    a correction over 300 coordinates of the whole cell."""
    rows = [
        {"estimand": "roas", "family": "derived", "coords": "channel=tv", "value": 0.002},
        {"estimand": "roas", "family": "derived", "coords": "channel=search", "value": 0.6},
    ]
    rows += [
        {"estimand": "mean(channel_contribution)", "family": "summary", "coords": f"k={i}"}
        | {"value": 0.5}
        for i in range(300)
    ]
    agg = _agg([r | {"metric": "uniformity_p", "n": 100} for r in rows])
    narrow = load_rules([{"metric": "uniformity_p_holm", "estimand": "roas", "min": 0.01}])
    wide = load_rules([{"metric": "uniformity_p_holm", "min": 0.01}])
    checks, _ = judge_rules(narrow, agg, _context(["c"]))
    failed = checks[checks["outcome"] == "fail"]
    assert list(failed["coords"]) == ["channel=tv"]
    assert failed["value"].iloc[0] == pytest.approx(0.004)
    checks, _ = judge_rules(wide, agg, _context(["c"]))
    assert (checks["outcome"] == "pass").all()
    assert checks["value"].min() == pytest.approx(0.002 * 302)


def test_interval_level_is_corrected_for_the_measures_a_rule_judges() -> None:
    """Coverage 35 of 50 against a bound of 0.85: the 95% Jeffreys interval excludes the
    bound, so one measure fails; among 1000 measures the rule's interval is at
    1 - 0.05 / 1000 and reaches the bound."""
    rows = [{"estimand": "roas", "family": "derived", "coords": "channel=tv", "value": 0.7}]
    many = rows + [
        {"estimand": "roas", "family": "derived", "coords": f"k={i}", "value": 0.9}
        for i in range(999)
    ]
    rule = load_rules([{"metric": "coverage_90", "min": 0.85}])
    one, _ = judge_rules(
        rule, _agg([r | {"metric": "coverage_90", "n": 50} for r in rows]), _context(["c"])
    )
    assert list(one["outcome"]) == ["fail"]
    lots, _ = judge_rules(
        rule, _agg([r | {"metric": "coverage_90", "n": 50} for r in many]), _context(["c"])
    )
    assert (lots["outcome"] == "pass").all()


def test_rules_without_power_warn() -> None:
    rows = [{"estimand": "roas", "family": "derived", "coords": "channel=tv"}]
    agg = _agg([rows[0] | {"metric": "coverage_90", "n": 1, "value": 0.0}])
    checks, warnings = judge_rules(
        load_rules([{"metric": "coverage_90", "min": 0.8}]), agg, _context(["c"])
    )
    assert list(checks["outcome"]) == ["pass"]  # 0 of 1 cannot exclude 0.8 ...
    assert any("even 0 of 1 covered is not shown below 0.8" in w for w in warnings)  # says so
    agg = _agg([rows[0] | {"metric": "uniformity_p", "n": 5, "value": 0.3}])
    _, warnings = judge_rules(
        load_rules([{"metric": "uniformity_p_holm", "min": 0.01}]), agg, _context(["c"])
    )
    assert any("needs 20 to have power" in w for w in warnings)


def test_truth_and_fixed_truth_gating() -> None:
    row = {"estimand": "roas", "family": "derived", "coords": "channel=tv", "n": 50}
    agg = _agg([row | {"metric": "uniformity_p", "value": 1e-9}])
    drawn_only = load_rules([{"metric": "uniformity_p_holm", "min": 0.01, "truth": "drawn"}])
    fixed, _ = judge_rules(drawn_only, agg, _context(["c"], "fixed"))
    assert (
        list(fixed["outcome"]) == ["not applicable"] and "PIT, not SBC" in fixed["detail"].iloc[0]
    )
    drawn, _ = judge_rules(drawn_only, agg, _context(["c"], "drawn"))
    assert list(drawn["outcome"]) == ["fail"]
    # at a fixed truth a prior-dominated coordinate is not judged for calibration
    ctx = _context(["c"], "fixed")
    weak = Context(**{**ctx.__dict__, "coordinates": {("c", "roas", "channel=tv"): (0.3, False)}})
    strong = Context(
        **{**ctx.__dict__, "coordinates": {("c", "roas", "channel=tv"): (0.95, False)}}
    )
    cover = _agg([row | {"metric": "coverage_90", "value": 0.2}])
    rule = load_rules([{"metric": "coverage_90", "min": 0.8}])
    assert list(judge_rules(rule, cover, weak)[0]["outcome"]) == ["not applicable"]
    assert list(judge_rules(rule, cover, strong)[0]["outcome"]) == ["fail"]
    bias = _agg([row | {"metric": "abs_bias", "value": 5.0, "mcse": 0.1}])
    assert list(
        judge_rules(load_rules([{"metric": "abs_bias", "max": 1}]), bias, weak)[0]["outcome"]
    ) == ["fail"]


def test_nan_fit_measures_are_not_applicable() -> None:
    agg = pd.DataFrame(
        [
            {"cell": "c", "cell_label": "c", "estimand": "", "family": "", "coords": ""}
            | {"pooled": False, "metric": "divergent_share", "value": np.nan, "n": 0}
            | {"mcse": np.nan, "lower": np.nan, "upper": np.nan}
        ]
    )
    checks, _ = judge_rules(
        load_rules([{"metric": "divergent_share", "max": 0.1}]), agg, _context(["c"])
    )
    assert list(checks["outcome"]) == ["not applicable"]
    assert checks["detail"].iloc[0] == "not reported by this backend"
    agg.loc[0, ["value", "n"]] = [0.5, 10]
    checks, _ = judge_rules(
        load_rules([{"metric": "divergent_share", "max": 0.1}]), agg, _context(["c"])
    )
    assert list(checks["outcome"]) == ["fail"]


def test_assert_recovery_raises_with_the_table(stub_scores: RunScores, rules: Path) -> None:
    with pytest.raises(
        AssertionError, match=r"verdict: FAILED(.|\n)*coverage_90(.|\n)*overconfident"
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
            r"unknown estimand 'roass'; this run has baseline, contribution_share, "
            r"mean\(baseline\), roas, sigma",
        ),
        ({"metric": "coverage_100", "min": 0.8}, r"the level must be in \(0, 100\)"),
        (
            {"metric": "coverage_9x", "min": 0.8},
            r"unknown metric 'coverage_9x'; known: .*coverage_L",
        ),
        ({"metric": "width_left_90", "max": 1}, r"a one-sided interval has no width"),
        ({"metric": "sbc_p_holm", "min": 0.01}, r"is now 'uniformity_p_holm'"),
        (
            {"metric": "coverage_90", "family": "params", "min": 0.8},
            r"unknown family; known: parameter",
        ),
        ({"metric": "tolerance_share", "min": 0.8}, r"tolerance = <x> goes with"),
        ({"metric": "rmse", "tolerance": 0.1, "max": 1}, r"tolerance = <x> goes with"),
        ({"metric": "coverage_90", "cell": "nope", "min": 0.8}, r"unknown cell 'nope'"),
        (
            {"metric": "divergent_share", "estimand": "roas", "max": 0.1},
            r"fit-level metric; it takes no estimand",
        ),
        ({"metric": "coverage_90"}, r"rule\[0\]: needs min, max or baseline = true"),
        (
            {"metric": "coverage_90", "min": "high"},
            r"rule\[0\]\.min = .*high.*: must be a finite number",
        ),
        (
            {"metric": "coverage_90", "min": 0.8, "judge": "vibes"},
            r"judge = .*vibes.*must be one of",
        ),
        ({"metric": "coverage_90", "min": 0.8, "alpha": 1.5}, r"rule\[0\]\.alpha = 1\.5"),
        (
            {"metric": "coverage_90", "min": 0.8, "maximum": 1},
            r"rule\[0\]\.maximum = 1: unknown key",
        ),
        ({"metric": "*", "max": 1}, r"only for baseline = true"),
    ],
)
def test_bad_rules_are_named(small_run: Path, rule: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError, match=message):
        check(small_run, [rule])


def test_any_level_and_interval_kind(small_run: Path) -> None:
    assert metric_kind("coverage_hdi_99.5") == ("coverage", "hdi", 0.995)
    assert metric_kind("rmse") is None
    result = check(
        small_run,
        [
            {"metric": "coverage_99", "min": 0.0},
            {"metric": "coverage_hdi_97.5", "min": 0.0},
            {"metric": "coverage_left_90", "min": 0.0},
        ],
    )
    judged = set(result.checks["metric"])
    assert {"coverage_99", "coverage_hdi_97.5", "coverage_left_90"} <= judged


def test_bad_rules_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[rule]\nmetric = 1")
    with pytest.raises(ValueError, match=r"bad\.toml: cannot read rules"):
        load_rules(bad)
    bad.write_text('[gate]\nz = 2\n[[rule]]\nmetric = "rmse"\nmax = 1\n')
    with pytest.raises(
        ValueError,
        match=r"bad.toml: gate = .*unknown key; expected one of: calibration, health, identifiability, rule",
    ):
        load_rules(bad)
    bad.write_text('[health]\nmax_rhat = 0.9\n[[rule]]\nmetric = "rmse"\nmax = 1\n')
    with pytest.raises(ValueError, match=r"bad.toml: health.max_rhat = 0.9: must be >= 1"):
        load_rules(bad)
    bad.write_text('[identifiability]\ncontraction = 0.2\n[[rule]]\nmetric = "rmse"\nmax = 1\n')
    with pytest.raises(ValueError, match=r"identifiability.contraction = 0.2: unknown key"):
        load_rules(bad)
    bad.write_text("")
    with pytest.raises(ValueError, match="no rules"):
        load_rules(bad)
    with pytest.raises(ValueError, match="cannot read rules"):
        load_rules(tmp_path / "missing.toml")


def test_the_default_rule_set_covers_every_family() -> None:
    path = default_rules_path()
    assert path.is_file() and path.name == "default.toml"
    rule_set = load_rules()
    assert rule_set.source == str(path)
    metrics = {r.metric for r in rule_set.rules}
    levels = {metric_kind(m)[2] for m in metrics if metric_kind(m) is not None}  # type: ignore[index]
    assert len(levels) >= 3 and 0.99 in levels
    assert any(m.startswith("coverage_hdi_") for m in metrics)
    assert {"z_mean", "z_sd", "contraction", "tolerance_share", "uniformity_p_holm"} <= metrics
    assert {"failed_share", "warning_share", "divergent_share"} <= metrics
    assert rule_set.health.max_rhat == 1.05 and rule_set.identifiability.fail_unlearned
    uniformity = next(r for r in rule_set.rules if r.metric == "uniformity_p_holm")
    assert uniformity.truth == "drawn"  # uniformity is SBC's claim, not a fixed truth's


def test_not_a_run_and_empty_run(tmp_path: Path, rules: Path) -> None:
    with pytest.raises(RunError, match="not a run directory"):
        check(tmp_path, rules)
    (tmp_path / "manifest.json").write_text("{}")
    (tmp_path / "scenario.toml").write_text("")
    with pytest.raises(RunError):
        check(tmp_path, rules)


def test_corrupt_fit_is_reported_skipped_and_counted(small_run: Path) -> None:
    record = next((small_run / "fits" / "a").glob("4.*"))
    record.write_bytes(b"")
    result = check(small_run, [{"metric": "n_corrupt", "max": 0}])
    assert not result.passed and result.causes == ("records",)
    (row,) = result.failures.to_dict("records")
    assert (row["cell"], row["value"]) == ("a", 1)
    assert result.fits.set_index("cell").loc["a", "n_corrupt"] == 1
    assert "1 corrupt records skipped" in result.report()
    assert check(small_run, [{"metric": "coverage_50", "min": 0.0, "cell": "a"}]).passed


def test_no_successful_fits_fail_estimand_rules(tmp_path: Path) -> None:
    from mmm_workbench.reports.contract import FORMAT_VERSION

    root = tmp_path / "run"
    (root / "failures" / "c").mkdir(parents=True)
    (root / "scenario.toml").write_text("")
    manifest = {"cells": {"c": {"label": "c"}}, "format_version": FORMAT_VERSION}
    (root / "manifest.json").write_text(json.dumps(manifest))
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


# ------------------------------------------------------- check --format text | json | junit

STRICT = '[[rule]]\nmetric = "coverage_90"\nestimand = "*"\nmin = 0.99\njudge = "point"\n'
LOOSE = '[[rule]]\nmetric = "coverage_90"\nestimand = "*"\nmin = 0.0\n'

# The common JUnit schema (Jenkins' junit-4.xsd, which GitLab and GitHub reporters read):
# the attributes each element may carry, the required ones and the children it may hold.
JUNIT_ALLOWED = {
    "testsuites": {"name", "tests", "failures", "errors", "skipped", "disabled", "time"},
    "testsuite": {
        "name", "tests", "failures", "errors", "skipped", "disabled", "time", "id",
        "package", "hostname", "timestamp", "file",
    },
    "properties": set(),
    "property": {"name", "value"},
    "testcase": {"name", "classname", "time", "assertions", "status", "file", "line"},
    "failure": {"message", "type"},
    "error": {"message", "type"},
    "skipped": {"message"},
    "system-out": set(),
    "system-err": set(),
}  # fmt: skip
JUNIT_REQUIRED = {
    "testsuite": {"name", "tests"},
    "testcase": {"name", "classname"},
    "property": {"name", "value"},
}
JUNIT_CHILDREN = {
    "testsuites": {"testsuite"},
    "testsuite": {"properties", "testcase", "system-out", "system-err"},
    "properties": {"property"},
    "testcase": {"failure", "error", "skipped", "system-out", "system-err"},
    "failure": set(),
    "error": set(),
    "skipped": set(),
    "property": set(),
}


def _assert_junit(text: str) -> ET.Element:
    root = ET.fromstring(text.encode())
    assert root.tag == "testsuites"
    for element in root.iter():
        assert element.tag in JUNIT_ALLOWED, element.tag
        assert set(element.attrib) <= JUNIT_ALLOWED[element.tag], (element.tag, element.attrib)
        assert JUNIT_REQUIRED.get(element.tag, set()) <= set(element.attrib), element.tag
        children = {child.tag for child in element}
        assert children <= JUNIT_CHILDREN.get(element.tag, set()), (element.tag, children)
    for suite in root.iter("testsuite"):
        cases = suite.findall("testcase")
        assert int(suite.get("tests", -1)) == len(cases)
        assert int(suite.get("failures", -1)) == sum(c.find("failure") is not None for c in cases)
        assert int(suite.get("skipped", -1)) == sum(c.find("skipped") is not None for c in cases)
        for case in cases:
            assert len(list(case)) <= 1  # at most one outcome per test case
            assert float(case.get("time", "0")) >= 0
    suites = root.findall("testsuite")
    for key in ("tests", "failures", "skipped"):
        assert int(root.get(key, -1)) == sum(int(s.get(key, 0)) for s in suites)
    return root


@pytest.fixture(scope="module")
def hashed_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A calibrated and a biased cell with ids that look like the grid's hashes."""
    from reports_stubs import write_stub_run

    root = tmp_path_factory.mktemp("hashed") / "run"
    return write_stub_run(
        root, {"c0ffee12": "calibrated", "deadbeef": "biased"}, replicates=6, draws=50
    )


def test_check_json_lists_failures_and_inapplicable_checks(
    hashed_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mmm_workbench.recover.cli import main

    strict = tmp_path / "strict.toml"
    strict.write_text(STRICT)
    capsys.readouterr()
    assert main(["check", str(hashed_run), "--rules", str(strict), "--format", "json"]) == 1
    out = json.loads(capsys.readouterr().out)
    verdict = check(hashed_run, strict)
    assert out["passed"] is False and out["failed"] == len(verdict.failures) > 0
    assert [c["label"] for c in out["cells"]] == ["stub=calibrated", "stub=biased"]
    assert {c["cell"] for c in out["cells"]} == {"c0ffee12", "deadbeef"}
    assert all(c["backends"] == ["stub"] and c["verdict"] for c in out["cells"])
    assert sum(c["failed"] for c in out["cells"]) == out["failed"]
    first = out["failures"][0]
    assert {"rule", "estimand", "coords", "value", "interval", "bound", "cause"} <= set(first)
    assert first["bound"] == 0.99 and first["value"] < 0.99 and first["interval"] == [None, None]
    # every check that did not apply is listed, with why
    assert out["not_applicable"] == len(out["not_applicable_checks"])
    assert all(r["detail"] for r in out["not_applicable_checks"])
    loose = tmp_path / "loose.toml"
    loose.write_text(LOOSE)
    assert main(["check", str(hashed_run), "--rules", str(loose), "--format", "json"]) == 0
    passed = json.loads(capsys.readouterr().out)
    assert passed["passed"] is True and passed["failures"] == []


def test_check_json_interval_judged_failures_carry_the_monte_carlo_interval(
    hashed_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mmm_workbench.recover.cli import main

    assert main(["check", str(hashed_run), "--format", "json"]) == 1  # default rules
    out = json.loads(capsys.readouterr().out)
    assert out["rules"] == "default rules" and out["headline"].endswith("(default rules)")
    judged = [
        f
        for f in out["failures"]
        if f["judge"] == "interval" and f["metric"] != "uniformity_p_holm"
    ]
    assert judged
    for f in judged:
        lower, upper = f["interval"]
        assert lower <= f["value"] <= upper
        assert upper < f["bound"] or lower > f["bound"]
    assert out["not_applicable"] > 0
    assert any("one miss alone" in r["detail"] for r in out["not_applicable_checks"])


def test_check_junit_is_valid_junit_xml(
    hashed_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mmm_workbench.recover.cli import main
    from mmm_workbench.reports.gate import load_rules

    assert main(["check", str(hashed_run), "--format", "junit"]) == 1
    text = capsys.readouterr().out
    root = _assert_junit(text)
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["stub=calibrated", "stub=biased"]
    rules = load_rules()
    verdict = check(hashed_run)
    for suite in suites:
        names = [c.get("name") for c in suite.findall("testcase")]
        assert names[: len(rules.rules)] == [r.label for r in rules.rules]
        cell = suite.get("id")
        failed = verdict.failures[verdict.failures["cell"] == cell]
        failing = {
            c.get("name") for c in suite.findall("testcase") if c.find("failure") is not None
        }
        assert failing == set(failed["rule"])
        for case in suite.findall("testcase"):
            failure = case.find("failure")
            if failure is not None:
                assert failure.get("message") and failure.text
                assert failure.get("type") in {
                    "sampler",
                    "model",
                    "approximation",
                    "identifiability",
                    "records",
                }
    skipped = [c.find("skipped") for c in root.iter("testcase") if c.find("skipped") is not None]
    assert skipped and all(s.get("message", "").startswith("not applicable") for s in skipped)
    assert int(root.get("failures", 0)) > 0
    loose = tmp_path / "loose.toml"
    loose.write_text(LOOSE)
    assert main(["check", str(hashed_run), "--rules", str(loose), "--format", "junit"]) == 0
    passed = _assert_junit(capsys.readouterr().out)
    assert passed.get("failures") == "0" and passed.find("testsuite/testcase/failure") is None


def test_check_bad_input_exits_2_in_every_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mmm_workbench.recover.cli import main

    for fmt in ("text", "json", "junit"):
        assert main(["check", str(tmp_path / "nope"), "--format", fmt]) == 2
        captured = capsys.readouterr()
        assert captured.out == "" and "error" in captured.err
    with pytest.raises(SystemExit) as exc:
        main(["check", str(tmp_path), "--format", "xml"])
    assert exc.value.code == 2


def test_check_text_for_a_ci_log_is_not_wrapped_and_names_cells_by_label(
    hashed_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    from mmm_workbench.recover.cli import main

    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.chdir(tmp_path)
    Path("rules.toml").write_text(STRICT)
    assert main(["check", str(hashed_run), "--rules", "rules.toml"]) == 1
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].endswith("(rules.toml)") and str(tmp_path) not in lines[0]
    start = next(i for i, line in enumerate(lines) if line.startswith("failed: "))
    header, rows = lines[start + 1], lines[start + 2 :]
    assert header.split()[:3] == ["rule", "cell", "estimand"]
    verdict = check(hashed_run, tmp_path / "rules.toml")
    assert len(rows) == len(verdict.failures)  # one line per failure: nothing folded
    assert max(len(line) for line in rows) > 80
    for row, failure in zip(rows, verdict.failures.to_dict("records"), strict=True):
        assert row.split()[1] == failure["cell_label"]
        assert failure["estimand"] in row.split() and failure["coords"] in row
    assert "contribution_share" in out and "c0ffee12" not in out and "deadbeef" not in out
    # the same rules given by an absolute path outside the working directory stay absolute;
    # the shipped set is "default rules"
    elsewhere = tmp_path.parent / f"{tmp_path.name}-rules.toml"
    elsewhere.write_text(STRICT)
    assert main(["check", str(hashed_run), "--rules", str(elsewhere)]) == 1
    assert capsys.readouterr().out.splitlines()[0].endswith(f"({elsewhere})")
    assert main(["check", str(hashed_run)]) == 1
    assert capsys.readouterr().out.splitlines()[0].endswith("(default rules)")


def test_rules_name(tmp_path: Path) -> None:
    from mmm_workbench.reports.gate import rules_name

    assert rules_name(str(default_rules_path())) == "default rules"
    assert rules_name(str(tmp_path / "a" / "r.toml"), tmp_path) == str(Path("a") / "r.toml")
    assert rules_name("/elsewhere/r.toml", tmp_path) == "/elsewhere/r.toml"
    assert rules_name("rules", tmp_path) == "rules"


def test_summary_json_leaves_per_date_rows_to_the_csv_and_still_serves_as_baseline(
    small_run: Path, tmp_path: Path
) -> None:
    from mmm_workbench.reports.tables import aggregate_table

    summary = summary_json(small_run)
    full = aggregate_table(small_run)
    rows = pd.DataFrame(summary["aggregates"])
    per_date = (full["family"] == "series") & ~full["pooled"]
    assert per_date.any() and summary["left_out"]["per_date_rows"] == int(per_date.sum())
    assert len(rows) == len(full) - int(per_date.sum())
    assert not ((rows["family"] == "series") & ~rows["pooled"]).any()
    assert {"baseline", "mean(baseline)"} <= set(rows["estimand"])  # pooled and time mean
    assert summary["summary_version"] == 2
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(summary, allow_nan=False))
    rule = {"metric": "abs_bias", "estimand": "baseline", "baseline": True}
    result = check(small_run, [rule], path)
    judged = result.checks[
        (result.checks["subset"] == "all") & (result.checks["metric"] == "abs_bias")
    ]
    assert len(judged) == 2 and (judged["outcome"] == "pass").all()  # one per cell
    assert set(judged["coords"]) == {"*"}  # series are judged pooled, as before
