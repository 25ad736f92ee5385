"""The PyTensor twins of the media transforms (``mmm_workbench.recover.models.transforms``).

Each family declared in ``mmm_workbench.scenarios.families`` (``FAMILIES``, the one list that
drives these tests) has a twin, which must equal its numpy original in
``mmm_workbench.simulate.transforms`` (the data-generating process) without importing it: hypothesis property tests over the families' admissible
parameters, per-channel and shared, several ``l_max``, normalized or not; finite gradients
checked against finite differences of the numpy original; layout and error messages.
Graphs are compiled once per family and setting, in ``FAST_COMPILE`` mode (no C or numba
compilation).
"""

from __future__ import annotations

import ast
import functools
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytensor.tensor as pt
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from pytensor.compile.maker import function
from pytensor.gradient import grad as pt_grad

import mmm_workbench.recover.models.transforms as tw
import mmm_workbench.scenarios.families as fam
import mmm_workbench.simulate.transforms as tr

SETTINGS = settings(max_examples=40, deadline=None, database=None)
MODE = "FAST_COMPILE"  # no C/numba compilation; the Python implementations are numpy's
L_MAXES = (1, 2, 3, 7, 13, 20)
CAP = 20.0  # upper end drawn for parameters unbounded above
ADSTOCK_NAMES = [f.name for f in fam.FAMILIES if f.role == "adstock"]
SATURATION_NAMES = [f.name for f in fam.FAMILIES if f.role == "saturation"]
Params = dict[str, Any]


def close(actual: NDArray[np.float64], expected: NDArray[np.float64]) -> None:
    np.testing.assert_allclose(actual, expected, rtol=1e-10, atol=1e-12)


def compile_fn(inputs: list[Any], outputs: Any) -> Callable[..., Any]:
    compiled: Callable[..., Any] = function(inputs, outputs, mode=MODE)
    return compiled


def evaluate(expr: Any) -> NDArray[np.float64]:
    return np.asarray(compile_fn([], expr)())


def symbols(role: str, name: str, shared: bool) -> dict[str, Any]:
    """A symbolic scalar (shared) or vector (per-channel) for every parameter."""
    make = pt.dscalar if shared else pt.dvector
    return {p: make(p) for p in tw.param_names(role, name)}


def typical_mid(param: fam.Param) -> float:
    """The middle of a parameter's declared typical range."""
    assert param.typical is not None
    return (param.typical[0] + param.typical[1]) / 2


def spend(rng: np.random.Generator, shape: tuple[int, ...]) -> NDArray[np.float64]:
    """Non-negative series with some zero periods."""
    return rng.gamma(2.0, 1.0, size=shape) * (rng.random(shape) < 0.8)


def param_strategy(param: fam.Param) -> st.SearchStrategy[float]:
    """Any admissible value of the numpy original's parameter (capped above at CAP)."""
    return st.floats(
        param.low if math.isfinite(param.low) else -CAP,
        param.high if math.isfinite(param.high) else CAP,
        exclude_min=param.low_open,
        exclude_max=param.high_open,
        allow_subnormal=False,
    )


def draw_params(
    data: st.DataObject, family: fam.Family, channels: int, shared: bool
) -> dict[str, Any]:
    """Per parameter: a float (shared) or an array of shape (channels,)."""
    out: dict[str, Any] = {}
    for param in family.params:
        values = param_strategy(param)
        if shared:
            out[param.name] = data.draw(values, label=param.name)
        else:
            drawn = data.draw(st.lists(values, min_size=channels, max_size=channels))
            out[param.name] = np.array(drawn)
    return out


# --------------------------------------------------------------------------- compiled twins


@functools.cache
def adstock_fn(name: str, l_max: int, normalize: bool, shared: bool) -> Callable[..., Any]:
    """(x[T, C], *params) -> (y[T, C], weights[..., l_max])."""
    x = pt.dmatrix("x")
    params = symbols("adstock", name, shared)
    y = tw.adstock(x, name, params, l_max=l_max, normalize=normalize)
    w = tw.adstock_weights(name, params, l_max=l_max, normalize=normalize)
    return compile_fn([x, *params.values()], [y, w])


@functools.cache
def saturation_fn(name: str, shared: bool) -> Callable[..., Any]:
    """(x[T, C], *params) -> y[T, C]."""
    x = pt.dmatrix("x")
    params = symbols("saturation", name, shared)
    return compile_fn([x, *params.values()], tw.saturation(x, name, params))


