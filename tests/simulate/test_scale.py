"""Memory of ``generate``: counterfactual plans are re-simulated in batches, so memory is
linear in channels x periods (issue 10), with results identical to one big batch."""

from __future__ import annotations

import copy
import tracemalloc
from typing import Any

import numpy as np
import pytest
import xarray as xr

import mmm_workbench.simulate.truth as truth_module
from mmm_workbench.scenarios import parse_scenario
from mmm_workbench.simulate import generate
from tests.conftest import tiny_raw


def _raw(periods: int, channels: int) -> dict[str, Any]:
    raw = tiny_raw(periods=periods, train_periods=periods - 5)
    base = raw["data"]["channels"]
    raw["data"]["channels"] = [
        dict(copy.deepcopy(base[c % 2]), name=f"ch{c}") for c in range(channels)
    ]
    raw["data"]["lift_tests"] = [
        {"channel": "ch0", "start": 3, "periods": 4, "spend_change": -0.5, "sigma": 1.0},
        {"channel": "ch1", "start": periods - 4, "periods": 4, "spend_change": 0.5, "sigma": 1.0},
    ]
    raw["data"]["mediation"] = [{"source": "ch0", "target": "ch1", "on": "spend", "strength": 0.5}]
    return raw


def test_batches_of_one_plan_give_identical_truth(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = parse_scenario(_raw(40, 3)).data
    whole = generate(spec, np.random.default_rng(1))
    monkeypatch.setattr(truth_module, "BATCH_BYTES", 1)  # one plan per batch
    batched = generate(spec, np.random.default_rng(1))
    for group in ("observed", "truth", "truth/pymc_marketing"):
        xr.testing.assert_identical(whole[group].to_dataset(), batched[group].to_dataset())


def _peak_bytes(periods: int, channels: int) -> int:
    spec = parse_scenario(_raw(periods, channels)).data
    tracemalloc.start()
    try:
        generate(spec, np.random.default_rng(0))
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_is_linear_in_channels(monkeypatch: pytest.MonkeyPatch) -> None:
    """Doubling the channels at most about doubles the peak (it quadrupled before the
    batching: every channel's counterfactuals held every channel's spend at once)."""
    monkeypatch.setattr(truth_module, "BATCH_BYTES", 1 << 16)  # small data, small batches
    _peak_bytes(100, 2)  # first-call allocations (imports, caches) out of the way
    small, large = _peak_bytes(1500, 8), _peak_bytes(1500, 16)
    assert large / small < 2.6, (small, large)


def _chained() -> dict[str, Any]:
    raw = _raw(40, 5)
    raw["data"]["mediation"] = [
        {"source": "ch0", "target": "ch1", "on": "spend", "strength": 0.5},
        {"source": "ch1", "target": "ch2", "on": "spend", "strength": 0.3},
        {"source": "ch3", "target": "ch2", "on": "effect", "strength": 0.4},
        {"source": "ch1", "target": "ch4", "on": "effect", "strength": 0.2},
    ]
    return raw


def test_only_the_terms_a_plan_can_reach_are_computed() -> None:
    from mmm_workbench.simulate.media import changed_terms

    spec = parse_scenario(_chained()).data
    reach = [set(changed_terms(spec, c)) for c in range(5)]
    assert reach == [{0, 1, 2, 4}, {1, 2, 4}, {2}, {3, 2}, {4}]


def test_reusing_unreached_terms_gives_identical_truth(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every term recomputed for every plan (nothing reused) gives the same tree, bit for
    bit, with spend and effect mediation chained through several channels."""
    spec = parse_scenario(_chained()).data
    reused = generate(spec, np.random.default_rng(4))
    every = frozenset(range(5))
    monkeypatch.setattr(truth_module, "changed_terms", lambda spec, c: every)
    recomputed = generate(spec, np.random.default_rng(4))
    for group in ("observed", "truth", "truth/pymc_marketing"):
        xr.testing.assert_identical(reused[group].to_dataset(), recomputed[group].to_dataset())
