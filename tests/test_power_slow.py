"""Real MCMC: the default gate says no to the adstock lag off by one and yes to the correct
model, fitted with NUTS to the same datasets of the power study's world (bench/power.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _power() -> ModuleType:
    spec = importlib.util.spec_from_file_location("power", ROOT / "bench" / "power.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["power"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_default_gate_fails_the_lag_off_by_one_and_passes_the_correct_model(
    tmp_path: Path,
) -> None:
    """Four replicates each (8 NUTS fits, about a minute unloaded): the correct model passes
    every default rule; the planted-lag double (the model sees spend one period late) fails
    them, blamed on the model, through its ROAS or adstock calibration."""
    power = _power()
    variants = ["nuts (correct)", "adstock lag off by one"]
    result = power.study(tmp_path / "run", variants, replicates=4, group=4)
    assert result["failed_fits"] == 0
    rows = {row["variant"]: row for row in result["rows"]}
    correct, lag = rows["nuts (correct)"], rows["adstock lag off by one"]
    assert correct["groups"] == 1 and correct["failed"] == 0, correct
    assert lag["groups"] == 1 and lag["failed"] == 1, lag
    assert "model" in lag["causes"][0], lag
    failing = " ".join(lag["top_failing_rules"][0])
    assert "coverage" in failing or "z_mean" in failing, lag
