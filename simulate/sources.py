"""Files a scenario's data comes from: media plans (and datasets), read and checked once.

A plan file (:class:`~mmm_workbench.scenarios.spec.PlanFileSpec`) is read here, never by
``scenarios`` (which does not import pandas). Its values are checked against the data spec
(the column exists, the length or dates match the calendar, values are numeric, present and
not negative, and some spend falls in the training periods) by :func:`plan_values`, which
:func:`~mmm_workbench.simulate.check.check_data` runs before anything is simulated and the
generator runs again (cached) for each replicate. Every error is one line naming the
scenario's path, e.g. ``data.channels[0].spend.column = 'tvv': no such column in plan.csv;
columns: tv, search``.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from mmm_workbench.scenarios.files import FileRef
from mmm_workbench.scenarios.spec import DataSpec, PlanFileSpec

__all__ = ["Calendar", "aligned_dates", "numeric_column", "plan_values", "read_table"]

Array = NDArray[np.float64]
_SHOWN = 8
"""Columns an error message lists at most."""


def read_table(ref: FileRef, where: str) -> pd.DataFrame:
    """Read a CSV or Parquet file a scenario names (cached by content).

    Parameters
    ----------
    ref
        The file, as the scenario's loader fingerprinted it.
    where
        The scenario path that named it (``data.channels[0].spend.file``), for errors.

    Returns
    -------
    pandas.DataFrame
        The table as read (a copy: callers may change it).

    Raises
    ------
    ValueError
        A file that is gone, changed since the scenario was read, or cannot be parsed.
    """
    return _read(ref.resolved, ref.sha256, ref.suffix, where, ref.path).copy()


@functools.lru_cache(maxsize=32)
def _read(resolved: str, sha256: str, suffix: str, where: str, shown: str) -> pd.DataFrame:
    from mmm_workbench.scenarios.files import file_ref

    try:
        now = file_ref(where, resolved)
    except ValueError as err:
        raise ValueError(str(err)) from None
    if now.sha256 != sha256:
        raise ValueError(
            f"{where} = {shown!r}: the file changed after the scenario was read "
            f"(sha256 {now.sha256[:12]}..., read as {sha256[:12]}...)"
        )
    try:
        if suffix == ".parquet":
            return pd.read_parquet(resolved)
        return pd.read_csv(resolved)
    except Exception as err:  # pandas and pyarrow raise many kinds for a malformed file
        detail = " ".join(str(err).split())[:200]
        raise ValueError(f"{where} = {shown!r}: cannot read it as {suffix[1:]}: {detail}") from None


def _columns(frame: pd.DataFrame) -> str:
    names = [str(c) for c in frame.columns]
    more = f", ... ({len(names)} in all)" if len(names) > _SHOWN else ""
    return ", ".join(names[:_SHOWN]) + more


def _label(frame: pd.DataFrame, row: int, dates: pd.Series | None) -> str:
    """Name a row for an error: its date where the file has dates, else its row number."""
    if dates is not None and not pd.isna(dates.iloc[row]):
        return f"row {row + 1} ({dates.iloc[row].date()})"
    return f"row {row + 1}"


def numeric_column(
    frame: pd.DataFrame, column: str, where: str, name: str, dates: pd.Series | None = None
) -> Array:
    """Return a column as floats, refusing missing and non-numeric values.

    Parameters
    ----------
    frame
        The table.
    column
        The column's name (it exists).
    where
        The scenario path of the column's name, for errors.
    name
        The file's name as the scenario wrote it.
    dates
        The table's dates, to name a bad row by its date.

    Raises
    ------
    ValueError
        ``<where> = 'tv': row 3 (2021-01-15) of plan.csv is missing`` (or not a number).
    """
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce")
    missing = raw.isna().to_numpy()
    if missing.any():
        row = int(np.argmax(missing))
        raise ValueError(
            f"{where} = {column!r}: {_label(frame, row, dates)} of {name} is missing "
            f"({int(missing.sum())} missing in all)"
        )
    bad = values.isna().to_numpy()
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(
            f"{where} = {column!r}: {_label(frame, row, dates)} of {name} is "
            f"{raw.iloc[row]!r}, not a number"
        )
    out = values.to_numpy(dtype=float)
    if not np.all(np.isfinite(out)):
        row = int(np.argmax(~np.isfinite(out)))
        raise ValueError(
            f"{where} = {column!r}: {_label(frame, row, dates)} of {name} is {out[row]}, "
            "not a finite number"
        )
    return out


@dataclass(frozen=True)
class Calendar:
    """The data's dates: ``periods`` steps of a week (``W``) or a day (``D``) from ``start``."""

    start: str
    freq: str
    periods: int

    @classmethod
    def of(cls, spec: DataSpec) -> Calendar:
        """Return a data spec's calendar."""
        return cls(spec.start, spec.freq, spec.periods)

    def dates(self) -> pd.DatetimeIndex:
        """Return the period start dates (as :func:`mmm_workbench.simulate.baseline.dates`)."""
        step = "7D" if self.freq == "W" else "D"
        return pd.date_range(self.start, periods=self.periods, freq=step, name="date")


