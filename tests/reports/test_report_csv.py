"""The report's CSV tables (``estimands.csv``, ``fits.csv``, ``aggregates.csv``), written
through Arrow's CSV writer for speed, read back by ``pandas.read_csv`` exactly as the CSV
pandas itself writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmm_workbench.reports.report import _write_csv


def _both(frame: pd.DataFrame, tmp_path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    ours, theirs = tmp_path / "ours.csv", tmp_path / "pandas.csv"
    _write_csv(frame, ours)
    frame.to_csv(theirs, index=False)
    return pd.read_csv(ours), pd.read_csv(theirs)


def test_read_back_as_pandas_csv(tmp_path: Path) -> None:
    """Floats to the last digit (NaN, tiny, huge, negative), integers, booleans, strings
    with commas, quotes and newlines, dates with a missing one."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "cell": ["a", 'b "quoted"', "c, d", "e\nf"],
            "replicate": [0, 1, 2, 3],
            "mean": [rng.normal(), np.nan, 1e-300, -1.7976931348623157e308],
            "covered": [True, False, True, False],
            "date": pd.to_datetime(["2022-01-07", None, "2022-01-14", "2022-01-21"]),
        }
    )
    ours, theirs = _both(frame, tmp_path)
    pd.testing.assert_frame_equal(ours, theirs)
    assert ours["date"].iloc[0] == "2022-01-07"
    assert ours["mean"].iloc[3] == -1.7976931348623157e308


def test_a_table_arrow_cannot_type_is_written_by_pandas(tmp_path: Path) -> None:
    frame = pd.DataFrame({"value": [1.5, "text", None], "n": [1, 2, 3]})
    ours, theirs = _both(frame, tmp_path)
    pd.testing.assert_frame_equal(ours, theirs)


@pytest.mark.parametrize("value", [0.1, 1 / 3, 123456789.123456789])
def test_a_float_round_trips(tmp_path: Path, value: float) -> None:
    ours, _ = _both(pd.DataFrame({"x": [value]}), tmp_path)
    assert ours["x"].iloc[0] == value
