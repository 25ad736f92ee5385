"""The gate's rules at their edges: names, malformed rules, intervals, reports.

The cases the mutation runs of ``reports/gate.py`` and ``reports/ruleset.py`` showed untested
(issue 17): the rule names in the failure table, the report of a passing gate, the "... and
N more" line, malformed rules (not a table, metric missing), the exact count of checks; and
the judging of one measure, each against a value computed by hand. Aggregates are written by
hand here (no run is scored), so these tests are fast and come first in the mutation run.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mmm_workbench.reports.aggregate import Health
from mmm_workbench.reports.gate import (
    CHECK_COLUMNS,
    DEFAULT_RULES_NAME,
    JSON_VERSION,
    Context,
    Identifiability,
    Rule,
    RuleSet,
    assert_recovery,
    check,
    check_message,
    default_rules_path,
    failure_rows,
    judge_rules,
    load_baseline,
    load_rules,
    metric_kind,
    named_rules,
    plain_table,
    required_intervals,
    rules_name,
    verdict_json,
    verdict_junit,
)
from mmm_workbench.reports.metrics import jeffreys_interval
from mmm_workbench.reports.verdict import IDENTIFIABILITY_COLUMNS, RIDGE_COLUMNS, Verdict
from mmm_workbench.scenarios.reader import ScenarioError


def _ctx(design: str = "drawn", **changes: object) -> Context:
    base: dict[str, object] = {
        "cells": {"c": "Cell C", "d": "Cell D"},
        "truth": {"c": design, "d": design},
        "cells_with_fits": frozenset({"c", "d"}),
        "coordinates": {},
        "estimands": frozenset({"roas", "sigma", "baseline"}),
    }
    return Context(**(base | changes))  # type: ignore[arg-type]


def _agg(*rows: dict[str, object]) -> pd.DataFrame:
    base: dict[str, object] = {"cell": "c", "cell_label": "Cell C", "estimand": "roas"}
    base |= {"family": "derived"}
    base |= {"coords": "channel=tv", "pooled": False, "mcse": np.nan, "n": 50}
    base |= {"lower": np.nan, "upper": np.nan}
    return pd.DataFrame([base | r for r in rows])


def _judge(
    rules: list[dict[str, object]], *rows: dict[str, object], ctx: Context | None = None
) -> tuple[pd.DataFrame, list[str]]:
    return judge_rules(load_rules(rules), _agg(*rows), ctx or _ctx())


# ----------------------------------------------------------------------- rule names


@pytest.mark.parametrize(
    ("rule", "label"),
    [
        ({"metric": "coverage_90", "min": 0.8}, "#1 coverage_90 >= 0.8"),
        ({"metric": "rmse", "estimand": "roas", "max": 0.25}, "#1 rmse[roas] <= 0.25"),
        (
            {"metric": "bias", "family": ["parameter", "derived"], "min": -1, "max": 1},
            "#1 bias (parameter/derived) >= -1 and <= 1",
        ),
        (
            {"metric": "tolerance_share", "tolerance": 0.15, "estimand": "roas", "min": 0.9},
            "#1 tolerance_share(0.15)[roas] >= 0.9",
        ),
        ({"metric": "rmse", "baseline": True}, "#1 rmse not worse than baseline"),
        (
            {"metric": "rmse", "max": 2, "baseline": True},
            "#1 rmse <= 2 and not worse than baseline",
        ),
        ({"metric": "rmse", "max": 2, "name": "ROAS is accurate"}, "#1 ROAS is accurate"),
        ({"metric": "coverage_90", "family": "*", "min": 0.8}, "#1 coverage_90 >= 0.8"),
    ],
)
def test_rule_labels(rule: dict[str, object], label: str) -> None:
    (parsed,) = load_rules([rule]).rules
    assert parsed.label == label


def test_rule_names_in_the_failure_table_and_the_counts() -> None:
    """Two rules over two coordinates: every row names its rule by number and bound."""
    rows = [
        {"metric": "coverage_90", "value": 0.5},
        {"metric": "coverage_90", "coords": "channel=search", "value": 0.9},
        {"metric": "abs_bias", "value": 3.0, "mcse": 0.1},
        {"metric": "abs_bias", "coords": "channel=search", "value": 0.1, "mcse": 0.1},
    ]
    checks, warnings = _judge(
        [
            {"metric": "coverage_90", "min": 0.8},
            {"metric": "abs_bias", "max": 1.0, "name": "small bias"},
        ],
        *rows,
    )
    assert warnings == []
    assert list(checks.columns) == CHECK_COLUMNS
    assert len(checks) == 4 and list(checks["rule_index"]) == [1, 1, 2, 2]
    assert list(checks["rule"]) == ["#1 coverage_90 >= 0.8"] * 2 + ["#2 small bias"] * 2
    assert list(checks["outcome"]) == ["fail", "pass", "fail", "pass"]
    assert list(checks["bound"]) == [0.8, 0.8, 1.0, 1.0]
    assert (checks["subset"] == "all").all() and (checks["judge"] == "interval").all()
    assert list(checks["cell_label"]) == ["Cell C"] * 4
    assert checks["detail"].iloc[0] == "below min 0.8 (Monte Carlo interval at 97.5%, 2 measures)"
    assert checks["detail"].iloc[2] == "above max 1 (Monte Carlo interval at 97.5%, 2 measures)"
    assert list(checks["detail"].iloc[[1, 3]]) == ["", ""]


# ------------------------------------------------------------------ judging one measure


def test_a_normal_interval_at_the_rule_level() -> None:
    """abs_bias 1.15 with MCSE 0.1, one measure, alpha 0.05: 1.15 -+ 1.96 * 0.1."""
    checks, _ = _judge(
        [{"metric": "abs_bias", "max": 1.0}], {"metric": "abs_bias", "value": 1.15, "mcse": 0.1}
    )
    z = stats.norm.ppf(0.975)
    row = checks.iloc[0]
    assert (row["lower"], row["upper"]) == pytest.approx((1.15 - z * 0.1, 1.15 + z * 0.1))
    assert row["outcome"] == "pass"  # the interval reaches below 1
    # four measures at alpha 0.1: level 1 - 0.1 / 4, z = Phi^-1(1 - 0.0125)
    rows = [{"metric": "abs_bias", "coords": f"k{i}", "value": 1.3, "mcse": 0.1} for i in range(4)]
    checks, _ = _judge([{"metric": "abs_bias", "max": 1.0, "alpha": 0.1}], *rows)
    z = stats.norm.ppf(1 - 0.0125)
    assert checks["upper"].iloc[0] == pytest.approx(1.3 + z * 0.1)
    assert checks["lower"].iloc[0] == pytest.approx(1.3 - z * 0.1)
    assert list(checks["outcome"]) == ["fail"] * 4  # 1.3 - 2.24 * 0.1 = 1.076 > 1
    assert checks["detail"].iloc[0] == "above max 1 (Monte Carlo interval at 97.5%, 4 measures)"


def test_a_proportion_gets_a_jeffreys_interval() -> None:
    """Coverage 0.7 of 50 replicates: Jeffreys interval of 35 of 50 at the rule's level."""
    checks, _ = _judge(
        [{"metric": "coverage_90", "min": 0.85}], {"metric": "coverage_90", "value": 0.7}
    )
    lo, hi = jeffreys_interval(35, 50, 0.95)
    assert (checks["lower"].iloc[0], checks["upper"].iloc[0]) == pytest.approx((lo, hi))
    assert (lo, hi) == pytest.approx(
        (stats.beta.ppf(0.025, 35.5, 15.5), stats.beta.ppf(0.975, 35.5, 15.5))
    )
    assert checks["outcome"].iloc[0] == ("fail" if hi < 0.85 else "pass") == "fail"
    # pooled over coordinates a share is a clustered mean: normal interval from its MCSE
    pooled = {"metric": "coverage_90", "value": 0.7, "mcse": 0.05, "pooled": True, "coords": "*"}
    checks, _ = _judge([{"metric": "coverage_90", "min": 0.85, "pool": True}], pooled)
    z = stats.norm.ppf(0.975)
    assert checks["upper"].iloc[0] == pytest.approx(0.7 + z * 0.05)


