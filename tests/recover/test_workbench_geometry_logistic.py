"""The logistic saturation's sampling geometry, ``sd+lam`` (issue 14, ``design-sweep``).

``auto`` samples a logistic model under the default media priors in ``sd+lam``: ``lam`` as
``log(exp(lam) - 1)`` (softplus), and ``beta`` as the log spread of its contribution where
the channel's spend moves, as its log contribution at its mean spend where it spends
in a narrow band (:func:`~mmm_workbench.recover.models.workbench.narrow_spend`). The checks
compute the new coordinates here, from the DGP's numpy transforms, and compare the model's
log density with the DGP geometry's at prior draws: equal without the Jacobians, apart by
softplus's Jacobian against the log's with them; a wrong map or Jacobian must fail.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np
import pytensor.tensor as pt
import pytest
from numpy.typing import NDArray

from mmm_workbench.recover.models.data import ModelData, model_data
from mmm_workbench.recover.models.workbench import (
    ContributionSpreadOrReference,
    build_workbench,
    narrow_spend,
    resolve_geometry,
)
from mmm_workbench.scenarios import Scenario, expand_grid, parse_scenario, replicate_rng
from mmm_workbench.simulate import generate
from mmm_workbench.simulate.transforms import adstock, saturation
from tests.conftest import tiny_raw

Array = NDArray[np.float64]
L_MAX = 5


def _scenario(tv_pattern: str = "always_on") -> Scenario:
    """Two geometric + logistic channels: ``tv`` always on in a narrow band, ``search``
    flighted (on and dark weeks), so both of beta's coordinates are used."""
    raw = tiny_raw()
    tv, search = raw["data"]["channels"]
    tv["spend"] = {"pattern": tv_pattern, "level": 10.0, "noise_sd": 0.1}
    search["spend"] = {"pattern": "flighted", "level": 8.0, "noise_sd": 0.1}
    search["adstock"] = {"kind": "geometric", "alpha": 0.3, "l_max": L_MAX}
    search["saturation"] = {"kind": "logistic", "lam": 2.0}
    raw["model"] = {
        "adstock": {"kind": "geometric", "l_max": L_MAX},
        "saturation": {"kind": "logistic"},
    }
    raw["fit"] = {"backend": "map"}
    return parse_scenario(raw)


def _data(scenario: Scenario) -> ModelData:
    assert scenario.model is not None
    cell = expand_grid(scenario)[0]
    tree = generate(cell.scenario.data, replicate_rng(scenario.seed, cell.data_id, 0))
    return model_data(tree, scenario.model)


def _build(scenario: Scenario, data: ModelData, geometry: str) -> Any:
    from mmm_workbench.recover.models import workbench

    assert scenario.model is not None
    saved = workbench.GEOMETRY
    workbench.GEOMETRY = geometry  # type: ignore[assignment]
    try:
        return build_workbench(scenario.model, data).model
    finally:
        workbench.GEOMETRY = saved


def test_narrow_spend_tells_an_always_on_band_from_moving_spend() -> None:
    rng = np.random.default_rng(0)
    rows = 156
    always_on = 10.0 * np.exp(0.15 * rng.standard_normal(rows))  # design-sweep's always on
    flighted = always_on * (np.arange(rows) % 12 < 8)  # 8 weeks on, 4 dark
    trending = np.linspace(1.0, 5.0, rows) * np.exp(0.3 * rng.standard_normal(rows))
    spend = np.column_stack([always_on, flighted, trending, np.zeros(rows)]) / 15.0
    assert narrow_spend(spend).tolist() == [True, False, False, True]
    # the rule is the spread against the reference spend, whatever the spend's unit
    assert narrow_spend(spend * 1000.0).tolist() == [True, False, False, True]
    wider = 10.0 * np.exp(0.4 * rng.standard_normal(rows))[:, None]
    assert not narrow_spend(wider)[0]


def test_auto_samples_a_logistic_model_in_sd_lam_under_the_default_media_priors() -> None:
    scenario = _scenario()
    spec = scenario.model
    assert spec is not None
    assert resolve_geometry(spec, "auto") == "sd+lam"
    assert resolve_geometry(spec, "sd+hill1") == "sd+hill1"
    own = dataclasses.replace(spec, priors={"saturation_lam": spec_prior("Gamma", 2.0, 1.0)})
    assert resolve_geometry(own, "auto") == "level"
    names = {v.name for v in _build(scenario, _data(scenario), "auto").value_vars}
    assert {"saturation_lam_softplus__", "saturation_beta_sd_or_ref_contribution__"} <= names
    names = {v.name for v in _build(scenario, _data(scenario), "sd+hill1").value_vars}
    assert {"saturation_lam_log__", "saturation_beta_sd_contribution__"} <= names
    # no narrow channel: beta's spread alone (the graph of sd+hill1's beta)
    flighted = _scenario("flighted")
    names = {v.name for v in _build(flighted, _data(flighted), "auto").value_vars}
    assert {"saturation_lam_softplus__", "saturation_beta_sd_contribution__"} <= names


def spec_prior(dist: str, alpha: float, beta: float) -> Any:
    from mmm_workbench.scenarios.spec import PriorSpec

    return PriorSpec(dist=dist, args={"alpha": alpha, "beta": beta})


