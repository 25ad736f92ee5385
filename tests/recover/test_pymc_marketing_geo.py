"""pymc-marketing's MMM with ``dims = ("geo",)`` (``kind = "pymc-marketing"`` with
``[model.geo]``, or a YAML config with ``dims: [geo]``): the unit conversion both ways, as
for the national adapter (pymc-marketing's own graph at the converted truth gives the
DGP's per-geo contributions; the estimands at that point are the national and per-geo
truth), data swapping, what is refused, and one real fit (slow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pymc as pm
import pytest
import xarray as xr
from pytensor.compile.maker import function as compile_function

from mmm_workbench.recover.cli import main
from mmm_workbench.recover.models.data import ModelData, model_data, scored_spec, truth_estimands
from mmm_workbench.recover.models.panel import GEO_ESTIMANDS
from mmm_workbench.recover.models.pymc_marketing import build_pymc_marketing
from mmm_workbench.recover.models.pymc_marketing_geo import PymcMarketingGeoModel, panel_frame
from mmm_workbench.scenarios import Scenario, replicate_rng, scenario_from_text, spec_hash
from mmm_workbench.simulate import generate

pytest.importorskip("pymc_marketing")

WORLD = """
name = "pmm-geo"
seed = 11
replicates = 2

[data]
periods = 60
intercept = 200.0
demand = { scale = 400, noise_sd = 0.05 }
proxy = { noise_sd = 0.0 }
noise = { kind = "normal", sd = 4.0 }

[[data.channels]]
name = "tv"
spend = { demand_share = 0.1, noise_sd = 0.4 }
adstock = { kind = "geometric", alpha = 0.5, l_max = 3 }
saturation = { kind = "logistic", lam = 1.5 }
beta = 120

[[data.channels]]
name = "search"
spend = { pattern = "uniform", low = 10.0, high = 40.0 }
adstock = { kind = "geometric", alpha = 0.2, l_max = 3 }
saturation = { kind = "logistic", lam = 2.5 }
beta = 60

[data.geo]
count = 4
size_decay = 0.8
spread = { beta = 0.3 }

[model]
kind = "pymc-marketing"
%(model)s
controls = ["demand_proxy"]
%(extra)s

[model.geo]
%(geo)s

[fit]
backend = "map"
"""
"""Four geos whose effects differ (spread 0.3), spend split by size: each geo's spend is
its share of the national plan, so its max over the (all training) rows is its spend unit
and the DGP's per-geo curves are pymc-marketing's per-geo-scaled curves exactly."""

TOML_MODEL = (
    'adstock = { kind = "geometric", l_max = 3, alpha = [0.5, 0.2] }\n'
    'saturation = { kind = "logistic", lam = [1.5, 2.5] }'
)

YAML = """\
model:
  class: pymc_marketing.mmm.MMM
  kwargs:
    date_column: date
    channel_columns: [tv, search]
    target_column: y
    control_columns: [demand_proxy]
    dims: [geo]
    adstock:
      class: pymc_marketing.mmm.GeometricAdstock
      kwargs:
        l_max: 3
        priors:
          alpha: {distribution: Beta, alpha: 1, beta: 3, dims: [geo, channel]}
    saturation:
      class: pymc_marketing.mmm.LogisticSaturation
      kwargs: {}
"""
"""pymc-marketing's defaults under ``dims: [geo]``: one scale per channel over dates and
geos, every parameter per geo and channel."""


def _scenario(text: str, tmp: Path | None = None) -> Scenario:
    if tmp is not None:
        (tmp / "mmm.yml").write_text(YAML)
        (tmp / "s.toml").write_text(text)
        from mmm_workbench.scenarios import read_scenario

        return read_scenario(tmp / "s.toml").cells[0].scenario
    return scenario_from_text(text).cells[0].scenario


def _toml(geo: str = "", extra: str = "", model: str = TOML_MODEL) -> str:
    return WORLD % {"model": model, "geo": geo, "extra": extra}


def _replicate(scenario: Scenario, i: int) -> tuple[xr.DataTree, ModelData]:
    assert scenario.model is not None
    tree = generate(scenario.data, replicate_rng(scenario.seed, spec_hash(scenario.data), i))
    return tree, model_data(tree, scenario.model)


def _built(scenario: Scenario) -> tuple[PymcMarketingGeoModel, xr.DataTree, ModelData]:
    """Built on replicate 0, replicate 1 swapped in (data and scales)."""
    assert scenario.model is not None
    model = build_pymc_marketing(scenario.model, _replicate(scenario, 0)[1])
    assert isinstance(model, PymcMarketingGeoModel)
    tree, data = _replicate(scenario, 1)
    pm.set_data(model.set_data(data), model=model.model)
    return model, tree, data


@pytest.fixture(scope="module")
def toml_model() -> tuple[PymcMarketingGeoModel, xr.DataTree, ModelData]:
    return _built(_scenario(_toml()))


@pytest.fixture(scope="module")
def yaml_model(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[PymcMarketingGeoModel, xr.DataTree, ModelData, Scenario]:
    scenario = _scenario(_toml(model='config = "mmm.yml"'), tmp_path_factory.mktemp("yaml"))
    return (*_built(scenario), scenario)


def _converted_truth(
    model: PymcMarketingGeoModel, tree: xr.DataTree, data: ModelData
) -> dict[str, np.ndarray]:
    """The DGP's per-geo parameters in pymc-marketing's units: beta over each geo's target
    scale, lam times the channel scale over the geo's spend unit (x_scale), alpha as is."""
    geo = tree["truth/geo"]
    channel_scale, target_scale = model._scales(data)
    values = {"saturation_beta": geo["saturation_beta"].to_numpy() / target_scale[:, None]}
    if "saturation_lam" in model.free:
        values["saturation_lam"] = (
            geo["saturation_lam"].to_numpy() * channel_scale / geo["x_scale"].to_numpy()
        )
    if "adstock_alpha" in model.free:
        values["adstock_alpha"] = geo["adstock_alpha"].to_numpy()
    return values


