"""``fit.min_ess``: nutpie stops at a min bulk ESS target (issue 14), other backends refuse it.

The stopping rule is tested against a stand-in for nutpie's background sampler that
serves known draws (independent draws reach any modest target; a chain that barely moves
reaches none); the slow test runs it with nutpie on a two-parameter model.
"""

from __future__ import annotations

import re
import sys
import tomllib
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import xarray as xr
from arviz_stats.base.array import array_stats

from mmm_workbench.recover.inference import Nutpie, get_backend
from mmm_workbench.scenarios import ScenarioError, parse_scenario
from mmm_workbench.scenarios.load import find_scenario
from mmm_workbench.scenarios.spec import FitSpec

TUNE = 50
DRAWS = 1000
CHAINS = 4


def _scenario(**fit: object) -> dict[str, Any]:
    raw = tomllib.loads(find_scenario("confounded-demand").read_text())
    raw["fit"] |= fit
    return raw


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-1, "fit.min_ess = -1: must be >= 0"),
        ("400", "fit.min_ess = '400': must be an integer"),
        (1.5, "fit.min_ess = 1.5: must be an integer"),
        (True, "fit.min_ess = True: must be an integer"),
    ],
)
def test_min_ess_is_validated(value: object, message: str) -> None:
    with pytest.raises(ScenarioError, match=re.escape(message)):
        parse_scenario(_scenario(min_ess=value))


def test_min_ess_is_read_and_off_by_default() -> None:
    assert parse_scenario(_scenario(min_ess=400)).fit.min_ess == 400
    assert FitSpec().min_ess == 0


def test_other_backends_refuse_min_ess(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match=r"^fit\.min_ess = 400: the map backend cannot stop"):
        get_backend("map").check_fit(FitSpec(backend="map", min_ess=400))
    get_backend("map").check_fit(FitSpec(backend="map"))  # off: nothing to refuse
    checked: list[FitSpec] = []
    monkeypatch.setattr(Nutpie, "check_options", lambda self, fit: checked.append(fit))
    get_backend("nutpie").check_fit(FitSpec(min_ess=400))  # nutpie takes it, checks options
    assert checked == [FitSpec(min_ess=400)]


class _Run:
    """Stands in for nutpie's background sampler over fixed draws ``(chain, tune + draws)``.

    Each poll (``is_finished``) advances the chains by ``step`` (chain 0 runs ``lead`` ahead,
    as a faster chain does) and reports progress through the callback, as nutpie does.
    """

    def __init__(self, values: np.ndarray, callback: Callable[[list[Any]], None], lead: int):
        self.values = values
        self.callback = callback
        self.lead = lead
        self.done = np.zeros(values.shape[0], dtype=int)
        self.aborted = False
        self._sampler = self

    @property
    def is_finished(self) -> bool:
        total = self.values.shape[1]
        self.done[1:] = np.minimum(total, self.done[1:] + 100)
        self.done[0] = min(total, self.done[1] + self.lead)
        self.callback([SimpleNamespace(finished_draws=int(d)) for d in self.done])
        if self.done.min() < total:
            raise TimeoutError("nutpie 0.16 raises this while sampling")
        return True

    def inspect(self) -> _Run:
        return self

    def get_arrow_trace(self) -> tuple[list[pa.RecordBatch], list[pa.RecordBatch]]:
        draws, stats = [], []
        for chain, done in enumerate(self.done):
            draws.append(pa.record_batch({"x": self.values[chain, :done]}))
            stats.append(pa.record_batch({"tuning": np.arange(done) < TUNE}))
        return draws, stats

    def _trace(self) -> xr.DataTree:
        kept = self.done - TUNE
        post = np.full((len(kept), kept.max()), np.nan)
        for chain, n in enumerate(kept):
            post[chain, :n] = self.values[chain, TUNE : TUNE + n]
        steps = np.where(np.isfinite(post), 3, 0)
        return xr.DataTree.from_dict(
            {
                "posterior": xr.Dataset({"x": (("chain", "draw"), post)}),
                "sample_stats": xr.Dataset({"n_steps": (("chain", "draw"), steps)}),
                "warmup_sample_stats": xr.Dataset(
                    {"n_steps": (("chain", "draw"), np.full((len(kept), TUNE), 7))}
                ),
            }
        )

    def abort(self) -> xr.DataTree:
        self.aborted = True
        return self._trace()

    def wait(self) -> xr.DataTree:
        return self._trace()

    def cancel(self) -> None:
        self.aborted = True


