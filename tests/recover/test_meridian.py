"""The Meridian adapter (``[model] kind = "meridian"``), without Meridian.

The data in Meridian's layout; the unit conversion both ways (the truth in Meridian's units,
through the adapter, is the truth; Meridian's ROI of the truth is the truth's ROAS without
the carry-over past the data's end; a unit not undone is caught); the worker protocol
through a fake interpreter that writes a known posterior, end to end through the runner;
what is refused before fitting. The one real fit is the slow test at the end, skipped
without a Meridian interpreter (``MMM_WORKBENCH_MERIDIAN_PYTHON``).
"""

from __future__ import annotations

import json
import os
import stat
import sys
import tempfile
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from mmm_workbench.recover.fitting import validate_for_fitting
from mmm_workbench.recover.models import meridian as mer
from mmm_workbench.recover.models.data import ModelData, model_data, truth_estimands
from mmm_workbench.recover.models.kinds import get_model_kind
from mmm_workbench.recover.runner import RunOptions, run_grid
from mmm_workbench.recover.store import RunStore
from mmm_workbench.scenarios import Scenario, parse_scenario, replicate_rng
from mmm_workbench.scenarios.spec import FitSpec, ModelSpec
from mmm_workbench.simulate import generate
from tests.conftest import ROOT

WORLD = """
name = "meridian-world"
seed = 7
replicates = 2

[data]
periods = 40
train_periods = {train}
intercept = 50.0
demand = {{ scale = 100.0, noise_sd = 0.05, rho = 0.5, trend = {{ kind = "linear", level = 1.0, slope = 0.01 }} }}
proxy = {{ noise_sd = 0.1 }}
noise = {{ kind = "normal", sd = 2.0 }}

[[data.channels]]
name = "tv"
spend = {{ demand_share = 10.0, noise_sd = 0.2 }}
adstock = {{ kind = "geometric", alpha = 0.6, l_max = 6 }}
saturation = {{ kind = "hill", slope = 1.8, kappa = 0.6 }}
beta = 40.0

[[data.channels]]
name = "search"
spend = {{ demand_share = 5.0, noise_sd = 0.3 }}
adstock = {{ kind = "geometric", alpha = 0.2, l_max = 6 }}
saturation = {{ kind = "hill", slope = 1.2, kappa = 0.4 }}
beta = 20.0

[model]
kind = "meridian"
adstock = {{ kind = "geometric", l_max = 6 }}
saturation = {{ kind = "hill" }}
controls = ["demand_proxy"]
{options}
[fit]
backend = "meridian"
draws = {draws}
tune = {tune}
chains = {chains}
keep_draws = {keep}
"""
"""A world in Meridian's families (geometric adstock, normalized; Hill saturation)."""


def _text(
    train: int = 36,
    python: str | None = None,
    draws: int = 5,
    tune: int = 4,
    chains: int = 2,
    keep: int = 10,
) -> str:
    options = f'options = {{ python = "{python}" }}\n' if python else ""
    return WORLD.format(
        train=train, options=options, draws=draws, tune=tune, chains=chains, keep=keep
    )


def _raw(**data: Any) -> dict[str, Any]:
    raw = tomllib.loads(_text())
    raw["data"] |= data
    return raw


def _dataset(scenario: Scenario, replicate: int) -> xr.DataTree:
    return generate(scenario.data, replicate_rng(scenario.seed, "0feed", replicate))


# ------------------------------------------------- Meridian's formulas, written out here


def meridian_media_scale(spend: np.ndarray) -> np.ndarray:
    """Meridian's media scale of a national series: the median of each channel's non-zero
    values (``MediaTransformer``, population 1)."""
    return np.array([np.median(column[column != 0]) for column in spend.T])