@functools.cache
def grad_fn(role: str, name: str, l_max: int, normalize: bool) -> Callable[..., Any]:
    """(x[T, C], *params[C]) -> gradients of sum(output) in each parameter."""
    x = pt.dmatrix("x")
    params = symbols(role, name, shared=False)
    y: Any
    if role == "adstock":
        y = tw.adstock(x, name, params, l_max=l_max, normalize=normalize)
    else:
        y = tw.saturation(x, name, params)
    return compile_fn([x, *params.values()], pt_grad(y.sum(), list(params.values())))


# --------------------------------------------------------------------------- equality


@pytest.mark.parametrize("name", ADSTOCK_NAMES)
@SETTINGS
@given(
    data=st.data(),
    l_max=st.sampled_from(L_MAXES),
    normalize=st.booleans(),
    shared=st.booleans(),
    periods=st.integers(1, 40),
    channels=st.integers(1, 3),
    seed=st.integers(0),
)
def test_adstock_twin_equals_numpy_original(
    name: str,
    data: st.DataObject,
    l_max: int,
    normalize: bool,
    shared: bool,
    periods: int,
    channels: int,
    seed: int,
) -> None:
    if not normalize:  # weibull_pdf: one min-max scaled weight is 0 / 0 (see the error test)
        l_max = max(l_max, fam.ADSTOCKS[name].min_l_max_unnormalized)
    params = draw_params(data, fam.ADSTOCKS[name], channels, shared)
    x = spend(np.random.default_rng(seed), (periods, channels))
    try:
        expected = tr.adstock(x.T, name, params, l_max=l_max, normalize=normalize).T
        weights = tr.adstock_weights(name, params, l_max=l_max, normalize=normalize)
    except tr.TransformError:  # a degenerate kernel (underflow): an error there, NaN here
        assume(False)
    with np.errstate(all="ignore"):
        y, w = adstock_fn(name, l_max, normalize, shared)(x, *params.values())
    assert y.shape == x.shape
    assert w.shape == ((l_max,) if shared else (channels, l_max))
    close(y, expected)
    close(w, weights)


@pytest.mark.parametrize("name", SATURATION_NAMES)
@SETTINGS
@given(
    data=st.data(),
    shared=st.booleans(),
    periods=st.integers(1, 40),
    channels=st.integers(1, 3),
    log_scale=st.floats(-3, 3),
    seed=st.integers(0),
)
def test_saturation_twin_equals_numpy_original(
    name: str,
    data: st.DataObject,
    shared: bool,
    periods: int,
    channels: int,
    log_scale: float,
    seed: int,
) -> None:
    params = draw_params(data, fam.SATURATIONS[name], channels, shared)
    x = spend(np.random.default_rng(seed), (periods, channels)) * 10.0**log_scale
    x[0] = 0.0
    expected = tr.saturation(x.T, name, {k: np.asarray(v)[..., None] for k, v in params.items()})
    with np.errstate(all="ignore"):
        y = saturation_fn(name, shared)(x, *params.values())
    assert y.shape == x.shape
    close(y, expected.T)


# --------------------------------------------------------------------------- gradients

INTERIOR = {"unit": (0.05, 0.95), "positive": (0.3, 6.0), "nonnegative": (0.5, 6.0)}


def interior_params(role: str, name: str, rng: np.random.Generator, channels: int) -> Params:
    out: Params = {}
    for p in tw.param_names(role, name):
        lo, hi = INTERIOR[tw.parameter_support(role, name, p)]
        out[p] = rng.uniform(lo, hi, channels)
    return out


def numpy_total(role: str, name: str, x: NDArray[np.float64], params: Params, **kw: Any) -> float:
    if role == "adstock":
        return float(tr.adstock(x.T, name, params, **kw).sum())
    return float(tr.saturation(x.T, name, {k: v[:, None] for k, v in params.items()}).sum())


