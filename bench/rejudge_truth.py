"""Re-judge a run against the truth the current code gives, without refitting.

A fit record carries the truth its model was scored against (written at fit time by
``recover.models.data.truth_estimands``). When that definition changes (2026-12-01: the
``sigma``, ``baseline`` and ``log_likelihood`` a model without a demand proxy can reach
where demand's noise is white; docs/definitions.md), an old run keeps the old truth. This
script copies a run, regenerates each record's dataset from the run's scenario (the same
seeds), puts the current truth of those three estimands into the copy's records with the
current ``truth_version`` (``reports.contract.TRUTH_VERSION``; ``check`` flags a record of an
older one), and prints ``check``'s verdict per cell before and after. The posterior draws are
untouched.

    python bench/rejudge_truth.py RUN_DIR COPY_DIR

Measured on tutorial 3's runs (bench/results/rejudge-truth-20261201.json).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.ipc as ipc

from mmm_workbench.recover.models.data import truth_estimands
from mmm_workbench.reports.contract import TRUTH_VERSION
from mmm_workbench.scenarios import read_scenario, replicate_rng
from mmm_workbench.simulate import generate

REJUDGED = ("sigma", "log_likelihood", "baseline")


def rewrite(src: Path, dst: Path) -> int:
    """Copy ``src`` to ``dst`` with the current truth of :data:`REJUDGED`; return how many
    truth values were written."""
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("report"))
    cells = {c.cell_id: c for c in read_scenario(dst / "scenario.toml").cells}
    written = 0
    for path in sorted((dst / "fits").glob("*/*.arrow")):
        cell = cells[path.parent.name]
        scenario = cell.scenario
        assert scenario.model is not None
        rng = replicate_rng(scenario.seed, cell.data_id, int(path.stem))
        truth = truth_estimands(generate(scenario.data, rng), scenario.model)
        table = ipc.open_file(pa.BufferReader(path.read_bytes())).read_all()
        values = table.column("truth").to_pylist()
        dates = table.column("date").to_pylist()
        row = {pd.Timestamp(d): i for i, d in enumerate(truth["date"].to_numpy())}
        for i, name in enumerate(table.column("estimand").to_pylist()):
            if name in ("sigma", "log_likelihood"):
                values[i] = float(truth[name])
            elif name == "baseline" and dates[i] is not None:
                values[i] = float(truth["baseline"].to_numpy()[row[pd.Timestamp(dates[i])]])
            else:
                continue
            written += 1
        field = table.schema.field("truth")
        table = table.set_column(
            table.schema.get_field_index("truth"), field, pa.array(values, type=field.type)
        )
        metadata = dict(table.schema.metadata or {})
        attrs = json.loads(metadata[b"attrs"])
        attrs["truth_version"] = TRUTH_VERSION  # what check reads to flag an older truth
        metadata[b"attrs"] = json.dumps(attrs).encode()
        table = table.replace_schema_metadata(metadata)
        with pa.OSFile(str(path), "wb") as out, ipc.new_file(out, table.schema) as writer:
            writer.write_table(table)
    return written


def verdict(run: Path) -> dict[str, object]:
    """``check --format json``'s totals and per-cell verdicts."""
    done = subprocess.run(
        [sys.executable, "-m", "mmm_workbench.recover.cli", "check", str(run), "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    out = json.loads(done.stdout)
    return {
        "failed": out["failed"],
        "checked": out["checked"],
        "cells": {c["label"]: c["verdict"].split(":")[0] for c in out["cells"]},
    }


def main() -> None:
    src, dst = Path(sys.argv[1]), Path(sys.argv[2])
    written = rewrite(src, dst)
    before, after = verdict(src), verdict(dst)
    print(json.dumps({"run": str(src), "truth_values_written": written, "before": before,
                      "after": after}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