def meridian_outcome(arrays: dict[str, np.ndarray], spend: np.ndarray, max_lag: int) -> np.ndarray:
    """Meridian's incremental outcome of ``spend`` per period, KPI units, ``(T, C)``:
    ``beta x hill(adstock(spend / media_scale)) x kpi_scale``, the adstock a normalized
    window of ``max_lag + 1`` geometric weights over zero-padded history (``_adstock``)."""
    x = spend / arrays["media_scale"]
    window = max_lag + 1
    weights = arrays["alpha"][None, :] ** np.arange(window)[:, None]  # (lag, C)
    weights = weights / weights.sum(axis=0)
    padded = np.concatenate([np.zeros((window - 1, x.shape[1])), x])
    adstocked = np.stack(
        [(padded[t : t + window][::-1] * weights).sum(axis=0) for t in range(len(x))]
    )
    slope, ec = arrays["slope"], arrays["ec"]
    hill = adstocked**slope / (adstocked**slope + ec**slope)
    result: np.ndarray = arrays["beta"] * hill * float(arrays["kpi_scale"])
    return result


def truth_in_meridian_units(tree: xr.DataTree, data: ModelData) -> dict[str, np.ndarray]:
    """The DGP's parameters in Meridian's units (one draw), with Meridian's own incremental
    outcome and ROI of them over the data's periods."""
    truth = tree["truth"]
    media_scale = meridian_media_scale(data.spend)
    kpi_scale = float(np.std(data.target))  # population-scaled KPI's sd, population 1
    x_scale = truth["x_scale"].to_numpy()
    arrays = {
        "alpha": truth["adstock_alpha"].to_numpy(),
        "slope": truth["saturation_slope"].to_numpy(),
        "ec": truth["saturation_kappa"].to_numpy() * x_scale / media_scale,
        "beta": truth["saturation_beta"].to_numpy() / kpi_scale,
        "sigma": np.asarray(0.1),
        "media_scale": media_scale,
        "kpi_scale": np.asarray(kpi_scale),
    }
    outcome = meridian_outcome(arrays, data.spend, max_lag=5).sum(axis=0)
    arrays["incremental_outcome"] = outcome
    arrays["roi"] = outcome / data.spend.sum(axis=0)
    return arrays


def as_draws(one: dict[str, np.ndarray], chains: int = 1, draws: int = 3) -> dict[str, Any]:
    """``posterior.npz``'s arrays: per-draw values repeated over ``(chain, draw)``."""
    out: dict[str, Any] = {}
    for name, value in one.items():
        value = np.asarray(value, dtype=float)
        out[name] = (
            value
            if name in ("media_scale", "kpi_scale")
            else np.broadcast_to(value, (chains, draws, *value.shape)).copy()
        )
    return out


def _thinned(arrays: dict[str, Any]) -> dict[str, np.ndarray]:
    draws = mer.workbench_draws(arrays)
    return {k: v.reshape(-1, *v.shape[2:]) for k, v in draws.items()}


@pytest.fixture(scope="module")
def world() -> tuple[Scenario, xr.DataTree, ModelData, mer.MeridianModel]:
    """The Meridian-family tiny world (36 training rows of 40), replicate 1."""
    scenario = parse_scenario(_raw())
    assert scenario.model is not None
    tree = _dataset(scenario, 1)
    data = model_data(tree, scenario.model)
    spec = mer.meridian_spec(scenario.model)
    model = mer.MeridianModel(
        spec=spec,
        free=mer.FREE,
        media=mer.compile_media(spec, mer.FREE, False, len(data.channels), len(data.target)),
        python="unused",
        model_table=scenario.model,
        fit=scenario.fit,
    )
    return scenario, tree, data, model


# ---------------------------------------------------------------------- the data export


def test_frame_is_meridians_layout_and_round_trips_exactly(
    world: tuple[Scenario, xr.DataTree, ModelData, mer.MeridianModel], tmp_path: Path
) -> None:
    _, _, data, _ = world
    frame = mer.meridian_frame(data)
    assert list(frame.columns) == ["time", "population", "sales", "tv", "search", "demand_proxy"]
    assert frame["time"].iloc[0] == pd.Timestamp(data.dates[0]).strftime("%Y-%m-%d")
    assert (frame["population"] == 1.0).all()
    frame.to_csv(tmp_path / "data.csv", index=False)
    back = pd.read_csv(tmp_path / "data.csv")
    np.testing.assert_array_equal(back[["tv", "search"]].to_numpy(), data.spend)  # bit for bit
    np.testing.assert_array_equal(back["sales"].to_numpy(), data.target)
    np.testing.assert_array_equal(back["demand_proxy"].to_numpy(), data.controls[:, 0])


