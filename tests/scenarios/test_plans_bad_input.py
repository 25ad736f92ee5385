"""Bad media plans (issue 12): each is one line naming the path, before anything is fitted.

What the loader can see (both plans given, a missing file, a key of another form) is a
:class:`ScenarioError` at load; what needs the file's content (columns, length, dates,
values) is raised by ``check_data``, which runs once per ``[data]`` before any fitting; from
the command line both exit 2 and leave no run directory.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mmm_workbench.recover.cli import main
from mmm_workbench.scenarios import ScenarioError, parse_scenario
from mmm_workbench.simulate import check_data
from tests.conftest import tiny_raw

PERIODS = 40


def _write(folder: Path, name: str = "plan.csv", rows: int = PERIODS, **columns: Any) -> None:
    dates = pd.date_range("2021-01-01", periods=rows, freq="7D")
    frame = pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), **columns})
    frame.to_csv(folder / name, index=False)


def _raw(spend: dict[str, Any]) -> dict[str, Any]:
    raw = tiny_raw()
    raw["data"]["channels"][0]["spend"] = spend
    return raw


def _load_error(raw: dict[str, Any], base: Path, pattern: str) -> None:
    with pytest.raises(ScenarioError) as err:
        parse_scenario(raw, base=base)
    text = str(err.value)
    assert "\n" not in text and re.search(pattern, text), text


def _check_error(raw: dict[str, Any], base: Path, pattern: str) -> None:
    data = parse_scenario(raw, base=base).data
    with pytest.raises(ValueError) as err:
        check_data(data)
    text = str(err.value)
    assert "\n" not in text and re.search(pattern, text), text


# --------------------------------------------------------------------------- at load

LOAD_CASES = [
    (
        {"file": "plan.csv", "column": "tv", "demand_share": 1.0},
        r"^data\.channels\[0\]\.spend\.file: give one of demand_share, pattern or file "
        r"\(demand_share is given too\)",
    ),
    (
        {"pattern": "uniform", "file": "plan.csv", "column": "tv"},
        r"^data\.channels\[0\]\.spend\.file: give one of",
    ),
    (
        {"file": "plan.csv", "column": "tv", "noise_sd": 0.2},
        r"^data\.channels\[0\]\.spend\.noise_sd: belongs to the demand-driven plan",
    ),
    (
        {"pattern": "threshold", "flighting": {"on_mean": 2, "off_mean": 2}},
        r"^data\.channels\[0\]\.spend\.flighting: belongs to the demand-driven plan",
    ),
    (
        {"file": "nope.csv", "column": "tv"},
        r"^data\.channels\[0\]\.spend\.file = 'nope\.csv': no such file",
    ),
    (
        {"file": "plan.txt", "column": "tv"},
        r"^data\.channels\[0\]\.spend\.file = 'plan\.txt': must be a \.csv or \.parquet file",
    ),
    ({"file": "plan.csv"}, r"^data\.channels\[0\]\.spend\.column: missing required key"),
    (
        {"file": "plan.csv", "column": "tv", "scale": 0},
        r"^data\.channels\[0\]\.spend\.scale = 0: must be in",
    ),
    (
        {"file": "plan.csv", "column": "tv", "vary": {"kind": "shuffle"}},
        r"^data\.channels\[0\]\.spend\.vary\.kind = 'shuffle': must be one of block_bootstrap, noise",
    ),
    (
        {"file": "plan.csv", "column": "tv", "vary": {"kind": "noise", "block": 4}},
        r"^data\.channels\[0\]\.spend\.vary\.block = 4: unknown key",
    ),
    (
        {"pattern": "uniform", "vary": {"kind": "noise"}},
        r"^data\.channels\[0\]\.spend\.vary: varies a plan from a file only",
    ),
    (
        {"pattern": "sine"},
        r"^data\.channels\[0\]\.spend\.pattern = 'sine': must be one of uniform, threshold",
    ),
    (
        {"pattern": "threshold", "q": 1.0},
        r"^data\.channels\[0\]\.spend\.q = 1(\.0)?: must be in \[0, 1\)",
    ),
    ({"pattern": "uniform", "level": 3}, r"^data\.channels\[0\]\.spend\.level = 3: unknown key"),
    ({}, r"^data\.channels\[0\]\.spend: give demand_share, pattern or file"),
]


@pytest.mark.parametrize(("spend", "pattern"), LOAD_CASES, ids=[p for _, p in LOAD_CASES])
def test_load_errors(tmp_path: Path, spend: dict[str, Any], pattern: str) -> None:
    _write(tmp_path, tv=np.ones(PERIODS))
    (tmp_path / "plan.txt").write_text("tv\n1\n")
    _load_error(_raw(spend), tmp_path, pattern)


# --------------------------------------------------------------------------- check_data


def test_a_missing_column_lists_the_columns(tmp_path: Path) -> None:
    _write(tmp_path, tv=np.ones(PERIODS), search=np.ones(PERIODS))
    _check_error(
        _raw({"file": "plan.csv", "column": "tvv"}),
        tmp_path,
        r"^data\.channels\[0\]\.spend\.column = 'tvv': no such column in plan\.csv; "
        r"columns: date, tv, search$",
    )
    _check_error(
        _raw({"file": "plan.csv", "column": "tv", "date_column": "day"}),
        tmp_path,
        r"^data\.channels\[0\]\.spend\.date_column = 'day': no such column in plan\.csv",
    )


@pytest.mark.parametrize("rows", [PERIODS - 1, PERIODS + 3])
def test_a_plan_of_the_wrong_length(tmp_path: Path, rows: int) -> None:
    _write(tmp_path, rows=rows, tv=np.ones(rows))
    _check_error(
        _raw({"file": "plan.csv", "column": "tv"}),
        tmp_path,
        rf"^data\.channels\[0\]\.spend\.file = 'plan\.csv': {rows} rows, the data has "
        rf"{PERIODS} periods",
    )
    _check_error(
        _raw({"file": "plan.csv", "column": "tv", "date_column": "date"}),
        tmp_path,
        rf"date_column = 'date': plan\.csv has {rows} dates, the data has {PERIODS} periods",
    )


def test_unaligned_dates_name_the_first_mismatch(tmp_path: Path) -> None:
    dates = pd.date_range("2021-01-01", periods=PERIODS, freq="7D").strftime("%Y-%m-%d")
    moved = list(dates)
    moved[5] = "2021-02-06"
    pd.DataFrame({"date": moved, "tv": 1.0}).to_csv(tmp_path / "plan.csv", index=False)
    _check_error(
        _raw({"file": "plan.csv", "column": "tv", "date_column": "date"}),
        tmp_path,
        r"^data\.channels\[0\]\.spend\.date_column = 'date': dates of plan\.csv are not the "
        r"data's calendar \(start 2021-01-01, freq W, 40 periods\): row 6 is 2021-02-06, the "
        r"calendar has 2021-02-05$",
    )
    daily = pd.date_range("2021-01-01", periods=PERIODS, freq="D").strftime("%Y-%m-%d")
    pd.DataFrame({"date": daily, "tv": 1.0}).to_csv(tmp_path / "plan.csv", index=False)
    _check_error(
        _raw({"file": "plan.csv", "column": "tv", "date_column": "date"}),
        tmp_path,
        r"row 2 is 2021-01-02, the calendar has 2021-01-08",
    )
    pd.DataFrame({"date": ["soon"] * PERIODS, "tv": 1.0}).to_csv(tmp_path / "plan.csv", index=False)
    _check_error(
        _raw({"file": "plan.csv", "column": "tv", "date_column": "date"}),
        tmp_path,
        r"date_column = 'date': row 1 of plan\.csv is 'soon', not a date",
    )


def test_negative_missing_and_non_numeric_spend(tmp_path: Path) -> None:
    values: list[object] = [1.0] * PERIODS
    values[3] = -2.0
    _write(tmp_path, tv=values)
    spend = {"file": "plan.csv", "column": "tv", "date_column": "date"}
    _check_error(
        _raw(spend),
        tmp_path,
        r"^data\.channels\[0\]\.spend\.column = 'tv': row 4 \(2021-01-22\) of plan\.csv is -2; "
        r"spend cannot be negative$",
    )
    _write(tmp_path, tv=np.ones(PERIODS))
    _check_error(
        _raw({"file": "plan.csv", "column": "tv", "shift": -1.5}),
        tmp_path,
        r"row 1 of plan\.csv is -0\.5 after scale and shift; spend cannot be negative",
    )
    values[3] = None
    _write(tmp_path, tv=values)
    _check_error(
        _raw(spend),
        tmp_path,
        r"'tv': row 4 \(2021-01-22\) of plan\.csv is missing \(1 missing in all\)",
    )
    values[3] = "n/a?"
    _write(tmp_path, tv=values)
    _check_error(
        _raw(spend), tmp_path, r"'tv': row 4 \(2021-01-22\) of plan\.csv is 'n/a\?', not a number"
    )


def test_no_training_spend(tmp_path: Path) -> None:
    values = np.zeros(PERIODS)
    values[-2:] = 5.0  # spend only in the holdout (train_periods = 36)
    _write(tmp_path, tv=values)
    _check_error(
        _raw({"file": "plan.csv", "column": "tv"}),
        tmp_path,
        r"^data\.channels\[0\]\.spend\.column = 'tv': no spend in the 36 training periods",
    )


def test_an_unreadable_file(tmp_path: Path) -> None:
    (tmp_path / "plan.parquet").write_bytes(b"not parquet at all")
    _check_error(
        _raw({"file": "plan.parquet", "column": "tv"}),
        tmp_path,
        r"^data\.channels\[0\]\.spend\.file = 'plan\.parquet': cannot read it as parquet",
    )


def test_a_plan_that_changes_after_loading_is_refused(tmp_path: Path) -> None:
    _write(tmp_path, tv=np.ones(PERIODS))
    data = parse_scenario(_raw({"file": "plan.csv", "column": "tv"}), base=tmp_path).data
    _write(tmp_path, tv=np.full(PERIODS, 2.0))
    with pytest.raises(ValueError, match=r"spend\.file = 'plan\.csv': the file changed"):
        check_data(data)


# --------------------------------------------------------------------------- command line

SCENARIO = """
name = "bad-plan"
[data]
periods = 40
start = "2021-01-01"
train_periods = 36
intercept = 10.0
demand = {{ effect = 0.0 }}
noise = {{ sd = 1.0 }}
[[data.channels]]
name = "tv"
spend = {spend}
adstock = {{ kind = "geometric", alpha = 0.5, l_max = 4 }}
saturation = {{ kind = "logistic", lam = 1.0 }}
beta = 5.0
[model]
adstock = {{ kind = "geometric", l_max = 4 }}
saturation = {{ kind = "logistic" }}
"""


@pytest.mark.parametrize(
    ("spend", "message"),
    [
        ('{ file = "plan.csv", column = "tvv" }', "spend.column = 'tvv': no such column"),
        ('{ file = "gone.csv", column = "tv" }', "spend.file = 'gone.csv': no such file"),
    ],
)
def test_cli_exits_2_and_leaves_no_run_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], spend: str, message: str
) -> None:
    _write(tmp_path, tv=np.ones(PERIODS))
    scenario = tmp_path / "bad.toml"
    scenario.write_text(SCENARIO.format(spend=spend))
    out = tmp_path / "run"
    assert main(["run", str(scenario), "--out", str(out), "--replicates", "1"]) == 2
    assert not out.exists()
    err = capsys.readouterr().err
    assert message in " ".join(err.split()) and err.count("\n") == 1, err
    assert main(["simulate", str(scenario), "--out", str(tmp_path / "sim")]) == 2
    assert not (tmp_path / "sim").exists()
