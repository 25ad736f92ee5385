"""Model fit per fit (R², MAPE, CRPS of the training target) and per cell."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from test_arviz_export import CHAINS, DRAWS, T, _run, _tree

from mmm_workbench.reports.aggregate import FIT_METRICS, fit_measures
from mmm_workbench.reports.fit_metrics import FIT_QUALITY, fit_quality, mape, r_squared
from mmm_workbench.reports.metrics import crps_draws
from mmm_workbench.reports.records import read_record, write_record
from mmm_workbench.reports.tables import aggregate_table, model_fit_table, score_run


def test_r_squared_and_mape_known_values() -> None:
    y = np.array([1.0, 2.0, 3.0, 4.0])
    assert r_squared(y, y) == 1.0
    assert r_squared(y, np.full(4, y.mean())) == 0.0
    assert r_squared(y, y + 1) == pytest.approx(1 - 4 / 5)
    assert math.isnan(r_squared(np.ones(3), np.ones(3)))
    assert mape(y, 1.1 * y) == pytest.approx(0.1)
    assert mape(np.array([0.0, 2.0]), np.array([5.0, 3.0])) == pytest.approx(0.5)  # y = 0 left out
    assert math.isnan(mape(np.zeros(2), np.ones(2)))


def _record(tmp_path: Path, shift: float = 0.0, expected: bool = False) -> Path:
    """A record whose predictive draws are shifted by ``shift`` (a model that misses)."""
    tree = _tree()
    pp = tree["posterior_predictive"].to_dataset()
    tree["posterior_predictive"] = xr.DataTree(pp.assign(y=pp["y"] + shift))
    if expected:  # the model's expected target: baseline + contributions, 10 above y
        y = tree["observed_data"]["y"].to_numpy()
        dates = tree["observed_data"]["date"].to_numpy()
        post = tree["posterior"].to_dataset()
        contribution = np.full((CHAINS * DRAWS, T, 2), 5.0)
        post = post.assign(
            baseline=(("sample", "date"), np.tile(y, (CHAINS * DRAWS, 1))),
            channel_contribution=(("sample", "date", "channel"), contribution),
        ).assign_coords(date=dates)
        tree["posterior"] = xr.DataTree(post)
        truth = tree["truth"].to_dataset()
        tree["truth"] = xr.DataTree(
            truth.assign(
                baseline=("date", y), channel_contribution=(("date", "channel"), contribution[0])
            ).assign_coords(date=dates)
        )
    path = tmp_path / f"r{shift}{expected}.arrow"
    write_record(path, tree)
    return path


def test_fit_quality_of_a_record(tmp_path: Path) -> None:
    record = read_record(_record(tmp_path))
    y = record.group("observed_data", "y")
    draws = record.group("posterior_predictive", "y")
    assert y is not None and draws is not None
    out = fit_quality(record)
    assert set(out) == set(FIT_QUALITY)
    assert out["fit_r2"] == pytest.approx(r_squared(y, draws.mean(axis=0)))
    assert out["fit_mape"] == pytest.approx(mape(y, draws.mean(axis=0)))
    assert out["fit_crps"] == pytest.approx(float(np.mean(crps_draws(draws, y))))
    # a model whose predictions miss by 20 (4 noise sds) scores worse on all three
    missed = fit_quality(read_record(_record(tmp_path, shift=20.0)))
    assert missed["fit_r2"] < out["fit_r2"] - 1
    assert missed["fit_mape"] == pytest.approx(0.2, abs=0.03)
    assert missed["fit_crps"] > out["fit_crps"] + 10


def test_holdout_mape_and_crps(tmp_path: Path) -> None:
    good, off = (_tree(holdout=0.0), _tree(holdout=25.0))
    scores = []
    for i, tree in enumerate((good, off)):
        path = tmp_path / f"h{i}.arrow"
        write_record(path, tree)
        record = read_record(path)
        later = record.group("observed_data", "y_holdout")
        drawn = record.group("predictions", "y_holdout")
        assert later is not None and drawn is not None
        out = fit_quality(record)
        assert out["holdout_mape"] == pytest.approx(mape(later, drawn.mean(axis=0)))
        assert out["holdout_crps"] == pytest.approx(float(np.mean(crps_draws(drawn, later))))
        scores.append(out)
    # predictions off by 25 (5 noise sds) score far worse; in-sample measures are unchanged
    assert scores[1]["holdout_mape"] > scores[0]["holdout_mape"] + 0.15
    assert scores[1]["holdout_crps"] > scores[0]["holdout_crps"] + 15
    assert scores[1]["fit_r2"] == pytest.approx(scores[0]["fit_r2"])
    # without a holdout they are NaN
    assert math.isnan(fit_quality(read_record(_record(tmp_path)))["holdout_mape"])


def test_the_expected_target_is_preferred_to_the_predictive_mean(tmp_path: Path) -> None:
    out = fit_quality(read_record(_record(tmp_path, expected=True)))
    y = read_record(_record(tmp_path)).group("observed_data", "y")
    assert y is not None
    assert out["fit_mape"] == pytest.approx(float(np.mean(10.0 / np.abs(y))))


def test_a_record_without_the_target_has_no_fit_quality(tmp_path: Path) -> None:
    tree = _tree()
    for group in ("observed_data", "posterior_predictive", "log_likelihood"):
        del tree[group]
    path = tmp_path / "r.arrow"
    write_record(path, tree)
    assert all(math.isnan(v) for v in fit_quality(read_record(path)).values())


def test_fit_quality_is_aggregated_per_cell_and_is_a_fit_level_metric(tmp_path: Path) -> None:
    assert set(FIT_QUALITY) <= set(FIT_METRICS)
    scores = score_run(_run(tmp_path / "run"))
    assert set(FIT_QUALITY) <= set(scores.fits.columns)
    assert scores.fits["fit_r2"].notna().all()
    agg = aggregate_table(scores)
    rows = agg[(agg["estimand"] == "") & (agg["metric"] == "fit_mape")]
    assert len(rows) == 2
    mine = scores.fits[scores.fits["cell"] == "aa11"]["fit_mape"]
    row = rows[rows["cell"] == "aa11"].iloc[0]
    assert row["value"] == pytest.approx(mine.mean()) and row["n"] == 2
    # a cell whose fits have no predictive: NaN, not 0
    fits = pd.DataFrame({"cell": ["c"], "status": ["ok"], "fit_r2": [math.nan]})
    measures = fit_measures(fits, {"c": "c"})
    assert math.isnan(float(measures[measures["metric"] == "fit_r2"]["value"].iloc[0]))


def test_the_report_table_shows_each_cell_s_model_fit(tmp_path: Path) -> None:
    agg = aggregate_table(score_run(_run(tmp_path / "run")))
    table = model_fit_table(agg)
    assert list(table.columns) == ["cell", *FIT_QUALITY, "fits"]
    assert list(table["cell"]) == ["noise=0", "noise=0.2"] and list(table["fits"]) == [2, 2]
    assert all(" [" in v for v in table["fit_r2"])
    assert model_fit_table(agg[agg["metric"] != "fit_r2"].iloc[:0]).empty