def test_request_maps_the_fit_table_onto_meridians_sampler(
    world: tuple[Scenario, xr.DataTree, ModelData, mer.MeridianModel],
) -> None:
    scenario, _, data, _ = world
    assert scenario.model is not None
    fit = FitSpec(backend="meridian", draws=300, tune=501, chains=3)
    request = mer.meridian_request(scenario.model, fit, data, seed=2**32 - 1)
    assert (request["n_chains"], request["n_keep"]) == (3, 300)
    assert (request["n_adapt"], request["n_burnin"]) == (251, 250)  # tune in all
    assert request["max_lag"] == 5 and request["hill_before_adstock"] is False
    assert 0 <= request["seed"] < 2**31
    assert request["controls"] == ["demand_proxy"] and request["kpi"] == "sales"
    fit = replace(fit, options={"n_burnin": 0, "max_tree_depth": 8})
    request = mer.meridian_request(scenario.model, fit, data, seed=1)
    assert (request["n_adapt"], request["n_burnin"], request["max_tree_depth"]) == (501, 0, 8)
    default = mer.meridian_spec(ModelSpec(kind="meridian"))
    assert (default.adstock.kind, default.adstock.l_max, default.saturation.kind) == (
        "geometric",
        mer.DEFAULT_L_MAX,
        "hill",
    )


# ------------------------------------------------------------- the conversion, both ways


def test_the_truth_in_meridians_units_gives_the_truth(
    world: tuple[Scenario, xr.DataTree, ModelData, mer.MeridianModel],
) -> None:
    """Meridian's units to the workbench's: every estimand at the converted truth is the
    truth (the carry-over into the holdout and past the end included), to 1e-9."""
    scenario, tree, data, model = world
    assert scenario.model is not None
    expected = truth_estimands(tree, model.spec)
    draws = _thinned(as_draws(truth_in_meridian_units(tree, data)))
    got = model.estimands(
        data, draws, tree["truth"]["x_scale"].to_numpy(), expected["multiplier"].to_numpy()
    )
    names = [
        "channel_contribution",
        "contribution_total",
        "contribution_share",
        "roas",
        "mroas",
        "response",
        "adstock_alpha",
        "saturation_slope",
        "saturation_kappa",
        "saturation_beta",
    ]
    for name in names:
        assert not np.any(np.isnan(expected[name])), name  # scored: same families
        for s in range(3):
            np.testing.assert_allclose(
                got[name].isel(sample=s), expected[name], rtol=1e-9, atol=1e-9, err_msg=name
            )
    np.testing.assert_allclose(got["sigma"], 0.1 * float(np.std(data.target)), rtol=1e-12)


def test_meridians_roi_of_the_truth_is_the_roas_without_the_carry_over_past_the_window(
    world: tuple[Scenario, xr.DataTree, ModelData, mer.MeridianModel],
) -> None:
    """The workbench's truth to Meridian's units: Meridian's ROI (its formula, written out
    here) of the converted truth is the truth's contribution over the data's periods per
    unit of spend; the truth's ROAS exceeds it by exactly the carry-over of the window's
    spend into the later periods, which is positive for a channel with adstock."""
    _, tree, data, _ = world
    arrays = truth_in_meridian_units(tree, data)
    train = len(data.target)
    truth = tree["truth"]
    spend = data.spend.sum(axis=0)
    window_roas = truth["contribution_total"].to_numpy() / spend  # contributions to row 36
    np.testing.assert_allclose(arrays["roi"], window_roas, rtol=1e-10)
    # the rest of the truth's ROAS: the window's spend after the window, Meridian's formula
    observed = tree["observed"]["spend"].to_numpy()
    later = np.concatenate([observed, np.zeros((5, observed.shape[1]))])
    factual = meridian_outcome(arrays, later, max_lag=5)
    later_off = later.copy()
    later_off[:train] = 0.0
    carried = (factual - meridian_outcome(arrays, later_off, max_lag=5))[train:].sum(axis=0)
    assert np.all(carried > 0)
    np.testing.assert_allclose(truth["roas"].to_numpy(), arrays["roi"] + carried / spend, rtol=1e-9)


