"""Tests of the media transformation registry (``mmm_workbench.simulate.transforms``).

Properties (hypothesis), numerical equality with pymc-marketing's own implementations
(the classes named by ``Family.pymc_marketing``, evaluated through pytensor), and error
messages for bad scenario input.
"""

from __future__ import annotations

import ast
import functools
import inspect
import math
import re
import warnings
import zlib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytensor
import pytensor.xtensor as ptx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

with warnings.catch_warnings():  # pymc-extras imports a name better-optimize deprecated
    warnings.filterwarnings("ignore", "better_optimize", DeprecationWarning)
    import pymc_marketing.mmm as pmm
    from pymc_marketing.mmm.transformers import ConvMode

import mmm_workbench.scenarios.families as fam
import mmm_workbench.simulate.transforms as tr
from mmm_workbench.scenarios import ScenarioError, parse_scenario
from tests.conftest import tiny_raw

SETTINGS = settings(max_examples=40, deadline=None, database=None)
# No numba/C compilation, which takes over a minute on a cold cache. (The "py" linker with
# the fast_run rewrites is no option: its fused Composite ops lose precision, ~1e-7.)
PM_MODE = "FAST_COMPILE"

# Ranges that tests draw parameters from: each parameter's declared ``typical`` range, so
# a newly declared family is tested without editing this file.
RANGES: dict[str, dict[str, dict[str, tuple[float, float]]]] = {
    role: {
        f.name: {p.name: p.typical for p in f.params if p.typical is not None}
        for f in fam.FAMILIES
        if f.role == role
    }
    for role in ("adstock", "saturation")
}


def min_l_max(name: str, normalize: bool) -> int:
    """The fewest weights a kernel is defined for (weibull_pdf's min-max scaled kernel is
    0 / 0 for a single weight, unless normalized)."""
    return 1 if normalize else fam.ADSTOCKS[name].min_l_max_unnormalized


ADSTOCK_NAMES = [f.name for f in fam.FAMILIES if f.role == "adstock"]
SATURATION_NAMES = [f.name for f in fam.FAMILIES if f.role == "saturation"]
# The families with an equivalent pymc-marketing class, compared with it below.
PM_ADSTOCK_NAMES = [n for n in ADSTOCK_NAMES if fam.ADSTOCKS[n].pymc_marketing]
PM_SATURATION_NAMES = [n for n in SATURATION_NAMES if fam.SATURATIONS[n].pymc_marketing]


def params_strategy(role: str, name: str) -> st.SearchStrategy[dict[str, float]]:
    return st.fixed_dictionaries(
        {k: st.floats(lo, hi) for k, (lo, hi) in RANGES[role][name].items()}
    )


def random_params(
    rng: np.random.Generator, role: str, name: str, shape: tuple[int, ...]
) -> dict[str, NDArray[np.float64]]:
    """Uniform draws; for a vector, the first entries hit the closed bounds of the family."""
    out = {}
    for param in fam.get_family(role, name, "test").params:
        lo, hi = RANGES[role][name][param.name]
        values = rng.uniform(lo, hi, size=shape)
        if len(shape) == 1:
            edges = [
                b
                for b, is_open in ((param.low, param.low_open), (param.high, param.high_open))
                if math.isfinite(b) and not is_open
            ]
            values[: len(edges)] = edges
        out[param.name] = values
    return out


def spend(rng: np.random.Generator, shape: tuple[int, ...]) -> NDArray[np.float64]:
    """Non-negative series with some zero periods."""
    return rng.gamma(2.0, 1.0, size=shape) * (rng.random(shape) < 0.8)


# --------------------------------------------------------------------------- registry


def test_every_declared_family_is_implemented_and_has_test_ranges() -> None:
    declared = {(f.role, f.name) for f in fam.FAMILIES}
    assert declared == {("adstock", n) for n in tr.KERNELS} | {("saturation", n) for n in tr.CURVES}
    assert declared == {(role, name) for role, names in RANGES.items() for name in names}
    for family in fam.FAMILIES:
        assert tr.implementation(family.role, family.name)[0] is family