def _at(model: PymcMarketingGeoModel, values: dict[str, np.ndarray]) -> list[np.ndarray]:
    m = model.model
    fn = compile_function(
        [m[n] for n in values],
        [m["channel_contribution"], m["mu"]],
        on_unused_input="ignore",
    )
    return [np.asarray(v) for v in fn(*values.values())]


def _check_both_ways(
    model: PymcMarketingGeoModel, tree: xr.DataTree, data: ModelData, scenario: Scenario
) -> None:
    """(1) pymc-marketing's ``channel_contribution`` at the converted truth, times each
    geo's target scale, is the DGP's per-geo contribution; (2) three identical draws there
    give the national and the per-geo truth; with the geos' effects reversed they do not."""
    values = _converted_truth(model, tree, data)
    contribution, mu = _at(model, values)
    _, target_scale = model._scales(data)
    rows = len(data.dates)
    expected = tree["truth/geo"]["channel_contribution"].transpose("date", "geo", "channel")
    np.testing.assert_allclose(
        contribution * target_scale[None, :, None], expected[:rows], rtol=1e-9, atol=1e-9
    )
    assert scenario.model is not None
    truth = truth_estimands(tree, scored_spec(model, scenario.model))
    x_scale, multipliers = tree["truth"]["x_scale"].to_numpy(), truth["multiplier"].to_numpy()

    def estimands(params: dict[str, np.ndarray]) -> xr.Dataset:
        draws = {k: np.repeat(v[None], 3, axis=0) for k, v in params.items()}
        draws |= {
            "channel_contribution": np.repeat(contribution[None], 3, axis=0),
            "mu": np.repeat(mu[None], 3, axis=0),
            "y_sigma": np.full((3, len(target_scale)), 0.05),
        }
        return model.estimands(data, draws, x_scale, multipliers)

    got = estimands(values)
    names = ["contribution_total", "contribution_share", "roas", "mroas", "response"]
    for name in [*names, "channel_contribution", *GEO_ESTIMANDS]:
        for s in range(3):
            np.testing.assert_allclose(
                got[name].isel(sample=s), truth[name], rtol=1e-8, atol=1e-9, err_msg=name
            )
    sigma = 0.05 * np.sqrt(np.sum(target_scale**2))  # the national sum of the geos' noise
    np.testing.assert_allclose(got["sigma"], sigma, rtol=1e-12)
    assert not any(str(v).startswith(("adstock_", "saturation_")) for v in got.data_vars)
    reversed_ = {**values, "saturation_beta": values["saturation_beta"][::-1]}
    wrong = estimands(reversed_)
    assert np.max(np.abs(wrong["geo_roas"] / truth["geo_roas"] - 1)) > 0.1


def test_toml_geo_model_converts_units_both_ways(
    toml_model: tuple[PymcMarketingGeoModel, xr.DataTree, ModelData],
) -> None:
    """Per-geo scales, national transforms (fixed), the effect partially pooled by geo."""
    model, tree, data = toml_model
    assert model.channel_by_geo and model.target_by_geo
    assert model.dims["saturation_beta"] == ("geo", "channel")
    assert model.extra_draws == ("saturation_beta",)  # non-centred: a deterministic
    _check_both_ways(model, tree, data, _scenario(_toml()))


def test_yaml_geo_model_converts_units_both_ways(
    yaml_model: tuple[PymcMarketingGeoModel, xr.DataTree, ModelData, Scenario],
) -> None:
    """pymc-marketing's defaults under dims [geo]: one scale per channel over the panel,
    every parameter (alpha, lam, beta) per geo and channel."""
    model, tree, data, scenario = yaml_model
    assert not model.channel_by_geo and not model.target_by_geo
    assert model.dims["saturation_lam"] == ("geo", "channel")
    _check_both_ways(model, tree, data, scenario)


