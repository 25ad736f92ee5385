"""nutpie's raw (Arrow) trace converted by the workbench equals nutpie's own conversion.

The workbench converts only the columns a fit uses (``inference._from_raw_trace``); the
values must be those of ``nutpie.sample``'s ArviZ trace. Checked on a synthetic trace in
nutpie's Arrow layout (default run) and on a real nutpie run of a small model (slow).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pymc as pm
import pytest
from arro3.core import RecordBatch
from nutpie.sample import _arrow_to_arviz

from mmm_workbench.recover.inference import _STATS, _from_raw_trace

CHAINS, TUNE, DRAWS = 3, 4, 6


def _vector(name: str, values: np.ndarray, shape: tuple[int, ...]) -> tuple[Any, Any]:
    flat = values.reshape(len(values), -1)
    array = pa.FixedSizeListArray.from_arrays(pa.array(flat.ravel()), flat.shape[1])
    dims = ",".join(f"{name}_dim_{i}" for i in range(len(shape)))
    meta = {b"shape": ",".join(map(str, shape)).encode(), b"dims": dims.encode()}
    return array, meta


def _batch(columns: dict[str, tuple[np.ndarray, tuple[int, ...]]]) -> Any:
    """A record batch as nutpie hands it over (arro3's)."""
    arrays, fields = [], []
    for name, (values, shape) in columns.items():
        if shape:
            array, meta = _vector(name, values, shape)
        else:
            array, meta = pa.array(values), None
        arrays.append(array)
        fields.append(pa.field(name, array.type, metadata=meta))
    return RecordBatch.from_arrow(pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields)))


class _Raw:
    def __init__(self, draws: list[Any], stats: list[Any]) -> None:
        self.trace = (draws, stats)

    def get_arrow_trace(self) -> tuple[list[Any], list[Any]]:
        return self.trace


def _synthetic() -> _Raw:
    rng = np.random.default_rng(0)
    rows = TUNE + DRAWS
    draws, stats = [], []
    for _ in range(CHAINS):
        draws.append(
            _batch(
                {
                    "a": (rng.normal(size=rows), ()),
                    "b": (rng.normal(size=(rows, 3)), (3,)),
                    "c": (rng.normal(size=(rows, 4, 2)), (4, 2)),
                    "a_log__": (rng.normal(size=rows), ()),
                }
            )
        )
        stats.append(
            _batch(
                {
                    "tuning": (np.arange(rows) < TUNE, ()),
                    "n_steps": (rng.integers(1, 64, size=rows).astype(np.uint64), ()),
                    "diverging": (rng.random(rows) < 0.2, ()),
                    "energy": (rng.normal(size=rows), ()),
                    "step_size": (rng.random(rows), ()),
                    "maxdepth_reached": (rng.random(rows) < 0.1, ()),
                    "depth": (rng.integers(1, 6, size=rows).astype(np.uint64), ()),
                }
            )
        )
    return _Raw(draws, stats)


def _check(raw: Any, skip: tuple[str, ...]) -> None:
    draws, stats = raw.get_arrow_trace()
    theirs = _arrow_to_arviz(draws, stats, reparameterized_names=list(skip), save_warmup=True)
    posterior, sample_stats, warmup = _from_raw_trace(raw, skip)
    expected = theirs["posterior"].to_dataset()
    assert set(posterior.data_vars) == set(expected.data_vars) - set(skip)
    for name in posterior.data_vars:
        ours = posterior[name].transpose("chain", "draw", ...).to_numpy()
        np.testing.assert_array_equal(ours, expected[name].transpose("chain", "draw", ...))
    reference = theirs["sample_stats"].to_dataset()
    kept = [n for n in _STATS if n in reference]
    assert set(sample_stats.data_vars) == set(kept) and "n_steps" in kept
    for name in kept:
        np.testing.assert_array_equal(sample_stats[name].to_numpy(), reference[name].to_numpy())
    np.testing.assert_array_equal(
        warmup["n_steps"].to_numpy(), theirs["warmup_sample_stats"]["n_steps"].to_numpy()
    )


def test_equals_nutpies_conversion_on_a_synthetic_trace() -> None:
    raw = _synthetic()
    _check(raw, ("a_log__",))
    posterior, _, warmup = _from_raw_trace(raw, ("a_log__",))
    assert posterior["c"].shape == (CHAINS, DRAWS, 4, 2) and warmup.sizes["draw"] == TUNE
    # a conversion that kept the tuning rows in the posterior would be caught
    draws, _ = raw.get_arrow_trace()
    first = np.asarray(pa.array(draws[0].column("a")).to_numpy(False))
    assert np.array_equal(posterior["a"].to_numpy()[0], first[TUNE:])


@pytest.mark.slow
def test_equals_nutpies_conversion_on_a_real_run() -> None:
    import nutpie

    with pm.Model() as model:
        mu = pm.Normal("mu", 0, 1)
        scale = pm.HalfNormal("scale", 1)
        pm.Deterministic("both", pm.math.stack([mu, scale, mu * scale]))
        pm.Normal("y", mu, scale, observed=np.array([0.3, -0.2, 1.1, 0.4]))
    compiled = nutpie.compile_pymc_model(model)
    raw = nutpie.sample(
        compiled, draws=50, tune=30, chains=2, seed=3, progress_bar=False, return_raw_trace=True
    )
    raw = _Raw(*raw.get_arrow_trace())  # nutpie hands its trace over once
    _check(raw, tuple(compiled.reparameterized_names))
    trace = nutpie.sample(compiled, draws=50, tune=30, chains=2, seed=3, progress_bar=False)
    posterior, _, _ = _from_raw_trace(raw, compiled.reparameterized_names)
    for name in ("mu", "scale", "both"):  # the same seed: nutpie's own trace, value for value
        np.testing.assert_array_equal(posterior[name].to_numpy(), trace.posterior[name].to_numpy())