@pytest.mark.parametrize(
    ("broken", "how"),
    [
        ("media_scale", "max"),  # the spend's max-abs scale, not Meridian's median
        ("media_scale", "none"),  # spend scale not undone
        ("kpi_scale", "none"),  # the KPI's standard deviation not undone
    ],
)
def test_a_unit_not_undone_is_caught(
    world: tuple[Scenario, xr.DataTree, ModelData, mer.MeridianModel], broken: str, how: str
) -> None:
    """The same converted truth with one scale misread: the conversion no longer reproduces
    Meridian's own incremental outcome, and the fit fails instead of being scored."""
    _, tree, data, model = world
    arrays = truth_in_meridian_units(tree, data)
    if broken == "media_scale":
        arrays["media_scale"] = data.spend.max(axis=0) if how == "max" else np.ones(2)
    else:
        arrays["kpi_scale"] = np.asarray(1.0)
    draws = _thinned(as_draws(arrays))
    with pytest.raises(ValueError, match="the units are not Meridian's"):
        model.estimands(data, draws, tree["truth"]["x_scale"].to_numpy(), np.array([1.0]))


def test_meridians_own_roi_must_match_its_incremental_outcome(
    world: tuple[Scenario, xr.DataTree, ModelData, mer.MeridianModel],
) -> None:
    _, tree, data, model = world
    arrays = truth_in_meridian_units(tree, data)
    arrays["roi"] = arrays["roi"] * 1.01
    draws = _thinned(as_draws(arrays))
    with pytest.raises(ValueError, match=r"Meridian's ROI of (tv|search) \(draw 0\) is"):
        model.estimands(data, draws, tree["truth"]["x_scale"].to_numpy(), np.array([1.0]))


# ------------------------------------------------------- the worker, by a fake interpreter

FAKE = '''#!{python}
"""A fake Meridian interpreter: answers the adapter's probe; as the worker, writes the
converted truth of the test world (from truth.json beside it) for the folder's data."""
import json, sys
from pathlib import Path
import numpy as np
import pandas as pd

if "-c" in sys.argv:
    print("0.0-fake")
    sys.exit(0)
folder = Path(sys.argv[-1])
truth = json.loads((Path(__file__).parent / "truth.json").read_text())
if truth.get("fail"):
    (folder / "error.txt").write_text("ValueError: the fake worker fails on purpose")
    sys.exit(1)
request = json.loads((folder / "request.json").read_text())
frame = pd.read_csv(folder / "data.csv")
spend = frame[request["channels"]].to_numpy()
kpi = frame[request["kpi"]].to_numpy()
media_scale = np.array([np.median(c[c != 0]) for c in spend.T])
kpi_scale = float(np.std(kpi))
chains, keep = request["n_chains"], request["n_keep"]
one = {{
    "alpha": np.array(truth["alpha"]),
    "slope": np.array(truth["slope"]),
    "ec": np.array(truth["kappa"]) * spend.max(axis=0) / media_scale,
    "beta": np.array(truth["beta"]) / kpi_scale,
}}
window = request["max_lag"] + 1
w = one["alpha"][None, :] ** np.arange(window)[:, None]
w = w / w.sum(axis=0)
x = np.concatenate([np.zeros((window - 1, spend.shape[1])), spend / media_scale])
ad = np.stack([(x[t : t + window][::-1] * w).sum(axis=0) for t in range(len(spend))])
hill = ad ** one["slope"] / (ad ** one["slope"] + one["ec"] ** one["slope"])
outcome = (one["beta"] * hill * kpi_scale).sum(axis=0)
one |= {{"incremental_outcome": outcome, "roi": outcome / spend.sum(axis=0)}}
rng = np.random.default_rng(request["seed"])
arrays = {{k: np.broadcast_to(v, (chains, keep, *v.shape)).copy() for k, v in one.items()}}
arrays["sigma"] = np.full((chains, keep), 0.1)
arrays["roi_m"] = arrays["roi"] * (1 + 0.01 * rng.standard_normal((chains, keep, 2)))
arrays["diverging"] = np.zeros((chains, keep), dtype=bool)
arrays["step_size"] = np.full((chains, keep), 0.3)
arrays["n_steps"] = np.full((chains, keep), 7.0)
arrays["media_scale"], arrays["kpi_scale"] = media_scale, np.asarray(kpi_scale)
np.savez(folder / "posterior.npz", **arrays)
(folder / "request-seen.json").write_text(json.dumps(request))
result = {{"import_s": 0.1, "build_s": 0.2, "sample_s": 0.3, "analyze_s": 0.4,
          "peak_rss_mib": 12.0, "versions": {{}}}}
(folder / "result.json").write_text(json.dumps(result))
'''