def test_the_point_judge_has_no_interval() -> None:
    rows = [{"metric": "abs_bias", "value": 1.2, "mcse": 0.1}]
    checks, _ = _judge([{"metric": "abs_bias", "max": 1.0, "judge": "point"}], *rows)
    row = checks.iloc[0]
    assert row["outcome"] == "fail" and row["detail"] == "above max 1"
    assert math.isnan(row["lower"]) and math.isnan(row["upper"]) and row["judge"] == "point"
    checks, _ = _judge([{"metric": "abs_bias", "max": 1.2, "judge": "point"}], *rows)
    assert checks["outcome"].iloc[0] == "pass"  # at the bound is within it
    checks, _ = _judge([{"metric": "abs_bias", "min": 1.2, "judge": "point"}], *rows)
    assert checks["outcome"].iloc[0] == "pass" and checks["bound"].iloc[0] == 1.2
    checks, _ = _judge([{"metric": "abs_bias", "min": 1.3, "judge": "point"}], *rows)
    assert checks["detail"].iloc[0] == "below min 1.3"


def test_an_mcse_of_nan_judges_at_the_point() -> None:
    """One replicate: no Monte Carlo error, judged at its value, and the verdict says so."""
    row = {"metric": "abs_bias", "value": 1.2, "n": 1}
    checks, warnings = _judge([{"metric": "abs_bias", "max": 1.0}], row)
    assert checks["outcome"].iloc[0] == "fail" and checks["detail"].iloc[0] == "above max 1"
    assert (checks["lower"].iloc[0], checks["upper"].iloc[0]) == (1.2, 1.2)
    assert warnings == [
        "rule #1 abs_bias <= 1, cell Cell C: 1 replicate: no Monte Carlo error; judged at the point"
    ]
    checks, warnings = _judge([{"metric": "abs_bias", "max": 1.0}], row | {"n": 2})
    assert warnings == []


def test_shares_that_cannot_fail() -> None:
    """3 replicates: even 0 of 3 has a Jeffreys upper limit above 0.5 (min cannot fail),
    and 3 of 3 a lower limit below 0.9 (max cannot fail)."""
    assert jeffreys_interval(0, 3, 0.95)[1] >= 0.5 and jeffreys_interval(3, 3, 0.95)[0] <= 0.9
    row = {"metric": "coverage_90", "value": 0.0, "n": 3}
    checks, warnings = _judge([{"metric": "coverage_90", "min": 0.5}], row)
    below = (
        "coverage_90 >= 0.5 cannot fail with 3 replicates: even 0 of 3 covered is not shown "
        "below 0.5 at this rule's level (95%)"
    )
    assert warnings == [f"rule #1 coverage_90 >= 0.5, cell Cell C: {below}"]
    assert checks["outcome"].iloc[0] == "pass"
    assert checks["detail"].iloc[0] == below
    _, warnings = _judge([{"metric": "coverage_90", "max": 0.9}], row | {"value": 1.0})
    assert warnings == [
        "rule #1 coverage_90 <= 0.9, cell Cell C: coverage_90 <= 0.9 cannot fail with 3 "
        "replicates: even 3 of 3 covered is not shown above 0.9 at this rule's level (95%)"
    ]
    # 50 replicates can fail either bound: no warning
    assert _judge([{"metric": "coverage_90", "min": 0.5}], row | {"n": 50})[1] == []
    # at the point, a share can always fail
    assert _judge([{"metric": "coverage_90", "min": 0.5, "judge": "point"}], row)[1] == []


def test_uniformity_needs_twenty_replicates() -> None:
    row = {"metric": "uniformity_p", "value": 0.5, "n": 19}
    _, warnings = _judge([{"metric": "uniformity_p", "min": 0.01}], row)
    assert warnings == [
        "rule #1 uniformity_p >= 0.01, cell Cell C: 19 replicates: a uniformity test needs 20 "
        "to have power"
    ]
    assert _judge([{"metric": "uniformity_p", "min": 0.01}], row | {"n": 20})[1] == []


def test_holm_over_the_selected_measures_and_its_name() -> None:
    rows = [
        {"metric": "uniformity_p", "value": 0.004},
        {"metric": "uniformity_p", "coords": "channel=search", "value": 0.5},
        {"metric": "uniformity_p", "estimand": "sigma", "coords": "", "value": 0.3},
    ]
    checks, _ = _judge([{"metric": "uniformity_p_holm", "min": 0.01}], *rows)
    # sorted 0.004, 0.3, 0.5: 0.012, 0.6, 0.6
    np.testing.assert_allclose(checks["value"], [0.012, 0.6, 0.6])
    assert (checks["metric"] == "uniformity_p_holm").all()
    assert list(checks["outcome"]) == ["pass"] * 3
    assert checks["lower"].isna().all()  # a p-value has no Monte Carlo interval
    raw, _ = _judge([{"metric": "uniformity_p", "min": 0.01}], *rows)
    assert list(raw["value"]) == [0.004, 0.5, 0.3] and list(raw["outcome"]) == [
        "fail",
        "pass",
        "pass",
    ]
    assert (raw["metric"] == "uniformity_p").all()