SHIPPED = {
    "adstock": {
        "geometric": ("alpha",),
        "delayed": ("alpha", "theta"),
        "weibull_pdf": ("lam", "k"),
        "weibull_cdf": ("lam", "k"),
        "binomial": ("alpha",),
    },
    "saturation": {
        "logistic": ("lam",),
        "hill": ("slope", "kappa"),
        "michaelis_menten": ("alpha", "lam"),
        "tanh": ("b", "c"),
        "root": ("alpha",),
    },
}
"""The shipped families and their parameters (a declared family may be added beside them)."""


def test_the_shipped_families_are_still_declared_with_these_parameters() -> None:
    for role, families in SHIPPED.items():
        for name, params in families.items():
            assert fam.get_family(role, name, "test").param_names == params, (role, name)
    for name in ("logistic", "hill", "michaelis_menten", "tanh"):
        assert fam.SATURATIONS[name].bounded, name
    assert not fam.SATURATIONS["root"].bounded
    assert fam.ADSTOCKS["weibull_pdf"].min_l_max_unnormalized == 2
    for name in ("geometric", "delayed", "weibull_cdf", "binomial"):
        assert fam.ADSTOCKS[name].min_l_max_unnormalized == 1, name


def test_declared_rules() -> None:
    for role, families in RANGES.items():
        assert set(families) == set(fam.registry(role))
        for name, ranges in families.items():
            family = fam.get_family(role, name, "test")
            assert family.role == role and family.name == name
            assert set(ranges) == set(family.param_names)  # every parameter has a range
            for param in family.params:  # the test ranges lie inside the admissible values
                lo, hi = ranges[param.name]
                assert lo < hi and param.admits(np.array([lo, hi])).all(), (name, param)
    assert all(f.rescale is not None for f in fam.SATURATIONS.values())
    assert all(f.rescale is None for f in fam.ADSTOCKS.values())
    assert all(f.min_l_max_unnormalized >= 1 for f in fam.ADSTOCKS.values())
    assert tr.ADSTOCKS is fam.ADSTOCKS and tr.Param is fam.Param  # re-exported, not copied


def _declaration(role: fam.Role, name: str, *params: str) -> fam.Family:
    return fam.Family(
        role=role,
        name=name,
        params=tuple(fam.Param(name=p, typical=(0.5, 1.0)) for p in params),
        doc="test",
        rescale=(lambda p, c: (dict(p), 1.0)) if role == "saturation" else None,
    )


