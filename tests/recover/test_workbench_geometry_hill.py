"""The ``auto`` geometry of a Hill model with its own media priors (issue 14).

``delayed-hill`` fits Jin et al.'s priors three times: on sales in thousands (the data see
each channel's curve), on sales in units (beta's prior caps the media far below the
target's spread) and with kappa's prior in dollars (the curve's bend 10,000 times above
the data). ``auto`` samples the first in ``sd+hill1`` and keeps ``level`` for the other two
(:func:`~mmm_workbench.recover.models.workbench.hill_curves_in_view`); ``sd+hill1`` then
moves a kappa under a Beta prior on the logit scale, whose map and Jacobian are checked
here, at the transform and (slow) on the whole model.
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytensor.tensor as pt
import pytest
from numpy.typing import NDArray

from mmm_workbench.recover.models.workbench import (
    HillLocation,
    hill_curves_in_view,
    resolve_geometry,
)
from mmm_workbench.scenarios import expand_grid, parse_scenario
from mmm_workbench.scenarios.spec import ModelSpec

Array = NDArray[np.float64]

SCENARIO = Path(__file__).parents[2] / "scenarios" / "delayed-hill.toml"


def _specs() -> list[ModelSpec]:
    """The model specs of ``delayed-hill``'s three cells, in the grid's order."""
    cells = expand_grid(parse_scenario(tomllib.loads(SCENARIO.read_text())))
    specs = [cell.scenario.model for cell in cells]
    assert all(spec is not None for spec in specs)
    return [spec for spec in specs if spec is not None]


def _first_replicate(cell: int) -> dict[str, Array]:
    """The scaled data of a cell's first replicate, from which ``auto`` decides."""
    from mmm_workbench.recover.models.data import model_data
    from mmm_workbench.scenarios import replicate_rng
    from mmm_workbench.simulate import generate

    chosen = expand_grid(parse_scenario(tomllib.loads(SCENARIO.read_text())))[cell]
    spec = chosen.scenario.model
    assert spec is not None
    tree = generate(chosen.scenario.data, replicate_rng(21, chosen.data_id, 0))
    return dict(model_data(tree, spec).scaled())


def _scaled(target_sd: float) -> dict[str, Array]:
    """Scaled data like the scenario's: 104 weeks, 3 channels' spend in (0, 1], the
    channels' median spend 0.32 to 0.59 (the scenario's: 0.37 to 0.50)."""
    rng = np.random.default_rng(0)
    spend = rng.uniform(0.03, 1.0, size=(104, 3)) ** np.array([1.0, 1.5, 2.0])
    target = 1.5 + target_sd * rng.standard_normal(104)
    return {"spend": spend, "target": target}


@pytest.mark.parametrize(
    ("cell", "target_sd", "expected"),
    [
        (0, 0.064, "sd+hill1+lr"),  # sales in thousands: the scenario's first cell
        (0, 64.0, "level"),  # the same priors, the target in units (the second cell's)
        (2, 0.064, "level"),  # kappa's prior in thousands of dollars (the third cell)
        (2, None, "level"),  # ... on the cell's own first replicate
        (0, None, "sd+hill1+lr"),
        (1, None, "level"),
    ],
)
def test_auto_sees_whether_the_priors_let_the_data_see_the_curve(
    cell: int, target_sd: float | None, expected: str
) -> None:
    spec = _specs()[cell]
    scaled = _first_replicate(cell) if target_sd is None else _scaled(target_sd)
    assert resolve_geometry(spec, "auto", scaled) == expected
    # without the data, or with a geometry asked for, nothing is decided from the priors
    assert resolve_geometry(spec, "auto") == "level"
    assert resolve_geometry(spec, "dgp", scaled) == "dgp"


def test_a_fixed_kappa_leaves_only_betas_check() -> None:
    spec = _specs()[2]  # kappa's prior in dollars: out of view ...
    fixed = dataclasses.replace(
        spec, saturation=dataclasses.replace(spec.saturation, params={"kappa": 0.5})
    )
    assert not hill_curves_in_view(spec, _scaled(0.064))
    assert hill_curves_in_view(fixed, _scaled(0.064))  # ... unless kappa is fixed
    assert not hill_curves_in_view(fixed, _scaled(64.0))


