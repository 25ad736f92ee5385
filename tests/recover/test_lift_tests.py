"""Lift-test calibration in the workbench model (``[model] lift_tests = true``): the lift
term against the numpy transforms of the data-generating process, its data swapped per
replicate, and what it does to a fit."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pymc as pm
import pytest
from pytensor.compile.maker import function as compile_function

import mmm_workbench.simulate.transforms as tr
from mmm_workbench.recover.fitting import CellFitter
from mmm_workbench.recover.models.data import LIFT_CONTAINERS, model_data
from mmm_workbench.recover.models.workbench import build_workbench
from mmm_workbench.scenarios import Scenario, expand_grid, parse_scenario, replicate_rng
from mmm_workbench.simulate import generate
from tests.conftest import tiny_raw

LIFT = {"start": 10, "periods": 4, "spend_change": -0.5, "sigma_rel": 0.1}


def _scenario(order: str = "adstock_first", normalize: bool = True) -> Scenario:
    raw = tiny_raw()
    raw["data"]["lift_tests"] = [{"channel": c["name"], **LIFT} for c in raw["data"]["channels"]]
    raw["model"] = {
        "adstock": {"kind": "geometric", "l_max": 4, "normalize": normalize},
        "saturation": {"kind": "logistic"},
        "order": order,
        "lift_tests": True,
    }
    raw["fit"] = {"backend": "map"}
    return parse_scenario(raw)


@pytest.mark.parametrize(
    ("order", "normalize"),
    [("adstock_first", True), ("adstock_first", False), ("saturation_first", False)],
)
def test_lift_term_is_the_steady_state_lift(order: str, normalize: bool) -> None:
    """The model's lift of each test, at fixed parameters, is ``beta * (f(x + dx) - f(x))``
    with ``f`` the steady-state media response of the numpy transforms: ``sat(x * sum(w))``
    adstock first, ``sat(x) * sum(w)`` saturation first (``sum(w) = 1`` normalized)."""
    scenario = _scenario(order, normalize)
    assert scenario.model is not None
    data = model_data(generate(scenario.data, np.random.default_rng(0)), scenario.model)
    assert data.lift is not None
    built = build_workbench(scenario.model, data)
    m = built.model
    params = {
        "adstock_alpha": np.array([0.3, 0.6]),
        "saturation_lam": np.array([1.2, 3.0]),
        "saturation_beta": np.array([0.4, 0.7]),
    }
    fn = compile_function([m[n] for n in params], m["lift_model"], on_unused_input="ignore")
    actual = np.asarray(fn(*params.values()))
    scaled = data.scaled()
    expected = []
    for i, c in enumerate(data.lift.channel_index):
        alpha = {"alpha": params["adstock_alpha"][c]}
        total = float(np.sum(tr.adstock_weights("geometric", alpha, l_max=4, normalize=normalize)))
        lam = {"lam": params["saturation_lam"][c]}

        def f(level: float, lam: dict[str, float] = lam, total: float = total) -> float:
            if order == "adstock_first":
                return float(tr.saturation(np.array([level * total]), "logistic", lam)[0])
            return float(tr.saturation(np.array([level]), "logistic", lam)[0]) * total

        x, dx = scaled["lift_x"][i], scaled["lift_delta_x"][i]
        expected.append(params["saturation_beta"][c] * (f(x + dx) - f(x)))
    np.testing.assert_allclose(actual, expected, rtol=1e-10)
    assert np.all(actual < 0)  # spend was cut


def test_lift_data_are_swapped_per_replicate() -> None:
    """The lift containers hold each replicate's tests, scaled by its own scales; the log
    density of the swapped model equals the model built afresh on that replicate."""
    scenario = _scenario()
    spec = scenario.model
    assert spec is not None
    first, second = (
        model_data(generate(scenario.data, replicate_rng(1, "0ce11", r)), spec) for r in (0, 1)
    )
    assert second.lift is not None and first.lift is not None
    assert not np.allclose(first.lift.delta_y, second.lift.delta_y)
    swapped, fresh = build_workbench(spec, first), build_workbench(spec, second)
    values = swapped.set_data(second)
    assert set(LIFT_CONTAINERS) <= set(values)
    np.testing.assert_allclose(
        values["lift_delta_y"] * second.target_scale, second.lift.delta_y, rtol=1e-12
    )
    point = fresh.model.initial_point(0)
    pm.set_data(values, model=swapped.model)
    expected = fresh.model.compile_logp()(point)  # compiled once (a second compile: 1-2 s)
    np.testing.assert_allclose(swapped.model.compile_logp()(point), expected, rtol=1e-12)
    without = build_workbench(replace(spec, lift_tests=False), second)
    assert "lift_measurements" not in without.model.named_vars
    assert not np.isclose(without.model.compile_logp()(point), expected)


def test_lift_tests_with_zero_sigma_are_refused() -> None:
    scenario = _scenario()
    assert scenario.model is not None
    tree = generate(scenario.data, np.random.default_rng(0))
    obs = tree["observed"].to_dataset()
    obs["lift_sigma"] = obs["lift_sigma"] * 0.0
    tree["observed"] = obs
    with pytest.raises(ValueError, match=r"data.lift_tests\[0\] \(tv\): measured with sigma = 0"):
        model_data(tree, scenario.model)


def test_a_test_of_a_dark_channel_is_kept_with_a_constant_term() -> None:
    """A channel dark through its test's window (flighted spend): no spend changed, the true
    and measured lift are 0 and so is sigma = sigma_rel * 0. Such a test is kept with sigma
    1, and the model's lift for it is 0 at any parameters, so its term is constant; a zero
    sigma on a test that did change spend is still refused (the test above)."""
    scenario = _scenario()
    assert scenario.model is not None
    tree = generate(scenario.data, np.random.default_rng(0))
    obs = tree["observed"].to_dataset()
    for name in ("lift_x", "lift_delta_x", "lift_delta_y", "lift_sigma"):
        obs[name] = obs[name].where(obs["lift_channel"] != "tv", 0.0)
    tree["observed"] = obs
    data = model_data(tree, scenario.model)
    assert data.lift is not None
    np.testing.assert_array_equal(data.lift.sigma[0], 1.0)
    assert data.lift.sigma[1] == float(obs["lift_sigma"][1]) > 0
    m = build_workbench(scenario.model, data).model
    names = ("adstock_alpha", "saturation_lam", "saturation_beta")
    fn = compile_function([m[n] for n in names], m["lift_model"], on_unused_input="ignore")
    rng = np.random.default_rng(1)
    for _ in range(3):
        lift = np.asarray(
            fn(rng.uniform(0.1, 0.9, 2), rng.uniform(0.5, 4, 2), rng.uniform(0.1, 2, 2))
        )
        assert lift[0] == 0.0 and lift[1] != 0.0


@pytest.mark.slow  # real MCMC, ~50 s
def test_precise_lift_tests_pull_the_estimates_to_the_truth() -> None:
    """Confounded data (no demand control), MAP, the same three datasets: precise lift
    tests (sigma 2% of the lift) move every channel's contribution share toward its truth."""
    errors = {}
    cell = None
    for calibrated in (False, True):
        raw = tiny_raw()
        raw["data"]["lift_tests"] = [
            {"channel": c["name"], **LIFT, "sigma_rel": 0.02} for c in raw["data"]["channels"]
        ]
        raw["model"] = {
            "adstock": {"kind": "geometric", "l_max": 4},
            "saturation": {"kind": "logistic"},
            "lift_tests": calibrated,
        }
        raw["fit"] = {"backend": "map"}
        (this,) = expand_grid(parse_scenario(raw))
        cell = this if cell is None else replace(cell, scenario=this.scenario)  # same data
        fitter = CellFitter(cell)
        error = []
        for rep in range(3):
            record = fitter.fit(rep)
            estimate = record["posterior"]["contribution_share"].mean("sample")
            error.append(np.abs(estimate - record["truth"]["contribution_share"]).to_numpy())
        errors[calibrated] = np.mean(error, axis=0)
    assert np.all(errors[True] < errors[False]), errors