def test_declarations_and_registrations_reject_mistakes() -> None:
    with pytest.raises(ValueError, match="adstock 'geometric' is already declared"):
        fam.declare(_declaration("adstock", "geometric", "alpha"))
    with pytest.raises(ValueError, match="role = 'media'"):
        fam.declare(_declaration("media", "x"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="declare its rescale rule"):
        fam.declare(replace(_declaration("saturation", "flat"), rescale=None))
    with pytest.raises(
        ValueError,
        match=re.escape("saturation 'flat': parameter 'lam' needs typical=(lo, hi)"),
    ):
        fam.declare(replace(_declaration("saturation", "flat"), params=(fam.Param(name="lam"),)))
    assert "flat" not in fam.SATURATIONS
    with pytest.raises(ValueError, match="'geometric' already has a numpy kernel"):
        tr.kernel("geometric")(lambda lags, alpha: lags)
    with pytest.raises(ValueError, match=r"saturation 'flat' is not declared: declare it in"):
        tr.curve("flat")(lambda x: x)
    assert tr.KERNELS["geometric"].__name__ == "_geometric"


def test_a_declared_family_without_implementation_names_the_function_to_add() -> None:
    # a name no real family takes (docs/tutorials/05-new-transformation.md adds "exponential")
    family = fam.declare(_declaration("saturation", "unimplemented", "lam"))
    try:
        with pytest.raises(
            tr.TransformError,
            match=re.escape(
                "saturation 'unimplemented' is declared in scenarios/families.py but has no "
                "numpy curve: add a function decorated with @curve('unimplemented') to "
                "simulate/transforms.py"
            ),
        ):
            tr.saturation([1.0], "unimplemented", {"lam": 1.0})
        raw = tiny_raw()
        raw["data"]["channels"][1]["saturation"] = {"kind": "unimplemented", "lam": 0.7}
        with pytest.raises(  # the pre-flight check, before anything is drawn or fitted
            ScenarioError,
            match=re.escape(
                "data.channels[1].saturation: saturation 'unimplemented' is declared in "
                "scenarios/families.py but has no numpy curve: add a function decorated with "
                "@curve('unimplemented') to simulate/transforms.py"
            ),
        ):
            tr.check_kernels(parse_scenario(raw).data)
        with pytest.raises(ValueError, match=r"parameters \('rate',\) differ from the declared"):
            tr.curve("unimplemented")(lambda x, rate: x)
    finally:
        del fam.SATURATIONS[family.name]
    assert "unimplemented" not in tr.CURVES


def _imports(module: Any) -> set[str]:
    tree = ast.parse(Path(module.__file__).read_text())
    imported = {
        a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
    }
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    return {m if m.startswith("mmm_workbench") else m.split(".")[0] for m in imported}


def test_declarations_are_a_leaf_and_the_kernels_numpy_only() -> None:
    stdlib = {"__future__", "collections", "dataclasses", "math", "numbers", "re", "reprlib"}
    stdlib |= {"typing"}
    assert _imports(fam) <= stdlib | {"numpy"}
    project = {m for m in _imports(tr) if m.startswith("mmm_workbench")}
    assert project == {
        "mmm_workbench.scenarios.errors",
        "mmm_workbench.scenarios.families",
        "mmm_workbench.scenarios.spec",
    }
    assert _imports(tr) - project <= stdlib | {"inspect", "numpy"}


# --------------------------------------------------------------------------- adstock properties


@pytest.mark.parametrize("name", ADSTOCK_NAMES)
@SETTINGS
@given(data=st.data(), l_max=st.integers(1, 20), periods=st.integers(1, 40), seed=st.integers(0))
def test_normalized_adstock_conserves_mass(
    name: str, data: st.DataObject, l_max: int, periods: int, seed: int
) -> None:
    params = data.draw(params_strategy("adstock", name))
    x = spend(np.random.default_rng(seed), (periods,))
    padded = np.concatenate([x, np.zeros(l_max - 1)])
    y = tr.adstock(padded, name, params, l_max=l_max, normalize=True)
    assert y.shape == padded.shape
    assert np.all(y >= 0)
    np.testing.assert_allclose(y.sum(), x.sum(), rtol=1e-12, atol=1e-12)
    w = tr.adstock_weights(name, params, l_max=l_max, normalize=True)
    assert w.shape == (l_max,) and np.all(w >= 0)
    np.testing.assert_allclose(w.sum(), 1.0, rtol=1e-13)


@pytest.mark.parametrize("name", ADSTOCK_NAMES)
@SETTINGS
@given(
    param_shape=st.sampled_from([(3, 2), (2,), (3, 1), ()]),
    l_max=st.integers(1, 12),
    normalize=st.booleans(),
    seed=st.integers(0),
)
def test_adstock_batches_and_broadcasts_per_row(
    name: str, param_shape: tuple[int, ...], l_max: int, normalize: bool, seed: int
) -> None:
    l_max = max(l_max, min_l_max(name, normalize))
    rng = np.random.default_rng(seed)
    x = spend(rng, (3, 2, 15))
    params = random_params(rng, "adstock", name, param_shape)
    y = tr.adstock(x, name, params, l_max=l_max, normalize=normalize)
    assert y.shape == x.shape
    full = {k: np.broadcast_to(v, (3, 2)) for k, v in params.items()}
    for i, j in np.ndindex(3, 2):
        row = {k: float(v[i, j]) for k, v in full.items()}
        expected = tr.adstock(x[i, j], name, row, l_max=l_max, normalize=normalize)
        np.testing.assert_allclose(y[i, j], expected, rtol=1e-14, atol=0)
    w = tr.adstock_weights(name, params, l_max=l_max, normalize=normalize)
    assert w.shape == (*param_shape, l_max)


def test_adstock_is_a_causal_convolution() -> None:
    x = np.zeros(10)
    x[2] = 3.0
    y = tr.adstock(x, "geometric", {"alpha": 0.5}, l_max=4, normalize=False)
    np.testing.assert_array_equal(y, [0, 0, 3, 1.5, 0.75, 0.375, 0, 0, 0, 0])
    short = tr.adstock([1.0, 2.0], "geometric", {"alpha": 0.5}, l_max=8, normalize=False)
    np.testing.assert_array_equal(short, [1.0, 2.5])


# --------------------------------------------------------------------------- saturation properties


@pytest.mark.parametrize("name", SATURATION_NAMES)
@SETTINGS
@given(data=st.data(), log_x_max=st.floats(-3, 3), seed=st.integers(0))
def test_saturation_is_zero_at_zero_monotone_and_bounded(
    name: str, data: st.DataObject, log_x_max: float, seed: int
) -> None:
    params = data.draw(params_strategy("saturation", name))
    rng = np.random.default_rng(seed)
    x = np.sort(np.concatenate([[0.0], rng.uniform(0, 10.0**log_x_max, 300), [1e6]]))
    y = tr.saturation(x, name, params)
    assert y.shape == x.shape
    assert y[0] == 0.0
    assert np.all(np.diff(y) >= -1e-14 * np.maximum(1.0, np.abs(y[1:])))
    assert np.all(y >= 0)
    ceiling = fam.SATURATIONS[name].ceiling
    if ceiling is not None:  # the declared supremum: approached, never passed
        assert np.all(y <= ceiling(params))
        assert y[-1] > 0.5 * ceiling(params)
    else:  # unbounded: still rising between 1e3 and 1e6
        assert y[-1] > tr.saturation(1e3, name, params)


@pytest.mark.parametrize("name", SATURATION_NAMES)
@SETTINGS
@given(data=st.data(), log_c=st.floats(-3, 3), seed=st.integers(0))
def test_saturation_rescale(name: str, data: st.DataObject, log_c: float, seed: int) -> None:
    params = data.draw(params_strategy("saturation", name))
    family = fam.SATURATIONS[name]
    assert family.rescale is not None
    c = 10.0**log_c
    params2, m = family.rescale(params, c)
    params2 = fam.check_params("saturation", name, params2, "rescaled")  # still admissible
    x = np.concatenate([[0.0], np.random.default_rng(seed).uniform(0, 20, 100)])
    np.testing.assert_allclose(
        tr.saturation(x, name, params), m * tr.saturation(c * x, name, params2), rtol=1e-9, atol=0
    )


@pytest.mark.parametrize("name", SATURATION_NAMES)
def test_saturation_broadcasts_params_against_x(name: str) -> None:
    rng = np.random.default_rng(7)
    x = spend(rng, (3, 2, 10))
    params = {k: v[..., None] for k, v in random_params(rng, "saturation", name, (3, 2)).items()}
    y = tr.saturation(x, name, params)
    assert y.shape == x.shape
    for i, j in np.ndindex(3, 2):
        row = {k: float(v[i, j, 0]) for k, v in params.items()}
        np.testing.assert_array_equal(y[i, j], tr.saturation(x[i, j], name, row))


# --------------------------------------------------------------------------- pymc-marketing


def pm_function_args(name: str, role: str) -> set[str]:
    cls = getattr(pmm, fam.get_family(role, name, "test").pymc_marketing or "")
    return set(inspect.signature(cls.function).parameters) - {"self", "x", "dim"}


def test_parameter_names_and_beta_rule_match_pymc_marketing() -> None:
    for name in PM_ADSTOCK_NAMES:
        family = fam.ADSTOCKS[name]
        assert pm_function_args(name, "adstock") - {"halflife"} == set(family.param_names)
    with_beta = set()
    for name in PM_SATURATION_NAMES:
        args = pm_function_args(name, "saturation")
        if "beta" in args:
            with_beta.add(name)
        assert args - {"beta"} == set(fam.SATURATIONS[name].param_names)
    # the module docstring's beta rule, for the shipped families
    assert {"logistic", "hill", "root"} <= with_beta
    assert not with_beta & {"michaelis_menten", "tanh"}
    assert fam.__doc__ is not None and "beta = 1" in fam.__doc__


@functools.cache
def pm_adstock(name: str, l_max: int, normalize: bool) -> Callable[..., Any]:
    """pymc-marketing's adstock class, compiled: (x[row, date], *params[row]) -> y[row, date]."""
    family = fam.ADSTOCKS[name]
    component = getattr(pmm, family.pymc_marketing or "")(l_max=l_max, normalize=normalize)
    assert component.mode == ConvMode.After
    x = ptx.xtensor("x", dims=("row", "date"), dtype="float64")
    params = {p: ptx.xtensor(p, dims=("row",), dtype="float64") for p in family.param_names}
    y = component.function(x, **params, dim="date").transpose("row", "date")
    return pytensor.function([x, *params.values()], y, mode=PM_MODE)


@functools.cache
def pm_saturation(name: str) -> Callable[..., Any]:
    """pymc-marketing's saturation class with beta = 1 where it has one, compiled."""
    family = fam.SATURATIONS[name]
    component = getattr(pmm, family.pymc_marketing or "")()
    x = ptx.xtensor("x", dims=("row", "point"), dtype="float64")
    params = {p: ptx.xtensor(p, dims=("row",), dtype="float64") for p in family.param_names}
    beta = {"beta": 1.0} if "beta" in pm_function_args(name, "saturation") else {}
    y = component.function(x, **params, **beta).transpose("row", "point")
    return pytensor.function([x, *params.values()], y, mode=PM_MODE)


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # weibull_pdf, l_max = 1
@pytest.mark.parametrize("l_max", [1, 4, 13])
@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("name", PM_ADSTOCK_NAMES)
def test_adstock_matches_pymc_marketing(name: str, normalize: bool, l_max: int) -> None:
    l_max = max(l_max, min_l_max(name, normalize))
    rng = np.random.default_rng(zlib.crc32(f"{name}{normalize}{l_max}".encode()))
    params = random_params(rng, "adstock", name, (20,))
    x = spend(rng, (20, 30))
    ours = tr.adstock(x, name, params, l_max=l_max, normalize=normalize)
    theirs = pm_adstock(name, l_max, normalize)(x, *params.values())
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)
    impulse = np.zeros((20, l_max))
    impulse[:, 0] = 1.0
    np.testing.assert_allclose(
        tr.adstock_weights(name, params, l_max=l_max, normalize=normalize),
        pm_adstock(name, l_max, normalize)(impulse, *params.values()),
        rtol=1e-10,
        atol=1e-12,
    )


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # pytensor constant folding
def test_weibull_pdf_with_one_weight() -> None:
    """0 / 0 in pymc-marketing: NaN, unless normalized (its graph rewrites w / sum(w) to 1)."""
    params = {"lam": np.array([2.0]), "k": np.array([3.0])}
    x = np.arange(5.0)[None]
    np.testing.assert_array_equal(pm_adstock("weibull_pdf", 1, True)(x, *params.values()), x)
    np.testing.assert_array_equal(tr.adstock(x, "weibull_pdf", params, l_max=1, normalize=True), x)
    assert np.isnan(pm_adstock("weibull_pdf", 1, False)(x, *params.values())).all()
    with pytest.raises(tr.TransformError, match=r"weibull_pdf adstock with l_max = 1 .*degenerate"):
        tr.adstock(x, "weibull_pdf", params, l_max=1, normalize=False)


