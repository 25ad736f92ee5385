"""The run directory: the unit of work and of resumption (format version 1).

::

    runs/<name>/
      scenario.toml                      the exact scenario text that was run
      manifest.json                      cells, seeds, versions, start/end times
      fits/<cell_id>/<replicate>.nc      one fit record each (netCDF DataTree)
      failures/<cell_id>/<replicate>.json  error, traceback, diagnostics

A fit record is a DataTree with ``/posterior`` (estimand draws over ``sample``),
``/truth`` (the same estimands' true values), ``/prior`` (the estimands under prior draws
of the parameters, for posterior contraction; Bayesian models only; no ``baseline``) and
root attributes (cell, replicate,
backend, seeds, diagnostics, timings, versions). Every file is written to a temporary
name in its own directory and renamed into place, so a killed run never leaves a
half-written record; a record supersedes an earlier failure of the same fit.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import xarray as xr

__all__ = ["FORMAT_VERSION", "RunStore", "atomic_write"]

FORMAT_VERSION = 1


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class RunStore:
    """Reads and writes one run directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    def record_path(self, cell_id: str, replicate: int) -> Path:
        return self.root / "fits" / cell_id / f"{replicate}.nc"

    def failure_path(self, cell_id: str, replicate: int) -> Path:
        return self.root / "failures" / cell_id / f"{replicate}.json"

    def is_run(self) -> bool:
        return self.manifest_path.exists() and (self.root / "scenario.toml").exists()

    def manifest(self) -> dict[str, Any]:
        return json.loads(self.manifest_path.read_text())  # type: ignore[no-any-return]

    def initialize(self, scenario_text: str, identity: str, manifest: dict[str, Any]) -> None:
        """Create the directory, or check that it holds the same scenario.

        ``identity`` summarises what makes two scenarios the same run (seed and cell ids).

        Raises
        ------
        ValueError
            The directory holds a run of a different scenario.
        """
        if self.is_run():
            for stale in self.root.glob("*/*/.*.tmp"):  # left by a killed writer
                stale.unlink(missing_ok=True)
            existing = self.manifest()
            if existing.get("identity") != identity:
                raise ValueError(
                    f"{self.root} holds a run of a different scenario "
                    f"({existing.get('scenario', '?')!r}, other seed or cells); "
                    "use another --out directory"
                )
            return
        if self.root.exists() and any(self.root.iterdir()):
            raise ValueError(f"{self.root} exists and is not a run directory; use another --out")
        atomic_write(self.root / "scenario.toml", lambda p: p.write_text(scenario_text))
        self.write_manifest({**manifest, "identity": identity, "format_version": FORMAT_VERSION})

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        atomic_write(self.manifest_path, lambda p: p.write_text(json.dumps(manifest, indent=2)))

    def has_record(self, cell_id: str, replicate: int) -> bool:
        return self.record_path(cell_id, replicate).exists()

    def has_failure(self, cell_id: str, replicate: int) -> bool:
        return self.failure_path(cell_id, replicate).exists()

    def write_record(self, cell_id: str, replicate: int, record: xr.DataTree) -> Path:
        path = self.record_path(cell_id, replicate)
        atomic_write(path, lambda p: record.to_netcdf(p, engine="h5netcdf"))
        self.failure_path(cell_id, replicate).unlink(missing_ok=True)
        return path

    def write_failure(self, cell_id: str, replicate: int, info: dict[str, Any]) -> Path:
        path = self.failure_path(cell_id, replicate)
        atomic_write(path, lambda p: p.write_text(json.dumps(info, indent=2, default=str)))
        return path

    def records(self) -> Iterator[tuple[str, int, Path]]:
        """``(cell_id, replicate, path)`` of every record on disk."""
        for path in sorted((self.root / "fits").glob("*/*.nc")):
            yield path.parent.name, int(path.stem), path

    def failures(self) -> Iterator[tuple[str, int, dict[str, Any]]]:
        """``(cell_id, replicate, info)`` of every failure on disk."""
        for path in sorted((self.root / "failures").glob("*/*.json")):
            yield path.parent.name, int(path.stem), json.loads(path.read_text())

    def read_record(self, cell_id: str, replicate: int) -> xr.DataTree:
        with xr.open_datatree(self.record_path(cell_id, replicate), engine="h5netcdf") as tree:
            return tree.load()