@pytest.mark.slow  # two compiled log densities of pymc-marketing's model: 17 s
def test_swapped_panel_and_scales_give_the_model_built_afresh(
    toml_model: tuple[PymcMarketingGeoModel, xr.DataTree, ModelData],
) -> None:
    """The cell's model with replicate 1 swapped in (panel and per-geo scales) has the log
    density of pymc-marketing's MMM built on replicate 1; with replicate 0's scales left in
    it does not."""
    swapped, _, second = toml_model
    scenario = _scenario(_toml())
    assert scenario.model is not None
    first = _replicate(scenario, 0)[1]
    fresh = build_pymc_marketing(scenario.model, second)
    point = fresh.model.initial_point(0)
    logp_fresh = fresh.model.compile_logp()(point)
    np.testing.assert_allclose(swapped.model.compile_logp()(point), logp_fresh, rtol=1e-12)
    pm.set_data(swapped.set_data(first), model=swapped.model)
    stale = {k: v for k, v in swapped.set_data(second).items() if not k.endswith("_scale")}
    pm.set_data(stale, model=swapped.model)
    assert not np.isclose(swapped.model.compile_logp()(point), logp_fresh)
    pm.set_data(swapped.set_data(second), model=swapped.model)


def test_panel_frame_is_pymc_marketings_long_layout() -> None:
    scenario = _scenario(_toml())
    tree, data = _replicate(scenario, 0)
    frame = panel_frame(data)
    assert list(frame.columns) == ["date", "geo", "tv", "search", "demand_proxy", "sales"]
    assert len(frame) == 60 * 4
    obs = tree["observed"]
    row = frame.iloc[4 * 7 + 2]  # date 7, geo 3
    assert row["geo"] == str(obs["geo"][2].item())
    assert row["tv"] == float(obs["spend"].sel(channel="tv")[7, 2])
    assert row["sales"] == float(obs["sales"][7, 2])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"extra": 'likelihood = "student_t"'},
            "model.likelihood = 'student_t': a pymc-marketing geo model is scored nationally",
        ),
        (
            {
                "model": 'adstock = { kind = "geometric", l_max = 3, alpha = [0.5, 0.2] }\n'
                'saturation = { kind = "tanh" }'
            },
            "model.saturation.kind = 'tanh': pymc-marketing's tanh has no beta",
        ),
        (
            {"extra": 'priors = { saturation_beta = { dist = "HalfNormal", sigma = 1 } }'},
            "model.priors.saturation_beta: with 'beta' in model.geo.vary",
        ),
    ],
)
def test_what_the_geo_model_cannot_convert_is_refused(
    change: dict[str, str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "s.toml").write_text(_toml(**change))
    assert main(["run", str(tmp_path / "s.toml"), "--out", str(tmp_path / "run")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("yaml", "geo", "message"),
    [
        (YAML, None, "model.kwargs.dims = ['geo']: a geo model; add [model.geo]"),
        (YAML.replace("    dims: [geo]\n", ""), "", "no model.kwargs.dims: with [model.geo]"),
        (YAML.replace("dims: [geo]", "dims: [region]"), "", "model.kwargs.dims = ['region']"),
    ],
)
def test_a_configs_dims_must_match_model_geo(
    yaml: str, geo: str | None, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = _toml(model='config = "mmm.yml"')
    if geo is None:
        text = text.replace("[model.geo]\n", "")
    (tmp_path / "mmm.yml").write_text(yaml)
    (tmp_path / "s.toml").write_text(text)
    assert main(["run", str(tmp_path / "s.toml"), "--out", str(tmp_path / "run")]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_nutpie_fit_recovers_national_and_geo_roas(tmp_path: Path) -> None:
    """One real fit (nutpie, 2 chains x 300 draws) of the TOML geo model: the national ROAS
    within 25% and every geo's ROAS within its 99% interval or 35%; the record holds the
    per-geo estimands beside the national ones."""
    text = _toml().replace('backend = "map"', 'backend = "nutpie"\ndraws = 300\ntune = 300')
    (tmp_path / "s.toml").write_text(text.replace("replicates = 2", "replicates = 1"))
    assert main(["run", str(tmp_path / "s.toml"), "--out", str(tmp_path / "run")]) == 0
    from mmm_workbench.recover.store import RunStore

    store = RunStore(tmp_path / "run")
    ((cell, replicate, _),) = list(store.records())
    record = store.read_record(cell, replicate)
    post, truth = record["posterior"].to_dataset(), record["truth"].to_dataset()
    np.testing.assert_allclose(post["roas"].mean("sample"), truth["roas"], rtol=0.25)
    est = post["geo_roas"]
    low, high = est.quantile(0.005, "sample"), est.quantile(0.995, "sample")
    inside = (low <= truth["geo_roas"]) & (truth["geo_roas"] <= high)
    close = np.abs(est.mean("sample") / truth["geo_roas"] - 1) < 0.35
    assert bool((inside | close).all())
