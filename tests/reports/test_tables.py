"""Tidy tables from run directories; the stubs' coverage acceptance."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pytest
from reports_stubs import healthy, record_tree, stub_values

from mmm_workbench.recover.store import RunStore
from mmm_workbench.reports.contract import FORMAT_VERSION
from mmm_workbench.reports.metrics import level_name
from mmm_workbench.reports.tables import (
    AGGREGATE_COLUMNS,
    FIT_METRICS,
    RunScores,
    aggregate_table,
    estimand_table,
    fit_counts,
    fit_table,
    score_run,
    summary_json,
)


def test_stub_acceptance_coverage(stub_scores: RunScores) -> None:
    """The calibrated stub covers within 4 Monte Carlo SEs of nominal at every level and
    for every estimand; the overconfident stub does not."""
    agg = aggregate_table(stub_scores)
    for level in (0.5, 0.8, 0.9, 0.95):
        rows = agg[(agg["metric"] == f"coverage_{level_name(level)}") & ~agg["pooled"]]
        cal = rows[rows["cell"] == "calibrated"]
        assert len(cal) == 8  # roas[2], share[2], sigma, baseline[2 dates], mean(baseline)
        assert ((cal["value"] - level).abs() <= 4 * cal["mcse"]).all(), cal
        over = rows[rows["cell"] == "overconfident"]
        assert ((level - over["value"]) > 4 * over["mcse"]).all(), over


def test_stub_contraction_and_bias(stub_scores: RunScores) -> None:
    agg = aggregate_table(stub_scores).set_index(["cell", "estimand", "coords", "metric"])
    # posterior variance 1/2 against prior variance 1
    assert agg.loc[("calibrated", "roas", "channel=tv", "contraction"), "value"] == pytest.approx(
        0.5, abs=0.02
    )
    assert math.isnan(
        agg.loc[("calibrated", "baseline", "date=2024-01-05", "contraction"), "value"]
    )
    biased = agg.loc[("biased", "roas", "channel=tv", "bias")]
    assert abs(biased["value"] - math.sqrt(0.5)) < 4 * biased["mcse"]
    share = agg.loc[("biased", "contribution_share", "*", "bias_pp")]
    assert share["value"] == pytest.approx(
        100 * agg.loc[("biased", "contribution_share", "*", "bias"), "value"]
    )


def test_estimand_table_layout(stub_scores: RunScores) -> None:
    table = estimand_table(stub_scores)
    assert len(table) == 3 * 300 * 8
    assert list(table.columns[:8]) == [
        "cell",
        "cell_label",
        "replicate",
        "estimand",
        "family",
        "coords",
        "channel",
        "date",
    ]
    families = table.groupby("estimand")["family"].first().to_dict()
    assert families == {
        "roas": "derived",
        "contribution_share": "derived",
        "sigma": "parameter",
        "baseline": "series",
        "mean(baseline)": "summary",
    }
    for column in (
        "truth",
        "mean",
        "median",
        "sd",
        "z",
        "contraction",
        "crps",
        "covered_90",
        "width_95",
        "interval_score_50",
        "rank",
        "rank_draws",
        "pit",
        "draws",
    ):
        assert column in table.columns
    roas = table[table["estimand"] == "roas"]
    assert set(roas["coords"]) == {"channel=tv", "channel=search"}
    assert roas["date"].isna().all()
    baseline = table[table["estimand"] == "baseline"]
    assert set(baseline["coords"]) == {"date=2024-01-05", "date=2024-01-12"}
    assert baseline["date"].dtype.kind == "M"
    sigma = table[table["estimand"] == "sigma"]
    assert set(sigma["coords"]) == {""}


def test_ranks_are_reproducible(small_run: Path) -> None:
    a = estimand_table(small_run, n_ranks=20, seed=3)
    b = estimand_table(small_run, n_ranks=20, seed=3)
    np.testing.assert_array_equal(a["rank"], b["rank"])
    np.testing.assert_array_equal(a["pit"], b["pit"])
    assert (a["rank_draws"] == 20).all()


def test_interval_kinds_and_levels(small_run: Path) -> None:
    table = estimand_table(small_run, levels=(0.9, 0.99), intervals=("central", "hdi", "left"))
    assert not np.allclose(table["lower_hdi_90"], table["lower_90"])
    inside = (table["lower_hdi_90"] <= table["truth"]) & (table["truth"] <= table["upper_hdi_90"])
    assert (table["covered_hdi_90"] >= inside).all()  # open ends only add coverage
    assert table["width_hdi_90"].mean() == pytest.approx(table["width_90"].mean(), rel=0.1)
    assert (table["width_99"] > table["width_90"]).all()
    metrics = set(aggregate_table(small_run, levels=(0.9,))["metric"])
    assert "coverage_50" not in metrics and "coverage_90" in metrics
    agg = aggregate_table(small_run, levels=(0.99,), intervals=("hdi", "left"))
    assert {"coverage_hdi_99", "coverage_left_99", "width_hdi_99"} <= set(agg["metric"])
    assert "width_left_99" not in set(agg["metric"])


def test_series_are_summarized_by_their_time_mean(small_run: Path) -> None:
    table = estimand_table(small_run)
    one = table[(table["cell"] == "a") & (table["replicate"] == 0)]
    dates = one[one["estimand"] == "baseline"]
    mean = one[one["estimand"] == "mean(baseline)"]
    assert len(dates) == 2 and len(mean) == 1 and mean["coords"].iloc[0] == ""
    assert mean["truth"].iloc[0] == pytest.approx(dates["truth"].mean())
    assert mean["mean"].iloc[0] == pytest.approx(dates["mean"].mean())
    agg = aggregate_table(small_run)
    p = agg[agg["metric"] == "uniformity_p"]
    assert "baseline" not in set(p["estimand"]) and "mean(baseline)" in set(p["estimand"])


def test_nan_truth_is_dropped_not_missed(tmp_path: Path, small_run: Path) -> None:
    values = stub_values("calibrated", np.random.default_rng(0), 50)
    values[0]["roas"][1] = np.nan  # search's roas not comparable
    RunStore(small_run).write_record(
        "a", 0, record_tree("a", "stub=calibrated", 0, values, healthy(0))
    )
    table = estimand_table(small_run)
    roas = table[(table["cell"] == "a") & (table["estimand"] == "roas")]
    assert len(roas) == 2 * 6 - 1
    agg = aggregate_table(small_run)
    n = agg.set_index(["cell", "estimand", "coords", "metric"]).loc[
        ("a", "roas", "channel=search", "coverage_90"), "n"
    ]
    assert n == 5


def test_failed_and_corrupt_fits_are_counted_and_shown(
    small_run: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (small_run / "fits" / "a" / "2.arrow").write_bytes(b"ARROW1 garbage")
    fail = small_run / "failures" / "b" / "7.json"
    fail.parent.mkdir(parents=True)
    fail.write_text(json.dumps({"error": "ValueError: no", "diagnostics": {"divergences": 3}}))
    with caplog.at_level(logging.WARNING, logger="mmm_workbench.reports.tables"):
        scores = score_run(small_run)
    assert "corrupt fit record, skipped" in caplog.text
    fits = fit_table(scores)
    status = fits.set_index(["cell", "replicate"])["status"]
    assert status[("a", 2)] == "corrupt" and status[("b", 7)] == "failed"
    assert "unreadable fit record" in fits.set_index(["cell", "replicate"]).loc[("a", 2), "error"]
    assert set(fits.columns) >= {
        "backend",
        "max_rhat",
        "divergences",
        "ebfmi",
        "tune_s",
        "error",
        "path",
    }
    counts = fit_counts(scores).set_index("cell")
    assert counts.loc["a", ["n_ok", "n_failed", "n_corrupt", "n_missing"]].tolist() == [5, 0, 1, 0]
    assert counts.loc["b", ["n_ok", "n_failed", "n_corrupt"]].tolist() == [6, 1, 0]
    assert 2 not in set(scores.estimands.loc[scores.estimands["cell"] == "a", "replicate"])
    agg = aggregate_table(scores).set_index(["cell", "metric"])
    assert agg.loc[("a", "n_corrupt"), "value"] == 1
    assert agg.loc[("b", "failed_share"), "value"] == pytest.approx(1 / 7)


def test_aggregate_columns_and_fit_rows(stub_scores: RunScores) -> None:
    agg = aggregate_table(stub_scores)
    assert list(agg.columns) == AGGREGATE_COLUMNS
    fit = agg[agg["estimand"] == ""]
    assert set(fit["metric"]) == set(FIT_METRICS)
    div = fit.set_index(["cell", "metric"]).loc[("biased", "divergent_share")]
    assert div["value"] == pytest.approx(0.1) and div["lower"] < 0.1 < div["upper"]
    pooled = agg[agg["pooled"]]
    assert set(pooled["coords"]) == {"*"} and "uniformity_p" not in set(pooled["metric"])
    clean = fit.set_index(["cell", "metric"]).loc[("biased", "clean_share"), "value"]
    assert clean == pytest.approx(0.9)  # the divergent fits are sampler warnings
    assert set(agg.loc[agg["estimand"] != "", "family"]) <= {
        "derived",
        "parameter",
        "series",
        "summary",
    }


def test_summary_json_is_strict_json_and_complete(small_run: Path) -> None:
    summary = summary_json(small_run)
    text = json.dumps(summary, allow_nan=False)
    back = json.loads(text)
    assert back["cells"]["a"]["n_ok"] == 6 and back["fits"]["n_ok"] == 12
    assert back["scenario"] == "stub" and back["problems"] == []
    row = back["aggregates"][0]
    assert set(row) == set(AGGREGATE_COLUMNS)


def test_all_fits_failed_gives_empty_estimand_table(tmp_path: Path) -> None:
    root = tmp_path / "run"
    (root / "failures" / "c").mkdir(parents=True)
    (root / "scenario.toml").write_text("")
    (root / "manifest.json").write_text(
        json.dumps(
            {"cells": {"c": {"label": "c"}}, "replicates": 2, "format_version": FORMAT_VERSION}
        )
    )
    (root / "failures" / "c" / "0.json").write_text(json.dumps({"error": "x"}))
    scores = score_run(root)
    assert scores.estimands.empty and "truth" in scores.estimands.columns
    counts = fit_counts(scores).iloc[0]
    assert (counts["n_failed"], counts["n_missing"]) == (1, 1)
    agg = aggregate_table(scores)
    assert set(agg["metric"]) == set(FIT_METRICS)


def test_tables_read_records_rewritten_from_their_tree(tmp_path: Path, small_run: Path) -> None:
    store = RunStore(small_run)
    store.write_record("a", 1, store.read_record("a", 1))  # round trip through the tree
    assert len(estimand_table(small_run)) == 2 * 6 * 8


def test_aggregate_table_is_computed_once_per_scores_and_options(
    stub_scores: RunScores,
) -> None:
    """aggregate_table keeps its table on the RunScores (the verdict, the report and its
    summary ask for the same one): each call gets its own copy, other options and a
    subset of the estimands (dataclasses.replace) get their own table."""
    import dataclasses

    from mmm_workbench.reports.aggregate import Health

    first = aggregate_table(stub_scores)
    again = aggregate_table(stub_scores, health=Health())  # the same options
    assert first.equals(again) and first is not again
    first.loc[:, "value"] = -1.0  # a caller's copy, not the kept table
    assert aggregate_table(stub_scores).equals(again)
    strict = aggregate_table(stub_scores, health=Health(max_rhat=0.5))
    warned = strict[(strict["metric"] == "high_rhat_share") & (strict["n"] > 0)]
    assert len(warned) and (warned["value"] == 1.0).all()  # every R-hat is above 0.5
    est = stub_scores.estimands
    subset = dataclasses.replace(stub_scores, estimands=est[est["replicate"] < 5])
    small = aggregate_table(subset)
    n = small[(small["metric"] == "coverage_90") & ~small["pooled"]]["n"]
    assert len(n) and (n <= 5).all()
    assert (again[(again["metric"] == "coverage_90") & ~again["pooled"]]["n"] > 5).all()
