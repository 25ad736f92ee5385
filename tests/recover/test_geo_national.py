"""A geo world fitted by a model of one national series: the panel summed over geos, scored
against the national truth (``recover/models/panel.py``, ``simulate/geo.py``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from mmm_workbench.recover.cli import main
from mmm_workbench.recover.models.data import model_data
from mmm_workbench.recover.models.panel import national
from mmm_workbench.recover.runner import RunOptions, run_grid
from mmm_workbench.recover.store import RunStore
from mmm_workbench.scenarios import read_scenario, replicate_rng, scenario_from_text
from mmm_workbench.simulate import generate

GEO = """
name = "geo-national"
seed = 5
replicates = 2

[data]
periods = 80
intercept = 100.0
demand = { scale = 100, noise_sd = 0.05 }
proxy = { noise_sd = 0.0 }
noise = { kind = "normal", sd = 1.0 }

[[data.channels]]
name = "tv"
spend = { demand_share = 10, noise_sd = 0.4 }
adstock = { kind = "geometric", alpha = 0.5, l_max = 3 }
saturation = { kind = "logistic", lam = 1.5 }
beta = 60

[[data.channels]]
name = "search"
spend = { pattern = "uniform", low = 1.0, high = 8.0 }
adstock = { kind = "geometric", alpha = 0.5, l_max = 3 }
saturation = { kind = "logistic", lam = 1.5 }
beta = 30

[data.geo]
count = 6
size_decay = 1.0

[model]
kind = "ols"
adstock = { kind = "geometric", l_max = 3, alpha = 0.5 }
saturation = { kind = "logistic", lam = 1.5 }
controls = ["demand_proxy"]
"""


def test_national_sums_every_geo_variable_and_keeps_the_rest() -> None:
    source = scenario_from_text(GEO)
    cell = source.cells[0]
    tree = generate(cell.scenario.data, replicate_rng(5, cell.data_id, 0))
    obs = tree["observed"].to_dataset()
    summed = national(obs)
    assert "geo" not in summed.dims
    xr.testing.assert_allclose(summed["spend"], obs["spend"].sum("geo"))
    xr.testing.assert_equal(summed["is_train"], obs["is_train"])
    assert summed.attrs == obs.attrs
    assert national(summed) is summed  # a national dataset passes unchanged
    data = model_data(tree, cell.scenario.model)  # type: ignore[arg-type]
    np.testing.assert_allclose(data.target, tree["truth"]["y"].to_numpy(), rtol=1e-12)
    assert data.spend.shape == (80, 2)


def test_ols_on_the_summed_panel_recovers_the_national_truth(tmp_path: Path) -> None:
    """No spread nor split noise: the summed panel is a national world, so a least-squares
    model with the true transforms recovers its ROAS and contribution totals in data units
    (a model fitted to the geos' mean, or to one geo, would be off by the geos' count in the
    totals: the check can fail)."""
    summary = run_grid(GEO, tmp_path / "run", RunOptions(replicates=2))
    assert summary.failed == 0
    store = RunStore(tmp_path / "run")
    records = [store.read_record(c, r) for c, r, _ in store.records()]
    assert len(records) == 2
    cell = scenario_from_text(GEO).cells[0]
    for record in records:
        replicate = int(record.attrs["replicate"])
        tree = generate(cell.scenario.data, replicate_rng(5, cell.data_id, replicate))
        truth = record["truth"]
        # scored against the national truth
        np.testing.assert_allclose(truth["roas"], tree["truth"]["roas"], rtol=1e-12)
        post = record["posterior"].mean("sample")
        np.testing.assert_allclose(post["roas"], truth["roas"], rtol=0.05)
        np.testing.assert_allclose(
            post["contribution_total"], truth["contribution_total"], rtol=0.05
        )
        geo_total = tree["truth/geo"]["contribution_total"]
        assert not np.allclose(post["contribution_total"], geo_total.mean("geo"), rtol=0.5)


def test_simulate_writes_a_panel(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "geo.toml"
    scenario.write_text(GEO)
    assert main(["simulate", str(scenario), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "6 geos, national sums" in out
    header = (tmp_path / "out" / "data.csv").read_text().splitlines()[0]
    assert header == "date,geo,tv,search,demand_proxy,sales"
    assert read_scenario(scenario).scenario.data.geo is not None


def test_a_bad_geo_field_exits_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "geo.toml"
    scenario.write_text(GEO.replace("count = 6", "count = 1"))
    assert main(["simulate", str(scenario), "--out", str(tmp_path / "out")]) == 2
    assert "data.geo.count = 1: must be >= 2" in capsys.readouterr().err.replace("\n", " ")
    assert not (tmp_path / "out").exists()
