"""A small two-cell scenario for runner tests, fitted with the MAP backend (no sampling;
PyTensor in FAST_COMPILE mode, set by the top-level conftest)."""

from __future__ import annotations

from pathlib import Path

import pytest

SMALL = """
name = "small"
seed = 3
replicates = 2

[data]
periods = 30
train_periods = 30
intercept = 100.0
demand = { scale = 100, noise_sd = 0.05 }
proxy = { noise_sd = 0.05 }
noise = { kind = "normal", sd = 5.0 }

[[data.channels]]
name = "tv"
spend = { demand_share = 10, noise_sd = 0.4 }
adstock = { kind = "geometric", alpha = 0.5, l_max = 3 }
saturation = { kind = "logistic", lam = 1.5 }
beta = 60

[[data.channels]]
name = "search"
spend = { demand_share = 5, noise_sd = 0.4 }
adstock = { kind = "geometric", alpha = 0.2, l_max = 3 }
saturation = { kind = "logistic", lam = 2.5 }
beta = 30

[model]
adstock = { kind = "geometric", l_max = 3 }
saturation = { kind = "logistic" }
controls = ["demand_proxy"]

[fit]
backend = "map"

[grid]
"data.proxy.noise_sd" = [0.0, 0.2]
"""


@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "small.toml"
    path.write_text(SMALL)
    return path


@pytest.fixture(autouse=True)
def fresh_worker_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts like a fresh worker: no compiled cell models cached."""
    from mmm_workbench.recover import tasks

    monkeypatch.setattr(tasks, "_FITTERS", {})
