"""The file contract of a run directory, format version 3.

One place for the layout, the record groups, the dimension and estimand names and the format
version. ``recover`` writes by it, ``reports`` reads by it.

Layout::

    runs/<name>/
      scenario.toml                           the exact scenario text that was run
      manifest.json                           format_version, scenario, identity, seed,
                                              replicates, cells {id: {label, overrides}},
                                              versions, started, finished
      fits/<cell_id>/<replicate>.arrow        one fit record each
      failures/<cell_id>/<replicate>.json     a fit that raised: error, traceback, ...
      report/                                 index.html, summary.json, *.csv, figures/

``<replicate>`` is a non-negative integer in canonical form (``0``, ``17``); any other file
name under ``fits/`` or ``failures/`` (``backup-0.arrow``, ``.0.arrow.tmp``) is not part of
the run and is ignored. A record supersedes a failure of the same fit. Every file is
written to a temporary name beside it and renamed into place (:func:`atomic_write`), so a
killed or out-of-space writer never leaves a half-written file under a contract name.

A fit record is an Arrow IPC file (Feather v2; ``pyarrow.ipc.open_file``,
``pandas.read_feather``) with one row per variable coordinate:

- ``estimand`` (string): the variable's name;
- one column per dimension of any variable (``channel``, ``date``, ``multiplier``, ...):
  the row's coordinate label, null where the variable lacks the dimension;
- one column per group (:data:`GROUPS`) the record has. The drawn groups
  (:data:`DRAWN_GROUPS`: ``posterior``, ``prior``, ``posterior_predictive``,
  ``log_likelihood``, ``predictions``) are lists of float64 over the ``sample`` draws:
  fixed-size where the group holds every variable, else (format 3) variable-size lists,
  empty in the rows of variables the group does not hold (NaN draws there would double a
  record); ``truth`` (the true value, NaN where the model's parameter is
  not comparable) and ``observed_data`` are float64.

The schema metadata holds ``format_version``, ``attrs`` (the record's attributes as a JSON
object: ``cell_id``, ``replicate``, ``backend``, seeds, ``truth_version``
(:data:`TRUTH_VERSION`), and the JSON-object strings
``diagnostics``, ``timings`` and ``versions``), ``groups`` (each group's attributes),
``variables``: per variable, in row order, its ``name``, ``dims``, ``shape`` and the
``groups`` that hold it (its rows are its values flattened in C order over ``dims``; cells
of a group that does not hold a variable are NaN), and ``samples``: per drawn group whose
draws come from chains, the ``chain`` and ``draw`` index of each kept draw (the sampler's
own indices, before thinning), from which a reader rebuilds ``(chain, draw)``
dimensions. A record's estimands are the variables in both ``posterior`` and ``truth``.

Format 3 added ``samples`` and the groups ``observed_data`` (the training target, variable
:data:`TARGET` over ``date``), ``posterior_predictive`` (its draws under the posterior,
thinned as the posterior) and ``log_likelihood`` (the pointwise log density of each
observation under each draw, data units), where the model has a likelihood; and where the
data have a holdout the model can predict, ``predictions`` (draws of the holdout target,
:data:`HOLDOUT` over ``holdout_date``, observed in ``observed_data``). Readers accept
format 2 records (:data:`READABLE_VERSIONS`: the same layout without them); writers (and a
resumed run) use format 3 only.
"""

from __future__ import annotations