@pytest.mark.parametrize(
    ("role", "name"),
    [("adstock", n) for n in ADSTOCK_NAMES] + [("saturation", n) for n in SATURATION_NAMES],
)
def test_gradients_are_finite_and_match_finite_differences(role: str, name: str) -> None:
    rng = np.random.default_rng(sum(map(ord, name)))
    settings_ = [(2, True), (8, False), (13, True)] if role == "adstock" else [(0, False)]
    for l_max, normalize in settings_:
        kw = {"l_max": l_max, "normalize": normalize} if role == "adstock" else {}
        fn = grad_fn(role, name, l_max, normalize)
        for _ in range(3):
            channels = 3
            x = spend(rng, (25, channels))
            x[:2] = 0.0  # zero spend: the saturations' switch branches
            params = interior_params(role, name, rng, channels)
            grads = fn(x, *params.values())
            for (p, values), grad in zip(params.items(), grads, strict=True):
                assert np.isfinite(grad).all(), (name, p, values, grad)
                for c in range(channels):
                    h = 1e-6 * max(1.0, abs(values[c]))
                    up, down = values.copy(), values.copy()
                    up[c] += h
                    down[c] -= h
                    fd = (
                        numpy_total(role, name, x, {**params, p: up}, **kw)
                        - numpy_total(role, name, x, {**params, p: down}, **kw)
                    ) / (2 * h)
                    np.testing.assert_allclose(grad[c], fd, rtol=1e-5, atol=1e-6, err_msg=p)


def test_hill_gradient_at_the_half_saturation_point() -> None:
    """At x = kappa the sigmoid's slope is 1/4: df/dkappa = -slope / (4 kappa)."""
    slope, kappa = pt.dscalar("slope"), pt.dscalar("kappa")
    y = tw.saturation(1.5, "hill", {"slope": slope, "kappa": kappa})
    fn = compile_fn([slope, kappa], [y, pt_grad(y, kappa)])
    value, grad = fn(2.0, 1.5)
    assert value == 0.5
    np.testing.assert_allclose(grad, -2.0 / (4 * 1.5), rtol=1e-14)


# --------------------------------------------------------------------------- layout, conventions


def test_adstock_is_a_causal_convolution_with_time_first() -> None:
    x = np.zeros((10, 2))
    x[2] = [3.0, 1.0]
    y = evaluate(tw.adstock(x, "geometric", {"alpha": [0.5, 0.0]}, l_max=4, normalize=False))
    np.testing.assert_array_equal(y[:, 0], [0, 0, 3, 1.5, 0.75, 0.375, 0, 0, 0, 0])
    np.testing.assert_array_equal(y[:, 1], x[:, 1])  # alpha = 0: no carry-over (0^0 = 1)
    short = tw.adstock([1.0, 2.0], "geometric", {"alpha": 0.5}, l_max=8, normalize=False)
    np.testing.assert_array_equal(evaluate(short), [1.0, 2.5])  # l_max > T, x of shape (T,)


def test_a_single_normalized_weight_is_one_and_weibull_pdf_needs_two() -> None:
    x = np.arange(5.0)[:, None]
    for name in ADSTOCK_NAMES:
        params = {p.name: np.array([typical_mid(p)]) for p in fam.ADSTOCKS[name].params}
        np.testing.assert_array_equal(
            evaluate(tw.adstock(x, name, params, l_max=1, normalize=True)), x
        )
    with pytest.raises(ValueError, match="weibull_pdf adstock with l_max = 1 unnormalized"):
        tw.adstock_weights("weibull_pdf", {"lam": 2.0, "k": 3.0}, l_max=1, normalize=False)


def test_twin_callables() -> None:
    w = tw.ADSTOCKS["delayed"](3, False, alpha=0.5, theta=1.0)
    np.testing.assert_allclose(evaluate(w), [0.5, 1.0, 0.5], rtol=1e-15)
    y = tw.SATURATIONS["michaelis_menten"](np.array([0.0, 1.0]), alpha=2.0, lam=1.0)
    np.testing.assert_allclose(evaluate(y), [0.0, 1.0], rtol=1e-15)


def test_numbers_become_float64_constants() -> None:
    """pytensor alone would make 1.5 a float32 constant (and log(1.5) a float32 result)."""
    x = np.array([[0.3, 3.0]])
    y = tw.saturation(x, "hill", {"slope": 1.5, "kappa": 1.5})
    assert y.dtype == "float64"
    close(evaluate(y), tr.saturation(x, "hill", {"slope": 1.5, "kappa": 1.5}))
    w = tw.adstock_weights("weibull_pdf", {"lam": 1.5, "k": 2}, l_max=4, normalize=True)
    assert w.dtype == "float64"
    close(
        evaluate(w),
        tr.adstock_weights("weibull_pdf", {"lam": 1.5, "k": 2}, l_max=4, normalize=True),
    )
    assert tw.adstock([1, 2], "binomial", {"alpha": 1}, l_max=2, normalize=True).dtype == "float64"


# --------------------------------------------------------------------------- registry


