"""pymc-marketing's MMM from the user's own YAML config (``[model] config = "mmm.yml"``):
built by pymc-marketing's YAML builder, the same model as the TOML path given the same
options (free variables, priors, log density at a point), swappable like it; configs
pymc-marketing or the workbench refuses are refused before fitting with a path-named
message; transform parameters fixed per channel reach pymc-marketing's graph."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pymc as pm
import pytest
import xarray as xr
from pytensor.compile.maker import function as compile_function

from mmm_workbench.recover.cli import main
from mmm_workbench.recover.fitting import CellFitter
from mmm_workbench.recover.models.data import ModelData, model_data, truth_estimands
from mmm_workbench.recover.models.pymc_marketing import (
    PymcMarketingModel,
    build_pymc_marketing,
    check_pymc_marketing,
)
from mmm_workbench.scenarios import Scenario, expand_grid, parse_scenario, replicate_rng
from mmm_workbench.scenarios.spec import declared
from mmm_workbench.simulate import generate
from tests.conftest import tiny_raw
from tests.recover.conftest import SMALL

pytest.importorskip("pymc_marketing")

CHANNELS = ("tv", "search")

RICH_TOML: dict[str, Any] = {
    "adstock": {"kind": "delayed", "l_max": 5, "normalize": False, "theta": 1.0},
    "saturation": {"kind": "hill"},
    "order": "saturation_first",
    "seasonality_order": 2,
    "priors": {
        "adstock_alpha": {"dist": "Beta", "alpha": 2, "beta": 5},
        "saturation_beta": {"dist": "Gamma", "alpha": 2, "beta": 1},
        "saturation_kappa": {"dist": "HalfNormal", "sigma": 0.7},
        "sigma": {"dist": "HalfNormal", "sigma": 0.5},
        "gamma_control": {"dist": "Normal", "mu": 0, "sigma": 0.01},
        "intercept": {"dist": "Normal", "mu": 0.5, "sigma": 0.2},
    },
}
"""Every option the TOML path has, each away from pymc-marketing's default."""

RICH_YAML = """\
model:
  class: pymc_marketing.mmm.MMM
  kwargs:
    date_column: week
    channel_columns: [tv, search]
    target_column: revenue
    control_columns: [demand_proxy]
    yearly_seasonality: 2
    adstock_first: false
    adstock:
      class: pymc_marketing.mmm.DelayedAdstock
      kwargs:
        l_max: 5
        normalize: false
        priors:
          alpha: {distribution: Beta, alpha: 2, beta: 5, dims: channel}
          theta: 1.0
    saturation:
      class: pymc_marketing.mmm.HillSaturation
      kwargs:
        priors:
          beta: {distribution: Gamma, alpha: 2, beta: 1, dims: channel}
          kappa: {distribution: HalfNormal, sigma: 0.7, dims: channel}
    model_config:
      intercept: {distribution: Normal, mu: 0.5, sigma: 0.2}
      gamma_control: {distribution: Normal, mu: 0, sigma: 0.01, dims: control}
      likelihood:
        distribution: Normal
        sigma: {distribution: HalfNormal, sigma: 0.5}
        dims: date
"""
"""The same model in pymc-marketing's YAML (its own date and target column names)."""


def _scenario(tmp_path: Path, yaml: str | None, **model: Any) -> Scenario:
    raw = tiny_raw()
    raw["model"] = {"kind": "pymc-marketing", "controls": ["demand_proxy"], **model}
    if yaml is not None:
        (tmp_path / "mmm.yml").write_text(yaml)
        raw["model"]["config"] = "mmm.yml"
    return parse_scenario(raw, base=tmp_path)


def _data(scenario: Scenario, replicate: int = 0) -> ModelData:
    assert scenario.model is not None
    tree = generate(scenario.data, replicate_rng(scenario.seed, "0feed", replicate))
    return model_data(tree, scenario.model)


def _with_config(tmp_path: Path, text: str, **model: Any) -> Scenario:
    return _scenario(tmp_path, text, **model)