@pytest.mark.parametrize("broken", ["", "backward", "jacobian"])
def test_a_unit_kappa_in_sd_hill1_round_trips_and_its_jacobian(
    broken: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``u = (slope + 1)(logit kappa - logit x_ref)``: round trip, ``log |d kappa / d u|``
    by finite differences (``log kappa(1 - kappa) - log(slope + 1)``); a wrong map or
    Jacobian is caught."""
    if broken == "backward":  # exp, the log scale's map, not the logit's
        monkeypatch.setattr(
            HillLocation, "backward", lambda self, v, *i: pt.exp(self.ref + v / self.slope_value)
        )
    elif broken == "jacobian":  # the Jacobian without the slope's factor
        monkeypatch.setattr(
            HillLocation,
            "log_jac_det",
            lambda self, v, *i: (
                pt.log(pt.sigmoid(self.ref + v / self.slope_value))
                + pt.log(pt.sigmoid(-(self.ref + v / self.slope_value)))
            ),
        )

    def ev(x: Any) -> Array:
        return np.asarray(pt.as_tensor_variable(x).eval())

    slope = np.array([0.7, 2.5, 6.0])
    log_ref = np.log([0.37, 0.5, 0.41])
    transform = HillLocation(slope, slope, log_ref, unit=True, offset=1.0)
    kappa = np.array([0.05, 0.5, 0.97])
    u = ev(transform.forward(kappa))

    def logit(v: Array) -> Array:
        out: Array = np.log(v / (1 - v))
        return out

    np.testing.assert_allclose(u, (slope + 1) * (logit(kappa) - logit(np.exp(log_ref))))
    h = 1e-6
    numeric = (ev(transform.backward(u + h)) - ev(transform.backward(u - h))) / (2 * h)
    expected = np.log(kappa * (1 - kappa)) - np.log(slope + 1)
    checks = (
        np.allclose(ev(transform.backward(u)), kappa, rtol=1e-10),
        np.allclose(ev(transform.log_jac_det(u)), np.log(numeric), rtol=1e-6),
        np.allclose(ev(transform.log_jac_det(u)), expected, rtol=1e-9),
    )
    if not broken:
        assert checks == (True, True, True)
    elif broken == "backward":
        assert not checks[0] and not checks[1]
    else:
        assert checks[0] and not checks[1] and not checks[2]


@pytest.mark.slow
def test_the_first_cells_density_is_the_dgp_models_with_the_hill1_jacobian() -> None:
    """``delayed-hill``'s first cell built by ``auto`` (``sd+hill1``: the kappa under a
    Beta prior on the logit scale, theta under a Uniform prior on PyMC's interval scale)
    against the DGP geometry, at prior draws: the same density without the Jacobians, and
    the Jacobians apart by ``-sum log(slope + 1)``. Four log densities compiled: ~15 s."""
    import pymc as pm
    import pytensor

    from mmm_workbench.recover.models import workbench
    from mmm_workbench.recover.models.data import model_data
    from mmm_workbench.scenarios import replicate_rng
    from mmm_workbench.simulate import generate
    from tests.recover.test_workbench_geometry import _forward

    cells = expand_grid(parse_scenario(tomllib.loads(SCENARIO.read_text())))
    cell = cells[0]
    spec = cell.scenario.model
    assert spec is not None
    data = model_data(generate(cell.scenario.data, replicate_rng(21, cell.data_id, 0)), spec)
    built = workbench.build_workbench(spec, data)
    saved = workbench.GEOMETRY
    workbench.GEOMETRY = "dgp"
    try:
        plain = workbench.build_workbench(spec, data)
    finally:
        workbench.GEOMETRY = saved
    new_model, old_model = built.model, plain.model  # type: ignore[union-attr]
    names = {v.name for v in new_model.value_vars}
    assert {
        "saturation_kappa_hill_logit_location__",
        "saturation_beta_sd_contribution__",
        "adstock_theta_interval__",
    } <= names
    rvs = old_model.free_RVs
    spread = pt.log(old_model["channel_contribution"].std(axis=0))
    forward_new, forward_old = _forward(new_model), _forward(old_model)
    mean_mu = pytensor.function(rvs, old_model["mu"].mean(), on_unused_input="ignore")
    log_sd = pytensor.function(rvs, spread, on_unused_input="ignore")

    logps = [
        (m.compile_logp(jacobian=False), m.compile_logp(jacobian=True))
        for m in (new_model, old_model)
    ]
    draws = pm.draw(rvs, draws=3, random_seed=11)
    gaps, expected = [], []
    for i in range(3):
        point = {rv.name: np.asarray(d[i]) for rv, d in zip(rvs, draws, strict=True)}
        old, new = forward_old(point), forward_new(point)
        at = [point[rv.name] for rv in rvs]
        new["intercept_mean_level__"] = mean_mu(*at)  # from the plain model, not the map
        new["saturation_beta_sd_contribution__"] = log_sd(*at)
        gaps.append(
            (
                logps[0][0](new) - logps[1][0](old),
                logps[0][1](new) - logps[1][1](old),
            )
        )
        expected.append(-np.log(point["saturation_slope"] + 1.0).sum())
    no_jacobian, jacobian = np.asarray(gaps).T
    np.testing.assert_allclose(no_jacobian, 0.0, atol=1e-8)
    np.testing.assert_allclose(jacobian, expected, atol=1e-8)
    assert not np.allclose(jacobian, 0.0)


def _fake_nutpie(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Replace ``nutpie.sample`` by one that records its settings and stops the fit."""
    import nutpie

    calls: list[dict[str, Any]] = []

    def sample(target: Any, **settings: Any) -> Any:
        calls.append(settings)
        raise RuntimeError("recorded")

    monkeypatch.setattr(nutpie, "sample", sample)
    return calls


@pytest.mark.parametrize("fit_adaptation", [None, "diag"])
def test_the_low_rank_suffix_asks_nutpie_for_a_low_rank_mass_matrix(
    fit_adaptation: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``sd+hill1+lr``: ``sd+hill1``'s coordinates (the same value variables, the same log
    density at a point), and nutpie's ``adaptation = "low_rank"`` unless ``[fit].options``
    sets it; ``sd+hill1`` leaves nutpie's default (no ``adaptation`` passed)."""
    from mmm_workbench.recover.inference import Nutpie
    from tests.recover.test_workbench_geometry import _built

    lr, _, scenario = _built("geometric", "hill", "sd+hill1+lr")
    plain, _, _ = _built("geometric", "hill", "sd+hill1")
    assert lr.geometry == "sd+hill1+lr" and plain.geometry == "sd+hill1"
    assert dict(lr.sampler_options) == {"adaptation": "low_rank"}
    assert dict(plain.sampler_options) == {}
    assert [v.name for v in lr.model.value_vars] == [v.name for v in plain.model.value_vars]
    point = plain.model.initial_point(0)
    assert lr.model.compile_logp()(point) == pytest.approx(plain.model.compile_logp()(point))

    fit = dataclasses.replace(scenario.fit, backend="nutpie", draws=10, tune=10, chains=1)
    if fit_adaptation is not None:
        fit = dataclasses.replace(fit, options={"adaptation": fit_adaptation})
    calls = _fake_nutpie(monkeypatch)
    for model in (lr, plain):
        with pytest.raises(RuntimeError, match="recorded"):
            Nutpie().sample(object(), model, fit, seed=1)
    asked, default = (call.get("adaptation") for call in calls)
    assert asked == (fit_adaptation or "low_rank")
    assert default == fit_adaptation


@pytest.mark.parametrize(
    ("backend", "options", "recorded"),
    [
        ("nutpie", {}, "sd+hill1+lr"),
        ("nutpie", {"adaptation": "low_rank"}, "sd+hill1+lr"),
        ("nutpie", {"adaptation": "diag"}, "sd+hill1"),  # [fit] overrides the geometry's
        ("pymc", {}, "sd+hill1"),  # PyMC's NUTS has no low-rank mass matrix
    ],
)
def test_a_record_names_the_low_rank_mass_matrix_only_where_the_sampler_used_it(
    backend: str, options: dict[str, str], recorded: str
) -> None:
    from types import SimpleNamespace

    from mmm_workbench.recover.fitting import _geometry

    model = SimpleNamespace(
        fitted=SimpleNamespace(geometry="sd+hill1+lr"),
        fit=SimpleNamespace(backend=backend, options=options),
    )
    assert _geometry(model) == {"geometry": recorded}
    plain = SimpleNamespace(fitted=SimpleNamespace(geometry="sd+lam"), fit=model.fit)
    assert _geometry(plain) == {"geometry": "sd+lam"}
    assert _geometry(SimpleNamespace(fitted=object(), fit=model.fit)) == {}
