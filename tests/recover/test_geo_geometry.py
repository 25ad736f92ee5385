"""The geo model's sampling geometry (``intercept-cond``, ``recover/models/geo.py``) must
give the density of the data-generating process's parameterization (``dgp``).

At prior draws of the DGP's parameters, the log density without the Jacobians is the same
in both, and with them it differs by ``intercept-cond``'s Jacobian, computed here in numpy
from the model's definition (the coordinates too: each geo's intercept standardized by its
normal conditional given the other terms). Each comparison is also run with a broken
transform, where it must fail.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np
import pymc as pm
import pytensor
import pytest
from numpy.typing import NDArray

from mmm_workbench.recover.inference import diagnosed
from mmm_workbench.recover.models import geo as geo_module
from mmm_workbench.recover.models.data import ModelData
from mmm_workbench.recover.models.geo import GeoIntercept, GeoWorkbenchModel, build_geo
from mmm_workbench.scenarios import Scenario
from tests.recover.test_geo_model import _replicate, _scenario

Array = NDArray[np.float64]


@functools.cache
def _world() -> tuple[Scenario, ModelData]:
    scenario = _scenario()
    return scenario, _replicate(scenario)[1]


def _build(geometry: str) -> GeoWorkbenchModel:
    scenario, data = _world()
    assert scenario.model is not None
    return build_geo(scenario.model, data, geometry)


def _logps(model: pm.Model) -> Any:
    """``model``'s log density without and with the Jacobians, one compiled function."""
    outputs = [model.logp(jacobian=False), model.logp(jacobian=True)]
    fn = pytensor.function(model.value_vars, outputs, on_unused_input="ignore")
    names = [v.name for v in model.value_vars]
    return lambda point: np.asarray(fn(*(point[n] for n in names)))


def _common(p: dict[str, Array]) -> dict[str, Array]:
    """The coordinates both geometries share (PyMC's default transforms)."""
    return {
        "saturation_beta_log__": np.log(p["saturation_beta"]),
        "saturation_beta_geo_sd_log__": np.log(p["saturation_beta_geo_sd"]),
        "saturation_beta_geo_z": p["saturation_beta_geo_z"],
        "gamma_control": p["gamma_control"],
        "sigma_log__": np.log(p["sigma"]),
        "intercept_geo_sd_log__": np.log(p["intercept_geo_sd"]),
    }


def _beta_cond(
    fitted: GeoWorkbenchModel, p: dict[str, Array], t: Array, steps: int
) -> tuple[Array, Array]:
    """The beta offsets' ``(loc, scale)`` in ``beta-scale`` (``steps`` 0), ``beta-cond`` (1)
    or ``beta-cond2`` (2): each geo's offsets' normal given the rest, demeaned over dates
    and linearized at the national beta (then at the first step's mean: Gauss-Newton), ``t``
    the signed spreads, in numpy."""
    _, data = _world()
    assert data.geo is not None
    w = data.geo.shares
    containers = fitted.set_data(data)
    n_geo, n_ch = len(w), len(p["saturation_beta"])
    unit = fitted.geo_path([np.ones((1, n_geo, n_ch))], containers["spend"])[:, 0] / w[:, None]
    beta, sigma = p["saturation_beta"], p["sigma"]
    level = (containers["target"] - containers["controls"] @ p["gamma_control"]) / w
    root = np.sqrt(w) / sigma
    loc = np.zeros((n_geo, n_ch))
    for _ in range(max(steps, 1)):
        effect = beta * np.exp(t * loc)  # (geo, channel)
        x = (unit - unit.mean(axis=0)) * effect * t * root[:, None]
        gram = np.einsum("tgc,tgd->gcd", x, x)
        scale = 1.0 / np.sqrt(1.0 + np.einsum("gcc->gc", gram))
        assert not np.allclose(scale, 1.0, atol=1e-3)  # the data pin the offsets
        if steps == 0:
            return loc, scale
        residual = level - np.einsum("tgc,gc->tg", unit, effect)
        residual = (residual - residual.mean(axis=0)) * root
        rhs = np.einsum("tgc,tg->gc", x, residual) + np.einsum("gcd,gd->gc", gram, loc)
        loc = np.linalg.solve(np.eye(n_ch) + gram, rhs[..., None])[..., 0]
        assert not np.allclose(loc, 0.0, atol=1e-3)
    return loc, scale