def _point(model: pm.Model, shift: float) -> dict[str, np.ndarray]:
    """A point away from the initial one, the same for models with the same variables."""
    point = model.initial_point()
    return {
        k: np.asarray(v) + shift * (1 + np.arange(np.size(v)).reshape(np.shape(v)))
        for k, v in sorted(point.items())
    }


def _plain(value: Any) -> Any:
    """A prior's dict with no ``dims`` written as ``()`` (both mean a scalar), nested priors
    included."""
    if isinstance(value, dict):
        out = {k: _plain(v) for k, v in value.items()}
        if "dist" in out:
            out["dims"] = tuple(out.get("dims") or ())
        return out
    return value


def _priors(built: PymcMarketingModel) -> dict[str, Any]:
    """Every prior pymc-marketing's MMM holds, as pymc-extras' dicts (distribution,
    parameters, dims)."""
    mmm = built.mmm
    out: dict[str, Any] = {}
    for role in ("adstock", "saturation"):
        for name, prior in getattr(mmm, role).function_priors.items():
            out[f"{role}.{name}"] = _plain(prior.to_dict()) if hasattr(prior, "to_dict") else prior
    for name in ("intercept", "gamma_control", "gamma_fourier", "likelihood"):
        out[name] = _plain(mmm.model_config[name].to_dict())
    return out


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[PymcMarketingModel, ...]:
    """The rich model from the [model] table and from YAML, on the same data."""
    tmp = tmp_path_factory.mktemp("pair")
    toml = _scenario(tmp, None, **RICH_TOML)
    yaml = _scenario(tmp, RICH_YAML)
    data = _data(toml)
    assert toml.model is not None and yaml.model is not None
    return build_pymc_marketing(toml.model, data), build_pymc_marketing(yaml.model, data)


@pytest.fixture(scope="module")
def pair_logp(pair: tuple[PymcMarketingModel, ...]) -> tuple[Any, ...]:
    """The pair's log densities, compiled once (they read the models' data containers)."""
    return tuple(built.model.compile_logp() for built in pair)


def test_yaml_and_toml_give_the_same_model(
    pair: tuple[PymcMarketingModel, ...], pair_logp: tuple[Any, ...]
) -> None:
    """Same free random variables, same priors (distribution, parameters, dims), same
    log density at two points, same workbench spec (transforms, order, seasonality)."""
    toml, yaml = pair
    assert {v.name for v in toml.model.free_RVs} == {v.name for v in yaml.model.free_RVs}
    assert {v.name for v in toml.model.free_RVs} == {
        "adstock_alpha",
        "saturation_kappa",
        "saturation_slope",
        "saturation_beta",
        "intercept_contribution",
        "gamma_control",
        "gamma_fourier",
        "y_sigma",
    }
    assert _priors(toml) == _priors(yaml)
    assert _priors(yaml)["saturation.kappa"]["kwargs"] == {"sigma": 0.7}
    assert _priors(yaml)["adstock.theta"] == 1.0  # fixed in both
    for shift in (0.0, 0.13):
        point = _point(toml.model, shift)
        assert pair_logp[0](point) == pytest.approx(pair_logp[1](point), rel=1e-12)
    assert yaml.spec.adstock == toml.spec.adstock and yaml.spec.saturation == toml.spec.saturation
    assert (yaml.spec.order, yaml.spec.seasonality_order) == ("saturation_first", 2)
    assert yaml.free == toml.free
    assert yaml.spec.config is not None and toml.spec.config is None


def test_one_prior_changed_changes_the_log_density(
    tmp_path: Path, pair: tuple[PymcMarketingModel, ...], pair_logp: tuple[Any, ...]
) -> None:
    """The comparison can fail: kappa's prior scale 0.7 -> 0.8 in the YAML alone."""
    toml = pair[0]
    other = _with_config(tmp_path, RICH_YAML.replace("sigma: 0.7", "sigma: 0.8"))
    assert other.model is not None
    changed = build_pymc_marketing(other.model, _data(other))
    point = _point(toml.model, 0.13)
    assert pair_logp[0](point) != pytest.approx(changed.model.compile_logp()(point), rel=1e-9)


