"""The truth a record keeps is versioned: a change to it must bump ``TRUTH_VERSION``.

Fit records keep the truth of their fit time with ``truth_version``
(``reports.contract.TRUTH_VERSION``), and the verdict warns about records of an older one.
That only works if every change of the truth bumps the version. This test pins a digest of
the truth that ``truth_estimands`` gives on two shipped worlds (``quickstart``'s proxy cell
and ``design-sweep``'s first, where the model sees no demand proxy), rounded to 6
significant digits so that floating-point noise does not move it. When it fails: if the
change of the truth is meant (a new definition, a changed world), bump ``TRUTH_VERSION``,
say what changed in its docstring and docs/definitions.md, and write the new digest here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np
import xarray as xr

from mmm_workbench.recover.models.data import truth_estimands
from mmm_workbench.reports.contract import TRUTH_VERSION
from mmm_workbench.scenarios import read_scenario, replicate_rng
from mmm_workbench.scenarios.spec import ModelSpec
from mmm_workbench.simulate import generate
from tests.conftest import ROOT

DIGESTS = {2: "52134c824eebdce6"}
"""The digest of :func:`_truth_digest` per truth version."""

Truth = Callable[[xr.DataTree, ModelSpec], xr.Dataset]


def _truth_digest(truth_of: Truth = truth_estimands) -> str:
    digest = hashlib.sha256()
    for name, which in (("quickstart", -1), ("design-sweep", 0)):
        read = read_scenario(ROOT / "scenarios" / f"{name}.toml")
        cell = read.cells[which]
        model = cell.scenario.model
        assert model is not None
        tree = generate(cell.scenario.data, replicate_rng(cell.scenario.seed, cell.data_id, 0))
        truth = truth_of(tree, model)
        for var in sorted(str(v) for v in truth.data_vars):
            values = np.asarray(truth[var].values, dtype=float).ravel()
            digest.update(f"{var}: {' '.join(f'{v:.6g}' for v in values)}\n".encode())
    return digest.hexdigest()[:16]


def test_the_truth_is_the_one_its_version_names() -> None:
    assert TRUTH_VERSION in DIGESTS, f"record the digest of TRUTH_VERSION {TRUTH_VERSION}"
    assert _truth_digest() == DIGESTS[TRUTH_VERSION], (
        "the truth changed: bump reports.contract.TRUTH_VERSION (its docstring and "
        "docs/definitions.md say what changed) and record the new digest"
    )


def test_a_changed_truth_changes_the_digest() -> None:
    """A 0.1% change of one estimand (the noise sd the model is scored against) shows."""

    def shifted(tree: xr.DataTree, spec: ModelSpec) -> xr.Dataset:
        out = truth_estimands(tree, spec)
        out["sigma"] = out["sigma"] * 1.001
        return out

    assert _truth_digest(shifted) != _truth_digest()