def _sample(values: np.ndarray, min_ess: int, monkeypatch: pytest.MonkeyPatch) -> Any:
    runs: list[_Run] = []

    def sample(target: object, **kwargs: Any) -> _Run:
        assert kwargs["blocking"] is False and kwargs["cores"] == CHAINS
        runs.append(_Run(values, kwargs["progress_callback"], lead=37))
        return runs[0]

    monkeypatch.setitem(sys.modules, "nutpie", SimpleNamespace(sample=sample))  # no import
    model = SimpleNamespace(model=SimpleNamespace(free_RVs=[SimpleNamespace(name="x")]))
    fit = FitSpec(draws=DRAWS, tune=TUNE, chains=CHAINS, min_ess=min_ess)
    return Nutpie().sample(object(), model, fit, seed=1), runs[0]


def test_stops_once_an_easy_target_is_reached(monkeypatch: pytest.MonkeyPatch) -> None:
    values = np.random.default_rng(0).normal(size=(CHAINS, TUNE + DRAWS))  # ESS ~ all draws
    result, run = _sample(values, 300, monkeypatch)
    x = result.posterior["x"].to_numpy()
    assert run.aborted and result.diagnostics["ess_stop"] == 1.0
    # not before R-hat can be judged: 4 x 100 independent draws already have ESS ~ 400
    assert Nutpie.ess_first <= x.shape[1] < DRAWS
    assert np.isfinite(x).all()  # the chain that ran ahead is cut to the others' length
    assert x.shape == result.stats["n_steps"].shape
    assert array_stats.ess(x, chain_axis=0, draw_axis=1, method="bulk") >= 300 * 0.8
    assert result.diagnostics["leapfrog_steps"] == CHAINS * (7 * TUNE + 3 * x.shape[1])


def test_samples_every_draw_when_the_target_is_out_of_reach(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    noise = np.random.default_rng(1).normal(size=(CHAINS, TUNE + DRAWS))
    values = np.cumsum(noise, axis=1)  # a random walk: a handful of effective draws
    result, run = _sample(values, 300, monkeypatch)
    assert not run.aborted and result.diagnostics["ess_stop"] == 0.0
    assert result.posterior["x"].shape == (CHAINS, DRAWS)


@pytest.mark.slow
def test_nutpie_stops_at_the_target_on_a_real_model() -> None:
    import pymc as pm

    observed = np.random.default_rng(2).normal(1.0, 2.0, size=100_000)  # slow enough to stop
    with pm.Model() as model:
        a = pm.Normal("a", 0.0, 1.0)
        b = pm.HalfNormal("b", 1.0)
        pm.Normal("y", a, b, observed=observed)
    backend = get_backend("nutpie")
    cell = SimpleNamespace(model=model)
    prepared = backend.prepare(cell, FitSpec())
    easy = backend.sample(prepared, cell, FitSpec(tune=200, min_ess=300), seed=3)
    assert easy.diagnostics["ess_stop"] == 1.0
    assert Nutpie.ess_first <= easy.posterior.sizes["draw"] < 1000
    far = backend.sample(prepared, cell, FitSpec(tune=200, min_ess=10**6), seed=3)
    assert far.diagnostics["ess_stop"] == 0.0 and far.posterior.sizes["draw"] == 1000


def test_meridian_refuses_min_ess() -> None:
    from mmm_workbench.recover.models.meridian import check_meridian

    with pytest.raises(ValueError, match=r"^fit\.min_ess = 5: Meridian's NUTS cannot stop"):
        check_meridian(None, FitSpec(backend="meridian", min_ess=5))  # type: ignore[arg-type]
