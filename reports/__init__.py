"""Scoring fits against truth: metrics, SBC, tables, figures, the HTML report and the CI gate.

Reads fit records from disk and never imports pymc or pytensor.
"""

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
