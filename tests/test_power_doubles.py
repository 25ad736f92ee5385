"""The power study's planted bugs (bench/power.py) do exactly what the study says they do."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from mmm_workbench.recover.models.data import ModelData


def _data() -> ModelData:
    rng = np.random.default_rng(0)
    return ModelData(
        dates=np.arange("2022-01-07", 6 * 7, 7, dtype="datetime64[D]")[:6],
        channels=("tv", "search"),
        control_names=(),
        spend=rng.uniform(1, 2, (6, 2)),
        target=np.arange(6, dtype=float),
        controls=np.zeros((6, 0)),
        spend_scale=np.array([2.0, 3.0]),
        target_scale=5.0,
        control_scale=np.ones(0),
    )


def test_the_lag_moves_spend_one_period_late(power: ModuleType) -> None:
    data = _data()
    lagged = power.lag_spend(data)
    assert np.array_equal(lagged.spend[1:], data.spend[:-1])
    assert np.array_equal(lagged.spend[0], [0.0, 0.0])


def test_swapped_labels_swap_spend_and_its_scale(power: ModuleType) -> None:
    data = _data()
    swapped = power.swap_labels(data)
    assert np.array_equal(swapped.spend, data.spend[:, ::-1])
    assert np.array_equal(swapped.spend_scale, [3.0, 2.0])
    assert swapped.channels == data.channels  # the labels stay: the data under them move


def test_a_dropped_observation_shifts_the_later_target(power: ModuleType) -> None:
    dropped = power.drop_observation(_data())
    assert dropped.target.tolist() == [0.0, 1.0, 2.0, 4.0, 5.0, 5.0]


def test_overconfident_keeps_the_mean_and_divides_the_sd_by_three(power: ModuleType) -> None:
    rng = np.random.default_rng(1)
    draws = {
        "intercept": rng.normal(0.0, 1.0, (2, 500)),
        "sigma": rng.lognormal(0.0, 0.5, (2, 500)),
        "adstock_alpha": rng.beta(2, 5, (2, 500, 2)),
    }
    out = power.overconfident(draws)
    assert out["intercept"].mean() == pytest.approx(draws["intercept"].mean())
    assert out["intercept"].std() == pytest.approx(draws["intercept"].std() / 3)
    log = np.log(draws["sigma"])
    assert np.log(out["sigma"]).std() == pytest.approx(log.std() / 3)
    assert ((out["adstock_alpha"] > 0) & (out["adstock_alpha"] < 1)).all()


def test_shifted_moves_one_sd_and_stays_in_the_support(power: ModuleType) -> None:
    rng = np.random.default_rng(2)
    draws = {"intercept": rng.normal(0.0, 2.0, (2, 400)), "alpha": rng.beta(5, 2, (2, 400))}
    out = power.shifted(draws)
    assert out["intercept"].mean() - draws["intercept"].mean() == pytest.approx(
        draws["intercept"].std()
    )
    assert ((out["alpha"] > 0) & (out["alpha"] < 1)).all()
    assert out["alpha"].mean() > draws["alpha"].mean()


def test_every_variant_is_a_cell_of_one_valid_scenario(power: ModuleType) -> None:
    from mmm_workbench.scenarios import scenario_from_text

    power.register_planted()
    source = scenario_from_text(power.scenario_text(list(power.VARIANTS), 4), "p.toml")
    assert len(source.cells) == len(power.VARIANTS)
    assert len({c.data_id for c in source.cells}) == 1  # every variant fits the same datasets


def test_a_group_view_names_its_cell_only(power: ModuleType, tmp_path: Path) -> None:
    """A view listing other cells without fits would fail every rule of them ("nothing to
    judge"): the first power run's 108 of 111 failures of the correct model were that."""
    import json

    run = tmp_path / "run"
    (run / "fits" / "aaa").mkdir(parents=True)
    (run / "fits" / "bbb").mkdir(parents=True)
    (run / "scenario.toml").write_text("")
    cells = {"aaa": {"label": "A"}, "bbb": {"label": "B"}}
    (run / "manifest.json").write_text(json.dumps({"cells": cells, "replicates": 40}))
    for rep in (0, 1, 2, 11):
        (run / "fits" / "aaa" / f"{rep}.arrow").write_text("")
    view = power._view(run, "aaa", [0, 1, 2], tmp_path / "view")
    manifest = json.loads((view / "manifest.json").read_text())
    assert manifest["cells"] == {"aaa": {"label": "A"}} and manifest["replicates"] == 3
    assert sorted(p.name for p in (view / "fits" / "aaa").iterdir()) == [
        "0.arrow",
        "1.arrow",
        "2.arrow",
    ]
    assert power._on_disk(run, "aaa", 11) and not power._on_disk(run, "aaa", 3)


def test_rates_carry_clopper_pearson_intervals(power: ModuleType) -> None:
    assert power._interval(0, 4) == pytest.approx((0.0, 0.6024), abs=1e-4)
    assert power._interval(4, 4) == pytest.approx((0.3976, 1.0), abs=1e-4)
    lo, hi = power._interval(1, 10)
    assert 0 < lo < 0.1 < hi < 0.5


def test_each_world_differs_from_the_default_in_one_thing_only(power: ModuleType) -> None:
    from mmm_workbench.scenarios import scenario_from_text

    power.register_planted()
    worlds = {
        name: scenario_from_text(power.scenario_text(["nuts (correct)"], 4, text), "p.toml")
        for name, text in power.WORLDS.items()
    }
    always, flighted = worlds["always-on"].scenario, worlds["flighted"].scenario
    assert always.model == flighted.model and always.fit == flighted.fit
    for a, f in zip(always.data.channels, flighted.data.channels, strict=True):
        assert a.spend.flighting is None and f.spend.flighting is not None
        assert dataclasses.replace(f.spend, flighting=None) == a.spend
        assert dataclasses.replace(f, spend=a.spend) == a
    quiet = worlds["quiet"].scenario
    assert quiet.data.noise.sd == always.data.noise.sd / 2 == 10.0
    assert dataclasses.replace(quiet.data, noise=always.data.noise) == always.data
    assert quiet.model == always.model and quiet.fit == always.fit


def test_a_run_directory_keeps_one_geometry(
    power: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The study pins its geometry while it fits and puts the process's back afterwards
    (a test session's later tests, and the commands they start, keep the default)."""
    out = tmp_path / "run"
    monkeypatch.delenv("MMM_WORKBENCH_GEOMETRY", raising=False)
    # the study pins its geometry (level, the shipped default when it was measured; the
    # default is "auto" since issue 14's priors), not whatever the model module holds
    assert power.STUDY_GEOMETRY == "level"
    assert power.workbench._geometry_from_env() == power.workbench.DEFAULT_GEOMETRY
    monkeypatch.setattr(power.workbench, "GEOMETRY", "dgp")
    with power._pinned_geometry(out):
        assert power.workbench.GEOMETRY == "level"
        assert os.environ["MMM_WORKBENCH_GEOMETRY"] == "level"  # for worker processes
    assert power.workbench.GEOMETRY == "dgp"  # put back
    assert "MMM_WORKBENCH_GEOMETRY" not in os.environ
    assert (tmp_path / "run.geometry").read_text().strip() == "level"
    with power._pinned_geometry(out):  # the same geometry resumes
        pass
    monkeypatch.setenv("MMM_WORKBENCH_GEOMETRY", "data")
    mixed = pytest.raises(SystemExit, match="never mixes geometries")
    with mixed, power._pinned_geometry(out):
        pass
    assert os.environ["MMM_WORKBENCH_GEOMETRY"] == "data"
    monkeypatch.setenv("MMM_WORKBENCH_GEOMETRY", "sideways")
    with pytest.raises(SystemExit, match="sideways"), power._pinned_geometry(tmp_path / "x"):
        pass


def test_the_sbc_world_is_the_shipped_sbc_scenario_without_its_grid(power: ModuleType) -> None:
    from mmm_workbench.scenarios import scenario_from_text

    power.register_planted()
    shipped = scenario_from_text(power.SBC_SCENARIO.read_text(), "sbc.toml")
    nuts = next(c for c in shipped.cells if c.scenario.fit.backend == "nutpie")
    text = power.scenario_text(["nuts (correct)", "normalization dropped"], 4, power.WORLDS["sbc"])
    world = scenario_from_text(text, "p.toml")
    correct, dropped = world.cells
    assert world.scenario.replicates == 4
    assert correct.data_id == dropped.data_id == nuts.data_id  # the same drawn truths and data
    assert correct.scenario.model == nuts.scenario.model
    assert correct.scenario.fit == nuts.scenario.fit
    assert dropped.scenario.model.adstock.normalize is False
