"""ADVI compiled once per cell: a prepared fit, after another replicate's, equals a fresh
``pm.fit`` with the same seed, and a state left unreset is caught (tiny model, PyTensor
uncompiled). Slow: each test compiles ADVI's objective (about 10 s each on 2 loaded CPUs).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import pymc as pm
import pytest
from numpy.typing import NDArray

from mmm_workbench.recover.inference import Posterior, PreparedAdvi, get_backend
from mmm_workbench.scenarios.spec import FitSpec

pytestmark = pytest.mark.slow

Array = NDArray[np.float64]
ITERATIONS = 150
DRAWS = 40


@dataclasses.dataclass(frozen=True)
class Tiny:
    """A regression with its data in ``pm.Data`` containers (a :class:`SampledModel`)."""

    model: pm.Model


def tiny() -> Tiny:
    with pm.Model() as model:
        x = pm.Data("x", np.zeros(30))
        y = pm.Data("y", np.zeros(30))
        a = pm.Normal("a", 0.0, 5.0)
        b = pm.HalfNormal("b", 2.0)
        sigma = pm.HalfNormal("sigma", 1.0)
        pm.Normal("obs", a + b * x, sigma, observed=y)
    return Tiny(model)


def replicate(seed: int) -> dict[str, Array]:
    rng = np.random.default_rng(seed)
    x = np.linspace(0.0, 1.0, 30)
    return {"x": x, "y": 1.0 + 2.0 * x + rng.normal(0.0, 0.3, 30)}


def fresh(method: str, data: Mapping[str, Array], seed: int) -> tuple[Array, dict[str, Array]]:
    """``pm.fit`` as the backend used to call it, on a model built anew: losses, draws."""
    built = tiny()
    with built.model:
        pm.set_data(dict(data))
        approx = pm.fit(n=ITERATIONS, method=method, random_seed=seed, progressbar=False)
        trace = approx.sample(draws=DRAWS, random_seed=seed)
    post = trace["posterior"]
    return np.asarray(approx.hist), {n: post[n].to_numpy() for n in ("a", "b", "sigma")}


def fit_twice(method: str, broken: str | None = None) -> tuple[Posterior, PreparedAdvi]:
    """Prepare once, fit replicate 1 (seed 11), then replicate 2 (seed 22)."""
    backend = get_backend(method)
    model = tiny()
    fit = FitSpec(backend=method, draws=DRAWS, chains=1, options={"iterations": ITERATIONS})
    prepared = backend.prepare(model, fit)
    assert isinstance(prepared, PreparedAdvi)
    if broken == "optimizer accumulators":
        params = set(prepared.inference.approx.groups[0].shared_params.values())  # type: ignore[attr-defined]
        prepared = dataclasses.replace(
            prepared, initial={k: v for k, v in prepared.initial.items() if k in params}
        )
    elif broken == "random generators":
        prepared = dataclasses.replace(prepared, rngs=[])
    backend.run(prepared, model, replicate(1), fit, 11)
    return backend.run(prepared, model, replicate(2), fit, 22), prepared


@pytest.mark.parametrize("method", ["advi", "fullrank_advi"])
def test_a_prepared_fit_equals_a_fresh_fit(method: str) -> None:
    post, prepared = fit_twice(method)
    losses, draws = fresh(method, replicate(2), 22)
    assert losses.shape == (ITERATIONS,)
    np.testing.assert_array_equal(prepared.inference.approx.hist, losses)  # type: ignore[attr-defined]
    for name, values in draws.items():
        np.testing.assert_array_equal(post.draws[name], values, err_msg=name)
    assert post.diagnostics["final_loss"] == losses[-1]
    # and the data mattered: replicate 1's fresh fit is another one
    other, _ = fresh(method, replicate(1), 22)
    assert not np.array_equal(other, losses)


@pytest.mark.parametrize("broken", ["optimizer accumulators", "random generators"])
def test_a_state_left_unreset_is_caught(broken: str) -> None:
    post, _ = fit_twice("advi", broken)
    _, draws = fresh("advi", replicate(2), 22)
    assert not all(np.array_equal(post.draws[n], v) for n, v in draws.items())


def test_prepare_compiles_every_updated_state() -> None:
    """Every shared variable the step updates is either restored or reseeded per fit."""
    prepared = get_backend("advi").prepare(tiny(), FitSpec(backend="advi"))
    assert isinstance(prepared, PreparedAdvi)
    step: Any = prepared.step
    updated = {i.variable for i in step.maker.inputs if i.update is not None}
    assert updated == set(prepared.initial) | set(prepared.rngs)
    assert prepared.rngs  # the objective is stochastic