def test_a_tolerance_share_too_coarse_for_its_bound() -> None:
    """At the point, one miss of 9 takes a share to 8/9 < 0.9: not applicable; of 10 it
    does not (9/10 = 0.9)."""
    tol = {0.15: _agg({"metric": "tolerance_share", "value": 1.0, "n": 9})}
    rules = load_rules(
        [{"metric": "tolerance_share", "tolerance": 0.15, "min": 0.9, "judge": "point"}]
    )
    checks, warnings = judge_rules(rules, _agg(), _ctx(), tolerances=tol)
    detail = "9 replicates: one miss alone breaks min 0.9; needs >= 10 to judge"
    assert list(checks["outcome"]) == ["not applicable"] and checks["detail"].iloc[0] == detail
    assert warnings == [f"rule #1 tolerance_share(0.15) >= 0.9, cell Cell C: {detail}"]
    tol = {0.15: _agg({"metric": "tolerance_share", "value": 0.9, "n": 10})}
    checks, warnings = judge_rules(rules, _agg(), _ctx(), tolerances=tol)
    assert list(checks["outcome"]) == ["pass"] and warnings == []
    # min 0.75 needs 4: 3 of 4 is 0.75
    rules = load_rules(
        [{"metric": "tolerance_share", "tolerance": 0.15, "min": 0.75, "judge": "point"}]
    )
    tol = {0.15: _agg({"metric": "tolerance_share", "value": 1.0, "n": 3})}
    checks, _ = judge_rules(rules, _agg(), _ctx(), tolerances=tol)
    assert (
        checks["detail"].iloc[0]
        == "3 replicates: one miss alone breaks min 0.75; needs >= 4 to judge"
    )
    # coverage at the point is judged on any count
    checks, _ = _judge(
        [{"metric": "coverage_90", "min": 0.9, "judge": "point"}],
        {"metric": "coverage_90", "value": 1.0, "n": 3},
    )
    assert list(checks["outcome"]) == ["pass"]


# ----------------------------------------------------------- what a rule does not judge


def test_not_applicable_reasons() -> None:
    row = {"metric": "coverage_90", "value": 0.2}
    drawn_rule = [{"metric": "coverage_90", "min": 0.8, "truth": "drawn"}]
    fixed_rule = [{"metric": "coverage_90", "min": 0.8, "truth": "fixed"}]
    checks, _ = _judge(drawn_rule, row, ctx=_ctx("partly"))
    assert (
        checks["detail"].iloc[0]
        == "truth not drawn per replicate in this cell (partly): PIT, not SBC"
    )
    checks, _ = _judge(fixed_rule, row, ctx=_ctx("drawn"))
    assert (
        checks["detail"].iloc[0]
        == "truth drawn per replicate in this cell (SBC); the rule is for fixed truths"
    )
    assert _judge(fixed_rule, row, ctx=_ctx("fixed"))[0]["outcome"].iloc[0] == "fail"
    assert _judge(drawn_rule, row, ctx=_ctx("drawn"))[0]["outcome"].iloc[0] == "fail"
    # a cell missing from the design counts as fixed
    assert _judge(drawn_rule, row, ctx=_ctx(truth={}))[0]["outcome"].iloc[0] == "not applicable"
    nan = _judge([{"metric": "abs_bias", "max": 1}], {"metric": "abs_bias", "value": np.nan})[0]
    assert nan["detail"].iloc[0] == "undefined for these fits (zero truth, a single draw, no prior)"
    assert nan["outcome"].iloc[0] == "not applicable"


def test_fixed_truth_calibration_is_judged_where_the_data_dominate() -> None:
    key = ("c", "roas", "channel=tv")
    weak = _ctx("fixed", coordinates={key: (0.3, False)})
    edge = _ctx("fixed", coordinates={key: (0.8, False)})
    boundary = _ctx("fixed", coordinates={key: (0.95, True)})
    cover = [{"metric": "coverage_90", "min": 0.8}]
    row = {"metric": "coverage_90", "value": 0.2}
    checks, _ = _judge(cover, row, ctx=weak)
    assert checks["detail"].iloc[0] == "prior-dominated at a fixed truth (contraction 0.30 < 0.8)"
    assert _judge(cover, row, ctx=edge)[0]["outcome"].iloc[0] == "fail"  # 0.8 is not below
    assert (
        _judge(cover, row, ctx=boundary)[0]["outcome"].iloc[0] == "fail"
    )  # coverage is not rank-based
    z = [{"metric": "z_mean", "max": 0.5}]
    zrow = {"metric": "z_mean", "value": 2.0, "mcse": 0.01}
    checks, _ = _judge(z, zrow, ctx=boundary)
    assert checks["detail"].iloc[0] == "truth on a support boundary (outside every prior draw)"
    assert (
        _judge(z, zrow, ctx=boundary.__class__(**{**boundary.__dict__, "truth": {"c": "drawn"}}))[
            0
        ]["outcome"].iloc[0]
        == "fail"
    )
    # pooled measures and non-calibration measures are always judged
    pooled = row | {"pooled": True, "coords": "*", "mcse": 0.01}
    assert _judge([cover[0] | {"pool": True}], pooled, ctx=weak)[0]["outcome"].iloc[0] == "fail"
    bias = {"metric": "abs_bias", "value": 5.0, "mcse": 0.1}
    assert (
        _judge([{"metric": "abs_bias", "max": 1}], bias, ctx=weak)[0]["outcome"].iloc[0] == "fail"
    )
    settings = RuleSet(
        source="rules",
        rules=load_rules(cover).rules,
        fixed_truth_min_contraction=0.2,
    )
    assert judge_rules(settings, _agg(row), weak)[0]["outcome"].iloc[0] == "fail"


def test_a_ridge_with_a_prior_dominated_partner_is_not_judged_at_a_fixed_truth() -> None:
    """On a lam-beta ridge the position along the ridge is the prior's: beta's own
    contraction is high (its prior is wide), but at a fixed truth its z-scores follow
    lam's prior. Judged when the partner is data-dominated, when there is no ridge, and
    under SBC (a drawn truth)."""
    beta = ("c", "saturation_beta", "channel=tv")
    lam = ("c", "saturation_lam", "channel=tv")
    ridges = {beta: (("saturation_lam", "channel=tv", 0.97),)}
    weak = _ctx("fixed", coordinates={beta: (0.93, False), lam: (0.62, False)}, ridges=ridges)
    row = {"metric": "z_sd", "value": 0.24, "mcse": 0.01, "estimand": "saturation_beta"}
    row |= {"family": "parameter"}
    rule = [{"metric": "z_sd", "min": 0.67}]
    checks, _ = _judge(rule, row, ctx=weak)
    assert checks["outcome"].iloc[0] == "not applicable"
    assert checks["detail"].iloc[0] == (
        "prior-dominated at a fixed truth through a posterior ridge with "
        "saturation_lam[channel=tv] (|corr| 0.97; its contraction 0.62 < 0.8)"
    )
    strong = _ctx("fixed", coordinates={beta: (0.93, False), lam: (0.9, False)}, ridges=ridges)
    no_ridge = _ctx("fixed", coordinates={beta: (0.93, False), lam: (0.62, False)})
    drawn = _ctx("drawn", coordinates={beta: (0.93, False), lam: (0.62, False)}, ridges=ridges)
    for ctx in (strong, no_ridge, drawn):
        assert _judge(rule, row, ctx=ctx)[0]["outcome"].iloc[0] == "fail"


