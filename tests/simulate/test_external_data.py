"""External datasets (issue 12, item 2): fitted instead of a simulated one, scored against
the truth supplied beside them; what the truth does not give is fitted but not scored.

The dataset here is the pymc-marketing recovery world's own simulation written to CSV, so
the truth derived from its per-date contributions can be checked against the simulator's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mmm_workbench.recover.cli import main
from mmm_workbench.recover.runner import RunOptions, run_grid
from mmm_workbench.recover.store import RunStore
from mmm_workbench.reports.tables import score_run
from mmm_workbench.scenarios import ScenarioError, read_scenario, scenario_from_text
from mmm_workbench.simulate import check_data, generate

TRUTH = """sigma = 0.25
[contributions]
file = "contributions.csv"
[channels.x1]
beta = 3.0
adstock = {{ kind = "geometric", alpha = 0.4, l_max = 8 }}
saturation = {{ kind = "logistic", lam = 4.0 }}
x_scale = 1.0
roas = {roas}
[channels.x2]
beta = 2.0
adstock = {{ kind = "geometric", alpha = 0.2, l_max = 8 }}
saturation = {{ kind = "logistic", lam = 3.0 }}
x_scale = 1.0
"""

SCENARIO = """
name = "external"
[data]
periods = 179
start = "2018-04-02"
train_periods = 170
target = "y"
source = {{ file = "{folder}/data.csv", truth = "{folder}/truth.toml", controls = ["t"] }}
[model]
kind = "ols"
adstock = {{ kind = "geometric", alpha = 0.3, l_max = 8 }}
saturation = {{ kind = "logistic", lam = 3.5 }}
controls = ["t"]
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Write one replicate of pymc-marketing-recovery as an external dataset."""
    folder = tmp_path_factory.mktemp("external")
    data = read_scenario("pymc-marketing-recovery").scenario.data
    tree = generate(data, np.random.default_rng(0))
    obs, truth = tree["observed"], tree["truth"]
    dates = pd.DatetimeIndex(obs["date"].to_numpy()).strftime("%Y-%m-%d")
    spend = obs["spend"].to_numpy()
    frame = pd.DataFrame(
        {"date": dates, "x1": spend[:, 0], "x2": spend[:, 1], "y": obs["y"], "t": np.arange(179.0)}
    )
    frame.to_csv(folder / "data.csv", index=False)
    contribution = truth["channel_contribution"].to_numpy()
    pd.DataFrame({"date": dates, "x1": contribution[:, 0], "x2": contribution[:, 1]}).to_csv(
        folder / "contributions.csv", index=False
    )
    roas = float(truth["roas"].sel(channel="x1"))
    (folder / "truth.toml").write_text(TRUTH.format(roas=roas))
    return {"folder": folder, "tree": tree, "frame": frame, "roas": roas}


def _text(world: dict[str, Any], **replace: str) -> str:
    text = SCENARIO.format(folder=world["folder"])
    for old, new in replace.items():
        text = text.replace(old, new)
    return text


def test_the_dataset_and_its_truth(world: dict[str, Any]) -> None:
    data = scenario_from_text(_text(world)).scenario.data
    assert data.channel_names == ("x1", "x2") and data.controls == ("t",)
    check_data(data)
    a, b = generate(data, np.random.default_rng(1)), generate(data, np.random.default_rng(2))
    assert a.identical(b)  # every replicate is the one dataset
    obs, truth = a["observed"], a["truth"]
    np.testing.assert_array_equal(obs["spend"].sel(channel="x2"), world["frame"]["x2"])
    np.testing.assert_array_equal(obs["y"], world["frame"]["y"])
    np.testing.assert_array_equal(obs["t"], np.arange(179.0))
    # shares and totals over the 170 training periods follow from per-date contributions
    sim = world["tree"]["truth"]
    contribution = sim["channel_contribution"].to_numpy()[:170]
    np.testing.assert_allclose(truth["contribution_total"], contribution.sum(axis=0))
    y = world["frame"]["y"].to_numpy()[:170]
    np.testing.assert_allclose(truth["contribution_share"], contribution.sum(axis=0) / y.sum())
    assert float(truth["roas"].sel(channel="x1")) == world["roas"]
    assert np.isnan(truth["roas"].sel(channel="x2"))  # not given: fitted, not scored
    assert np.all(np.isnan(truth["mroas"])) and np.all(np.isnan(truth["response"]))
    np.testing.assert_array_equal(truth["adstock_alpha"], [0.4, 0.2])
    assert list(truth["saturation_kind"].to_numpy()) == ["logistic", "logistic"]
    assert float(truth["sigma"]) == 0.25


def test_scored_like_a_simulated_dataset_and_unknown_truth_is_skipped(
    world: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "run"
    summary = run_grid(_text(world), out, RunOptions(replicates=1))
    assert summary.failed == 0
    (record,) = [RunStore(out).read_record(c, r) for c, r, _ in RunStore(out).records()]
    assert np.isfinite(record["posterior"]["roas"].sel(channel="x2")).all()  # fitted
    assert np.isnan(record["truth"]["roas"].sel(channel="x2"))
    scores = score_run(out).estimands
    roas = scores[scores["estimand"] == "roas"]
    assert list(roas["channel"]) == ["x1"]  # x2 has no truth: not scored
    assert np.isfinite(scores["truth"]).all()
    assert {"contribution_share", "saturation_beta", "sigma"} <= set(scores["estimand"])
    assert "mroas" not in set(scores["estimand"])
    assert main(["check", str(out)]) in (0, 1)


BAD = [
    (
        {'controls = ["t"] }': 'controls = ["t"] }\nintercept = 3.0'},
        r"^data\.intercept: describes a simulated world; with data\.source",
    ),
    ({"replicates": ""}, None),
    (
        {'name = "external"': 'name = "external"\nreplicates = 3'},
        r"^replicates = 3: data\.source is one",
    ),
    ({"data.csv": "gone.csv"}, r"^data\.source\.file = '.*gone\.csv': no such file"),
]


@pytest.mark.parametrize(("replace", "pattern"), [b for b in BAD if b[1]])
def test_load_errors(world: dict[str, Any], replace: dict[str, str], pattern: str) -> None:
    with pytest.raises(ScenarioError, match=pattern):
        scenario_from_text(_text(world, **replace))


def _bad_truth(world: dict[str, Any], tmp_path: Path, truth: str) -> str:
    (tmp_path / "truth.toml").write_text(truth)
    return _text(world, **{f"{world['folder']}/truth.toml": str(tmp_path / "truth.toml")})


@pytest.mark.parametrize(
    ("truth", "pattern"),
    [
        (
            "[channels.x3]\nbeta = 1.0\n",
            r"data\.source\.truth\.channels\.x3 = 'x3': no such column",
        ),
        ("[channels]\n", r"data\.source\.truth: names no channel"),
        ("[channels.x1]\nbeta = -1.0\n", r"beta = -1(\.0)?: must be"),
        (
            "[channels.x1]\nroas = 'high'\n",
            r"truth\.channels\.x1\.roas = 'high': must be a finite number",
        ),
        ("[channels.x1]\nbeta = 1.0\ncolour = 1\n", r"channels\.x1\.colour = 1: unknown key"),
        ("[channels.x1\n", r"data\.source\.truth = .*: malformed TOML"),
    ],
)
def test_truth_that_does_not_match(
    world: dict[str, Any], tmp_path: Path, truth: str, pattern: str
) -> None:
    with pytest.raises(ValueError, match=pattern):
        check_data(scenario_from_text(_bad_truth(world, tmp_path, truth)).scenario.data)


def test_a_dataset_that_does_not_match_its_scenario(world: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"date_column = 'date': dates of data\.csv are not the"):
        check_data(scenario_from_text(_text(world, **{"2018-04-02": "2018-04-09"})).scenario.data)
    with pytest.raises(ValueError, match=r"^data\.target = 'sales': no such column in data\.csv"):
        check_data(scenario_from_text(_text(world, **{'"y"': '"sales"'})).scenario.data)
    frame = world["frame"].copy()
    frame.loc[3, "x1"] = -1.0
    frame.to_csv(tmp_path / "data.csv", index=False)
    text = _text(world, **{f"{world['folder']}/data.csv": str(tmp_path / "data.csv")})
    with pytest.raises(ValueError, match=r"channels\.x1: row 4 of data\.csv is -1; spend cannot"):
        check_data(scenario_from_text(text).scenario.data)
    (tmp_path / "contributions.csv").write_text("date,x9\n2018-04-02,1\n")
    truth = TRUTH.format(roas=1.0).replace("contributions.csv", str(tmp_path / "contributions.csv"))
    with pytest.raises(
        ValueError, match=r"contributions\.date_column = 'date': contributions\.csv"
    ):
        check_data(scenario_from_text(_bad_truth(world, tmp_path, truth)).scenario.data)


def test_cli_exits_2_without_a_run_directory(world: dict[str, Any], tmp_path: Path) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text(_text(world, **{'"y"': '"sales"'}))
    assert main(["run", str(scenario), "--out", str(tmp_path / "run")]) == 2
    assert not (tmp_path / "run").exists()


def test_cli_refuses_more_replicates_of_one_dataset(world: dict[str, Any], tmp_path: Path) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text(_text(world))
    out = tmp_path / "run"
    assert main(["run", str(scenario), "--out", str(out), "--replicates", "2"]) == 2
    assert not out.exists()