@pytest.mark.parametrize("name", PM_SATURATION_NAMES)
def test_saturation_matches_pymc_marketing(name: str) -> None:
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    params = random_params(rng, "saturation", name, (20,))
    x = np.concatenate([np.zeros((20, 1)), 10.0 ** rng.uniform(-4, 2, (20, 40))], axis=1)
    ours = tr.saturation(x, name, {k: v[:, None] for k, v in params.items()})
    theirs = pm_saturation(name)(x, *params.values())
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-14)


# --------------------------------------------------------------------------- bad input

PATH = "data.channels[1].adstock"


def test_unknown_family() -> None:
    known = ", ".join(sorted(fam.ADSTOCKS))
    with pytest.raises(
        tr.TransformError,
        match=re.escape(
            f"data.channels[0].adstock.kind = 'geometrik': unknown adstock; known: {known}"
        ),
    ):
        fam.get_family("adstock", "geometrik", "data.channels[0].adstock")
    with pytest.raises(tr.TransformError, match=r"saturation.kind = None: unknown saturation"):
        fam.get_family("saturation", None, "saturation")
    known = re.escape(", ".join(sorted(fam.SATURATIONS)))
    with pytest.raises(tr.TransformError, match=f"unknown saturation; known: {known}$"):
        tr.saturation([1.0], "geometric", {"alpha": 0.5})
    with pytest.raises(tr.TransformError, match="'hill': unknown adstock"):
        tr.adstock([1.0], "hill", {"slope": 1.0, "kappa": 1.0}, l_max=2, normalize=True)