def _coordinates(data: ModelData, point: dict[str, Any]) -> dict[str, Any]:
    """``point`` in ``sd+lam``'s coordinates, computed from the DGP's numpy transforms."""
    x = data.scaled()["spend"]
    alpha, lam = (np.asarray(point[n]) for n in ("adstock_alpha", "saturation_lam"))
    carried = adstock(x.T, "geometric", {"alpha": alpha}, l_max=L_MAX, normalize=True).T
    curve = saturation(carried, "logistic", {"lam": lam[None, :]})
    x_ref = x.mean(axis=0)  # the spend container's mean
    at_ref = saturation(x_ref[None, :], "logistic", {"lam": lam[None, :]})[0]
    log_f = np.where(narrow_spend(x), np.log(at_ref), np.log(curve.std(axis=0)))
    return sd_lam_point(point, curve, log_f)


def sd_lam_point(point: dict[str, Any], curve: Array, log_f: Array) -> dict[str, Any]:
    """``point``'s values in ``sd+lam``'s coordinates, beta's read at ``log_f`` per channel.

    ``curve`` is the media curve at ``beta = 1`` over the rows, ``(T, C)``; ``log_f`` the log
    curve value beta's coordinate adds (the spread's, or the mean spend's, or in ``sd+lift``
    the lift's: ``tests/recover/test_workbench_geometry_lift.py``).
    """
    alpha, lam, beta = (
        np.asarray(point[n]) for n in ("adstock_alpha", "saturation_lam", "saturation_beta")
    )
    return {
        "adstock_alpha_logodds__": np.log(alpha / (1.0 - alpha)),
        "saturation_lam_softplus__": np.log(np.expm1(lam)),
        "saturation_beta_sd_or_ref_contribution__": np.log(beta) + log_f,
        "intercept_mean_level__": np.asarray(
            point["intercept"] + (beta * curve).sum(axis=1).mean()
        ),
        "sigma_log__": np.log(np.asarray(point["sigma"])),
    }


def _logps(model: Any) -> Any:
    """``model``'s log density without and with the Jacobians, compiled as one function."""
    import pytensor

    outputs = [model.logp(jacobian=False), model.logp(jacobian=True)]
    fn = pytensor.function(model.value_vars, outputs, on_unused_input="ignore")
    names = [v.name for v in model.value_vars]
    return lambda point: np.asarray(fn(*(point[n] for n in names)))


@functools.cache
def _reference() -> tuple[ModelData, Scenario, list[dict[str, Any]], Array]:
    """:func:`dgp_reference` of this file's scenario."""
    return dgp_reference(_scenario())


def dgp_reference(scenario: Scenario) -> tuple[ModelData, Scenario, list[dict[str, Any]], Array]:
    """The data, three prior draws and those draws' log densities in the DGP geometry
    (PyMC's log / logit transforms, computed here in numpy), for a geometric + logistic
    scenario (this file's and ``test_workbench_geometry_lift``'s)."""
    import pymc as pm

    data = _data(scenario)
    plain = _build(scenario, data, "dgp")
    rvs = plain.free_RVs
    samples = pm.draw(rvs, draws=3, random_seed=5)
    points = [
        {rv.name: np.asarray(s[i]) for rv, s in zip(rvs, samples, strict=True)} for i in range(3)
    ]
    logp = _logps(plain)
    old = [
        logp(
            {
                "adstock_alpha_logodds__": np.log(p["adstock_alpha"] / (1.0 - p["adstock_alpha"])),
                "saturation_lam_log__": np.log(p["saturation_lam"]),
                "saturation_beta_log__": np.log(p["saturation_beta"]),
                "intercept": p["intercept"],
                "sigma_log__": np.log(p["sigma"]),
            }
        )
        for p in points
    ]
    return data, scenario, points, np.asarray(old)


def _gaps() -> tuple[Array, Array, Array]:
    """At prior draws: ``sd+lam``'s log density minus ``dgp``'s, without and with the
    Jacobians, and the expected gap with them (softplus's ``log(1 - exp(-lam))`` against
    the log transform's ``log(lam)``; beta's Jacobian is ``log(beta)`` in both, the
    level's 0)."""
    data, scenario, points, old = _reference()
    assert narrow_spend(data.scaled()["spend"]).tolist() == [True, False]
    logp = _logps(_build(scenario, data, "sd+lam"))
    gaps = np.asarray([logp(_coordinates(data, p)) for p in points]) - old
    lam = np.asarray([p["saturation_lam"] for p in points])
    expected = np.sum(np.log(-np.expm1(-lam)) - np.log(lam), axis=1)
    return gaps[:, 0], gaps[:, 1], expected


@pytest.mark.parametrize("broken", ["", "backward", "jacobian"])
def test_sd_lam_keeps_the_density_up_to_the_softplus_jacobian(
    broken: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if broken == "backward":  # the curve's value to the power 0.9, not 1
        monkeypatch.setattr(
            ContributionSpreadOrReference,
            "backward",
            lambda self, v, *i: pt.exp(v - 0.9 * self.log_f_value),
        )
    elif broken == "jacobian":  # log(beta * f) instead of log(beta)
        monkeypatch.setattr(ContributionSpreadOrReference, "log_jac_det", lambda self, v, *i: v)
    no_jacobian, jacobian, expected = _gaps()
    checks = (
        np.allclose(no_jacobian, 0.0, atol=1e-8),
        np.allclose(jacobian, expected, atol=1e-8),
    )
    assert checks == ((True, True) if not broken else (broken != "backward", False))
    assert not np.allclose(expected, 0.0)  # the softplus's Jacobian is not the log's
