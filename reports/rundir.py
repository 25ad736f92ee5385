"""The run directory: its manifest and the fits on disk (format version 1).

::

    runs/<name>/
      scenario.toml, manifest.json
      fits/<cell_id>/<replicate>.nc        one fit record each (netCDF DataTree)
      failures/<cell_id>/<replicate>.json  a fit that raised: error, traceback, ...

A record supersedes a failure of the same fit (``recover`` deletes the failure when a
retry succeeds; if both are on disk, the record wins). A failure file that is not JSON is
listed as ``corrupt``, never dropped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

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
        return str(self.manifest.get("scenario", self.root.name))

    @property
    def replicates(self) -> int | None:
        """Replicates per cell the manifest asks for (None when it does not say)."""
        value = self.manifest.get("replicates")
        return int(value) if isinstance(value, int | float) else None

    def label(self, cell_id: str) -> str:
        return self.cells.get(cell_id, cell_id)


def open_run(path: str | Path) -> Run:
    """List a run directory: its manifest, cells, records and failures.

    Raises
    ------
    RunError
        ``path`` is not a run directory (no ``manifest.json`` or ``scenario.toml``, or an
        unreadable manifest), or it holds no fit record and no failure.
    """
    root = Path(path)
    if not root.is_dir():
        raise RunError(f"{root} is not a run directory: no such directory")
    missing = [n for n in ("manifest.json", "scenario.toml") if not (root / n).is_file()]
    if missing:
        raise RunError(f"{root} is not a run directory: no {' or '.join(missing)}")
    try:
        manifest = json.loads((root / "manifest.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise RunError(f"{root}/manifest.json is unreadable: {exc}") from exc
    if not isinstance(manifest, dict):
        raise RunError(f"{root}/manifest.json is not a JSON object")
    raw_cells = manifest.get("cells") or {}
    if not isinstance(raw_cells, dict):
        raise RunError(f"{root}/manifest.json: cells is not a JSON object")
    cells = {str(k): str(v.get("label", k)) for k, v in raw_cells.items() if isinstance(v, dict)}
    found: dict[tuple[str, int | str], FitEntry] = {}
    for entry in (*_failures(root), *_records(root)):  # a record supersedes a failure
        key = entry.replicate if entry.replicate >= 0 else str(entry.path)  # misnamed files
        found[(entry.cell_id, key)] = entry
    if not found:
        raise RunError(
            f"{root} is an empty run: no fit records in fits/ and no failures in failures/"
        )
    entries = tuple(sorted(found.values(), key=lambda e: (e.cell_id, e.replicate)))
    for entry in entries:
        cells.setdefault(entry.cell_id, entry.cell_id)
    return Run(root=root, manifest=manifest, cells=cells, entries=entries)


def _replicate(path: Path) -> int | None:
    try:
        return int(path.name.split(".")[0])
    except ValueError:
        return None


def _records(root: Path) -> Iterator[FitEntry]:
    for path in sorted((root / "fits").glob("*/*.nc")):
        if path.name.startswith("."):
            continue
        rep = _replicate(path)
        if rep is None:
            yield FitEntry(
                cell_id=path.parent.name,
                replicate=-1,
                status="corrupt",
                path=path,
                error="file name is not <replicate>.nc",
            )
            continue
        yield FitEntry(cell_id=path.parent.name, replicate=rep, status="ok", path=path)


def _failures(root: Path) -> Iterator[FitEntry]:
    for path in sorted((root / "failures").glob("*/*.json")):
        if path.name.startswith("."):
            continue
        rep = _replicate(path)
        try:
            info = json.loads(path.read_text())
            if not isinstance(info, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as exc:
            log.warning("unreadable failure record %s: %s", path, exc)
            yield FitEntry(
                cell_id=path.parent.name,
                replicate=-1 if rep is None else rep,
                status="corrupt",
                path=path,
                error=f"unreadable failure record: {exc}",
            )
            continue
        yield FitEntry(
            cell_id=path.parent.name,
            replicate=-1 if rep is None else rep,
            status="failed",
            path=path,
            error=str(info.get("error", "")),
            info=info,
        )
