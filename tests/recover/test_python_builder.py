"""``[model] kind = "python"``: a user's PyMC model from ``builder = "module:function"``.

Every breach of the builder contract is refused before any fitting, naming the builder;
the estimands derived from ``channel_contribution`` and a response function equal the
workbench model's own for the same draws; the worked example's builder fits end to end."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pymc as pm
import pytest
import xarray as xr

from mmm_workbench.recover.cli import main
from mmm_workbench.recover.fitting import validate_for_fitting
from mmm_workbench.recover.models.data import ModelData, model_data, truth_estimands
from mmm_workbench.recover.models.python_builder import PythonModel
from mmm_workbench.recover.models.workbench import build_workbench
from mmm_workbench.recover.runner import RunOptions, plan_run, run_grid
from mmm_workbench.recover.store import RunStore
from mmm_workbench.scenarios import load_scenario, parse_scenario, read_scenario, replicate_rng
from mmm_workbench.simulate import generate
from tests.recover.conftest import SMALL

EXAMPLE = Path(__file__).parents[2] / "examples" / "your-model" / "my_model.py"
ONE_CELL = SMALL.replace('[grid]\n"data.proxy.noise_sd" = [0.0, 0.2]\n', "")
PYTHON = ONE_CELL.replace(
    'adstock = { kind = "geometric", l_max = 3 }\nsaturation = { kind = "logistic" }\n',
    'kind = "python"\nbuilder = "my_model:build"\noptions = { l_max = 3 }\n',
)

HEADER = """
import numpy as np
import pymc as pm


def _model(data, spend_values, target_values, dims=("date", "channel"), deterministic=True):
    coords = {"date": data.dates, "channel": list(data.channels)}
    with pm.Model(coords=coords) as model:
        spend = pm.Data("spend", spend_values, dims=("date", "channel"))
        target = pm.Data("target", target_values, dims="date")
        beta = pm.HalfNormal("beta", 1, dims="channel")
        contribution = spend * beta
        if deterministic:
            if dims != ("date", "channel"):
                pm.Deterministic("channel_contribution", contribution.T, dims=dims)
            else:
                pm.Deterministic("channel_contribution", contribution, dims=dims)
        pm.Normal("y", contribution.sum(axis=1), 1.0, observed=target, dims="date")
    return model
