"""The per-cell statistics that ``mmm-workbench run`` shows when it ends."""

from __future__ import annotations

import math

from mmm_workbench.reports.runsummary import FitStats, summarize_cells


def test_median_of_two_fits_is_their_mean() -> None:
    """Issue 10: the "median s" of two fits showed the larger one."""
    rows = summarize_cells(
        {"a": "x=1"},
        [FitStats(cell_id="a", seconds=1.0), FitStats(cell_id="a", seconds=3.0)],
        {"a": 2},
        {},
    )
    assert rows[0].median_s == 2.0
    assert rows[0].median_s != max(1.0, 3.0)  # the old upper-middle element


def test_cells_in_label_order_with_counts_and_diagnostics() -> None:
    fits = [
        FitStats(cell_id="b", seconds=5.0, max_rhat=1.02, divergences=3),
        FitStats(cell_id="b", seconds=1.0, max_rhat=1.07, divergences=1),
        FitStats(cell_id="b", seconds=2.0),  # a point estimate: no R-hat
        FitStats(cell_id="zzz", seconds=9.0),  # not a cell of this run: ignored
    ]
    rows = summarize_cells({"b": "base", "a": "other"}, fits, {"b": 3, "a": 1}, {"a": 2})
    assert [r.cell_id for r in rows] == ["b", "a"]
    b, a = rows
    assert (b.records, b.failures, b.fitted) == (3, 0, 3)
    assert b.median_s == 2.0 and b.max_rhat == 1.07 and b.divergences == 4
    assert (a.records, a.failures, a.fitted) == (1, 2, 0)
    assert a.median_s is None and a.max_rhat is None and a.divergences is None


def test_no_rhat_at_all_is_none_not_nan() -> None:
    (row,) = summarize_cells({"a": "base"}, [FitStats(cell_id="a", seconds=1.0)], {}, {})
    assert row.max_rhat is None and row.records == 0
    assert not math.isnan(row.median_s or math.nan)