def _cond_point(
    fitted: GeoWorkbenchModel,
    p: dict[str, Array],
    sign: float = 0.0,
    beta_sign: Any = None,
    beta_cond: str = "",
) -> tuple[dict[str, Array], float, float]:
    """``p`` in ``intercept-cond``'s coordinates (``sign`` 0) or ``intercept-cond+signed``'s
    (the intercept's spread sampled as ``t = sign * tau``, its offsets as ``sign * z``), with
    ``beta_sign`` (per channel) the beta spreads signed likewise (``+signed-all``) and,
    ``beta_cond`` ``"scale"``, ``"cond"`` or ``"cond2"``, their offsets standardized as that
    ``beta-`` geometry does, in numpy; and that geometry's log density less the DGP's, without
    and with the Jacobians (sigma's log transform is in both)."""
    _, data = _world()
    assert data.geo is not None
    w = data.geo.shares
    periods = len(data.dates)
    beta_geo = p["saturation_beta"] * np.exp(
        p["saturation_beta_geo_sd"] * p["saturation_beta_geo_z"]
    )
    containers = fitted.set_data(data)
    media = fitted.geo_path([beta_geo[None]], containers["spend"])[:, 0].sum(axis=2)  # (T, G)
    others = media + containers["controls"] @ p["gamma_control"]
    theta_hat = (containers["target"] - others).mean(axis=0) / w  # each geo's level per head
    tau, sigma = p["intercept_geo_sd"], p["sigma"]
    eps2 = sigma**2 / (periods * w)
    var = tau**2 + eps2
    precision = 1.0 / 2.0**2 + np.sum(1.0 / var)  # intercept ~ Normal(0, 2)
    loc_m = np.sum(theta_hat / var) / precision
    scale_m = 1.0 / np.sqrt(precision)
    z, m = p["intercept_geo_z"], p["intercept"]
    t = tau * (sign or 1.0)
    loc_z = (theta_hat - m) * t / var
    scale_z = np.sqrt(eps2 / var)
    point = _common(p) | {"intercept_geo_cond__": np.asarray((m - loc_m) / scale_m)}
    jacobian = float(np.log(scale_m) + np.sum(np.log(scale_z)))
    if not sign:
        point["intercept_geo_z_geo_cond__"] = (z - loc_z) / scale_z
        return point, 0.0, jacobian
    del point["intercept_geo_sd_log__"]
    point["intercept_geo_sd_signed"] = np.asarray(t)
    point["intercept_geo_z_signed_geo_cond__"] = (sign * z - loc_z) / scale_z
    # Normal(0, s) is HalfNormal(s) / 2 on either side; no log transform (its Jacobian log tau)
    gap, jacobian = -np.log(2.0), jacobian - np.log(2.0) - float(np.log(tau))
    if beta_sign is not None:
        tau_b = p["saturation_beta_geo_sd"]
        del point["saturation_beta_geo_sd_log__"], point["saturation_beta_geo_z"]
        point["saturation_beta_geo_sd_signed"] = beta_sign * tau_b
        point["saturation_beta_geo_z_signed"] = beta_sign * p["saturation_beta_geo_z"]
        gap -= len(tau_b) * np.log(2.0)
        jacobian -= len(tau_b) * np.log(2.0) + float(np.sum(np.log(tau_b)))
        if beta_cond:
            t_b = beta_sign * tau_b
            steps = {"scale": 0, "cond": 1, "cond2": 2}[beta_cond]
            loc_b, scale_b = _beta_cond(fitted, p, t_b, steps)
            z_b = point.pop("saturation_beta_geo_z_signed")
            point["saturation_beta_geo_z_signed_geo_cond__"] = (z_b - loc_b) / scale_b
            jacobian += float(np.sum(np.log(scale_b)))
    return point, gap, jacobian


@functools.cache
def _reference() -> tuple[list[dict[str, Array]], Array]:
    """Three prior draws and their log densities in the DGP's geometry."""
    plain = _build("dgp")
    assert plain.geometry == "dgp"
    rvs = plain.model.free_RVs
    samples = pm.draw(rvs, draws=3, random_seed=7)
    points = [
        {rv.name: np.asarray(s[i]) for rv, s in zip(rvs, samples, strict=True)} for i in range(3)
    ]
    logp = _logps(plain.model)
    old = [
        logp(_common(p) | {"intercept": p["intercept"], "intercept_geo_z": p["intercept_geo_z"]})
        for p in points
    ]
    return points, np.asarray(old)


