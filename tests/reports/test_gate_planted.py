"""Stub posteriors of each failure the power study plants (bench/power.py), at the replicate
count the README recommends (10): the default gate is red for every one, and green for the
exact posterior of the same world.

Each stub is the posterior pattern the planted bug leaves, on exact conjugate posteriors
(tests/reports/verdict_stubs.py): an approximation's spread and bias (mean-field ADVI too
narrow and off, full-rank ADVI too wide and far off, MAP a point), a post-hoc distortion
(sd / 3, one sd shifted), and the model bugs' biases (the adstock lag off by one: adstock
too long, the channel's credit too low; the normalization dropped: every saturation
``lam`` about 40% off; the channels swapped: each channel's posterior centred on the other
one's truth; an observation dropped: a noise sd too large and the adstock blurred).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from verdict_stubs import Cell, Plant, advi, nuts, record_tree, stub_record, world, write_run

from mmm_workbench.recover.store import RunStore
from mmm_workbench.reports.verdict import Verdict, evaluate

REPLICATES = 10
Values = tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]


SWAPPED = ("saturation_beta", "saturation_lam", "roas", "channel_contribution")


def _swap(values: Values) -> Values:
    """Each channel's posterior is the other channel's: labels swapped.

    The stub's fixed truth is the same for both channels; the second channel's truth and
    posterior are doubled first (a world whose channels differ), then swapped.
    """
    truth, post, prior = (dict(v) for v in values)
    for name in SWAPPED:
        truth[name] = truth[name].copy()
        truth[name][..., 1] *= 2.0
        doubled = post[name].copy()
        doubled[..., 1] *= 2.0
        post[name] = doubled[..., ::-1]
    return truth, post, prior


PLANTED: dict[str, tuple[Cell, Callable[[Values], Values] | None]] = {
    "correct": (Cell(truth="fixed"), None),
    "mean-field ADVI": (
        Cell(
            truth="fixed", plants={"*": Plant(sd=0.5, shift=0.5)}, diagnostics=advi, backend="advi"
        ),
        None,
    ),
    "full-rank ADVI": (
        Cell(
            truth="fixed",
            plants={"*": Plant(sd=3.0, shift=2.0)},
            diagnostics=advi,
            backend="fullrank_advi",
        ),
        None,
    ),
    "MAP": (
        Cell(truth="fixed", plants={"*": Plant(sd=0.02)}, diagnostics=advi, backend="map"),
        None,
    ),
    "sd over 3": (Cell(truth="fixed", plants={"*": Plant(sd=1 / 3)}), None),
    "shifted": (Cell(truth="fixed", plants={"*": Plant(shift=1.0)}), None),
    "lag off by one": (
        Cell(
            truth="fixed",
            plants={
                "adstock_alpha": Plant(shift=3.0),
                "roas": Plant(shift=-2.0),
                "contribution_share": Plant(shift=-1.5),
            },
        ),
        None,
    ),
    "normalization dropped": (
        Cell(truth="fixed", plants={"saturation_lam": Plant(shift=3.0)}),
        None,
    ),
    "labels swapped": (Cell(truth="fixed"), _swap),
    "observation dropped": (
        Cell(truth="fixed", plants={"sigma": Plant(shift=3.0), "adstock_alpha": Plant(shift=1.5)}),
        None,
    ),
}


def _write(root: Path, seed: int = 11) -> Path:
    store = RunStore(root)
    cells = {name: {"label": name, "overrides": []} for name in PLANTED}
    manifest = {"scenario": "planted", "seed": seed, "replicates": REPLICATES, "cells": cells}
    store.initialize('name = "planted"\n', json.dumps(sorted(cells)), manifest)
    specs = world()
    for i, (name, (cell, mangle)) in enumerate(PLANTED.items()):
        rng = np.random.default_rng([seed, i])
        for rep in range(REPLICATES):
            values = stub_record(cell, rng, 200, specs)
            if mangle is not None:
                values = mangle(values)
            diagnostics = (cell.diagnostics or nuts)(rep)
            store.write_record(name, rep, record_tree(name, rep, cell, values, specs, diagnostics))
    return root


@pytest.fixture(scope="module")
def verdict(tmp_path_factory: pytest.TempPathFactory) -> Verdict:
    return evaluate(_write(tmp_path_factory.mktemp("planted") / "run"))


def test_the_exact_posterior_passes(verdict: Verdict) -> None:
    assert not (verdict.failures["cell"] == "correct").any(), verdict.report()


# planted failure -> (where the verdict puts it, an estimand among its failed checks)
EXPECTED = {
    "mean-field ADVI": ("approximation", "roas"),
    "full-rank ADVI": ("approximation", "sigma"),
    "MAP": ("approximation", "roas"),
    "sd over 3": ("model", "roas"),
    "shifted": ("model", "roas"),
    "lag off by one": ("model", "adstock_alpha"),
    "normalization dropped": ("model", "saturation_lam"),
    "labels swapped": ("model", "roas"),
    "observation dropped": ("model", "sigma"),
}


def test_every_planted_failure_is_tested() -> None:
    assert set(EXPECTED) == set(PLANTED) - {"correct"}


@pytest.mark.parametrize("planted", list(EXPECTED))
def test_each_planted_failure_turns_the_gate_red(verdict: Verdict, planted: str) -> None:
    failed = verdict.failures[verdict.failures["cell"] == planted]
    assert len(failed), f"{planted} passed the default gate"
    cause, estimand = EXPECTED[planted]
    assert set(failed["cause"]) == {cause}, failed
    assert estimand in set(failed["estimand"]), failed
    calibration = failed["metric"].str.startswith(("coverage_", "z_"))
    assert calibration.all(), failed


def test_a_bug_in_a_prior_dominated_parameter_is_named_not_passed_silently(
    tmp_path: Path,
) -> None:
    """Where the data barely inform ``lam`` (contraction 0.5 here; 0.6-0.8 in the power
    study's always-on world), calibration rules cannot judge it at a fixed truth (a correct
    posterior is shrunk towards its prior there), so the normalization bug, which moves
    ``lam`` within its wide posterior, passes them: the verdict names ``lam`` as not judged
    instead of passing it silently. Where the data pin ``lam`` the same bug fails (above)."""
    specs = world()
    weak = dict(specs, saturation_lam=replace(specs["saturation_lam"], s_obs=0.5))
    cells = {
        "correct": Cell(truth="fixed"),
        "dropped": Cell(truth="fixed", plants={"saturation_lam": Plant(shift=1.0)}),
    }
    verdict = evaluate(write_run(tmp_path / "run", cells, replicates=REPLICATES, specs=weak))
    skipped = verdict.checks[verdict.checks["estimand"] == "saturation_lam"]
    calibration = skipped[skipped["metric"].str.startswith(("coverage_", "z_"))]
    assert (calibration["outcome"] == "not applicable").all(), calibration
    for cell in cells:
        named = [w for w in verdict.warnings if w.startswith(f"{cell}: not judged")]
        assert len(named) == 1 and "saturation_lam[channel=tv]" in named[0], verdict.warnings
        assert "saturation_beta" not in named[0]  # data-dominated, no ridge: judged