def aligned_dates(
    frame: pd.DataFrame, column: str, where: str, name: str, cal: Calendar
) -> pd.Series:
    """Check that a table's date column is the data's calendar, row by row.

    Raises
    ------
    ValueError
        A missing column, a value that is not a date, another length, or the first date
        that differs from the calendar's (``... row 5 is 2021-02-01, the calendar has
        2021-01-29``).
    """
    if column not in frame.columns:
        raise ValueError(
            f"{where} = {column!r}: no such column in {name}; columns: {_columns(frame)}"
        )
    with warnings.catch_warnings():  # "could not infer format": each value is parsed alone
        warnings.simplefilter("ignore", UserWarning)
        parsed = pd.to_datetime(frame[column], errors="coerce")
    bad = parsed.isna().to_numpy()
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(
            f"{where} = {column!r}: row {row + 1} of {name} is {frame[column].iloc[row]!r}, "
            "not a date"
        )
    calendar = cal.dates()
    n = min(len(parsed), len(calendar))
    got = pd.DatetimeIndex(parsed.iloc[:n]).tz_localize(None).normalize()
    differ = np.flatnonzero(got != calendar[:n])
    if differ.size:
        row = int(differ[0])
        raise ValueError(
            f"{where} = {column!r}: dates of {name} are not the data's calendar "
            f"(start {cal.start}, freq {cal.freq}, {cal.periods} periods): row "
            f"{row + 1} is {got[row].date()}, the calendar has {calendar[row].date()}"
        )
    if len(parsed) != len(calendar):
        raise ValueError(
            f"{where} = {column!r}: {name} has {len(parsed)} dates, the data has "
            f"{cal.periods} periods (start {cal.start}, freq {cal.freq})"
        )
    return parsed


def plan_values(spec: DataSpec, channel: int) -> Array:
    """Return a channel's media plan from its file, scaled and shifted, checked.

    Parameters
    ----------
    spec
        The data spec; ``spec.channels[channel].spend.plan`` is a file plan.
    channel
        The channel's index.

    Returns
    -------
    numpy.ndarray
        ``scale * column + shift``, one value per period (a read-only, cached array).

    Raises
    ------
    ValueError
        One line naming the path (``data.channels[0].spend.column = 'tvv': no such column
        in plan.csv; columns: tv, search``): a missing column, another length, dates not the
        calendar's, missing, non-numeric or negative spend, no spend in the training periods.
    """
    plan = spec.channels[channel].spend.plan
    if plan is None:
        raise ValueError(f"data.channels[{channel}].spend: not a plan from a file")
    return _plan(plan, Calendar.of(spec), spec.train_periods, channel)


@functools.lru_cache(maxsize=256)
def _plan(plan: PlanFileSpec, cal: Calendar, train: int, channel: int) -> Array:
    where = f"data.channels[{channel}].spend"
    name = Path(plan.file.path).name
    frame = read_table(plan.file, f"{where}.file")
    if plan.column not in frame.columns:
        raise ValueError(
            f"{where}.column = {plan.column!r}: no such column in {name}; columns: "
            f"{_columns(frame)}"
        )
    dates = None
    if plan.date_column is not None:
        dates = aligned_dates(frame, plan.date_column, f"{where}.date_column", name, cal)
    elif len(frame) != cal.periods:
        raise ValueError(
            f"{where}.file = {plan.file.path!r}: {len(frame)} rows, the data has "
            f"{cal.periods} periods (one row per period, or give date_column)"
        )
    values = numeric_column(frame, plan.column, f"{where}.column", name, dates) * plan.scale
    values = values + plan.shift
    if np.any(values < 0):
        row = int(np.argmax(values < 0))
        shifted = "" if plan.shift == 0 and plan.scale == 1 else " after scale and shift"
        raise ValueError(
            f"{where}.column = {plan.column!r}: {_label(frame, row, dates)} of {name} is "
            f"{values[row]:g}{shifted}; spend cannot be negative"
        )
    if not np.any(values[:train] > 0):
        raise ValueError(
            f"{where}.column = {plan.column!r}: no spend in the {train} training "
            f"periods of {name} (its return would be undefined)"
        )
    values.setflags(write=False)
    return values