def test_a_coordinate_known_exactly_is_not_calibrated() -> None:
    """The response at zero spend is 0 in every draw and in the truth: its intervals cover
    at every level, which is no failure of calibration (20 correct fits failed
    coverage_50 <= 0.7 on it); under any truth design it is not applicable."""
    key = ("c", "roas", "channel=tv")
    rule = [{"metric": "coverage_50", "min": 0.4, "max": 0.7}]
    row = {"metric": "coverage_50", "value": 1.0, "n": 40}
    for design in ("drawn", "fixed"):
        checks, _ = _judge(rule, row, ctx=_ctx(design, points=frozenset({key})))
        assert checks["outcome"].iloc[0] == "not applicable"
        assert checks["detail"].iloc[0].startswith("known exactly in every fit")
        assert _judge(rule, row, ctx=_ctx(design))[0]["outcome"].iloc[0] == "fail"
    bias = [{"metric": "abs_bias", "max": 1}]
    exact = _ctx(points=frozenset({key}))
    assert _judge(bias, {"metric": "abs_bias", "value": 5.0}, ctx=exact)[0]["outcome"].iloc[0] == (
        "fail"
    )  # only calibration rules skip it


def test_a_warning_rule_warns_instead_of_failing() -> None:
    row = {"metric": "tolerance_share", "value": 0.8, "n": 10}
    rule = {"metric": "tolerance_share", "tolerance": 0.15, "min": 0.9, "judge": "point"}
    settings = load_rules([rule | {"severity": "warn"}])
    checks, warnings = judge_rules(settings, pd.DataFrame(), _ctx(), tolerances={0.15: _agg(row)})
    assert checks["outcome"].tolist() == ["warn"] and checks["detail"].iloc[0] == "below min 0.9"
    assert warnings == [
        "rule #1 tolerance_share(0.15) >= 0.9, cell Cell C: roas[channel=tv] tolerance_share "
        '0.8 below min 0.9 (a warning: severity = "warn")'
    ]
    strict, _ = judge_rules(
        load_rules([rule]), pd.DataFrame(), _ctx(), tolerances={0.15: _agg(row)}
    )
    assert strict["outcome"].tolist() == ["fail"]
    passing = _agg(row | {"value": 0.95})
    checks, warnings = judge_rules(settings, pd.DataFrame(), _ctx(), tolerances={0.15: passing})
    assert checks["outcome"].tolist() == ["pass"] and warnings == []
    with pytest.raises(ScenarioError, match="severity"):
        load_rules([rule | {"severity": "info"}])


def test_selection_by_cell_estimand_family_and_pool() -> None:
    rows: list[dict[str, object]] = [
        {"metric": "rmse", "value": 1.0},
        {"metric": "rmse", "cell": "d", "cell_label": "Cell D", "value": 1.0},
        {"metric": "rmse", "estimand": "sigma", "family": "parameter", "coords": "", "value": 1.0},
        {"metric": "rmse", "pooled": True, "coords": "*", "value": 1.0},
        {"metric": "rmse", "estimand": "baseline", "family": "series", "coords": "*"}
        | {"pooled": True, "value": 1.0},
        {"metric": "rmse", "estimand": "baseline", "family": "series", "coords": "t=1"}
        | {"value": 1.0},
    ]

    def picked(**rule: object) -> list[tuple[str, str, str]]:
        checks, _ = _judge([{"metric": "rmse", "max": 2.0} | rule], *rows)
        return list(zip(checks["cell"], checks["estimand"], checks["coords"], strict=True))

    assert picked() == [
        ("c", "roas", "channel=tv"),
        ("d", "roas", "channel=tv"),
        ("c", "sigma", ""),
        ("c", "baseline", "*"),
    ]
    assert picked(pool=True) == [("c", "roas", "*"), ("c", "baseline", "*")]
    assert picked(cell="Cell D") == [("d", "roas", "channel=tv")]
    assert picked(cell="d") == [("d", "roas", "channel=tv")]
    assert picked(estimand="s*") == [("c", "sigma", "")]
    assert picked(family="parameter") == [("c", "sigma", "")]
    assert picked(family=["parameter", "series"]) == [("c", "sigma", ""), ("c", "baseline", "*")]
    with pytest.raises(
        ScenarioError, match=r"unknown estimand 'roa'; this run has baseline, roas, sigma"
    ):
        picked(estimand="roa")
    with pytest.raises(ScenarioError, match=r"unknown cell 'e'; this run has \['c', 'd'\]"):
        picked(cell="e")
    checks, _ = _judge([{"metric": "rmse", "max": 2.0, "estimand": "regret"}], *rows)
    assert list(checks["detail"]) == ["selects nothing in this run"]  # no response curves
    assert list(checks["outcome"]) == ["not applicable"]


def test_metric_patterns() -> None:
    rows = [
        {"metric": "coverage_90", "value": 0.9},
        {"metric": "coverage_50", "value": 0.5},
        {"metric": "width_90", "value": 3.0},
    ]
    checks, _ = _judge([{"metric": "coverage_*", "min": 0.0}], *rows)
    assert list(checks["metric"]) == ["coverage_90", "coverage_50"]
    with pytest.raises(
        ScenarioError, match=r"metric 'coverage_hdi_\*' matches no measure of this run"
    ):
        _judge([{"metric": "coverage_hdi_*", "min": 0.0}], *rows)