def test_unknown_and_missing_parameters() -> None:
    with pytest.raises(
        tr.TransformError,
        match=re.escape(
            f"{PATH}.alpah = 0.5: unknown parameter of geometric adstock; expected one of: alpha"
        ),
    ):
        fam.check_params("adstock", "geometric", {"alpah": 0.5}, PATH)
    with pytest.raises(
        tr.TransformError, match=re.escape(f"{PATH}.alpha: missing parameter of geometric adstock")
    ):
        fam.check_params("adstock", "geometric", {}, PATH)
    with pytest.raises(
        tr.TransformError, match=re.escape("delayed adstock; expected one of: alpha, theta")
    ):
        fam.check_params("adstock", "delayed", {"alpha": 0.5, "theta": 1, "l_max": 3}, PATH)
    with pytest.raises(tr.TransformError, match="missing parameter of hill saturation"):
        tr.saturation([1.0], "hill", {"slope": 1.0})


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (1.3, "adstock.alpha = 1.3: must be in [0, 1)"),
        (1, "adstock.alpha = 1: must be in [0, 1)"),
        (-0.1, "adstock.alpha = -0.1: must be in [0, 1)"),
        (math.nan, "adstock.alpha = nan: must be a finite number"),
        (math.inf, "adstock.alpha = inf: must be a finite number"),
        ("0.5", "adstock.alpha = '0.5': must be a finite number"),
        (True, "adstock.alpha = True: must be a finite number"),
        (None, "adstock.alpha = None: must be a finite number"),
    ],
)
def test_bad_parameter_values(value: object, message: str) -> None:
    with pytest.raises(tr.TransformError, match=re.escape(message)) as err:
        fam.check_params("adstock", "geometric", {"alpha": value}, PATH)
    assert str(err.value).startswith(PATH)