def test_auto_samples_a_varying_normal_intercept_in_intercept_cond_signed() -> None:
    fitted = _build("auto")
    assert fitted.geometry == "intercept-cond+signed+lr"
    assert fitted.sampler_options == {"adaptation": "low_rank"}
    names = {v.name for v in fitted.model.value_vars}
    assert {
        "intercept_geo_sd_signed",
        "intercept_geo_z_signed_geo_cond__",
        "saturation_beta_geo_sd_log__",
        "saturation_beta_geo_z",
    } <= names
    # the fit's diagnostics run over the DGP's names, which the model keeps as deterministics
    dgp = {"intercept_geo_sd", "intercept_geo_z"}
    assert dgp <= set(fitted.diagnosed)
    assert dgp <= set(fitted.model.named_vars) - {v.name for v in fitted.model.free_RVs}
    signed_all = _build("intercept-cond+signed-all")
    assert {"saturation_beta_geo_sd", "saturation_beta_geo_z"} <= set(signed_all.diagnosed)
    beta_cond = _build("intercept-cond+beta-cond2+signed-all+lr")  # nutpie's auto
    assert {"saturation_beta_geo_sd_signed", "saturation_beta_geo_z_signed_geo_cond__"} <= {
        v.name for v in beta_cond.model.value_vars
    }
    assert {"saturation_beta_geo_sd", "saturation_beta_geo_z"} <= set(beta_cond.diagnosed)
    assert diagnosed(fitted) == list(fitted.diagnosed)
    plain = _build("intercept-cond")
    assert plain.diagnosed == ()
    assert diagnosed(plain) == [v.name for v in plain.model.free_RVs]
    assert _build("dgp").geometry == "dgp"
    scenario, _ = _world()
    assert scenario.model is not None and scenario.model.geo is not None
    spec = dataclasses.replace(
        scenario.model, geo=dataclasses.replace(scenario.model.geo, vary=("beta",))
    )
    assert geo_module.resolve_geo_geometry(spec) == "dgp"  # no spread: nothing to condition
    # auto, by backend: nutpie samples the beta offsets by their conditionals too (measured
    # there); the map backend's optimizer fails in those coordinates and keeps the default
    model = scenario.model
    assert geo_module.resolve_geo_geometry(model, "auto", "nutpie") == geo_module.GEO_NUTPIE
    assert geo_module.resolve_geo_geometry(model, "auto", "map") == geo_module.GEO_DEFAULT
    assert geo_module.resolve_geo_geometry(model, "auto", "pymc") == geo_module.GEO_DEFAULT
    assert geo_module.resolve_geo_geometry(model, "dgp", "nutpie") == "dgp"


@pytest.mark.parametrize(
    ("geometry", "broken"),
    [
        # the two geometries auto gives (GEO_DEFAULT, GEO_NUTPIE); GEO_NUTPIE's broken
        # backward map and Jacobian break GeoIntercept, which both geometries' intercept
        # and GEO_NUTPIE's beta offsets use ...
        ("intercept-cond+signed", ""),
        ("intercept-cond+signed", "sign"),
        ("intercept-cond+beta-cond2+signed-all", ""),
        ("intercept-cond+beta-cond2+signed-all", "backward"),
        ("intercept-cond+beta-cond2+signed-all", "jacobian"),
        ("intercept-cond+beta-cond2+signed-all", "sign"),
        # ... the steps no run reaches (only scripts build them), in the slow run
        *(
            pytest.param(geometry, broken, marks=pytest.mark.slow)
            for geometry, broken in (
                ("intercept-cond", ""),
                ("intercept-cond", "backward"),
                ("intercept-cond", "jacobian"),
                ("intercept-cond+signed-all", ""),
                ("intercept-cond+signed-all", "sign"),
                ("intercept-cond+beta-scale+signed-all", ""),
                ("intercept-cond+beta-scale+signed-all", "jacobian"),
                ("intercept-cond+beta-cond+signed-all", ""),
                ("intercept-cond+beta-cond+signed-all", "backward"),
                ("intercept-cond+beta-cond+signed-all", "jacobian"),
                ("intercept-cond+beta-cond+signed-all", "sign"),
            )
        ),
    ],
)
def test_intercept_cond_keeps_the_density_up_to_its_jacobian(
    geometry: str, broken: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if broken == "backward":  # the location a tenth off
        monkeypatch.setattr(
            GeoIntercept,
            "backward",
            lambda self, v, *i: 1.1 * self.loc_value + self.scale_value * v,
        )
    elif broken == "jacobian":
        monkeypatch.setattr(GeoIntercept, "log_jac_det", lambda self, v, *i: 0.0 * v)
    points, old = _reference()
    fitted = _build(geometry)
    assert fitted.geometry == geometry
    logp = _logps(fitted.model)
    gaps, expected = [], []
    # the signed spread at +tau and at -tau (its offsets' sign flipped with it: the same
    # DGP point); broken: the offsets kept, the sign of the spread alone flipped
    signs = [1.0, -1.0] if "signed" in geometry else [0.0]
    for p, before in zip(points, old, strict=True):
        for sign in signs:
            beta_sign = np.array([sign, -sign]) if geometry.endswith("all") else None
            beta_cond = next(
                (c for c in ("scale", "cond2", "cond") if f"beta-{c}+" in geometry), ""
            )
            if broken == "sign":
                p = dict(p, intercept_geo_z=-p["intercept_geo_z"])
            point, gap, jacobian = _cond_point(fitted, p, sign, beta_sign, beta_cond)
            gaps.append(logp(point) - before)
            expected.append((gap, jacobian))
    got, want = np.asarray(gaps), np.asarray(expected)
    checks = (
        np.allclose(got[:, 0], want[:, 0], atol=1e-6),
        np.allclose(got[:, 1], want[:, 1], atol=1e-6),
    )
    ok = {"": (True, True), "backward": (False, False), "jacobian": (True, False)}
    assert checks == ok.get(broken, (False, False))
    assert not np.allclose(want[:, 1], 0.0)  # the Jacobian is not the DGP's
