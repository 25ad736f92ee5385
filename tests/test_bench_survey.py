"""``bench/survey.py`` counts clean fits (0 divergences, R-hat < 1.01) per cell of a run.

On stub run directories written by ``tests/reports/reports_stubs.py`` (no sampling): a fit
with one divergence is not clean, a fit with R-hat 1.03 is not clean but the report's
health class calls it clean, a cell without sampler diagnostics (as ADVI) is not sampled
and left out of the totals, and a failed fit counts against its cell's share.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "reports"))

from reports_stubs import healthy, some_divergent, write_stub_run  # noqa: E402


@pytest.fixture(scope="module")
def survey(bench_script: Callable[[str], ModuleType]) -> ModuleType:
    return bench_script("survey")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write_stub_run(
        tmp_path_factory.mktemp("survey") / "run",
        {"ok": "calibrated", "div": "calibrated", "rhat": "calibrated", "advi": "calibrated"},
        replicates=2,
        draws=20,
        diagnostics={
            "div": some_divergent,  # replicate 0 has one divergence
            "rhat": lambda rep: healthy(rep) | {"max_rhat": 1.03},
            "advi": lambda rep: {"draws": 200.0},  # no R-hat, ESS or divergences
        },
    )
    return Path(root)


def test_counts_per_cell(survey: ModuleType, run: Path) -> None:
    rows = {r.cell: r for r in survey.survey_run(run)}
    assert [rows[c].fits for c in ("ok", "div", "rhat", "advi")] == [2, 2, 2, 2]
    assert (rows["ok"].clean, rows["ok"].healthy, rows["ok"].divergent_fits) == (2, 2, 0)
    # the divergent fit is neither clean nor healthy
    div = rows["div"]
    assert (div.clean, div.healthy, div.divergent_fits) == (1, 1, 1)
    assert div.divergences_per_fit == pytest.approx(0.5)
    assert div.warnings == {"divergences": 1}
    assert div.clean_share == pytest.approx(0.5)
    # R-hat 1.03: not clean (< 1.01), but within the report's health threshold (1.05)
    rhat = rows["rhat"]
    assert (rhat.clean, rhat.healthy, rhat.max_rhat) == (0, 2, pytest.approx(1.03))
    assert rows["ok"].min_ess_bulk == pytest.approx(400.0)
    advi = rows["advi"]
    assert not advi.sampled and math.isnan(advi.max_rhat)
    assert all(rows[c].sampled for c in ("ok", "div", "rhat"))
    assert survey.totals(rows.values()) == {"stub": {"fits": 6, "clean": 3, "healthy": 5}}


def test_failed_and_unreported_fits_are_not_clean(survey: ModuleType) -> None:
    fits = pd.DataFrame(
        {
            "cell": ["c"] * 4,
            "cell_label": ["x=1"] * 4,
            "replicate": [0, 1, 2, 3],
            "status": ["ok", "ok", "ok", "failed"],
            "backend": ["nutpie"] * 3 + [""],
            "max_rhat": [1.004, 1.004, 1.0101, math.nan],
            "divergences": [0.0, math.nan, 0.0, math.nan],
            "min_ess_bulk": [500.0, 450.0, 90.0, math.nan],
        }
    )
    (row,) = survey.cell_rows(fits, "s")
    # only the first fit: the second reports no divergence count, the third R-hat >= 1.01
    assert (row.fits, row.failed, row.clean) == (3, 1, 1)
    assert row.clean_share == pytest.approx(0.25)
    assert (row.max_rhat, row.min_ess_bulk) == (pytest.approx(1.0101), pytest.approx(90.0))
    assert row.backend == "nutpie"
    assert row.warnings == {"bulk ESS < 100": 1, "failed": 1}
    assert row.geometry == ""  # a fit table without the column (records before it existed)


def test_a_cell_names_every_geometry_its_fits_were_sampled_in(survey: ModuleType) -> None:
    """A run resumed after a geometry change mixes fits of two geometries: the row says so."""
    fits = pd.DataFrame(
        {
            "cell": ["a", "a", "a", "b"],
            "cell_label": ["x=1", "x=1", "x=1", "x=2"],
            "replicate": [0, 1, 2, 0],
            "status": ["ok"] * 4,
            "backend": ["nutpie"] * 3 + ["ols"],
            "geometry": ["sd+lam", "level", "sd+lam", math.nan],
            "max_rhat": [1.004, 1.004, 1.004, math.nan],
            "divergences": [0.0, 0.0, 0.0, math.nan],
            "min_ess_bulk": [500.0, 450.0, 900.0, math.nan],
        }
    )
    a, b = survey.cell_rows(fits, "s")
    assert (a.geometry, b.geometry) == ("level,sd+lam", "")
    table = survey.format_table([a, b])
    assert "| s | a | x=1 | level,sd+lam | 3 |" in table and "| s | b | x=2 | - | 1 |" in table


def test_main_writes_json_and_rejects_a_non_run(
    survey: ModuleType, run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "survey.json"
    assert survey.main([str(run), "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["totals"] == {"stub": {"fits": 6, "clean": 3, "healthy": 5}}
    advi = next(c for c in doc["cells"] if c["cell"] == "advi")
    assert advi["sampled"] is False and advi["max_rhat"] is None
    table = capsys.readouterr().out
    assert "| stub | div | " in table and "3/6 (50%)" in table and "not sampled" in table
    assert survey.main([str(tmp_path / "nothing"), "--no-json"]) == 2
    assert "not a run directory" in capsys.readouterr().err