def test_good_parameters_are_returned_as_floats_in_declaration_order() -> None:
    out = fam.check_params("adstock", "delayed", {"theta": 2, "alpha": np.float32(0.5)}, PATH)
    assert out == {"alpha": 0.5, "theta": 2.0}
    assert all(type(v) is float for v in out.values())
    assert fam.check_params("adstock", "binomial", {"alpha": 1}, PATH) == {"alpha": 1.0}


@pytest.mark.parametrize(
    ("typical", "message"),
    [
        ((0.0, 1.0), "Param 'lam': typical = (0.0, 1.0): 0 must be > 0"),
        ((0.5, math.inf), "Param 'lam': typical = (0.5, inf): inf must be a finite number"),
        ((2.0, 1.0), "Param 'lam': typical = (2.0, 1.0): lo must be below hi"),
        ((1.0, 1.0), "Param 'lam': typical = (1.0, 1.0): lo must be below hi"),
        ([0.5, 1.0], "Param 'lam': typical = [0.5, 1.0]: must be a tuple (lo, hi)"),
        ((0.5, "2"), "Param 'lam': typical = (0.5, '2'): '2' must be a finite number"),
    ],
)
def test_a_typical_range_lies_inside_the_admissible_interval(typical: object, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        fam.Param(name="lam", low=0.0, low_open=True, typical=typical)  # type: ignore[arg-type]
    assert fam.Param(name="lam", low=0.0, low_open=True, typical=(1e-3, 5.0)).typical == (
        1e-3,
        5.0,
    )


def test_param_check_messages() -> None:
    assert fam.Param(name="x").check(-3, "p") == -3.0
    cases = [
        (fam.Param(name="x", low=0.0, low_open=True), 0.0, "p = 0: must be > 0"),
        (fam.Param(name="x", low=2.5), 1, "p = 1: must be >= 2.5"),
        (fam.Param(name="x", high=1.0, high_open=True), 1.0, "p = 1: must be < 1"),
        (fam.Param(name="x", low=0.0, high=1.0, low_open=True), 0.0, "p = 0: must be in (0, 1]"),
        (fam.Param(name="x"), -math.inf, "p = -inf: must be a finite number"),
    ]
    for param, value, message in cases:
        with pytest.raises(tr.TransformError, match=re.escape(message)):
            param.check(value, "p")


@pytest.mark.parametrize("l_max", [0, -2, 2.0, True, "3", None])
def test_bad_l_max(l_max: object) -> None:
    with pytest.raises(
        tr.TransformError, match=re.escape(f"l_max = {l_max!r}: must be an integer")
    ):
        tr.adstock(np.ones(5), "geometric", {"alpha": 0.5}, l_max=l_max, normalize=True)  # type: ignore[arg-type]
    with pytest.raises(tr.TransformError, match="must be an integer >= 1"):
        tr.adstock_weights("geometric", {"alpha": 0.5}, l_max=l_max, normalize=False)  # type: ignore[arg-type]


def test_bad_array_inputs() -> None:
    x = np.ones((2, 6))
    with pytest.raises(tr.TransformError, match=re.escape("alpha = 1.5: must be in [0, 1)")):
        tr.adstock(x, "geometric", {"alpha": np.array([0.5, 1.5])}, l_max=3, normalize=True)
    with pytest.raises(tr.TransformError, match="lam = nan: must be a finite number"):
        tr.saturation(x, "logistic", {"lam": np.array([1.0, np.nan])})
    with pytest.raises(tr.TransformError, match="must be a finite number"):
        tr.saturation(x, "logistic", {"lam": "2"})
    with pytest.raises(tr.TransformError, match=r"do not broadcast to x.shape\[:-1\] = \(2,\)"):
        tr.adstock(x, "geometric", {"alpha": np.full(3, 0.5)}, l_max=3, normalize=True)
    with pytest.raises(tr.TransformError, match="needs a time axis"):
        tr.adstock(1.0, "geometric", {"alpha": 0.5}, l_max=3, normalize=True)
    with pytest.raises(tr.TransformError, match="degenerate kernel"):
        tr.adstock(x, "weibull_pdf", {"lam": 1e-300, "k": 5.0}, l_max=3, normalize=True)
    # a delayed kernel that underflows: NaN in pymc-marketing when normalized, zeros if not
    far = {"alpha": 0.01, "theta": 14.0}
    with pytest.raises(tr.TransformError, match="summing to zero"):
        tr.adstock(x, "delayed", far, l_max=2, normalize=True)
    assert not tr.adstock(x, "delayed", far, l_max=2, normalize=False).any()
    with pytest.raises(tr.TransformError, match=r"shapes \(\(3,\), \(2,\)\) do not broadcast"):
        tr.adstock(
            x, "delayed", {"alpha": np.full(3, 0.5), "theta": [1, 2]}, l_max=3, normalize=True
        )
    with pytest.raises(tr.TransformError, match="logistic saturation: shapes"):
        tr.saturation(x, "logistic", {"lam": np.ones(3)})


@pytest.mark.parametrize("l_max", [fam.MAX_L_MAX + 1, 300_000_000, 32_819_658_305])
def test_a_huge_l_max_is_refused_before_any_weight_is_computed(l_max: int) -> None:
    """issue 10 #2: 300000000 took 156 s and 7 GB; 32819658305 a 245 GiB allocation."""
    with pytest.raises(tr.TransformError, match=f"l_max = {l_max}: must be at most 100000"):
        tr.adstock_weights("geometric", {"alpha": 0.5}, l_max=l_max, normalize=True)
    assert tr.adstock_weights("geometric", {"alpha": 0.5}, l_max=fam.MAX_L_MAX, normalize=True)[
        0
    ] == pytest.approx(0.5)


def test_check_kernels_names_the_channel_of_a_degenerate_kernel() -> None:
    """A delayed kernel whose every weight underflows: NaN in pymc-marketing once
    normalized. The declarations cannot tell; the simulator's pre-flight check does."""
    raw = tiny_raw()
    raw["data"]["channels"][1]["adstock"] = {
        "kind": "delayed",
        "alpha": 0.01,
        "theta": 14.0,
        "l_max": 2,
    }
    spec = parse_scenario(raw).data  # valid as far as the declarations go
    with pytest.raises(
        ScenarioError,
        match=re.escape(
            "data.channels[1].adstock: delayed adstock with l_max = 2 and alpha = 0.01, "
            "theta = 14: degenerate kernel (weights not finite or summing to zero)"
        ),
    ):
        tr.check_kernels(spec)
    raw["data"]["channels"][1]["adstock"]["theta"] = 1.0
    tr.check_kernels(parse_scenario(raw).data)  # the same kernel, peak inside: fine
