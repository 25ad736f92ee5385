"""The shipped SBC scenario end to end with real sampling (``nox -s slow``): a few replicates of
its NUTS and ADVI cells, the drawn truth in every record, the report's SBC statistics per cell,
the log-likelihood among the ranked estimands."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mmm_workbench.reports.sbc import sbc_ecdf, sbc_uniformity, truth_design
from mmm_workbench.reports.tables import estimand_table
from mmm_workbench.scenarios import read_scenario

pytestmark = pytest.mark.slow

REPLICATES = 4


def test_the_shipped_sbc_scenario_runs_and_is_scored_as_sbc_per_cell(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTENSOR_FLAGS"}  # real compilation
    out = tmp_path / "run"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mmm_workbench.recover.cli",
            "run",
            "sbc-nuts-vs-advi",
            "--out",
            str(out),
            "--replicates",
            str(REPLICATES),
            "--report",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=1800,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    cells = {c.cell_id for c in read_scenario("sbc-nuts-vs-advi").cells}
    table = estimand_table(out)
    assert set(table["cell"]) == cells
    design = truth_design(table)
    assert design["label"].tolist() == ["SBC", "SBC"]  # the truth is drawn in both cells
    ranked = table[table["estimand"] == "log_likelihood"]
    assert len(ranked) == 2 * REPLICATES
    assert ranked.groupby("cell")["truth"].nunique().tolist() == [REPLICATES, REPLICATES]
    assert np.all((ranked["pit"] > 0) & (ranked["pit"] < 1))
    stats = sbc_uniformity(table[table["estimand"].isin(["log_likelihood", "roas"])])
    assert set(stats["cell"]) == cells and not stats["enough"].any()  # 4 replicates: no power
    bands = sbc_ecdf(table, estimands=["log_likelihood"])
    assert set(bands["cell"]) == cells
    assert (out / "report" / "index.html").is_file()
