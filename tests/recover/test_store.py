"""The run store on resume: corrupt records and failure files are fitted again, names that
are not records are ignored, another format version is refused."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from mmm_workbench.recover.cli import main
from mmm_workbench.recover.runner import RunOptions, run_grid
from mmm_workbench.recover.store import RunStore
from mmm_workbench.reports import contract
from mmm_workbench.reports.records import read_record
from mmm_workbench.scenarios import expand_grid, load_scenario
from tests.recover.conftest import SMALL

OLS = SMALL.replace(
    'adstock = { kind = "geometric", l_max = 3 }\nsaturation = { kind = "logistic" }',
    'kind = "ols"\nadstock = { kind = "geometric", l_max = 3, alpha = 0.35 }\n'
    'saturation = { kind = "logistic", lam = 2.0 }',
)
"""The small scenario fitted by least squares."""


def _tree(replicate: int) -> xr.DataTree:
    rng = np.random.default_rng(replicate)
    post = xr.Dataset({"roas": (("sample", "channel"), rng.normal(size=(4, 2)))})
    truth = xr.Dataset({"roas": ("channel", rng.normal(size=2))})
    coords = {"channel": ["tv", "search"]}
    tree = xr.DataTree.from_dict(
        {"/posterior": post.assign_coords(coords), "/truth": truth.assign_coords(coords)}
    )
    tree.attrs = {"cell_id": "c", "replicate": replicate, "diagnostics": "{}", "timings": "{}"}
    return tree


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    store = RunStore(tmp_path / "run")
    store.initialize('name = "x"\n', "same", {"scenario": "x"})
    return store


def test_a_corrupt_record_counts_as_absent(
    store: RunStore, caplog: pytest.LogCaptureFixture
) -> None:
    path = store.write_record("c", 0, _tree(0))
    assert store.has_record("c", 0) and not store.has_record("c", 1)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # a damaged disk
    with caplog.at_level(logging.WARNING):
        assert not store.has_record("c", 0)
    assert str(path) in caplog.text and "fitting again" in caplog.text
    store.write_record("c", 0, _tree(0))  # the refit replaces it
    assert store.has_record("c", 0)


def test_a_corrupt_failure_file_counts_as_absent(
    store: RunStore, caplog: pytest.LogCaptureFixture
) -> None:
    store.write_failure("c", 0, {"error": "boom"})
    bad = store.write_failure("c", 1, {"error": "boom"})
    bad.write_text('{"error": "bo')
    with caplog.at_level(logging.WARNING):
        assert store.has_failure("c", 0) and not store.has_failure("c", 1)
        assert [(c, r) for c, r, _ in store.failures()] == [("c", 0)]
    assert str(bad) in caplog.text


def test_names_that_are_not_records_are_ignored(store: RunStore) -> None:
    path = store.write_record("c", 2, _tree(2))
    for stray in ("backup-0.arrow", "02.arrow", "x.json"):
        (path.parent / stray).write_bytes(path.read_bytes())
    failures = store.root / contract.FAILURES_DIR / "c"
    failures.mkdir(parents=True)
    (failures / "backup-0.json").write_text("{}")
    assert [(c, r) for c, r, _ in store.records()] == [("c", 2)]
    assert list(store.failures()) == []


def test_another_format_version_or_a_bad_manifest_is_refused(store: RunStore) -> None:
    manifest = store.manifest()
    assert manifest["format_version"] == contract.FORMAT_VERSION
    store.write_manifest({**manifest, "format_version": 1})
    with pytest.raises(ValueError, match=rf"^{store.manifest_path}: format_version 1; "):
        store.initialize('name = "x"\n', "same", {})
    store.manifest_path.write_text("{")
    with pytest.raises(ValueError, match=rf"^{store.manifest_path}: unreadable manifest"):
        store.manifest()


def test_resume_refits_corrupt_records_and_failures_and_ignores_strays(
    small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Regression (issue 10 #4, #12): a truncated record and an unparsable failure file are
    fitted again by ``run``; a stray ``backup-0.arrow`` neither stops it nor counts.
    Least-squares fits (milliseconds): resuming does not depend on the model."""
    out = tmp_path / "run"
    small.write_text(OLS)
    cell = expand_grid(load_scenario(small))[0].cell_id
    run_grid(OLS, out, RunOptions(replicates=2, only=(cell,)))
    store = RunStore(out)
    records = list(store.records())
    (_, _, truncated), (_, _, gone) = records
    truncated.write_bytes(truncated.read_bytes()[:200])
    gone.unlink()  # its fit failed, and the failure file is damaged
    broken = store.failure_path(cell, 1)
    broken.parent.mkdir(parents=True)
    broken.write_text("{not json")
    stray = out / contract.FITS_DIR / cell / "backup-0.arrow"
    stray.write_bytes(b"anything")
    args = ["run", str(small), "--out", str(out), "--replicates", "2", "--only", cell]
    assert main(args) == 0
    capsys.readouterr()
    assert not broken.exists() and stray.exists()
    assert [(c, r) for c, r, _ in store.records()] == [(c, r) for c, r, _ in records]
    for _, _, path in store.records():
        assert read_record(path).estimand("roas").draws.size > 0
    assert json.loads(store.manifest_path.read_text())["format_version"] == contract.FORMAT_VERSION
    assert truncated.stat().st_size > 200