"""

BREACHES = {
    "cannot_import": ("nosuch_module:build", "", r"cannot import 'nosuch_module'"),
    "import_fails": (
        "my_model:build",
        "import nosuch_dependency\n",
        r"cannot import 'my_model' .*ModuleNotFoundError: No module named 'nosuch_dependency'",
    ),
    "no_function": ("my_model:nope", "", r"module 'my_model' has no 'nope'"),
    "not_callable": ("my_model:build", "build = 3\n", r"'build' is a int, not a function"),
    "builder_raises": (
        "my_model:build",
        "def build(data, l_max):\n    raise RuntimeError('boom')\n",
        r"the builder raised RuntimeError: boom",
    ),
    "unknown_option": (
        "my_model:build",
        "def build(data):\n    return _model(data, data.spend, data.target)\n",
        r"the builder raised TypeError: .*unexpected keyword argument 'l_max'",
    ),
    "not_a_model": (
        "my_model:build",
        "def build(data, l_max):\n    return {'model': None}\n",
        r"returned dict; it must return a pm.Model or \(pm.Model, response function\)",
    ),
    "response_not_callable": (
        "my_model:build",
        "def build(data, l_max):\n    return _model(data, data.spend, data.target), 'f'\n",
        r"the response function is a str, not callable",
    ),
    "no_contribution": (
        "my_model:build",
        "def build(data, l_max):\n"
        "    return _model(data, data.spend, data.target, deterministic=False)\n",
        r"the model has no deterministic 'channel_contribution'",
    ),
    "wrong_dims": (
        "my_model:build",
        "def build(data, l_max):\n"
        "    return _model(data, data.spend, data.target, dims=('channel', 'date'))\n",
        r"'channel_contribution' has dims \('channel', 'date'\); it must have \('date', 'channel'\)",
    ),
    "baked_spend": (
        "my_model:build",
        "def build(data, l_max):\n"
        "    model = _model(data, data.spend, data.target, deterministic=False)\n"
        "    with model:\n"
        "        pm.Deterministic('channel_contribution', data.spend * model['beta'],"
        " dims=('date', 'channel'))\n"
        "    return model\n",
        r"inputs that are not data containers: .* channel_contribution differs",
    ),
    "baked_target": (
        "my_model:build",
        "def build(data, l_max):\n"
        "    coords = {'date': data.dates, 'channel': list(data.channels)}\n"
        "    with pm.Model(coords=coords) as model:\n"
        "        spend = pm.Data('spend', data.spend, dims=('date', 'channel'))\n"
        "        beta = pm.HalfNormal('beta', 1, dims='channel')\n"
        "        c = pm.Deterministic('channel_contribution', spend * beta,"
        " dims=('date', 'channel'))\n"
        "        pm.Normal('y', c.sum(axis=1), 1.0, observed=data.target, dims='date')\n"
        "    return model\n",
        r"inputs that are not data containers: .* log density differs",
    ),
    "no_containers": (
        "my_model:build",
        "def build(data, l_max):\n"
        "    coords = {'date': data.dates, 'channel': list(data.channels)}\n"
        "    with pm.Model(coords=coords) as model:\n"
        "        beta = pm.HalfNormal('beta', 1, dims='channel')\n"
        "        c = pm.Deterministic('channel_contribution', data.spend * beta,"
        " dims=('date', 'channel'))\n"
        "        pm.Normal('y', c.sum(axis=1), 1.0, observed=data.target, dims='date')\n"
        "    return model\n",
        r"the model has no data containers",
    ),
}


def _scenario(tmp_path: Path, builder: str, module: str | None) -> Path:
    if module is not None:
        (tmp_path / "my_model.py").write_text(module)
    path = tmp_path / "scenario.toml"
    path.write_text(PYTHON.replace('"my_model:build"', repr(builder).replace("'", '"')))
    return path


@pytest.mark.parametrize("breach", list(BREACHES))
def test_each_breach_of_the_contract_is_refused_before_fitting(breach: str, tmp_path: Path) -> None:
    builder, body, message = BREACHES[breach]
    path = _scenario(tmp_path, builder, HEADER + body)
    with pytest.raises(ValueError, match=rf"model.builder = '{builder}': {message}"):
        validate_for_fitting(load_scenario(path))


def test_a_breach_is_exit_2_from_the_cli_and_leaves_no_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    builder, body, _ = BREACHES["baked_spend"]
    path = _scenario(tmp_path, builder, HEADER + body)
    out = tmp_path / "run"
    assert main(["run", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "model.builder = 'my_model:build'" in err and "Traceback" not in err
    assert not out.exists()


def test_the_module_next_to_the_scenario_is_part_of_the_cell(tmp_path: Path) -> None:
    """Editing the model's file changes the cell's identity (it refits, not mixes)."""
    from mmm_workbench.scenarios import expand_grid

    path = _scenario(tmp_path, "my_model:build", EXAMPLE.read_text())
    before = expand_grid(load_scenario(path))[0].cell_id
    (tmp_path / "my_model.py").write_text(EXAMPLE.read_text() + "\n# edited\n")
    assert expand_grid(load_scenario(path))[0].cell_id != before


def test_a_kind_without_a_builder_is_refused() -> None:
    text = PYTHON.replace('builder = "my_model:build"\noptions = { l_max = 3 }\n', "")
    with pytest.raises(ValueError, match=r"model\.builder: missing"):
        validate_for_fitting(parse_scenario(tomllib.loads(text)))


def _workbench_case() -> tuple[ModelData, object, dict[str, np.ndarray], xr.Dataset, tuple]:
    scenario = parse_scenario(tomllib.loads(ONE_CELL))
    assert scenario.model is not None
    tree = generate(scenario.data, replicate_rng(scenario.seed, "abc123", 0))
    data = model_data(tree, scenario.model)
    wb = build_workbench(scenario.model, data)
    names = [*wb.free, "sigma"]
    values = pm.draw([wb.model[n] for n in names], draws=40, random_seed=5)
    draws = {n: np.asarray(v) for n, v in zip(names, values, strict=True)}
    truth = truth_estimands(tree, scenario.model)
    scales = (tree["truth"]["x_scale"].to_numpy(), truth["multiplier"].to_numpy())
    return data, wb, draws, wb.estimands(data, draws, *scales), scales


def test_derived_estimands_equal_the_workbench_models_for_the_same_draws() -> None:
    """The workbench model's draws, handed over as a python model would give them
    (contributions, beta and sigma in data units; the media function as response):
    every estimand derived by the workbench equals the workbench model's own."""
    data, wb, draws, ref, scales = _workbench_case()
    ys = data.target_scale
    spec = replace(wb.spec, kind="python", builder="unused:build")  # type: ignore[attr-defined]

    def response(d: ModelData, spend: np.ndarray, dr: dict[str, np.ndarray]) -> np.ndarray:
        params = [dr[n] / (ys if n == "saturation_beta" else 1.0) for n in wb.free]  # type: ignore[attr-defined]
        out = wb.media(*params, (spend / d.spend_scale)[:, None, :])  # type: ignore[attr-defined]
        return np.asarray(out).transpose(1, 0, 2) * d.target_scale

    given = {
        "channel_contribution": ref["channel_contribution"].to_numpy(),
        "adstock_alpha": draws["adstock_alpha"],
        "saturation_lam": draws["saturation_lam"],
        "saturation_beta": draws["saturation_beta"] * ys,
        "sigma": draws["sigma"] * ys,
    }

    def python_model(respond: object) -> PythonModel:
        return PythonModel(
            spec=spec,
            model=pm.Model(),
            response=respond,  # type: ignore[arg-type]
            extra_draws=(),
            prior_names=(),
            complete=None,
        )

    out = python_model(response).estimands(data, given, *scales)
    assert set(out.data_vars) == set(ref.data_vars)
    for name in ref.data_vars:
        xr.testing.assert_allclose(out[name], ref[name], rtol=1e-9)

    # a response that forgets the carry-over past the training window misses ROAS
    def truncated(d: ModelData, spend: np.ndarray, dr: dict[str, np.ndarray]) -> np.ndarray:
        full = response(d, spend, dr)
        full[:, len(d.spend) :] = 0.0
        return full

    bad = python_model(truncated).estimands(data, given, *scales)
    assert not np.allclose(bad["roas"], ref["roas"], rtol=1e-3)
    # without a response: contribution per unit of spend over the window, no mROAS
    plain = python_model(None).estimands(data, given, *scales)
    assert "mroas" not in plain and "response" not in plain
    xr.testing.assert_allclose(plain["contribution_total"], ref["contribution_total"])
    assert bool((plain["roas"] <= ref["roas"] * (1 + 1e-9)).all())  # carry-over not counted


