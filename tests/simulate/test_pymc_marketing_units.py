"""The truth in pymc-marketing's parameterization and internal units (``/truth/pymc_marketing``).

pymc-marketing's own adstock and saturation classes, evaluated at the converted truth
(adstock parameters from ``/truth``, saturation parameters and ``saturation_beta`` from the
group, spend divided by its ``channel_scale``), reproduce the simulated contributions to
1e-8: for every saturation family (michaelis_menten and tanh have no beta there), both
``x_scale`` kinds, additive and multiplicative models (pymc-marketing's MMM on
``log(target)``) and effect mediation (times ``mediation_factor``).
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytensor
import pytensor.xtensor as ptx
import pytest
import xarray as xr

with warnings.catch_warnings():  # pymc-extras imports a name better-optimize deprecated
    warnings.filterwarnings("ignore", "better_optimize", DeprecationWarning)
    import pymc_marketing.mmm as pmm

from mmm_workbench.scenarios import parse_scenario
from mmm_workbench.simulate import generate
from mmm_workbench.simulate.transforms import ADSTOCKS, SATURATIONS
from tests.conftest import tiny_raw

MODE = "FAST_COMPILE"
SATURATION_PARAMS = {
    name: {p.name: 0.7 * p.typical[0] + 0.3 * p.typical[1] for p in family.params if p.typical}
    for name, family in SATURATIONS.items()
} | {
    "logistic": {"lam": 2.0},
    "hill": {"slope": 1.7, "kappa": 0.4},
    "michaelis_menten": {"alpha": 2.0, "lam": 0.6},
    "tanh": {"b": 1.2, "c": 0.8},
    "root": {"alpha": 0.6},
}
"""Per saturation family, its parameters: chosen values for the shipped families, and for
any other declared family a value inside each parameter's typical range."""
PM_SATURATIONS = sorted(name for name, family in SATURATIONS.items() if family.pymc_marketing)
"""The saturation families with an equivalent pymc-marketing class."""


def _has_beta(kind: str) -> bool:
    cls = getattr(pmm, SATURATIONS[kind].pymc_marketing or "")
    return "beta" in inspect.signature(cls.function).parameters


@functools.cache
def pm_adstock(kind: str, l_max: int, normalize: bool) -> Callable[..., Any]:
    """pymc-marketing's adstock class, compiled: (x[date], *params) -> y[date]."""
    family = ADSTOCKS[kind]
    component = getattr(pmm, family.pymc_marketing or "")(l_max=l_max, normalize=normalize)
    x = ptx.xtensor("x", dims=("date",), dtype="float64")
    params = {p: ptx.xtensor(p, dims=(), dtype="float64") for p in family.param_names}
    return pytensor.function(
        [x, *params.values()], component.function(x, **params, dim="date"), mode=MODE
    )


@functools.cache
def pm_saturation(kind: str) -> Callable[..., Any]:
    """pymc-marketing's saturation class, compiled: (x[date], *params[, beta]) -> y[date]."""
    family = SATURATIONS[kind]
    component = getattr(pmm, family.pymc_marketing or "")()
    x = ptx.xtensor("x", dims=("date",), dtype="float64")
    names = [*family.param_names, *(["beta"] if _has_beta(kind) else [])]
    params = {p: ptx.xtensor(p, dims=(), dtype="float64") for p in names}
    return pytensor.function([x, *params.values()], component.function(x, **params), mode=MODE)


def pymc_marketing_contribution(tree: xr.DataTree, channel: str) -> np.ndarray:
    """pymc-marketing's channel contribution (units of target_scale) at the converted truth,
    times the group's mediation factor."""
    truth = tree["truth"].sel(channel=channel)
    group = tree["truth/pymc_marketing"].sel(channel=channel)
    x = tree["observed"]["spend"].sel(channel=channel).to_numpy() / float(group["channel_scale"])
    kind = str(truth["saturation_kind"].item())
    ad_kind = str(truth["adstock_kind"].item())
    ad_fn = pm_adstock(ad_kind, int(truth["adstock_l_max"]), bool(truth["adstock_normalize"]))
    ad_params = [float(truth[f"adstock_{p}"]) for p in ADSTOCKS[ad_kind].param_names]
    sat_fn = pm_saturation(kind)
    sat_params = [float(group[f"saturation_{p}"]) for p in SATURATIONS[kind].param_names]
    if _has_beta(kind):
        sat_params.append(float(group["saturation_beta"]))
    else:
        assert np.isnan(float(group["saturation_beta"]))

    def adstock(v: np.ndarray) -> np.ndarray:
        return np.asarray(ad_fn(v, *ad_params))

    def sat(v: np.ndarray) -> np.ndarray:
        return np.asarray(sat_fn(v, *sat_params))

    out = sat(adstock(x)) if bool(truth["adstock_first"]) else adstock(sat(x))
    return np.asarray(out) * group["mediation_factor"].to_numpy()


def _tree(raw: dict[str, Any]) -> xr.DataTree:
    return generate(parse_scenario(raw).data, np.random.default_rng(5))


def _raw(family: str, x_scale: object, model: str, mediation: bool) -> dict[str, Any]:
    raw = tiny_raw(train_periods=30, model=model)  # training max differs from the data's
    for ch in raw["data"]["channels"]:
        ch["saturation"] = {"kind": family, **SATURATION_PARAMS[family]}
        ch["x_scale"] = x_scale
        if model == "multiplicative":
            ch["beta"] = 0.15
    raw["data"]["channels"][1]["order"] = "saturation_first"
    if model == "multiplicative":
        raw["data"].update(intercept=500.0, noise={"kind": "normal", "sd": 0.05})
    if mediation:
        raw["data"]["mediation"] = [
            {"source": "tv", "target": "search", "on": "effect", "strength": 0.8}
        ]
    return raw