import functools
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "CHAIN",
    "CHANNEL",
    "DATE",
    "DRAW",
    "DRAWN_GROUPS",
    "ESTIMANDS",
    "ESTIMAND_COLUMN",
    "FAILURES_DIR",
    "FAILURE_SUFFIX",
    "FITS_DIR",
    "FORMAT_VERSION",
    "GROUPS",
    "HEADLINE",
    "HOLDOUT",
    "HOLDOUT_DATE",
    "JSON_OBJECT_ATTRS",
    "LOG_LIKELIHOOD",
    "MANIFEST_FILE",
    "METADATA_KEYS",
    "MULTIPLIER",
    "OBSERVED_DATA",
    "POSTERIOR",
    "POSTERIOR_PREDICTIVE",
    "PREDICTIONS",
    "PRIOR",
    "READABLE_VERSIONS",
    "RECORD_SUFFIX",
    "REPORT_DIR",
    "SAMPLE",
    "SCENARIO_FILE",
    "TARGET",
    "TRUTH",
    "TRUTH_VERSION",
    "UNVERSIONED_TRUTH",
    "FormatError",
    "atomic_write",
    "check_format_version",
    "failure_files",
    "failure_path",
    "record_files",
    "record_path",
    "replicate_of",
]

TRUTH_VERSION = 2
"""The definition of the truth a record's ``truth`` column holds (docs/definitions.md), kept
in its ``attrs`` as ``truth_version``. A record keeps the truth it was scored against when it
was fitted, so a change of definition (or of the worlds a scenario generates) bumps this,
and a reader flags the records of an older one
(:func:`mmm_workbench.reports.verdict.evaluate`'s warnings); ``tests/simulate/
test_truth_version_pinned.py`` pins a digest of the truth per version, so a change that
forgets the bump fails. 2: since
2026-12-01, ``sigma``, ``baseline`` and ``log_likelihood`` of a model without a demand
proxy where demand's noise is white; records without ``truth_version`` predate the attribute
(2026-12-01) and are of version 2 or 1, so they are flagged once this exceeds 2."""
UNVERSIONED_TRUTH = 2
"""The newest truth version a record without ``truth_version`` can hold."""

FORMAT_VERSION = 3
"""The version this code writes (1 was netCDF records; 2 lacked the predictive groups and the
draws' chain and draw identity)."""
READABLE_VERSIONS = (2, 3)
"""The versions a reader (report, check, export) accepts; a resumed run needs
:data:`FORMAT_VERSION`."""

SCENARIO_FILE = "scenario.toml"
MANIFEST_FILE = "manifest.json"
FITS_DIR = "fits"
FAILURES_DIR = "failures"
REPORT_DIR = "report"
RECORD_SUFFIX = ".arrow"
FAILURE_SUFFIX = ".json"

POSTERIOR = "posterior"
TRUTH = "truth"
PRIOR = "prior"
OBSERVED_DATA = "observed_data"
POSTERIOR_PREDICTIVE = "posterior_predictive"
LOG_LIKELIHOOD = "log_likelihood"
PREDICTIONS = "predictions"
GROUPS = (
    POSTERIOR, TRUTH, PRIOR, OBSERVED_DATA, POSTERIOR_PREDICTIVE, LOG_LIKELIHOOD, PREDICTIONS
)  # fmt: skip
"""A record's groups, each also the name of its value column (ArviZ's group names)."""
DRAWN_GROUPS = (POSTERIOR, PRIOR, POSTERIOR_PREDICTIVE, LOG_LIKELIHOOD, PREDICTIONS)
"""The groups whose columns hold draws over ``sample``."""

TARGET = "y"
"""The name of the model's target in ``observed_data``, ``posterior_predictive`` and
``log_likelihood`` (the data's own column name is the ``observed_data`` group's ``target``
attribute)."""
HOLDOUT = "y_holdout"
HOLDOUT_DATE = "holdout_date"
"""The target of the holdout periods (``train_periods < periods``) over its own dimension:
observed in ``observed_data``, predicted in ``predictions``."""

ESTIMAND_COLUMN = "estimand"
METADATA_KEYS = ("format_version", "attrs", "groups", "variables", "samples")
"""Keys of a record's Arrow schema metadata (``samples`` from format 3)."""

JSON_OBJECT_ATTRS = ("diagnostics", "timings", "versions")
"""Record attributes that are JSON-object strings; a reader rejects a record where one is not."""

