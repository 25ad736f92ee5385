"""The MAP backend compiles once per cell and still finds ``pm.find_MAP``'s point."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pymc as pm
import pytest

from mmm_workbench.recover.inference import Map, PreparedMap
from mmm_workbench.scenarios.spec import FitSpec

X = np.linspace(0.0, 1.0, 20)
DATA = [
    {"x": X, "y": 1.0 + 2.0 * X + 0.1 * np.sin(7 * X)},
    {"x": X, "y": 3.0 - 1.0 * X + 0.1 * np.cos(5 * X)},
]


@dataclass
class _Tiny:
    model: pm.Model


def _tiny(data: dict[str, np.ndarray]) -> _Tiny:
    with pm.Model() as model:
        x = pm.Data("x", data["x"])
        y = pm.Data("y", data["y"])
        a = pm.Normal("a", 0.0, 5.0)
        b = pm.Normal("b", 0.0, 5.0)
        sigma = pm.HalfNormal("sigma", 1.0)
        pm.Deterministic("mu", a + b * x)
        pm.Normal("obs", a + b * x, sigma, observed=y)
    return _Tiny(model)


def _fit(backend: Map, prepared: object, tiny: _Tiny, data: dict[str, np.ndarray]) -> dict:
    target = backend.swap(prepared, tiny, data)
    posterior = backend.sample(target, tiny, FitSpec(backend="map"), seed=7).posterior
    return {name: posterior[name].to_numpy()[0, 0] for name in posterior.data_vars}


def test_a_prepared_fit_after_another_replicate_is_find_maps_point() -> None:
    backend = Map()
    tiny = _tiny(DATA[0])
    prepared = backend.prepare(tiny, FitSpec(backend="map"))
    assert isinstance(prepared, PreparedMap)
    first = _fit(backend, prepared, tiny, DATA[0])
    second = _fit(backend, prepared, tiny, DATA[1])  # the same functions, new data
    fresh = pm.find_MAP(model=_tiny(DATA[1]).model, progressbar=False, seed=7)
    assert set(second) == {"a", "b", "sigma", "sigma_log__", "mu"}
    for name, value in second.items():
        np.testing.assert_array_equal(value, fresh[name])  # bit for bit
    # and the data were really swapped: the two replicates' slopes differ
    assert first["b"] == pytest.approx(2.0, abs=0.2) and second["b"] == pytest.approx(-1.0, abs=0.2)


def test_a_fit_on_the_compiled_replicates_data_is_not_the_new_replicates_point() -> None:
    """The broken case: without the data swap the point is the first replicate's."""
    backend = Map()
    tiny = _tiny(DATA[0])
    prepared = backend.prepare(tiny, FitSpec(backend="map"))
    stale = backend.sample(prepared, tiny, FitSpec(backend="map"), seed=7).posterior
    fresh = pm.find_MAP(model=_tiny(DATA[1]).model, progressbar=False, seed=7)
    assert abs(float(stale["b"].to_numpy()[0, 0]) - float(fresh["b"])) > 1.0


def test_a_start_with_an_infinite_log_density_is_refused_as_check_start_vals_does() -> None:
    """The start check compiled once per cell still refuses what ``check_start_vals`` does.

    A replicate whose observed value is infinite makes the log density at the start
    infinite: the fit stops with PyMC's ``SamplingError``, naming the factor, not a MAP
    point of nonsense; the same prepared functions then fit a good replicate.
    """
    from pymc.exceptions import SamplingError

    backend = Map()
    tiny = _tiny(DATA[0])
    prepared = backend.prepare(tiny, FitSpec(backend="map"))
    bad = {"x": X, "y": np.where(np.arange(len(X)) == 3, np.inf, DATA[0]["y"])}
    with pytest.raises(SamplingError, match=r"Initial evaluation(.|\n)*'obs': -?inf"):
        _fit(backend, prepared, tiny, bad)
    with pytest.raises(SamplingError):  # what model.check_start_vals says of the same start
        tiny.model.check_start_vals(prepared.initial_point(7))
    assert _fit(backend, prepared, tiny, DATA[0])["b"] == pytest.approx(2.0, abs=0.2)
