"""Listing a run directory: its manifest and the fits on disk.

The layout and format version are :mod:`mmm_workbench.reports.contract`'s. A record
supersedes a failure of the same fit (``recover`` deletes the failure when a retry
succeeds; if both are on disk, the record wins). A failure file that is not a JSON object
is listed as ``corrupt``, never dropped; records are only listed here (they are decoded,
and found corrupt or not, when scored). File names that are not ``<replicate>.arrow`` /
``<replicate>.json`` are not part of the run and are ignored.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mmm_workbench.reports import contract

__all__ = ["FitEntry", "Run", "RunError", "Status", "open_run"]

log = logging.getLogger(__name__)

Status = Literal["ok", "failed", "corrupt"]


class RunError(ValueError):
    """A directory that is not a run directory, or a run with nothing to score."""


@dataclass(frozen=True, kw_only=True)
class FitEntry:
    """One (cell, replicate) found on disk: a record or a failure."""

    cell_id: str
    replicate: int
    status: Status
    path: Path
    error: str = ""
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Run:
    """A run directory's manifest and the fits on disk (records supersede failures)."""

    root: Path
    manifest: dict[str, Any]
    cells: dict[str, str]
    entries: tuple[FitEntry, ...]

    @property
    def name(self) -> str:
        """The scenario's name from the manifest, else the run directory's name."""
        return str(self.manifest.get("scenario", self.root.name))

    @property
    def replicates(self) -> int | None:
        """Replicates per cell the manifest asks for (None when it does not say)."""
        value = self.manifest.get("replicates")
        return int(value) if isinstance(value, int | float) else None

    def label(self, cell_id: str) -> str:
        """Return the label of cell ``cell_id`` (the id itself for a cell not in the manifest)."""
        return self.cells.get(cell_id, cell_id)


def open_run(path: str | Path) -> Run:
    """List a run directory: its manifest, cells, records and failures.

    Raises
    ------
    RunError
        ``path`` is not a run directory (no ``manifest.json`` or ``scenario.toml``, or an
        unreadable manifest), its manifest has another format version, or it holds no fit
        record and no failure.
    """
    root = Path(path)
    if not root.is_dir():
        raise RunError(f"{root} is not a run directory: no such directory")
    needed = (contract.MANIFEST_FILE, contract.SCENARIO_FILE)
    missing = [n for n in needed if not (root / n).is_file()]
    if missing:
        raise RunError(f"{root} is not a run directory: no {' or '.join(missing)}")
    manifest_path = root / contract.MANIFEST_FILE
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunError(f"{manifest_path} is unreadable: {exc}") from exc
    if not isinstance(manifest, dict):
        raise RunError(f"{manifest_path} is not a JSON object")
    try:
        contract.check_format_version(
            manifest.get("format_version"), manifest_path, contract.READABLE_VERSIONS
        )
    except contract.FormatError as exc:
        raise RunError(str(exc)) from exc
    raw_cells = manifest.get("cells") or {}
    if not isinstance(raw_cells, dict):
        raise RunError(f"{manifest_path}: cells is not a JSON object")
    cells = {str(k): str(v.get("label", k)) for k, v in raw_cells.items() if isinstance(v, dict)}
    found: dict[tuple[str, int], FitEntry] = {}
    for entry in (*_failures(root), *_records(root)):  # a record supersedes a failure
        found[(entry.cell_id, entry.replicate)] = entry
    if not found:
        raise RunError(
            f"{root} is an empty run: no fit records in {contract.FITS_DIR}/ and no failures "
            f"in {contract.FAILURES_DIR}/"
        )
    entries = tuple(sorted(found.values(), key=lambda e: (e.cell_id, e.replicate)))
    for entry in entries:
        cells.setdefault(entry.cell_id, entry.cell_id)
    return Run(root=root, manifest=manifest, cells=cells, entries=entries)


def _records(root: Path) -> Iterator[FitEntry]:
    for cell_id, replicate, path in contract.record_files(root):
        yield FitEntry(cell_id=cell_id, replicate=replicate, status="ok", path=path)


def _failures(root: Path) -> Iterator[FitEntry]:
    for cell_id, replicate, path in contract.failure_files(root):
        try:
            info = json.loads(path.read_text())
            if not isinstance(info, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as exc:
            log.warning("unreadable failure record %s: %s", path, exc)
            yield FitEntry(
                cell_id=cell_id,
                replicate=replicate,
                status="corrupt",
                path=path,
                error=f"unreadable failure record {path}: {exc}",
            )
            continue
        yield FitEntry(
            cell_id=cell_id,
            replicate=replicate,
            status="failed",
            path=path,
            error=str(info.get("error", "")),
            info=info,
        )