SAMPLE = "sample"
"""The draws dimension of the drawn groups (the list columns' axis)."""
CHAIN = "chain"
DRAW = "draw"
"""Coordinates along ``sample``: each kept draw's chain and its index in that chain."""
CHANNEL = "channel"
DATE = "date"
MULTIPLIER = "multiplier"
"""Dimensions of the estimands: media channel, period, and the spend multiplier of the
response curve."""

ESTIMANDS = (
    "channel_contribution",
    "baseline",
    "contribution_total",
    "contribution_share",
    "roas",
    "mroas",
    "response",
    "saturation_beta",
    "sigma",
)
"""Estimands every model produces. Records also hold the model's transform parameters
(``adstock_*``, ``saturation_*``) where its family matches the data's; a reader takes the
names a record has, never this list."""

HEADLINE = ("contribution_share", "roas", "mroas")
"""The estimands a report leads with."""

_REPLICATE = re.compile(r"0|[1-9][0-9]*")


class FormatError(ValueError):
    """A file that does not follow this contract (or another version of it)."""


def check_format_version(
    value: Any, where: str | Path, accept: tuple[int, ...] = (FORMAT_VERSION,)
) -> int:
    """Return ``value`` if it is one of ``accept`` (default: only :data:`FORMAT_VERSION`).

    Readers pass :data:`READABLE_VERSIONS`.

    Raises
    ------
    FormatError
        One line naming ``where`` and the version found.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value not in accept:
        found = "no format_version" if value is None else f"format_version {value!r}"
        known = " or ".join(str(v) for v in accept)
        raise FormatError(f"{where}: {found}; this mmm-workbench reads run format {known} only")
    return value


def record_path(root: str | Path, cell_id: str, replicate: int) -> Path:
    """``root/fits/<cell_id>/<replicate>.arrow``."""
    return Path(root) / FITS_DIR / cell_id / f"{replicate}{RECORD_SUFFIX}"


def failure_path(root: str | Path, cell_id: str, replicate: int) -> Path:
    """``root/failures/<cell_id>/<replicate>.json``."""
    return Path(root) / FAILURES_DIR / cell_id / f"{replicate}{FAILURE_SUFFIX}"


def replicate_of(path: Path, suffix: str) -> int | None:
    """Return the replicate a contract file name stands for; None for any other name."""
    stem = path.name.removesuffix(suffix)
    if stem == path.name or not _REPLICATE.fullmatch(stem):
        return None
    return int(stem)


def _files(folder: Path, suffix: str) -> Iterator[tuple[str, int, Path]]:
    found = []
    for path in folder.glob(f"*/*{suffix}"):
        replicate = replicate_of(path, suffix)
        if replicate is not None and path.is_file():
            found.append((path.parent.name, replicate, path))
    yield from sorted(found)


def record_files(root: str | Path) -> Iterator[tuple[str, int, Path]]:
    """``(cell_id, replicate, path)`` of every record file name, by cell and replicate."""
    return _files(Path(root) / FITS_DIR, RECORD_SUFFIX)


def failure_files(root: str | Path) -> Iterator[tuple[str, int, Path]]:
    """``(cell_id, replicate, path)`` of every failure file name, by cell and replicate."""
    return _files(Path(root) / FAILURES_DIR, FAILURE_SUFFIX)


@functools.cache
def _file_mode() -> int:
    """Return the mode a plain ``open(path, "w")`` would give a new file: 0o666 less the umask.

    Read from ``/proc/self/status`` where it exists; elsewhere by setting and restoring the
    umask once (the only portable way before Python 3.13's ``os.umask`` query).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it to ``path``.

    A writer that fails (a full disk, a kill) leaves ``path`` as it was; the temporary
    file is removed. The file gets the mode of any file the user creates (0o666 less the
    umask), not the temporary file's private 0o600.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