@pytest.mark.slow  # compiles and fits the example, ~20 s
def test_the_example_model_fits_end_to_end(tmp_path: Path) -> None:
    """The worked example's builder, fitted (MAP) through the runner: compiled once,
    each replicate's data swapped in, every estimand in the record, a prior for
    contraction, and the named transform variables scored where the families are declared."""
    text = PYTHON.replace("[fit]", '[model.adstock]\nkind = "geometric"\nl_max = 3\n\n[fit]')
    text = text.replace(
        'saturation = { kind = "logistic", lam = 1.5 }',
        'saturation = { kind = "hill", slope = 2.0, kappa = 0.8 }',
    )
    text = text.replace(
        'saturation = { kind = "logistic", lam = 2.5 }',
        'saturation = { kind = "hill", slope = 1.5, kappa = 0.5 }',
    )
    path = _scenario(tmp_path, "my_model:build", EXAMPLE.read_text())
    path.write_text(text.replace("[fit]", '[model.saturation]\nkind = "hill"\n\n[fit]', 1))
    options = RunOptions(replicates=2)
    summary = run_grid(plan_run(read_scenario(path), options), tmp_path / "run")
    assert summary.failed == 0
    assert sorted(r.compiled for r in summary.results) == [False, True]
    store = RunStore(tmp_path / "run")
    for cell, replicate, _ in store.records():
        record = store.read_record(cell, replicate)
        post, truth, prior = record["posterior"], record["truth"], record["prior"]
        for name in ("roas", "mroas", "response", "contribution_share", "baseline", "sigma"):
            assert name in post and np.all(np.isfinite(post[name]))
        for name in ("adstock_alpha", "saturation_slope", "saturation_kappa", "saturation_beta"):
            assert name in post and np.all(np.isfinite(truth[name]))
        assert prior.sizes["sample"] == 400 and float(prior["roas"].std("sample").min()) > 0