def test_yaml_model_swaps_data_like_the_toml_model(
    tmp_path: Path, pair: tuple[PymcMarketingModel, ...], pair_logp: tuple[Any, ...]
) -> None:
    """Replicate 1 swapped into the YAML model (built on replicate 0) is the YAML model built
    afresh on replicate 1: the compile-once path holds (the log density compiled before the
    swap gives the fresh model's after it)."""
    scenario = _with_config(tmp_path, RICH_YAML)
    assert scenario.model is not None
    swapped = pair[1]
    second = _data(scenario, 1)
    fresh = build_pymc_marketing(scenario.model, second)
    point = _point(fresh.model, 0.07)
    before = pair_logp[1](point)
    pm.set_data(swapped.set_data(second), model=swapped.model)
    try:
        after = pair_logp[1](point)
        assert not np.isclose(before, after)
        np.testing.assert_allclose(after, fresh.model.compile_logp()(point), rtol=1e-12)
    finally:
        pm.set_data(swapped.set_data(_data(scenario, 0)), model=swapped.model)


def test_yaml_estimands_convert_units_like_the_toml_path(
    pair: tuple[PymcMarketingModel, ...],
) -> None:
    """The same draws give the same estimands in data units through either path."""
    toml, yaml = pair
    scenario_data = _data(_scenario(Path("."), None, **RICH_TOML))
    rng = np.random.default_rng(0)
    draws = {
        "adstock_alpha": rng.uniform(0.1, 0.8, (4, 2)),
        "saturation_slope": rng.uniform(0.5, 2.0, (4, 2)),
        "saturation_kappa": rng.uniform(0.2, 1.0, (4, 2)),
        "saturation_beta": rng.uniform(0.1, 1.0, (4, 2)),
        "y_sigma": rng.uniform(0.1, 0.3, 4),
    }
    x_scale = np.max(scenario_data.spend, axis=0)
    multipliers = np.array([0.5, 1.0, 1.5])
    a = toml.estimands(scenario_data, draws, x_scale, multipliers)
    b = yaml.estimands(scenario_data, draws, x_scale, multipliers)
    xr.testing.assert_allclose(a, b)


