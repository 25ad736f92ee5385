"""Writing a run directory: the unit of work and of resumption.

The layout, the record format and the format version are
:mod:`mmm_workbench.reports.contract`'s; records are encoded by
:mod:`mmm_workbench.reports.records`. Every file is written to a temporary name in its own
directory and renamed into place, so a killed run never leaves a half-written file; a
record supersedes an earlier failure of the same fit. On resume, a record or failure file
that cannot be read counts as absent (with a warning naming it), so the fit is run again
and its file replaced; names that are not ``<replicate>.arrow`` / ``<replicate>.json`` are
ignored.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import xarray as xr

from mmm_workbench.reports import contract
from mmm_workbench.reports.contract import FORMAT_VERSION, FormatError, atomic_write
from mmm_workbench.reports.records import RecordError, check_record, read_record, write_record

__all__ = ["FORMAT_VERSION", "RunStore", "atomic_write"]

log = logging.getLogger(__name__)


def _failure_info(path: Path) -> dict[str, Any]:
    """Return a failure file's JSON object.

    Raises
    ------
    ValueError
        Naming ``path``: unreadable, not JSON or not an object.
    """
    try:
        info = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: unreadable failure record ({exc})") from exc
    if not isinstance(info, dict):
        raise ValueError(f"{path}: failure record is not a JSON object")
    return info


class RunStore:
    """Reads and writes one run directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @property
    def manifest_path(self) -> Path:
        """``manifest.json``."""
        return self.root / contract.MANIFEST_FILE

    def record_path(self, cell_id: str, replicate: int) -> Path:
        """Where the record of ``(cell_id, replicate)`` lives."""
        return contract.record_path(self.root, cell_id, replicate)

    def failure_path(self, cell_id: str, replicate: int) -> Path:
        """Where the failure of ``(cell_id, replicate)`` lives."""
        return contract.failure_path(self.root, cell_id, replicate)

    def is_run(self) -> bool:
        """Whether the directory holds a manifest and a scenario."""
        return self.manifest_path.exists() and (self.root / contract.SCENARIO_FILE).exists()

    def manifest(self) -> dict[str, Any]:
        """Return the manifest.

        Raises
        ------
        ValueError
            Naming the file: unreadable, not a JSON object.
        """
        try:
            manifest = json.loads(self.manifest_path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{self.manifest_path}: unreadable manifest ({exc})") from exc
        if not isinstance(manifest, dict):
            raise ValueError(f"{self.manifest_path}: the manifest is not a JSON object")
        return manifest

    def initialize(self, scenario_text: str, identity: str, manifest: dict[str, Any]) -> None:
        """Create the directory, or check that it holds the same scenario.

        ``identity`` summarises what makes two scenarios the same run (seed and cell ids).

        Raises
        ------
        ValueError
            The directory holds a run of a different scenario or of another format version.
        """
        if self.is_run():
            for stale in self.root.glob("*/*/.*.tmp"):  # left by a killed writer
                stale.unlink(missing_ok=True)
            existing = self.manifest()
            try:
                contract.check_format_version(existing.get("format_version"), self.manifest_path)
            except FormatError as exc:
                raise ValueError(f"{exc}; use another --out directory") from exc
            if existing.get("identity") != identity:
                raise ValueError(
                    f"{self.root} holds a run of a different scenario "
                    f"({existing.get('scenario', '?')!r}, other seed or cells); "
                    "use another --out directory"
                )
            return
        if self.root.exists() and any(self.root.iterdir()):
            raise ValueError(f"{self.root} exists and is not a run directory; use another --out")
        atomic_write(self.root / contract.SCENARIO_FILE, lambda p: p.write_text(scenario_text))
        self.write_manifest({**manifest, "identity": identity, "format_version": FORMAT_VERSION})

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        """Replace the manifest."""
        atomic_write(self.manifest_path, lambda p: p.write_text(json.dumps(manifest, indent=2)))

    def has_record(self, cell_id: str, replicate: int) -> bool:
        """Whether a readable record of the fit is on disk.

        A corrupt one is logged and counts as absent (the fit is run again and replaces it).
        """
        path = self.record_path(cell_id, replicate)
        if not path.is_file():
            return False
        try:
            check_record(path)
        except RecordError as exc:
            log.warning("corrupt fit record, fitting again: %s", exc)
            return False
        return True

    def has_failure(self, cell_id: str, replicate: int) -> bool:
        """Whether a readable failure of the fit is on disk.

        A corrupt one is logged and counts as absent.
        """
        path = self.failure_path(cell_id, replicate)
        if not path.is_file():
            return False
        try:
            _failure_info(path)
        except ValueError as exc:
            log.warning("corrupt failure record, fitting again: %s", exc)
            return False
        return True

    def write_record(self, cell_id: str, replicate: int, record: xr.DataTree) -> Path:
        """Write a fit's record (superseding its failure, if any)."""
        path = self.record_path(cell_id, replicate)
        atomic_write(path, lambda p: write_record(p, record))
        self.failure_path(cell_id, replicate).unlink(missing_ok=True)
        return path

    def write_failure(self, cell_id: str, replicate: int, info: dict[str, Any]) -> Path:
        """Write a fit's failure: error, traceback and whatever ``info`` holds."""
        path = self.failure_path(cell_id, replicate)
        atomic_write(path, lambda p: p.write_text(json.dumps(info, indent=2, default=str)))
        return path

    def records(self) -> Iterator[tuple[str, int, Path]]:
        """``(cell_id, replicate, path)`` of every record file on disk."""
        return contract.record_files(self.root)

    def failures(self) -> Iterator[tuple[str, int, dict[str, Any]]]:
        """Yield ``(cell_id, replicate, info)`` of every readable failure on disk.

        A corrupt one is logged and skipped.
        """
        for cell_id, replicate, path in contract.failure_files(self.root):
            try:
                info = _failure_info(path)
            except ValueError as exc:
                log.warning("corrupt failure record, skipped: %s", exc)
                continue
            yield cell_id, replicate, info

    def read_record(self, cell_id: str, replicate: int) -> xr.DataTree:
        """Return a fit's record as the tree it was written from.

        Raises
        ------
        mmm_workbench.reports.records.RecordError
            The file is missing, corrupt or of another format version.
        """
        return read_record(self.record_path(cell_id, replicate)).to_datatree()
