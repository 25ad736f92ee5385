"""The ``sd+lift`` geometry: a narrow-band channel's beta sampled at what its lift test measures.

``sd+lift`` is ``sd+lam`` (:mod:`tests.recover.test_workbench_geometry_logistic`) except for a
channel that spends in a narrow band and has a lift test: its ``beta`` is sampled as
``log(beta) + mean over its tests of log |f(x + delta_x) - f(x)|``, the log of the
steady-state lift the model computes for the test (``lift_graph`` at ``beta = 1``).
The checks compute the coordinates here, from the DGP's numpy transforms, and compare the
model's log density with the DGP geometry's at prior draws; a wrong map must fail.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from mmm_workbench.recover.models import workbench
from mmm_workbench.recover.models.data import ModelData
from mmm_workbench.recover.models.workbench import narrow_spend, resolve_geometry
from mmm_workbench.scenarios import Scenario, parse_scenario
from mmm_workbench.simulate.transforms import adstock, saturation
from tests.conftest import tiny_raw
from tests.recover.test_workbench_geometry_logistic import (
    _build,
    _logps,
    dgp_reference,
    sd_lam_point,
)

Array = NDArray[np.float64]
L_MAX = 5


def _scenario(lift_tests: bool = True) -> Scenario:
    """``tv`` always on in a narrow band with two lift tests, ``search`` flighted with one."""
    raw = tiny_raw()
    tv, search = raw["data"]["channels"]
    tv["spend"] = {"pattern": "always_on", "level": 10.0, "noise_sd": 0.1}
    search["spend"] = {"pattern": "flighted", "level": 8.0, "noise_sd": 0.1}
    search["adstock"] = {"kind": "geometric", "alpha": 0.3, "l_max": L_MAX}
    search["saturation"] = {"kind": "logistic", "lam": 2.0}
    raw["data"]["lift_tests"] = [
        {"channel": "tv", "start": 4, "periods": 4, "spend_change": -0.5, "sigma_rel": 0.1},
        {"channel": "search", "start": 12, "periods": 4, "spend_change": 0.5, "sigma_rel": 0.1},
        {"channel": "tv", "start": 22, "periods": 4, "spend_change": 0.3, "sigma_rel": 0.1},
    ]
    raw["model"] = {
        "adstock": {"kind": "geometric", "l_max": L_MAX},
        "saturation": {"kind": "logistic"},
        "lift_tests": lift_tests,
    }
    raw["fit"] = {"backend": "map"}
    return parse_scenario(raw)


def test_auto_samples_a_logistic_model_with_lift_tests_in_sd_lift() -> None:
    with_lift, without = _scenario().model, _scenario(lift_tests=False).model
    assert with_lift is not None and without is not None
    assert resolve_geometry(with_lift, "auto") == "sd+lift"
    assert resolve_geometry(without, "auto") == "sd+lam"
    assert resolve_geometry(with_lift, "sd+lam") == "sd+lam"


def _curve(lam: Array, x: Array) -> Array:
    return saturation(x, "logistic", {"lam": lam})


def _coordinates(data: ModelData, point: dict[str, Any]) -> dict[str, Any]:
    """``point`` in ``sd+lift``'s coordinates, computed from the DGP's numpy transforms."""
    scaled = data.scaled()
    x = scaled["spend"]
    alpha, lam = (np.asarray(point[n]) for n in ("adstock_alpha", "saturation_lam"))
    carried = adstock(x.T, "geometric", {"alpha": alpha}, l_max=L_MAX, normalize=True).T
    curve = _curve(lam[None, :], carried)
    assert data.lift is not None
    index = data.lift.channel_index
    # a normalized kernel's steady state is the curve at the test's spend
    lam_test = lam[index]
    unit = _curve(lam_test, scaled["lift_x"] + scaled["lift_delta_x"]) - _curve(
        lam_test, scaled["lift_x"]
    )
    log_lift = np.array([np.mean(np.log(np.abs(unit[index == c]))) for c in range(2)])
    narrow = narrow_spend(x)
    log_f = np.where(narrow, log_lift, np.log(curve.std(axis=0)))
    return sd_lam_point(point, curve, log_f)


@functools.cache
def _reference() -> tuple[ModelData, Scenario, list[dict[str, Any]], Array]:
    """The data, three prior draws and their log densities in the DGP geometry."""
    return dgp_reference(_scenario())


@pytest.mark.parametrize("broken", ["", "lift", "jacobian"])
def test_sd_lift_keeps_the_density_up_to_the_softplus_jacobian(
    broken: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, scenario, points, old = _reference()
    assert narrow_spend(data.scaled()["spend"]).tolist() == [True, False]
    if broken == "lift":  # the lift at the test's spend without its change: not what it measures
        original = workbench._log_lift_at

        def at_base(spec: Any, params: Any, index: Any, x: Any, dx: Any, n: int) -> Any:
            return original(spec, params, index, 0.5 * x, dx, n)

        monkeypatch.setattr(workbench, "_log_lift_at", at_base)
    elif broken == "jacobian":  # log(beta * lift) instead of log(beta)
        monkeypatch.setattr(
            workbench.ContributionSpreadOrReference, "log_jac_det", lambda self, v, *i: v
        )
    logp = _logps(_build(scenario, data, "sd+lift"))
    gaps = np.asarray([logp(_coordinates(data, p)) for p in points]) - old
    lam = np.asarray([p["saturation_lam"] for p in points])
    expected = np.sum(np.log(-np.expm1(-lam)) - np.log(lam), axis=1)
    checks = (
        np.allclose(gaps[:, 0], 0.0, atol=1e-8),
        np.allclose(gaps[:, 1], expected, atol=1e-8),
    )
    assert checks == ((True, True) if not broken else (broken != "lift", False))


def test_sd_lift_differs_from_sd_lam_only_in_a_narrow_lifted_channel() -> None:
    """The flighted channel keeps the spread; the narrow one's coordinate is the lift's, not
    the contribution at its mean spend (``sd+lam``'s): the same point, other coordinates."""
    data, scenario, points, _ = _reference()
    lifted = _coordinates(data, points[0])["saturation_beta_sd_or_ref_contribution__"]
    model = _build(scenario, data, "sd+lam")
    value = model.rvs_to_values[model["saturation_beta"]]
    transform = model.rvs_to_transforms[model["saturation_beta"]]
    import pytensor

    # sd+lam's coordinate of beta at the point: forward with the model's variables set
    rvs = {model[n]: np.asarray(points[0][n]) for n in ("adstock_alpha", "saturation_lam")}
    beta = np.asarray(points[0]["saturation_beta"])
    forward = pytensor.graph.replace.graph_replace(
        transform.forward(pytensor.tensor.as_tensor_variable(beta)), rvs
    ).eval()
    assert value.name == "saturation_beta_sd_or_ref_contribution__"
    assert np.isclose(forward[1], lifted[1])  # search: the spread in both
    assert not np.isclose(forward[0], lifted[0])  # tv: at the mean spend against the lift
