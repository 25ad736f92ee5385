"""Scoring fits against truth: metrics, SBC, tables, figures, the HTML report and the CI gate.

Reads fit records from disk and never imports pymc or pytensor.

The names below are imported on first use (PEP 562), so importing one light submodule
(``mmm_workbench.reports.contract``, say, in a worker or a short child process) does not
pay for scipy, pandas and arviz-stats, which the gate and SBC modules load.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mmm_workbench.reports.gate import assert_recovery, check, load_rules
    from mmm_workbench.reports.records import RecordError, read_record
    from mmm_workbench.reports.rundir import RunError, open_run
    from mmm_workbench.reports.sbc import sbc_ecdf, sbc_uniformity
    from mmm_workbench.reports.tables import (
        RunScores,
        aggregate_table,
        estimand_table,
        fit_table,
        score_run,
        summary_json,
    )
    from mmm_workbench.reports.verdict import Verdict, evaluate

_HOME = {
    "assert_recovery": "gate",
    "check": "gate",
    "load_rules": "gate",
    "RecordError": "records",
    "read_record": "records",
    "RunError": "rundir",
    "open_run": "rundir",
    "sbc_ecdf": "sbc",
    "sbc_uniformity": "sbc",
    "RunScores": "tables",
    "aggregate_table": "tables",
    "estimand_table": "tables",
    "fit_table": "tables",
    "score_run": "tables",
    "summary_json": "tables",
    "Verdict": "verdict",
    "evaluate": "verdict",
}

__all__ = [
    "RecordError",
    "RunError",
    "RunScores",
    "Verdict",
    "aggregate_table",
    "assert_recovery",
    "check",
    "estimand_table",
    "evaluate",
    "fit_table",
    "load_rules",
    "open_run",
    "read_record",
    "sbc_ecdf",
    "sbc_uniformity",
    "score_run",
    "summary_json",
]


def __getattr__(name: str) -> Any:
    """Import an exported name from its submodule on first use."""
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOME})