def test_fit_level_rules_and_cells_without_fits() -> None:
    fit = {"estimand": "", "family": "", "coords": "", "metric": "divergent_share", "value": 0.2}
    rule = {"metric": "divergent_share", "max": 0.1, "judge": "point"}
    checks, _ = _judge([rule], fit)
    assert list(checks["outcome"]) == ["fail"] and checks["estimand"].iloc[0] == ""
    ctx = _ctx(cells_with_fits=frozenset({"c"}))
    checks, _ = _judge([{"metric": "rmse", "max": 1.0}], {"metric": "rmse", "value": 0.5}, ctx=ctx)
    assert list(zip(checks["cell"], checks["outcome"], checks["detail"], strict=True)) == [
        ("c", "pass", ""),
        ("d", "fail", "nothing to judge: no successful fit"),
    ]
    assert checks["cell_label"].iloc[1] == ""  # no measure of d carries its label
    checks, _ = _judge([rule], fit, ctx=ctx)  # fit-level rules judge what there is
    assert list(checks["cell"]) == ["c"]
    # the clean-fit pass judges no fit-level rule, and no fit-level row of another rule
    clean, _ = judge_rules(load_rules([rule]), _agg(fit), _ctx(), subset="clean", fit_rules=False)
    assert clean.empty and list(clean.columns) == CHECK_COLUMNS
    both = _agg(fit | {"mcse": 0.01}, {"metric": "divergent_share", "value": 0.5, "mcse": 0.01})
    clean, _ = judge_rules(
        load_rules([{"metric": "*", "baseline": True}]),
        both,
        _ctx(),
        subset="clean",
        fit_rules=False,
        baseline=load_baseline({"aggregates": both.assign(mcse=0.1).to_dict("records")}),
    )
    assert list(clean["estimand"]) == ["roas"] and list(clean["subset"]) == ["clean"]


def test_baseline_rules() -> None:
    base = load_baseline(
        {
            "aggregates": [
                {"cell": "c", "estimand": "roas", "coords": "channel=tv", "pooled": False}
                | {"metric": "rmse", "value": 1.0, "mcse": 0.3, "extra": 1},
                {"cell": "c", "estimand": "roas", "coords": "channel=tv", "pooled": False}
                | {"metric": "coverage_90", "value": 0.9, "mcse": 0.03},
            ]
        }
    )
    assert base is not None and list(base.columns) == [
        "cell", "estimand", "coords", "pooled", "metric", "base_value", "base_mcse",
    ]  # fmt: skip
    rules = load_rules([{"metric": "*", "baseline": True, "z": 2.0}])
    # rmse 2.0 +- 0.4: worse by 1.0 against 2 * hypot(0.4, 0.3) = 1.0: not more: pass
    rows = _agg(
        {"metric": "rmse", "value": 2.0, "mcse": 0.4},
        {"metric": "coverage_90", "value": 0.7, "mcse": 0.03},
        {"metric": "contraction", "value": 0.1, "mcse": 0.01},
    )
    checks, _ = judge_rules(rules, rows, _ctx(), baseline=base)
    assert list(checks["metric"]) == ["rmse", "coverage_90"]  # contraction: no baseline
    assert list(checks["outcome"]) == ["pass", "fail"]
    assert list(checks["bound"]) == [1.0, 0.9]
    tolerance = 2 * math.hypot(0.03, 0.03)
    assert checks["detail"].iloc[1] == f"worse than baseline 0.9 by more than {tolerance:.3g}"
    assert checks["rule"].iloc[0] == "#1 * not worse than baseline"
    # a rule with bounds only ignores a baseline that is given for other rules
    bounds = load_rules([{"metric": "rmse", "max": 5.0}])
    checks, _ = judge_rules(bounds, rows, _ctx(), baseline=base)
    assert list(checks["outcome"]) == ["pass"] and list(checks["bound"]) == [5.0]
    strict = load_rules([{"metric": "rmse", "baseline": True, "z": 1.9}])
    assert list(judge_rules(strict, rows, _ctx(), baseline=base)[0]["outcome"]) == ["fail"]
    with pytest.raises(
        ValueError,
        match=r"rule #1 rmse not worse than baseline: compares with a baseline, but none was given",
    ):
        judge_rules(strict, rows, _ctx())
    assert load_baseline(None) is None
    with pytest.raises(ValueError, match="baseline: not a summary"):
        load_baseline({"cells": {}})


