"""The hand-written log density of ``bench/bench_gradient.py`` is the PyMC model's.

The benchmark times it against nutpie's compiled density only after checking the two
equal. By default: its analytic gradient against finite differences of its own log
density on small made-up data, and a wrong gradient caught (milliseconds). Slow (a
confounded-demand model built and PyMC's density compiled, about 5 s of CPU): the numpy
density against PyMC's own log density and gradient, and wrong densities caught.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from types import ModuleType

import numpy as np
import pytest


@pytest.fixture(scope="module")
def bg(bench_script: Callable[[str], ModuleType]) -> ModuleType:
    return bench_script("bench_gradient")


@pytest.fixture(scope="module")
def cell(bg: ModuleType) -> object:
    return bg.build_cell(0, compile_nutpie=False)


@pytest.fixture(scope="module")
def pymc_pair(cell: object) -> object:
    """PyMC's log density and gradient of the same model, flat as nutpie orders them."""
    model = cell.model.model  # type: ignore[attr-defined]
    logp = model.compile_logp(mode="FAST_COMPILE")
    dlogp = model.compile_dlogp(mode="FAST_COMPILE")
    values = [model.rvs_to_values[rv] for rv in model.free_RVs]

    def pair(theta: np.ndarray) -> tuple[float, np.ndarray]:
        point, start = {}, 0
        for value in values:
            shape = model.initial_point()[value.name].shape
            size = int(np.prod(shape))
            point[value.name] = theta[start : start + size].reshape(shape)
            start += size
        return float(logp(point)), np.asarray(dlogp(point))

    return pair


def _points(cell: object) -> np.ndarray:
    n = cell.layout.n_dim  # type: ignore[attr-defined]
    return np.random.default_rng(3).normal(0.0, 0.7, size=(3, n))


def _made_up(bg: ModuleType) -> tuple[object, dict[str, np.ndarray]]:
    """A 2-channel, 1-control layout with the default priors' kinds, and 30 weeks of data."""
    rng = np.random.default_rng(5)
    prior = bg.Prior
    layout = bg.Layout(
        channels=2,
        controls=1,
        l_max=4,
        priors=(
            prior("beta", 1.0, 3.0),
            prior("gamma", 3.0, 1.0),
            prior("halfnormal", 0.0, 2.0),
            prior("normal", 0.0, 2.0),
            prior("normal", 0.0, 2.0),
            prior("halfnormal", 0.0, 2.0),
        ),
    )
    data = {
        "spend": rng.uniform(0.0, 1.0, (30, 2)),
        "target": rng.normal(1.0, 0.3, 30),
        "controls": rng.normal(0.0, 1.0, (30, 1)),
    }
    return layout, data


def _finite_differences(bg: ModuleType, layout: object, data: object) -> object:
    def pair(theta: np.ndarray) -> tuple[float, np.ndarray]:
        value = bg.numpy_logp_dlogp(theta, layout, data)[0]
        grad = np.empty_like(theta)
        for i in range(theta.size):
            step = np.zeros_like(theta)
            step[i] = 1e-5
            up = bg.numpy_logp_dlogp(theta + step, layout, data)[0]
            down = bg.numpy_logp_dlogp(theta - step, layout, data)[0]
            grad[i] = (up - down) / 2e-5
        return value, grad

    return pair


def test_analytic_gradient_matches_finite_differences(bg: ModuleType) -> None:
    layout, data = _made_up(bg)
    points = np.random.default_rng(6).normal(0.0, 0.7, size=(3, layout.n_dim))  # type: ignore[attr-defined]

    def analytic(theta: np.ndarray) -> tuple[float, np.ndarray]:
        return bg.numpy_logp_dlogp(theta, layout, data)  # type: ignore[no-any-return]

    fd = _finite_differences(bg, layout, data)
    assert bg.check_equal(fd, analytic, points, rtol=1e-6) < 1e-6

    def wrong(theta: np.ndarray) -> tuple[float, np.ndarray]:  # alpha's Jacobian dropped
        value, grad = analytic(theta)
        alpha = 1.0 / (1.0 + np.exp(-theta[:2]))
        grad[:2] -= 1.0 - 2.0 * alpha
        return value, grad

    with pytest.raises(AssertionError, match="gradient differs"):
        bg.check_equal(fd, wrong, points, rtol=1e-6)


@pytest.mark.slow
def test_numpy_density_equals_pymc(bg: ModuleType, cell: object, pymc_pair: object) -> None:
    def numpy_pair(theta: np.ndarray) -> tuple[float, np.ndarray]:
        return bg.numpy_logp_dlogp(theta, cell.layout, cell.data)  # type: ignore[attr-defined]

    assert bg.check_equal(pymc_pair, numpy_pair, _points(cell)) < 1e-10


@pytest.mark.slow
def test_wrong_density_is_caught(bg: ModuleType, cell: object, pymc_pair: object) -> None:
    """A Beta(1, 3) prior written as Beta(1, 2), and an adstock one lag short, both fail."""
    layout = cell.layout  # type: ignore[attr-defined]
    alpha = dataclasses.replace(layout.priors[0], b=layout.priors[0].b - 1)
    wrong_prior = dataclasses.replace(layout, priors=(alpha, *layout.priors[1:]))
    short = dataclasses.replace(layout, l_max=layout.l_max - 1)
    for wrong in (wrong_prior, short):

        def numpy_pair(theta: np.ndarray, wrong: object = wrong) -> tuple[float, np.ndarray]:
            return bg.numpy_logp_dlogp(theta, wrong, cell.data)  # type: ignore[attr-defined]

        with pytest.raises(AssertionError, match="log density"):
            bg.check_equal(pymc_pair, numpy_pair, _points(cell))


@pytest.mark.slow
def test_other_models_are_refused(bg: ModuleType, cell: object) -> None:
    spec = cell.model.spec  # type: ignore[attr-defined]
    model = dataclasses.replace(cell.model, spec=dataclasses.replace(spec, trend=True))  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="not the hand-written one"):
        bg.layout_of(model)


@pytest.mark.slow
def test_fused_density_equals_numpy(bg: ModuleType, cell: object) -> None:
    """The numba version (a few seconds of numba compilation) is the numpy one."""

    def numpy_pair(theta: np.ndarray) -> tuple[float, np.ndarray]:
        return bg.numpy_logp_dlogp(theta, cell.layout, cell.data)  # type: ignore[attr-defined]

    def fused_pair(theta: np.ndarray) -> tuple[float, np.ndarray]:
        return bg.fused_logp_dlogp(theta, cell.layout, cell.data)  # type: ignore[attr-defined]

    assert bg.check_equal(numpy_pair, fused_pair, _points(cell)) < 1e-12


def test_batched_bench_skips_without_jax(
    capsys: pytest.CaptureFixture[str], bench_script: Callable[[str], ModuleType]
) -> None:
    bb = bench_script("bench_batched")
    if bb.have_jax():
        pytest.skip("jax is installed here")
    sys.argv = ["bench_batched.py"]
    bb.main()
    assert "jax and blackjax are not installed" in capsys.readouterr().out