def _fake_interpreter(folder: Path, truth: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "python"
    path.write_text(FAKE.format(python=sys.executable), encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    (folder / "truth.json").write_text(json.dumps(truth), encoding="utf-8")
    return path


def _truth_json(scenario: Scenario) -> dict[str, Any]:
    channels = scenario.data.channels
    return {
        "alpha": [c.adstock.params["alpha"] for c in channels],
        "slope": [c.saturation.params["slope"] for c in channels],
        "kappa": [c.saturation.params["kappa"] for c in channels],
        "beta": [c.beta for c in channels],
    }


def test_a_fit_through_the_worker_protocol_scores_the_truth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end through the runner: the fake interpreter writes the truth converted to
    Meridian's units for each replicate's exported data (no holdout: the DGP's spend unit is
    the training rows' max); the records' posterior is the truth, backend 'meridian'; the
    exchange folders are removed."""
    monkeypatch.delenv(mer.PYTHON_ENV, raising=False)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    scenario = parse_scenario(_raw(train_periods=40))
    python = _fake_interpreter(tmp_path / "venv", _truth_json(scenario))
    out = tmp_path / "run"
    summary = run_grid(_text(train=40, python=str(python)), out, RunOptions())
    assert summary.failed == 0, summary.results
    store = RunStore(out)
    records = [store.read_record(cell, rep) for cell, rep, _ in store.records()]
    assert len(records) == 2
    for record in records:
        assert record.attrs["backend"] == "meridian"
        post, truth = record["posterior"], record["truth"]
        assert post.sizes["sample"] == 10  # keep_draws of 2 chains x 5 draws
        for name in ("roas", "contribution_share", "mroas", "adstock_alpha", "saturation_kappa"):
            np.testing.assert_allclose(
                post[name].isel(sample=0), truth[name], rtol=1e-8, err_msg=name
            )
        timings = json.loads(record.attrs["timings"])
        assert timings["draw_s"] == 0.3 and timings["meridian_import_s"] == 0.1
        diagnostics = json.loads(record.attrs["diagnostics"])
        assert diagnostics["divergences"] == 0 and diagnostics["peak_rss_mib"] == 12.0
    assert not list(scratch.iterdir())


def test_a_failing_worker_fails_the_fit_with_its_one_line(
    world: tuple[Scenario, xr.DataTree, ModelData, mer.MeridianModel], tmp_path: Path
) -> None:
    scenario, _, data, model = world
    python = _fake_interpreter(tmp_path / "venv", {**_truth_json(scenario), "fail": True})
    failing = replace(model, python=str(python))
    with pytest.raises(RuntimeError, match=r"exit 1\): ValueError: the fake worker fails"):
        failing.posterior(data, seed=1)


def test_the_real_worker_reports_its_failure_in_one_line(
    world: tuple[Scenario, xr.DataTree, ModelData, mer.MeridianModel],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker script itself, under an interpreter without Meridian: its one-line error
    comes back as the fit's, and the exchange folder is removed."""
    _, _, data, model = world
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    plain = replace(model, python=sys.executable)
    with pytest.raises(RuntimeError, match="No module named 'meridian'"):
        plain.posterior(data, seed=1)
    assert not list(tmp_path.iterdir())


# ------------------------------------------------------------------- refused before fitting


def test_a_missing_interpreter_is_refused_naming_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(mer.PYTHON_ENV, raising=False)
    scenario = parse_scenario(_raw())
    with pytest.raises(ValueError, match=rf"^model.options.python: missing; .*{mer.PYTHON_ENV}"):
        validate_for_fitting(scenario)


def test_an_interpreter_without_meridian_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(mer.PYTHON_ENV, sys.executable)  # the workbench's: no meridian
    with pytest.raises(ValueError, match="cannot import meridian there"):
        validate_for_fitting(parse_scenario(_raw()))
    monkeypatch.setenv(mer.PYTHON_ENV, str(tmp_path / "no-such-python"))
    with pytest.raises(ValueError, match=r"no-such-python.*cannot run it"):
        validate_for_fitting(parse_scenario(_raw()))


@pytest.mark.parametrize(
    ("model", "fit", "message"),
    [
        ({}, {"backend": "nutpie"}, "fit.backend = 'nutpie': model.kind = 'meridian' samples"),
        ({"saturation": {"kind": "logistic"}}, {}, "model.saturation.kind = 'logistic'"),
        ({"adstock": {"kind": "delayed", "l_max": 6}}, {}, "model.adstock.kind = 'delayed'"),
        ({"adstock": {"kind": "geometric", "l_max": 6, "alpha": 0.3}}, {}, "adstock.alpha = 0.3"),
        (
            {"adstock": {"kind": "geometric", "l_max": 6, "normalize": False}},
            {},
            "model.adstock.normalize = False",
        ),
        ({"seasonality_order": 2}, {}, "model.seasonality_order = 2: Meridian's time effects"),
        ({"likelihood": "student_t"}, {}, "model.likelihood = 'student_t'"),
        ({"trend": True}, {}, "model.trend = True: Meridian's time effects are knots"),
        ({"options": {"knots": "many"}}, {}, "model.options.knots = 'many'"),
        ({"options": {"chains": 2}}, {}, "model.options.chains = 2: not an option"),
        ({}, {"options": {"n_burnin": 10**6}}, "fit.options.n_burnin = 1000000: must be <="),
        ({}, {"options": {"step": 1}}, "fit.options.step = 1: not a Meridian option"),
    ],
)
def test_what_meridian_lacks_is_refused(
    model: dict[str, Any], fit: dict[str, Any], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(mer.PYTHON_ENV, raising=False)
    raw = _raw()
    raw["model"] |= model
    raw["fit"] |= fit
    scenario = parse_scenario(raw)
    assert scenario.model is not None
    with pytest.raises(ValueError, match=message):
        get_model_kind("meridian").validate(scenario.model, scenario.fit, None)  # type: ignore[arg-type]


def test_the_example_scenario_fits_the_pymc_marketing_scenarios_datasets() -> None:
    """examples/meridian puts Meridian beside pymc-marketing and the workbench on
    confounded-demand-pymc-marketing's [data] table: the same datasets, cell for cell."""
    from mmm_workbench.scenarios import read_scenario

    example = read_scenario(ROOT / "examples" / "meridian" / "confounded-demand-meridian.toml")
    shipped = read_scenario("confounded-demand-pymc-marketing")
    kinds = {c.scenario.model.kind for c in example.cells if c.scenario.model is not None}
    assert kinds == {"meridian", "pymc-marketing", "workbench"}
    assert {c.data_id for c in example.cells} == {c.data_id for c in shipped.cells}


# ------------------------------------------------------------------------ the real thing


def _meridian_python() -> str | None:
    python = os.environ.get(mer.PYTHON_ENV)
    if not python:
        return None
    try:
        mer.check_interpreter(python)
    except ValueError:
        return None
    return python


@pytest.mark.slow
@pytest.mark.skipif(
    _meridian_python() is None, reason=f"no Meridian interpreter ({mer.PYTHON_ENV} unset or bad)"
)
def test_meridian_fits_one_tiny_replicate(tmp_path: Path) -> None:
    """One replicate of the Meridian-family world, one short chain: Meridian's own
    incremental outcome and ROI agree with the conversion (the fit fails otherwise) and the
    record holds finite estimands in the truth's coordinates."""
    text = _text(train=40, draws=30, tune=40, chains=1, keep=30)
    summary = run_grid(text, tmp_path / "run", RunOptions(replicates=1))
    assert summary.failed == 0, summary.results
    store = RunStore(tmp_path / "run")
    ((cell, rep, _),) = store.records()
    record = store.read_record(cell, rep)
    post = record["posterior"]
    assert post.sizes["sample"] == 30
    for name in ("roas", "contribution_share", "mroas", "adstock_alpha", "saturation_kappa"):
        assert np.all(np.isfinite(post[name])), name
    assert json.loads(record.attrs["diagnostics"])["draws"] == 30
