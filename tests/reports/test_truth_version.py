"""Records keep the truth they were scored against; the verdict flags an older definition.

A resumed run mixes the records of two workbench versions; where the truth's definition
changed between them (``reports.contract.TRUTH_VERSION``), the old records judge the model
against a stale truth. The verdict says how many, so that nobody trusts such a verdict
silently.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc
import pytest

from mmm_workbench.reports import verdict as verdict_module
from mmm_workbench.reports.contract import TRUTH_VERSION, record_files
from mmm_workbench.reports.tables import fit_table
from mmm_workbench.reports.verdict import evaluate
from tests.reports.verdict_stubs import Cell, write_run


def _set_truth_version(path: Path, version: int) -> None:
    """Rewrite a record's ``attrs`` with ``truth_version = version`` (its draws unchanged)."""
    table = ipc.open_file(pa.BufferReader(path.read_bytes())).read_all()
    metadata = dict(table.schema.metadata or {})
    attrs = json.loads(metadata[b"attrs"])
    attrs["truth_version"] = version
    metadata[b"attrs"] = json.dumps(attrs).encode()
    table = table.replace_schema_metadata(metadata)
    with pa.OSFile(str(path), "wb") as out, ipc.new_file(out, table.schema) as writer:
        writer.write_table(table)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One calibrated stub cell, 4 replicates; its records carry no ``truth_version``."""
    return write_run(tmp_path_factory.mktemp("truth"), {"c": Cell()}, replicates=4, draws=50)


def _stale(run: Path) -> list[str]:
    return [w for w in evaluate(run).warnings if "older definition of the truth" in w]


def _copy(run: Path, out: Path, version: Callable[[int], int]) -> Path:
    """A copy of ``run`` whose record of replicate ``r`` holds ``truth_version(r)``."""
    out.mkdir()
    for name in ("manifest.json", "scenario.toml"):
        (out / name).write_bytes((run / name).read_bytes())
    for cell, replicate, path in record_files(run):
        copy = out / "fits" / cell / f"{replicate}.arrow"
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(path.read_bytes())
        _set_truth_version(copy, version(replicate))
    return out


def test_records_of_the_current_truth_are_not_flagged(run: Path, tmp_path: Path) -> None:
    current = _copy(run, tmp_path / "current", lambda _: TRUTH_VERSION)
    assert set(fit_table(current)["truth_version"]) == {TRUTH_VERSION}
    assert _stale(current) == []
    # a record without the attribute predates it: version 2 or older, flagged only later
    assert fit_table(run)["truth_version"].isna().all()
    assert _stale(run) == []


def test_an_older_truth_is_flagged_with_what_to_do(run: Path, tmp_path: Path) -> None:
    mixed = _copy(run, tmp_path / "mixed", lambda r: TRUTH_VERSION - (r == 2))
    (warning,) = _stale(mixed)
    assert warning.startswith(
        f"1 of 4 fit records were scored against an older definition of the truth "
        f"(truth_version {TRUTH_VERSION - 1}; this workbench's: {TRUTH_VERSION}"
    )
    assert "bench/rejudge_truth.py" in warning
    assert any(line == f"warning: {warning}" for line in evaluate(mixed).lines())


def test_unrecorded_versions_are_flagged_once_the_truth_changes_again(
    run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(verdict_module, "TRUTH_VERSION", TRUTH_VERSION + 1)
    (warning,) = _stale(run)
    assert warning.startswith("4 of 4 fit records were scored against an older definition")
    assert f"(truth_version unrecorded; this workbench's: {TRUTH_VERSION + 1}" in warning