CHANNEL_YAML = RICH_YAML.replace("channel_columns: [tv, search]", "channel_columns: [tv, radio]")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "        dims: date\n",
            "        dims: date\nsample_kwargs: {draws: 10}\n",
            r"model.config = 'mmm.yml': pymc-marketing rejects it: ValidationError: .*"
            r"Unknown config key 'sample_kwargs'",
        ),
        (
            "distribution: Beta",
            "distribution: Btea",
            r"model.config = 'mmm.yml': pymc-marketing rejects it: .*Parameter alpha: .*Btea",
        ),
        (
            "pymc_marketing.mmm.DelayedAdstock",
            "pymc_marketing.mmm.NoSuchAdstock",
            r"model.config = 'mmm.yml': pymc-marketing rejects it: AttributeError: .*NoSuchAdstock",
        ),
        (
            "control_columns: [demand_proxy]",
            "control_columns: [weather]",
            r"model.config = 'mmm.yml': model.kwargs.control_columns = \['weather'\]: must "
            r"equal model.controls = \['demand_proxy'\]",
        ),
        (
            "    yearly_seasonality: 2\n",
            "    yearly_seasonality: 2\n    dims: [geo]\n",
            r"model.config = 'mmm.yml': model.kwargs.dims = \['geo'\]: a geo model; add "
            r"\[model.geo\]",
        ),
        (
            "      kwargs:\n        priors:\n          beta",
            "      kwargs:\n        prefix: sat\n        priors:\n          beta",
            r"model.kwargs.saturation.kwargs.prefix = 'sat': keep the default 'saturation'",
        ),
        (
            "          kappa: {distribution: HalfNormal, sigma: 0.7, dims: channel}",
            "          kappa: {distribution: HalfNormal, sigma: 0.7, dims: []}",
            r"model.kwargs.saturation: prior dims \[\(\), \('channel',\)\]: give every",
        ),
    ],
)
def test_configs_refused_before_fitting(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in RICH_YAML
    scenario = _with_config(tmp_path, RICH_YAML.replace(old, new))
    assert scenario.model is not None
    with pytest.raises(ValueError, match=message):
        check_pymc_marketing(scenario.model, CHANNELS)


def test_a_channel_the_data_lacks_is_named(tmp_path: Path) -> None:
    scenario = _with_config(tmp_path, CHANNEL_YAML)
    assert scenario.model is not None
    with pytest.raises(
        ValueError,
        match=r"model.config = 'mmm.yml': model.kwargs.channel_columns\[1\] = 'radio': the "
        r"data has no such channel; channels: tv, search",
    ):
        check_pymc_marketing(scenario.model, CHANNELS)
    with pytest.raises(ValueError, match=r"channel_columns\[1\] = 'radio'"):
        build_pymc_marketing(scenario.model, _data(scenario))  # build checks it too
    reordered = _with_config(tmp_path, RICH_YAML.replace("[tv, search]", "[search, tv]")).model
    assert reordered is not None
    with pytest.raises(ValueError, match=r"must be the scenario's channels, in its order"):
        check_pymc_marketing(reordered, CHANNELS)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (
            {
                "adstock": RICH_TOML["adstock"],
                "saturation": RICH_TOML["saturation"],
                "priors": {"sigma": {"dist": "HalfNormal", "sigma": 1}},
            },
            r"model.priors: the config's priors are used",
        ),
        ({"likelihood": "student_t"}, r"model.likelihood = 'student_t': the config decides"),
        (
            {"adstock": {"kind": "geometric", "l_max": 5}, "saturation": {"kind": "hill"}},
            r"model.adstock = \{ kind = 'geometric'.* contradicts the config's "
            r"\{ kind = 'delayed', l_max = 5, normalize = False, fixed \{'theta': 1.0\} \}",
        ),
    ],
)
def test_the_model_table_leaves_the_config_its_choices(
    tmp_path: Path, model: dict[str, Any], message: str
) -> None:
    scenario = _with_config(tmp_path, RICH_YAML, **model)
    assert scenario.model is not None
    with pytest.raises(ValueError, match=message):
        check_pymc_marketing(scenario.model, CHANNELS)


def test_the_model_table_may_repeat_the_configs_transforms(tmp_path: Path) -> None:
    repeated = {k: RICH_TOML[k] for k in ("adstock", "saturation")}
    scenario = _with_config(tmp_path, RICH_YAML, **repeated)
    assert scenario.model is not None
    check_pymc_marketing(scenario.model, CHANNELS)