def test_registry_mirrors_the_declarations() -> None:
    for role, theirs, ours in (
        ("adstock", fam.ADSTOCKS, tw.ADSTOCKS),
        ("saturation", fam.SATURATIONS, tw.SATURATIONS),
    ):
        assert sorted(ours) == sorted(theirs)
        for name, family in theirs.items():
            assert tw.param_names(role, name) == family.param_names
            for p in family.params:
                support = tw.parameter_support(role, name, p.name)
                if support == "unit":
                    assert p.low >= 0.0 and p.high <= 1.0, (name, p)
                else:
                    assert (p.low, p.high) == (0.0, math.inf), (name, p)
                    assert p.low_open == (support == "positive"), (name, p)


def test_module_does_not_import_simulate() -> None:
    """The fitted model and the data-generating process must never share code."""
    tree = ast.parse(Path(tw.__file__).read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, "no relative imports"
            imported.add(node.module or "")
            imported |= {f"{node.module}.{a.name}" for a in node.names}
    assert not {m for m in imported if "simulate" in m.split(".")}, imported
    assert "importlib" not in imported and "__import__" not in Path(tw.__file__).read_text()
    assert not {m for m in imported if m.startswith("pytensor.xtensor")}


def test_a_declared_family_without_twin_names_what_to_add() -> None:
    family = fam.declare(
        fam.Family(
            role="saturation",
            name="unimplemented",
            params=(fam.Param(name="lam", low=0.0, low_open=True, typical=(0.1, 5.0)),),
            doc="test",
            rescale=lambda p, c: ({"lam": p["lam"] / c}, 1.0),
        )
    )
    try:
        with pytest.raises(
            tw.UnknownTransformError,
            match=re.escape(
                "saturation 'unimplemented' is declared in scenarios/families.py but has no "
                "PyTensor twin: add its curve function and an entry in SATURATIONS to "
                "recover/models/transforms.py"
            ),
        ):
            tw.saturation(np.ones(3), "unimplemented", {"lam": 1.0})
    finally:
        del fam.SATURATIONS[family.name]


# --------------------------------------------------------------------------- bad input


def test_unknown_family_names() -> None:
    known = ", ".join(sorted(fam.ADSTOCKS))
    message = re.escape(f"'geometrik': unknown adstock; known: {known}")
    with pytest.raises(ValueError, match=message) as err:
        tw.adstock(np.ones(3), "geometrik", {"alpha": 0.5}, l_max=2, normalize=True)
    assert isinstance(err.value, tw.UnknownTransformError)
    assert issubclass(tw.UnknownTransformError, KeyError)
    assert str(err.value).startswith("'geometrik'")  # not KeyError's quoted repr
    with pytest.raises(KeyError, match=message):
        tw.param_names("adstock", "geometrik")
    known = ", ".join(sorted(fam.SATURATIONS))
    with pytest.raises(
        ValueError, match=re.escape(f"'geometric': unknown saturation; known: {known}")
    ):
        tw.saturation(np.ones(3), "geometric", {"alpha": 0.5})
    with pytest.raises(ValueError, match=re.escape("role = 'media': unknown; known: adstock")):
        tw.parameter_support("media", "hill", "slope")


def test_bad_parameters_and_settings() -> None:
    x = np.ones((4, 2))
    with pytest.raises(ValueError, match=r"unknown parameters \['alpah'\], missing \['alpha'\]"):
        tw.adstock(x, "geometric", {"alpah": 0.5}, l_max=2, normalize=True)
    with pytest.raises(ValueError, match=r"hill saturation: .*missing \['kappa'\]"):
        tw.saturation(x, "hill", {"slope": 1.0})
    with pytest.raises(ValueError, match="'kappa': unknown parameter of logistic saturation"):
        tw.parameter_support("saturation", "logistic", "kappa")
    for l_max in (0, True, 2.0):
        with pytest.raises(ValueError, match="must be a Python int >= 1"):
            tw.adstock(x, "geometric", {"alpha": 0.5}, l_max=l_max, normalize=True)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="normalize = 1: must be a bool"):
        tw.adstock(x, "geometric", {"alpha": 0.5}, l_max=2, normalize=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs a time axis"):
        tw.adstock(1.0, "geometric", {"alpha": 0.5}, l_max=2, normalize=True)
    with pytest.raises(ValueError, match="parameters index the axes after time"):
        tw.adstock(np.ones(4), "geometric", {"alpha": [0.5, 0.5]}, l_max=2, normalize=True)