def test_baseline_files(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"baseline .*missing\.json: cannot read summary JSON"):
        load_baseline(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(ValueError, match="cannot read summary JSON"):
        load_baseline(bad)
    good = tmp_path / "good.json"
    good.write_text('{"aggregates": [{"cell": "c", "metric": "rmse", "value": 1, "mcse": 0.5}]}')
    frame = load_baseline(str(good))
    assert frame is not None and frame["base_value"].iloc[0] == 1.0
    assert frame["base_value"].dtype == np.float64


# ----------------------------------------------------------------------- rules files


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"rule": [1]}, "rules: rule[0] = 1: must be a table"),
        ({"rule": "x"}, "rules: rule = 'x': must be an array"),
        ({"rule": [{"min": 1}]}, "rules: rule[0].metric: missing required key"),
        ({"rule": []}, "rules: no rules ([[rule]] tables)"),
        ({}, "rules: no rules ([[rule]] tables)"),
        (
            {"rule": [{"metric": "rmse", "max": 1, "family": 3}]},
            "rules: rule[0].family = 3: must be a string or strings",
        ),
        (
            {"rule": [{"metric": "rmse", "max": 1, "family": ["parameter", 2]}]},
            "rules: rule[0].family = ['parameter', 2]: must be a string or strings",
        ),
        (
            {"rule": [{"metric": "rmse", "max": 1}], "health": 3},
            "rules: health = 3: must be a table",
        ),
        (
            {
                "rule": [{"metric": "rmse", "max": 1}],
                "calibration": {"fixed_truth_min_contraction": 1.5},
            },
            "rules: calibration.fixed_truth_min_contraction = 1.5: must be <= 1",
        ),
        (
            {"rule": [{"metric": "rmse", "max": 1}], "calibration": {"other": 1}},
            "rules: calibration.other = 1: unknown key",
        ),
        (
            {"rule": [{"metric": "rmse", "max": 1, "truth": "maybe"}]},
            "rules: rule[0].truth = 'maybe': must be one of any, drawn, fixed",
        ),
        (
            {"rule": [{"metric": "coverage_0", "min": 1}]},
            "rules: rule[0].metric: metric = 'coverage_0': the level must be in (0, 100)",
        ),
        (
            {"rule": [{"metric": "coverage_9.9.9", "min": 1}]},
            "rules: rule[0].metric: unknown metric 'coverage_9.9.9'",
        ),
        ({"rule": [{"metric": "", "min": 1}]}, "rules: rule[0].metric: unknown metric ''; known"),
        (
            {"rule": [{"metric": "zz*", "min": 1}]},
            "rules: rule[0].metric: unknown metric 'zz*'; known: bias, abs_bias",
        ),
        (
            {
                "rule": [
                    {"metric": "coverage_right_90", "min": 1},
                    {"metric": "width_right_90", "max": 1},
                ]
            },
            "rules: rule[1].metric: metric = 'width_right_90': a one-sided interval has no width; "
            "use coverage_right_90",
        ),
        (
            {"rule": [{"metric": "sbc_p_value", "min": 0.01}]},
            "rules: rule[0].metric: metric = 'sbc_p_value' is now 'uniformity_p'",
        ),
        (
            {"rule": [{"metric": "flagged_share", "max": 0.1}]},
            "rules: rule[0].metric: metric = 'flagged_share' is now 'warning_share'",
        ),
        (
            {"rule": [{"metric": "tolerance_share", "min": 1, "tolerance": 0}]},
            "rules: rule[0].tolerance = 0: must be > 0",
        ),
        ({"rule": [{"metric": "rmse", "max": 1, "z": 0}]}, "rules: rule[0].z = 0: must be > 0"),
        ({"rule": [{"metric": "rmse", "max": 1, "alpha": 0}]}, "rules: rule[0].alpha = 0"),
        ({"rule": [{"metric": "rmse", "max": 1, "alpha": 1}]}, "rules: rule[0].alpha = 1"),
        (
            {"rule": [{"metric": "warning_share", "max": 1, "family": "parameter"}]},
            "rules: rule[0]: 'warning_share' is a fit-level metric; it takes no estimand",
        ),
        (
            {"rule": [{"metric": "n_failed", "max": 1, "estimand": ""}]},
            "rules: rule[0]: 'n_failed' is a fit-level metric; it takes no estimand",
        ),
        (
            {"rule": [{"metric": "n_failed", "max": 1, "estimand": "roas"}]},
            "rules: rule[0]: 'n_failed' is a fit-level metric; it takes no estimand",
        ),
        (
            {"rule": [{"metric": "rmse", "max": 1}], "identifiability": {"correlation_above": 1.5}},
            "rules: identifiability.correlation_above = 1.5: must be in [0, 1]",
        ),
        (
            {
                "rule": [{"metric": "rmse", "max": 1}],
                "identifiability": {"prior_overlap_above": -0.1},
            },
            "rules: identifiability.prior_overlap_above = -0.1: must be in [0, 1]",
        ),
        (
            {"rule": [{"metric": "rmse", "max": 1}], "health": {"min_ess": -1}},
            "rules: health.min_ess = -1: must be >= 0",
        ),
    ],
)
def test_malformed_rules_are_named(document: dict[str, object], message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load_rules(document)
    assert str(info.value).startswith(message), str(info.value)


def test_rule_defaults_and_settings() -> None:
    rule_set = load_rules(
        {
            "rule": [{"metric": "rmse", "max": 1}, {"metric": "coverage_hdi_99", "min": 0.9}],
            "health": {"max_rhat": 1.1, "min_ess": 100, "max_divergences": 2, "min_ebfmi": 0.2},
            "identifiability": {
                "contraction_below": 0.2,
                "prior_overlap_above": 0.7,
                "correlation_above": 0.95,
                "fail_unlearned": False,
            },
            "calibration": {"fixed_truth_min_contraction": 0.6},
        }
    )
    assert rule_set.source == "rules"
    first = rule_set.rules[0]
    assert first == Rule(index=1, metric="rmse", max=1)
    assert (first.alpha, first.z, first.judge, first.truth, first.pool) == (
        0.05,
        2.0,
        "interval",
        "any",
        False,
    )
    assert rule_set.rules[1].index == 2
    assert rule_set.health == Health(max_divergences=2, max_rhat=1.1, min_ess=100, min_ebfmi=0.2)
    assert rule_set.identifiability == Identifiability(
        contraction_below=0.2, prior_overlap_above=0.7, correlation_above=0.95, fail_unlearned=False
    )
    assert rule_set.fixed_truth_min_contraction == 0.6
    plain = load_rules([{"metric": "rmse", "max": 1}])
    assert plain.health == Health() and plain.identifiability == Identifiability()
    assert plain.fixed_truth_min_contraction == 0.8
    assert load_rules(plain) is plain


def test_rules_files_name_their_source(tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_text('[[rule]]\nmetric = "rmse"\nmax = 1\n')
    assert load_rules(path).source == str(path) and load_rules(str(path)).source == str(path)
    path.write_text('[[rule]]\nmetric = "rmse"\n')
    with pytest.raises(
        ScenarioError, match=f"^{path}: rule\\[0\\]: needs min, max or baseline = true$"
    ):
        load_rules(path)
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(ScenarioError, match="cannot read rules"):
        load_rules(path)


def test_metric_names_and_required_intervals() -> None:
    assert metric_kind("coverage_hdi_95") == ("coverage", "hdi", 0.95)
    assert metric_kind("width_97.5") == ("width", "central", 0.975)
    assert metric_kind("interval_score_left_50") == ("interval_score", "left", 0.5)
    assert metric_kind("coverage_9.9.9") is None and metric_kind("coverage_") is None
    rule_set = load_rules(
        [
            {"metric": "coverage_hdi_99", "min": 0.9},
            {"metric": "width_97.5", "max": 1},
            {"metric": "coverage_left_99", "min": 0.9},
            {"metric": "coverage_90", "min": 0.8},
            {"metric": "rmse", "max": 1},
        ]
    )
    levels, kinds = required_intervals(rule_set)
    assert levels == [0.5, 0.8, 0.9, 0.95, 0.975, 0.99]
    assert kinds == ["central", "hdi", "left"]
    assert required_intervals(load_rules([{"metric": "rmse", "max": 1}])) == (
        [0.5, 0.8, 0.9, 0.95],
        ["central"],
    )


# ------------------------------------------------------------------------ the report


def _verdict(
    checks: pd.DataFrame,
    warnings: list[str],
    causes: tuple[str, ...] = (),
    rules: RuleSet | None = None,
    cause: str = "model",
) -> Verdict:
    failures = checks[checks["outcome"] == "fail"].drop(
        columns=["outcome", "n", "subset", "rule_index"]
    )
    fits = pd.DataFrame(
        {"cell": ["c", "d"], "cell_label": ["Cell C", "Cell D"], "n_ok": [3, 0]}
        | {"n_failed": [0, 1], "n_corrupt": [0, 0], "n_missing": [0, 0]}
        | {"n_clean": [2, 0], "n_warning": [1, 0]}
    )
    return Verdict(
        passed=failures.empty,
        causes=causes,
        failures=failures.assign(cause=cause).reset_index(drop=True),
        checks=checks,
        checked=int(checks["outcome"].isin(["pass", "fail"]).sum()),
        fits=fits,
        health=pd.DataFrame(
            {"cell": ["c", "c", "c", "d"], "backend": ["nuts", "nuts", "advi", "nuts"]}
            | {"health": ["clean", "clean", "sampler warning", "failed"]}
            | {"status": ["ok", "ok", "ok", "failed"]}
        ),
        calibration=pd.DataFrame(
            {"cell": ["c", "d"], "label": ["SBC", "SBC"], "cell_label": ["Cell C", "Cell D"]}
        ),
        identifiability=pd.DataFrame(columns=IDENTIFIABILITY_COLUMNS),
        ridges=pd.DataFrame(columns=RIDGE_COLUMNS),
        warnings=tuple(warnings),
        rules=rules or load_rules([{"metric": "rmse", "max": 1}]),
    )


def test_the_report_of_a_passing_gate() -> None:
    rows = [{"metric": "rmse", "coords": f"k{i}", "value": 0.5, "mcse": 0.01} for i in range(3)]
    rows.append({"metric": "rmse", "coords": "k9", "value": np.nan})
    checks, warnings = _judge([{"metric": "rmse", "max": 1.0}], *rows)
    verdict = _verdict(checks, warnings)
    assert verdict.passed and verdict.checked == 3 and verdict.not_applicable == 1
    assert verdict.report() == (
        "verdict: passed: 3 checks, 1 not applicable (rules)\n"
        "fits: 2 clean, 1 sampler warning, 1 failed\n"
        "SBC: both cells"
    )


def test_a_long_failure_table_ends_with_the_count_left_out() -> None:
    """53 failed measures: the report shows 50 rows of the table and "... and 3 more"."""
    rows = [
        {"metric": "rmse", "coords": f"k{i:02d}", "value": 5.0, "mcse": 0.01} for i in range(53)
    ]
    checks, _ = _judge([{"metric": "rmse", "max": 1.0, "name": "accurate"}], *rows)
    verdict = _verdict(checks, [], ("model",))
    assert not verdict.passed and len(verdict.failures) == 53 and verdict.checked == 53
    text = verdict.report()
    lines = text.splitlines()
    assert lines[0] == "verdict: FAILED (model): 53 of 53 checks failed (rules)"
    assert lines[-1] == "... and 3 more"
    table = lines[lines.index(next(t for t in lines if t.lstrip().startswith("rule"))) :]
    assert len(table) == 1 + 50 + 1  # header, 50 rows, the count left out
    assert sum("#1 accurate" in line for line in table) == 50
    assert "k49" in text and "k50" not in text
    fifty = _verdict(checks.iloc[:50], [], ("model",)).report()
    assert "... and" not in fifty and fifty.count("#1 accurate") == 50


def test_many_warnings_are_cut_at_ten() -> None:
    checks, _ = _judge([{"metric": "rmse", "max": 1.0}], {"metric": "rmse", "value": 0.5})
    notes = [f"note {i}" for i in range(13)]
    lines = _verdict(checks, notes).lines()
    assert lines[3:] == [f"warning: note {i}" for i in range(10)] + ["... and 3 more warnings"]
    lines = _verdict(checks, notes[:10]).lines()
    assert lines[-1] == "warning: note 9"


# ------------------------------------------------------------- check's output formats


def _two_rules() -> tuple[pd.DataFrame, RuleSet]:
    """Rule 1 fails two coordinates of cell c and judges d; rule 2 applies nowhere in c."""
    rules = load_rules(
        [
            {"metric": "coverage_90", "min": 0.8},
            {"metric": "abs_bias", "max": 1.0, "cell": "d"},
        ]
    )
    agg = _agg(
        {"metric": "coverage_90", "value": 0.5},
        {"metric": "coverage_90", "coords": "channel=search", "value": 0.6},
        {"metric": "coverage_90", "cell": "d", "cell_label": "Cell D", "value": 0.9},
        {"metric": "abs_bias", "cell": "d", "cell_label": "Cell D", "value": np.nan},
    )
    checks, _ = judge_rules(rules, agg, _ctx())
    return checks, rules


def test_check_messages() -> None:
    row: dict[Hashable, Any] = {"estimand": "roas", "coords": "channel=tv"}
    row |= {"metric": "coverage_90", "value": 0.5}
    row |= {"lower": 0.361234, "upper": 0.64, "bound": 0.8, "detail": "below min 0.8"}
    assert check_message(row | {"outcome": "fail"}) == (
        "roas[channel=tv] coverage_90 = 0.5 (Monte Carlo interval [0.3612, 0.64]), "
        "bound 0.8: below min 0.8"
    )
    assert check_message(row) == check_message(row | {"outcome": "fail"})  # fail by default
    assert check_message(row | {"lower": 0.5, "upper": 0.5}) == (
        "roas[channel=tv] coverage_90 = 0.5, bound 0.8: below min 0.8"
    )
    assert check_message(row | {"upper": np.nan}) == (
        "roas[channel=tv] coverage_90 = 0.5, bound 0.8: below min 0.8"
    )
    na = row | {"value": np.nan, "outcome": "not applicable", "detail": "undefined"}
    assert check_message(na) == (
        "roas[channel=tv] coverage_90 (Monte Carlo interval [0.3612, 0.64]): undefined"
    )
    fit: dict[Hashable, Any] = {"estimand": "", "coords": "", "metric": "n_failed"}
    fit |= {"value": 3, "bound": 0}
    assert check_message(fit) == "fits n_failed = 3, bound 0"
    bare: dict[Hashable, Any] = {"metric": "rmse", "value": None, "detail": ""}
    assert check_message(bare) == "fits rmse"


def test_failure_rows_and_the_plain_table() -> None:
    checks, rules = _two_rules()
    verdict = _verdict(checks, [], ("model",), rules)
    rows = failure_rows(verdict)
    lo, hi = jeffreys_interval(25, 50, 1 - 0.05 / 3)
    assert rows[0] == {
        "rule": "#1",
        "cell": "Cell C",
        "estimand": "roas",
        "coords": "channel=tv",
        "metric": "coverage_90",
        "value": "0.5",
        "interval": f"[{lo:.4g}, {hi:.4g}]",
        "bound": "0.8",
        "detail": "below min 0.8 (Monte Carlo interval at 98.3%, 3 measures)",
    }
    assert [r["coords"] for r in rows] == ["channel=tv", "channel=search"]
    nameless = _verdict(checks.assign(cell_label=""), [], ("model",), rules)
    assert failure_rows(nameless)[0]["cell"] == "c"
    point = _verdict(checks.assign(lower=np.nan), [], ("model",), rules)
    assert failure_rows(point)[0]["interval"] == ""
    table = [{"a": "x", "bb": "long"}, {"a": "yyy", "bb": ""}]
    assert plain_table(table) == ["a    bb", "x    long", "yyy"]
    assert plain_table([]) == []


def test_rules_are_named_for_a_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    inside = tmp_path / "sub" / "r.toml"
    assert rules_name(str(inside)) == str(Path("sub") / "r.toml")  # below the cwd
    assert rules_name("sub/r.toml") == "sub/r.toml"  # relative: as given
    assert rules_name(str(default_rules_path()), tmp_path) == DEFAULT_RULES_NAME
    checks, rules = _two_rules()
    verdict = _verdict(checks, [], ("model",), rules)
    assert named_rules(verdict) is verdict  # "rules": nothing to rename
    moved = _verdict(checks, [], ("model",), RuleSet(source=str(inside), rules=rules.rules))
    renamed = named_rules(moved)
    assert renamed.rules.source == str(Path("sub") / "r.toml")
    assert renamed.rules.rules == rules.rules and moved.rules.source == str(inside)


def test_verdict_json_by_hand() -> None:
    checks, rules = _two_rules()
    verdict = _verdict(checks, ["w1"], ("model",), rules)
    out = verdict_json(verdict)
    assert out["format_version"] == JSON_VERSION == 1
    assert (out["passed"], out["causes"], out["rules"]) == (False, ["model"], "rules")
    assert (out["checked"], out["failed"], out["not_applicable"]) == (3, 2, 1)
    assert out["headline"] == verdict.headline() and out["lines"] == verdict.lines()
    assert out["warnings"] == ["w1"]
    c, d = out["cells"]
    assert (c["cell"], c["label"], c["backends"], c["passed"], c["failed"]) == (
        "c", "Cell C", ["advi", "nuts"], False, 2,
    )  # fmt: skip
    assert (d["cell"], d["backends"], d["passed"], d["failed"]) == ("d", ["nuts"], True, 0)
    assert c["verdict"].startswith("not trustworthy (model): 2 of 2 checks failed")
    assert (c["n_ok"], c["n_clean"], c["n_warning"], d["n_failed"]) == (3, 2, 1, 1)
    assert isinstance(c["n_ok"], int)
    first = out["failures"][0]
    lo, hi = jeffreys_interval(25, 50, 1 - 0.05 / 3)
    assert first["interval"] == pytest.approx([lo, hi])
    assert (first["rule"], first["cell"], first["cell_label"], first["value"]) == (
        "#1 coverage_90 >= 0.8", "c", "Cell C", 0.5,
    )  # fmt: skip
    assert (first["bound"], first["judge"], first["cause"]) == (0.8, "interval", "model")
    (na,) = out["not_applicable_checks"]
    assert (na["cell"], na["metric"], na["value"], na["interval"]) == (
        "d", "abs_bias", None, [None, None],
    )  # fmt: skip
    assert na["detail"].startswith("undefined for these fits")
    assert "cause" not in na and "judge" not in na


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (np.float64(np.nan), None),
        (float("inf"), None),
        (np.float32(1.5), 1.5),
        (np.int64(3), 3),
        (np.bool_(True), True),
        (None, None),
        ("x", "x"),
    ],
)
def test_json_values(value: object, expected: object) -> None:
    checks, rules = _two_rules()
    checks = checks.astype({"value": object})
    checks.loc[0, "value"] = value  # type: ignore[call-overload]
    out = verdict_json(_verdict(checks, [], ("model",), rules))
    got = out["failures"][0]["value"]
    assert got == expected and type(got) is type(expected)