@pytest.mark.parametrize(
    ("config", "says"),
    [
        (
            RICH_YAML.replace("distribution: Beta", "distribution: Btea"),
            "pymc-marketing rejects it:",
        ),
        (CHANNEL_YAML, "model.kwargs.channel_columns[1] = 'radio': the data has no such channel"),
    ],
)
def test_cli_refuses_a_bad_config_with_exit_2_and_no_run_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], config: str, says: str
) -> None:
    (tmp_path / "mmm.yml").write_text(config)
    model = 'adstock = { kind = "geometric", l_max = 3 }\nsaturation = { kind = "logistic" }'
    assert model in SMALL
    text = SMALL.replace(model, 'kind = "pymc-marketing"\nconfig = "mmm.yml"')
    (tmp_path / "s.toml").write_text(text)
    out = tmp_path / "run"
    assert main(["run", str(tmp_path / "s.toml"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"model.config = 'mmm.yml': {says}" in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_transforms_fixed_per_channel_reach_pymc_marketings_graph(tmp_path: Path) -> None:
    """``alpha = [0.3, 0.6]`` (TOML path): not a random variable, and channel c's
    contribution is the one a single ``alpha = a_c`` gives channel c."""
    base = {"adstock": {"kind": "geometric", "l_max": 4}, "saturation": {"kind": "logistic"}}

    def built(alpha: Any) -> PymcMarketingModel:
        model = {**base, "adstock": {**base["adstock"], "alpha": alpha}}
        scenario = _scenario(tmp_path, None, **model)
        assert scenario.model is not None
        return build_pymc_marketing(scenario.model, _data(scenario))

    def contribution(model: PymcMarketingModel) -> np.ndarray:
        m = model.model
        fn = compile_function(
            [m["saturation_lam"], m["saturation_beta"]],
            m["channel_contribution"],
            on_unused_input="ignore",
        )
        return np.asarray(fn(np.array([1.2, 2.0]), np.array([0.5, 0.3])))

    both = built([0.3, 0.6])
    assert "adstock_alpha" not in {v.name for v in both.model.free_RVs}
    assert both.free == ("saturation_lam", "saturation_beta")
    together = contribution(both)
    for c, alpha in enumerate((0.3, 0.6)):
        np.testing.assert_allclose(together[:, c], contribution(built(alpha))[:, c], rtol=1e-12)
    assert not np.allclose(together, contribution(built(0.3)))


GEOMETRIC_YAML = """\
model:
  class: pymc_marketing.mmm.MMM
  kwargs:
    date_column: date
    channel_columns: [tv, search]
    target_column: y
    control_columns: [demand_proxy]
    adstock:
      class: pymc_marketing.mmm.GeometricAdstock
      kwargs: {l_max: 6}
    saturation:
      class: pymc_marketing.mmm.LogisticSaturation
"""
"""pymc-marketing's geometric adstock (l_max 6) and logistic saturation, its default priors:
the transforms of the tiny world's ``tv`` (its ``search`` is delayed and Hill)."""


@pytest.mark.parametrize(
    ("config", "tv_adstock"),
    [
        (GEOMETRIC_YAML, True),
        # l_max 4 against the data's 6: tv's adstock not comparable, its saturation still is
        (GEOMETRIC_YAML.replace("l_max: 6", "l_max: 4"), False),
    ],
)
def test_a_config_without_transform_tables_is_scored_on_its_own_transforms(
    tmp_path: Path, config: str, tv_adstock: bool
) -> None:
    """A cell with ``config`` and no ``[model.adstock]``/``[model.saturation]``: the record's
    truth holds the transform parameters where the config's families (and l_max) are the
    data's, channel by channel, and NaN where they are not; it was NaN everywhere when the
    truth was matched against the scenario's absent transforms."""
    raw = tiny_raw()
    (tmp_path / "mmm.yml").write_text(config)
    raw["model"] = {"kind": "pymc-marketing", "config": "mmm.yml", "controls": ["demand_proxy"]}
    raw["fit"] = {"backend": "map"}
    (cell,) = expand_grid(parse_scenario(raw, base=tmp_path))
    assert cell.scenario.model is not None and not declared(cell.scenario.model.adstock)
    fitter = CellFitter(cell)  # builds the config's model; its record's truth is this:
    truth = truth_estimands(fitter._dataset(0), fitter.spec)
    alpha, lam = truth["adstock_alpha"], truth["saturation_lam"]
    assert float(lam.sel(channel="tv")) == 1.5  # the tiny world's tv: logistic, lam 1.5
    assert np.isnan(float(lam.sel(channel="search")))  # search's saturation is Hill
    assert np.isnan(float(alpha.sel(channel="search")))  # delayed, not geometric
    if tv_adstock:
        assert float(alpha.sel(channel="tv")) == 0.6
    else:
        assert np.isnan(float(alpha.sel(channel="tv")))
    assert np.isnan(truth["saturation_kappa"]).all()  # no Hill in the config