@pytest.mark.parametrize("family", PM_SATURATIONS)
@pytest.mark.parametrize(
    ("x_scale", "model", "mediation"),
    [
        ("max", "additive", False),
        (2500.0, "additive", False),
        ("max", "multiplicative", False),
        ("max", "additive", True),
        ("max", "multiplicative", True),
    ],
)
def test_pymc_marketings_functions_at_the_converted_truth_reproduce_contributions(
    family: str, x_scale: object, model: str, mediation: bool
) -> None:
    tree = _tree(_raw(family, x_scale, model, mediation))
    truth, group = tree["truth"], tree["truth/pymc_marketing"]
    spend = tree["observed"]["spend"].to_numpy()
    y = tree["observed"]["sales"].to_numpy()
    target = np.log(y) if model == "multiplicative" else y
    target_scale = float(group["target_scale"])
    assert target_scale == pytest.approx(np.abs(target[:30]).max(), rel=1e-15)
    np.testing.assert_allclose(group["channel_scale"], np.abs(spend[:30]).max(axis=0))
    mu = truth["mu"].to_numpy()
    scaled_total = group["baseline"].to_numpy().copy()
    for name in ("tv", "search"):
        ours = pymc_marketing_contribution(tree, name)
        scaled_total += ours
        np.testing.assert_allclose(
            ours, group["channel_contribution"].sel(channel=name), rtol=1e-8, atol=1e-12
        )
        expected = truth["channel_contribution"].sel(channel=name).to_numpy()
        if model == "additive":
            got = ours * target_scale
        else:  # log-scale term -> what removing it takes away from mu
            got = mu * (1 - np.exp(-ours * target_scale))
        np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-10)
    # pymc-marketing's mean (intercept and controls in its baseline) is the DGP's mu
    mean = scaled_total * target_scale
    np.testing.assert_allclose(np.exp(mean) if model == "multiplicative" else mean, mu, rtol=1e-8)
    assert group.attrs["target"] == ("log(sales)" if model == "multiplicative" else "sales")
    factor = group["mediation_factor"].to_numpy()
    assert np.all(factor[:, 0] == 1.0)
    assert np.all(factor[:, 1] > 1.0) if mediation else np.all(factor == 1.0)
    assert (
        "pymc-marketing's MMM has no channel-to-channel effect"
        in group["mediation_factor"].attrs["note"]
    )


@pytest.mark.parametrize("family", ["michaelis_menten", "tanh"])
def test_no_beta_families_fold_the_effect_size_into_their_parameters(family: str) -> None:
    """The issue's numbers: MM with alpha = 2 stores pymc-marketing's alpha = k * 2 (k the
    effect size in target units); tanh b' = k b, c' = c / k; no saturation_beta."""
    tree = _tree(_raw(family, "max", "additive", False))
    group = tree["truth/pymc_marketing"].sel(channel="tv")
    truth = tree["truth"].sel(channel="tv")
    assert np.isnan(float(group["saturation_beta"]))
    assert "michaelis_menten, tanh" in tree["truth/pymc_marketing"]["saturation_beta"].attrs["note"]
    k = float(truth["saturation_beta"]) / float(group["target_scale"])
    params = SATURATION_PARAMS[family]
    if family == "michaelis_menten":
        assert float(group["saturation_alpha"]) == pytest.approx(params["alpha"] * k, rel=1e-12)
    else:
        assert float(group["saturation_b"]) == pytest.approx(params["b"] * k, rel=1e-12)
        scale = float(truth["x_scale"]) / float(group["channel_scale"])
        assert float(group["saturation_c"]) == pytest.approx(params["c"] * scale / k, rel=1e-12)


def test_which_families_have_beta_is_pymc_marketings() -> None:
    from mmm_workbench.simulate.truth import NO_BETA

    assert set(NO_BETA) == {kind for kind in PM_SATURATIONS if not _has_beta(kind)}


def test_a_target_of_zero_in_training_has_unit_scale() -> None:
    """A target that is 0 in every training period: pymc-marketing would divide by a zero
    maximum; the group keeps target_scale = 1 (a surviving mutant showed the fallback was
    untested)."""
    raw = tiny_raw(intercept=0.0, train_periods=30)  # an event in the holdout only
    raw["data"]["demand"]["effect"] = 0.0
    raw["data"]["noise"] = {"kind": "normal", "sd": 0.0}
    raw["data"]["events"] = [
        {"name": "late", "dates": ["2021-08-20"], "effect": 5.0, "duration": 2}
    ]
    for ch in raw["data"]["channels"]:
        ch["beta"] = 0.0
    tree = _tree(raw)
    sales = tree["observed"]["sales"].to_numpy()
    assert np.all(sales[:30] == 0.0) and sales[30:].max() == 5.0
    group = tree["truth/pymc_marketing"]
    assert float(group["target_scale"]) == 1.0
    np.testing.assert_array_equal(group["channel_contribution"], 0.0)
    np.testing.assert_array_equal(group["saturation_beta"], 0.0)
    assert np.all(np.isnan(tree["truth"]["contribution_share"]))  # 0 / 0: undefined