def test_verdict_junit_by_hand() -> None:
    checks, rules = _two_rules()
    root = ET.fromstring(
        verdict_junit(_verdict(checks, [], ("sampler",), rules, "sampler")).encode()
    )
    assert (root.tag, root.get("name")) == ("testsuites", "mmm-workbench check")
    assert [root.get(k) for k in ("tests", "failures", "skipped", "errors", "time")] == [
        "4", "1", "2", "0", "0",
    ]  # fmt: skip
    c, d = root.findall("testsuite")
    assert (c.get("name"), c.get("id"), d.get("name")) == ("Cell C", "c", "Cell D")
    props = {p.get("name"): p.get("value") for p in c.iter("property")}
    assert props == {"cell_id": "c", "backend": "advi, nuts", "rules": "rules"}
    assert [c.get(k) for k in ("tests", "failures", "errors", "skipped")] == ["2", "1", "0", "1"]
    first, second = c.findall("testcase")
    assert (first.get("name"), first.get("classname"), first.get("time")) == (
        "#1 coverage_90 >= 0.8", "mmm-workbench.Cell C", "0",
    )  # fmt: skip
    failure = first.find("failure")
    assert failure is not None and failure.get("type") == "sampler"  # the failures' cause
    lines = [check_message(r) for r in checks.iloc[:2].to_dict("records")]
    assert failure.get("message") == f"{lines[0]} (and 1 more)"
    assert failure.text == "\n".join(lines)
    skipped = second.find("skipped")
    assert second.get("name") == "#2 abs_bias <= 1"
    assert (
        skipped is not None
        and skipped.get("message") == "not applicable: selects nothing in this cell"
    )
    d_first, d_second = d.findall("testcase")
    assert list(d_first) == []  # passed
    d_skip = d_second.find("skipped")
    assert d_skip is not None and d_skip.get("message", "").startswith(
        "not applicable: undefined for these fits"
    )


def test_assert_recovery_returns_the_verdict_or_raises_its_report(small_run: Path) -> None:
    """A bound every measure meets passes; one no measure meets fails with the report."""
    easy = [{"metric": "coverage_50", "min": 0.0, "judge": "point"}]
    verdict = assert_recovery(small_run, easy)
    assert verdict.passed and verdict.failures.empty
    judged = verdict.checks[
        (verdict.checks["subset"] == "all") & (verdict.checks["rule_index"] == 1)
    ]
    assert verdict.checked == int(judged["outcome"].isin(["pass", "fail"]).sum()) + int(
        (verdict.checks["rule"] == "identifiability: learned from the data").sum()
    )
    assert verdict.report() == "\n".join(verdict.lines())
    assert verdict.report().startswith(f"verdict: passed: {verdict.checked} checks")
    hard = [{"metric": "coverage_50", "min": 1.5, "judge": "point", "name": "impossible"}]
    failed = check(small_run, hard)
    assert not failed.passed and (failed.failures["rule"] == "#1 impossible").all()
    with pytest.raises(AssertionError) as info:
        assert_recovery(small_run, hard)
    assert str(info.value) == failed.report()
