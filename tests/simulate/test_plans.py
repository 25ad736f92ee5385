"""Media plans from files and synthetic spend patterns (issue 12, items 1-2).

Each statistical claim is checked against a deliberately broken counterpart that must fail
it: a block bootstrap keeps runs of the plan where an i.i.d. resample does not, noise keeps
the plan's mean where unscaled noise does not, the threshold pattern is pymc-marketing's
formula and not the same draw without the threshold.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mmm_workbench.scenarios import parse_scenario, read_scenario
from mmm_workbench.scenarios.spec import PatternSpec, VarySpec
from mmm_workbench.simulate import check_data, generate
from mmm_workbench.simulate.spend import block_bootstrap, pattern_spend, vary_plan
from tests.conftest import tiny_raw

PERIODS = 40


def _plan_csv(folder: Path, name: str = "plan.csv", **columns: Any) -> Path:
    dates = pd.date_range("2021-01-01", periods=PERIODS, freq="7D")
    frame = pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), **columns})
    path = folder / name
    if path.suffix == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_csv(path, index=False)
    return path


def _raw(spend: dict[str, Any], other: dict[str, Any] | None = None) -> dict[str, Any]:
    raw = tiny_raw()
    raw["data"]["channels"][0]["spend"] = spend
    if other is not None:
        raw["data"]["channels"][1]["spend"] = other
    return raw


def _planned(raw: dict[str, Any], base: Path, seed: int) -> np.ndarray:
    data = parse_scenario(raw, base=base).data
    check_data(data)
    return generate(data, np.random.default_rng(seed))["truth"]["planned_spend"].to_numpy().T


# --------------------------------------------------------------------------- files


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_plan_without_vary_is_the_plan_in_every_replicate(tmp_path: Path, suffix: str) -> None:
    tv = np.linspace(1.0, 40.0, PERIODS)
    _plan_csv(tmp_path, f"plan{suffix}", tv=tv, search=np.full(PERIODS, 5.0))
    spend = {"file": f"plan{suffix}", "column": "tv", "scale": 2.0, "shift": 3.0}
    raw = _raw(spend, {"file": f"plan{suffix}", "column": "search", "date_column": "date"})
    for seed in (1, 2):
        planned = _planned(raw, tmp_path, seed)
        np.testing.assert_allclose(planned[0], 2.0 * tv + 3.0)
        np.testing.assert_allclose(planned[1], 5.0)


def test_block_bootstrap_replicates_differ_but_keep_runs_of_the_plan(tmp_path: Path) -> None:
    tv = np.arange(1.0, PERIODS + 1.0)  # distinct, increasing: a run shows as steps of +1
    _plan_csv(tmp_path, tv=tv)
    spend = {"file": "plan.csv", "column": "tv", "vary": {"kind": "block_bootstrap", "block": 8}}
    a, b, again = (_planned(_raw(spend), tmp_path, s)[0] for s in (1, 2, 1))
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, again)  # seeded by the replicate's generator
    assert set(a) <= set(tv)
    steps = np.mean(np.diff(a) == 1.0)
    assert steps >= 7 / 8 - 1e-9  # 5 blocks of 8: at most 4 of 39 steps leave a run
    # the broken case: an i.i.d. resample (blocks of 1) keeps almost no runs
    iid = block_bootstrap(tv, 1, np.random.default_rng(1))
    assert np.mean(np.diff(iid) == 1.0) < 0.3


def test_noise_keeps_the_plans_mean_and_shape() -> None:
    plan = np.linspace(1.0, 10.0, 50)
    draws = np.stack(
        [
            vary_plan(plan, VarySpec(kind="noise", sd=0.3), np.random.default_rng(s))
            for s in range(400)
        ]
    )
    assert np.all(draws > 0)
    assert np.corrcoef(draws.mean(axis=0), plan)[0, 1] > 0.99
    ratio = draws.mean() / plan.mean()
    assert abs(ratio - 1.0) < 0.02
    sd = np.std(np.log(draws / plan))
    assert abs(sd - 0.3) < 0.01
    # the broken case: exp(sd * z) without the -sd^2/2 correction overshoots the mean
    biased = plan * np.exp(0.3 * np.random.default_rng(0).standard_normal((400, 50)))
    assert abs(biased.mean() / plan.mean() - 1.0) > 0.03


def test_vary_noise_differs_between_replicates(tmp_path: Path) -> None:
    _plan_csv(tmp_path, tv=np.linspace(1.0, 40.0, PERIODS))
    spend = {"file": "plan.csv", "column": "tv", "vary": {"kind": "noise", "sd": 0.1}}
    a, b = (_planned(_raw(spend), tmp_path, s)[0] for s in (1, 2))
    assert not np.allclose(a, b)
    assert np.corrcoef(a, b)[0, 1] > 0.95


def test_editing_the_plan_file_gives_a_new_cell_id(tmp_path: Path) -> None:
    plan = _plan_csv(tmp_path, tv=np.linspace(1.0, 40.0, PERIODS))
    scenario = tmp_path / "s.toml"
    text = (Path(__file__).parents[2] / "scenarios" / "quickstart.toml").read_text()
    text = text.replace(
        "spend = { demand_share = 10, noise_sd = 0.3 }",
        'spend = { file = "plan.csv", column = "tv" }',
    )
    text = (
        text.replace("periods = 104", f"periods = {PERIODS}")
        .replace("train_periods = 104", f"train_periods = {PERIODS}")
        .replace('start = "2022-01-07"', 'start = "2021-01-01"')
    )
    scenario.write_text(text)
    first = [c.cell_id for c in read_scenario(scenario).cells]
    same = [c.cell_id for c in read_scenario(scenario).cells]
    _plan_csv(tmp_path, tv=np.linspace(1.0, 40.0, PERIODS) * 1.5)
    edited = [c.cell_id for c in read_scenario(scenario).cells]
    assert first == same
    assert set(first).isdisjoint(edited)
    assert plan.exists()


# --------------------------------------------------------------------------- patterns


def test_threshold_is_pymc_marketings_formula() -> None:
    spec = PatternSpec(kind="threshold", params={"q": 0.9, "factor": 0.5, "level": 2.0})
    got = pattern_spend(spec, 500, np.random.default_rng(3))
    u = np.random.default_rng(3).uniform(size=500)
    np.testing.assert_allclose(got, 2.0 * np.where(u > 0.9, u, u / 2))
    on = got > 2.0 * 0.9
    assert 0.05 < on.mean() < 0.15  # P(u > 0.9) = 0.1
    assert np.all(got[~on] <= 2.0 * 0.5 * 0.9)
    # the broken case: the same draw without the threshold is not it
    assert not np.allclose(got, 2.0 * u)


def test_uniform_always_on_and_flighted() -> None:
    rng = np.random.default_rng(5)
    uniform = pattern_spend(
        PatternSpec(kind="uniform", params={"low": 2.0, "high": 4.0}), 2000, rng
    )
    assert uniform.min() >= 2.0 and uniform.max() <= 4.0
    assert abs(uniform.mean() - 3.0) < 0.05
    flat = pattern_spend(PatternSpec(kind="always_on", params={"level": 7.0}), 30, rng)
    np.testing.assert_array_equal(flat, 7.0)
    noisy = pattern_spend(
        PatternSpec(kind="always_on", params={"level": 7.0, "noise_sd": 0.2}), 2000, rng
    )
    assert abs(np.std(np.log(noisy / 7.0)) - 0.2) < 0.02
    flights = pattern_spend(
        PatternSpec(kind="flighted", params={"level": 3.0, "on_mean": 4.0, "off_mean": 6.0}),
        5000,
        rng,
    )
    assert flights[0] == 3.0  # the chain starts on
    assert set(np.unique(flights)) == {0.0, 3.0}
    assert abs(np.mean(flights > 0) - 0.4) < 0.05  # on 4 / (4 + 6) of the time


def test_patterns_differ_between_replicates_and_ignore_demand(tmp_path: Path) -> None:
    raw = _raw({"pattern": "uniform", "low": 1.0, "high": 2.0})
    a, b = (_planned(raw, tmp_path, s)[0] for s in (1, 2))
    assert not np.allclose(a, b)
    assert a.min() >= 1.0 and a.max() <= 2.0


def test_a_world_without_demand_checks_when_no_spend_follows_demand() -> None:
    raw = _raw(
        {"pattern": "uniform"}, {"pattern": "threshold", "q": 0.8, "factor": 0.0, "level": 1.0}
    )
    raw["data"]["demand"] = {"scale": 1.0, "trend": {"kind": "constant", "level": 0.0}}
    raw["data"].pop("proxy")
    check_data(parse_scenario(raw).data)  # no channel follows demand: zero demand is fine
    broken = copy.deepcopy(raw)
    broken["data"]["channels"][0]["spend"] = {"demand_share": 1.0}
    with pytest.raises(ValueError, match=r"^data\.demand: zero in every period"):
        check_data(parse_scenario(broken).data)


def test_pymc_marketing_recovery_world() -> None:
    source = read_scenario("pymc-marketing-recovery")
    data = source.scenario.data
    check_data(data)
    assert [c.spend.form for c in data.channels] == ["pattern", "pattern"]
    assert {c.scenario.model.kind for c in source.cells if c.scenario.model} == {
        "workbench",
        "pymc-marketing",
    }
    tree = generate(data, np.random.default_rng(0))
    truth = tree["truth"]
    np.testing.assert_allclose(truth["baseline"], data.intercept)  # no latent demand
    x1 = truth["planned_spend"].sel(channel="x1").to_numpy()
    on = x1 > 0.9
    assert np.all(x1[~on] <= 0.45) and np.all(x1 >= 0) and 0 < on.sum() < 40
    x2 = truth["planned_spend"].sel(channel="x2").to_numpy()
    assert np.all((x2 >= 0) & (x2 <= 1)) and x2.mean() > 0.3


def test_demand_driven_plans_keep_their_hash() -> None:
    """The new plan fields stay out of a demand-driven plan's hash (cell ids unchanged)."""
    from mmm_workbench.scenarios.spec import spec_to_dict

    spend = parse_scenario(tiny_raw()).data.channels[0].spend
    assert set(spec_to_dict(spend)) == {
        "__type__",
        "demand_share",
        "demand_strength",
        "noise_sd",
        "noise",
        "flighting",
        "dark",
        "shocks",
    }
