"""Fit records as ArviZ-native netCDF files (``mmm-workbench export``).

The run keeps its records in Arrow (:mod:`mmm_workbench.reports.records`: several times
faster to read than netCDF); this module writes any of them as the tree ArviZ expects, one
netCDF file per fit, opened with ``xarray.open_datatree``:

- ``/posterior``: every estimand with ``(chain, draw)`` dimensions (the kept draws of each
  chain, by their sampler indices);
- ``/observed_data``, ``/posterior_predictive``, ``/log_likelihood``: the training target
  ``y`` (data units), its posterior predictive draws and its pointwise log density, where
  the model has a likelihood;
- ``/predictions`` and ``/observed_holdout``: draws of the holdout target ``y_holdout``
  (``train_periods < periods``, where the model can predict it) and its observed values;
- ``/prior``: the prior draws as one chain, where the model has a prior;
- ``/truth``: the true value of every estimand (not an ArviZ group; ArviZ ignores it);
- root attributes: the record's (``cell_id``, ``replicate``, ``backend``, the JSON strings
  ``diagnostics``, ``timings``, ``versions``) and ``format_version``.

``az.summary``, ``az.plot_ppc_dist`` and ``az.loo`` work on it. A format 2 record (written
before the draws kept their chain) is refused with a one-line error: it cannot be given
``(chain, draw)`` dimensions honestly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import xarray as xr

from mmm_workbench.reports.contract import (
    CHAIN,
    DRAW,
    HOLDOUT,
    HOLDOUT_DATE,
    OBSERVED_DATA,
    POSTERIOR,
    PRIOR,
    SAMPLE,
    TRUTH,
    atomic_write,
)
from mmm_workbench.reports.records import FitRecord, RecordError, read_record
from mmm_workbench.reports.rundir import open_run

__all__ = [
    "EXPORT_SUFFIX",
    "OBSERVED_HOLDOUT",
    "Exported",
    "export_run",
    "record_to_arviz",
    "write_arviz",
]

EXPORT_SUFFIX = ".nc"
OBSERVED_HOLDOUT = "observed_holdout"
"""The exported group of the holdout's observed target (ArviZ's ``observed_data`` holds
only what ``posterior_predictive`` predicts)."""


@dataclass(frozen=True, kw_only=True)
class Exported:
    """One exported fit: its cell, label, replicate and the netCDF file written."""

    cell_id: str
    label: str
    replicate: int
    path: Path


def _unstack(dataset: xr.Dataset) -> xr.Dataset:
    """``sample`` with ``chain``/``draw`` coordinates to ``(chain, draw)`` dimensions."""
    out = dataset.set_index(sample=[CHAIN, DRAW]).unstack(SAMPLE)
    return out.transpose(CHAIN, DRAW, ...)


def record_to_arviz(record: FitRecord, where: str | Path = "") -> xr.DataTree:
    """Return a fit record as an ArviZ-native tree (see the module docstring).

    Raises
    ------
    RecordError
        A record without the draws' chain and draw (format 2), naming ``where``.
    """
    tree = record.to_datatree()
    if POSTERIOR not in record.samples:
        name = where or f"{record.cell_id}/{record.replicate}"
        raise RecordError(
            f"{name}: a format {record.format_version} record keeps no chain and draw of its "
            "draws; ArviZ export needs format 3 (fit it again with this version)"
        )
    groups: dict[str, xr.Dataset] = {}
    for name, node in tree.children.items():
        dataset = node.to_dataset()
        if CHAIN in dataset.coords:
            dataset = _unstack(dataset)
        elif name == PRIOR:
            dataset = dataset.rename({SAMPLE: DRAW}).expand_dims(CHAIN).transpose(CHAIN, DRAW, ...)
            dataset = dataset.assign_coords({CHAIN: [0], DRAW: range(dataset.sizes[DRAW])})
        elif name != TRUTH and SAMPLE in dataset.dims:  # a drawn group of unknown draws
            continue
        if name == OBSERVED_DATA and HOLDOUT in dataset:
            groups[f"/{OBSERVED_HOLDOUT}"] = xr.Dataset({HOLDOUT: dataset[HOLDOUT]})
            dataset = dataset.drop_vars([HOLDOUT, HOLDOUT_DATE])
        groups[f"/{name}"] = dataset
    out = xr.DataTree.from_dict(groups)
    out.attrs = {**tree.attrs, "format_version": record.format_version}
    return out


def write_arviz(record_path: str | Path, out: str | Path) -> Path:
    """Write one record file as an ArviZ-native netCDF file at ``out`` (atomically).

    Raises
    ------
    RecordError
        The record is unreadable, of an unknown format version, or of format 2.
    """
    path = Path(out)
    tree = record_to_arviz(read_record(record_path), record_path)
    atomic_write(path, lambda tmp: tree.to_netcdf(tmp, engine="h5netcdf"))
    return path


def _select(labels: dict[str, str], cell: str) -> str:
    """Return the cell id ``cell`` names (an id, an id prefix or a label)."""
    if cell in labels:
        return cell
    by_label = [c for c, label in labels.items() if label == cell]
    prefixed = [c for c in labels if c.startswith(cell)]
    found = by_label or prefixed
    if len(found) == 1:
        return found[0]
    known = ", ".join(f"{c} ({label})" for c, label in labels.items())
    what = "matches several cells" if found else "is no cell's id or label"
    raise ValueError(f"--cell = {cell!r}: {what}; cells: {known}")


def export_run(
    run_dir: str | Path,
    out: str | Path,
    *,
    cell: str | None = None,
    replicates: Sequence[int] | None = None,
) -> list[Exported]:
    """Write a run's fit records as ArviZ-native netCDF, ``out/<cell_id>/<replicate>.nc``.

    Parameters
    ----------
    run_dir
        A run directory.
    out
        The output directory (created; must not be inside the run directory's ``fits/``).
    cell
        Only this cell: its id, a unique id prefix, or its label.
    replicates
        Only these replicates.

    Raises
    ------
    ValueError
        Not a run, an unknown cell or replicate, no record to export, or a record that
        cannot be exported (:func:`record_to_arviz`), each in one line.
    """
    run = open_run(run_dir)
    wanted = None if cell is None else _select(dict(run.cells), cell)
    entries = [e for e in run.entries if e.status == "ok"]
    entries = [e for e in entries if wanted is None or e.cell_id == wanted]
    if replicates is not None:
        missing = sorted(set(replicates) - {e.replicate for e in entries})
        if missing:
            raise ValueError(
                f"--replicate = {missing[0]}: no fit record of it in {run.root}"
                + ("" if wanted is None else f" for cell {wanted}")
            )
        entries = [e for e in entries if e.replicate in set(replicates)]
    if not entries:
        raise ValueError(f"{run.root}: no fit record to export")
    written = []
    for entry in entries:
        path = Path(out) / entry.cell_id / f"{entry.replicate}{EXPORT_SUFFIX}"
        write_arviz(entry.path, path)
        written.append(
            Exported(
                cell_id=entry.cell_id,
                label=run.label(entry.cell_id),
                replicate=entry.replicate,
                path=path,
            )
        )
    return written
