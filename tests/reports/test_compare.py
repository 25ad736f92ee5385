"""Runs side by side (``mmm-workbench report RUN_A RUN_B``): aligned by cell label, a cell
missing from one run shown as such, a changed run flagged, an identical one not, and bad
input refused with one line and exit status 2."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from reports_stubs import healthy, record_tree, stub_values

from mmm_workbench.recover.cli import main
from mmm_workbench.recover.store import RunStore
from mmm_workbench.reports.compare import (
    NEWLY_FAILING,
    NEWLY_PASSING,
    CompareError,
    build_comparison,
    check_changes,
    metric_changes,
)


def write_labelled_run(
    root: Path,
    cells: Mapping[str, tuple[str, str]],
    *,
    replicates: int = 40,
    draws: int = 50,
    seed: int = 7,
) -> Path:
    """A stub run whose cells are ``id -> (label, stub kind)``: the label is what aligns."""
    store = RunStore(root)
    manifest = {
        "scenario": "stub",
        "seed": seed,
        "replicates": replicates,
        "cells": {c: {"label": label, "overrides": []} for c, (label, _) in cells.items()},
    }
    store.initialize('name = "stub"\n', json.dumps(sorted(cells)), manifest)
    for cell, (label, kind) in cells.items():
        rng = np.random.default_rng([seed, sum(map(ord, label))])  # the same data per label
        for rep in range(replicates):
            values = stub_values(kind, rng, draws)
            store.write_record(cell, rep, record_tree(cell, label, rep, values, healthy(rep)))
    return root


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``before``: two calibrated cells; ``after``: the same labels under new ids (a changed
    scenario), cell "proxy" made biased, plus a cell of its own; ``same``: a copy of before."""
    base = tmp_path_factory.mktemp("compare")
    before = write_labelled_run(
        base / "before", {"a1": ("truth", "calibrated"), "b1": ("proxy", "calibrated")}
    )
    after = write_labelled_run(
        base / "after",
        {
            "a2": ("truth", "calibrated"),
            "b2": ("proxy", "biased"),
            "c2": ("new cell", "calibrated"),
        },
    )
    same = Path(shutil.copytree(before, base / "same"))
    return {"before": before, "after": after, "same": same, "base": base}


def test_runs_align_by_cell_label_and_a_changed_cell_is_flagged(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    paths = build_comparison([runs["before"], runs["after"]], tmp_path / "cmp")
    c = paths.comparison
    assert c.runs == ["before", "after"]
    cells = c.cells.set_index("cell")
    assert list(cells.index) == ["truth", "proxy", "new cell"]  # ids differ: labels align
    assert cells.loc["new cell", "before"] == "not in this run"
    assert cells.loc["new cell", "before passed"] is None
    assert "not in before" in cells.loc["new cell", "what changed"]
    assert bool(cells.loc["proxy", "changed"]) and not bool(cells.loc["truth", "changed"])
    assert c.changed == ["proxy", "new cell"]
    # the biased cell: checks newly failing, and its bias moved beyond the MC error
    proxy = c.checks[c.checks["cell"] == "proxy"]
    assert (proxy["change"] == NEWLY_FAILING).sum() > 0
    assert set(c.checks["cell"]) <= {"truth", "proxy"}  # one-run cells have no check diff
    moved = c.metrics[c.metrics["after: exceeds"]]
    assert set(moved["cell"]) == {"proxy"}
    assert set(moved["metric"]) >= {"bias"}
    assert (moved.loc[moved["metric"] == "bias", "after: difference"] > 0).all()
    # the verdict's change is said when the rules turned it (they are the default rules,
    # which others tune; the biased cell fails them, the calibrated one need not pass all)
    assert str(cells.loc["proxy", "after passed"]) == "False"
    turned = "not trustworthy (was trustworthy)" in cells.loc["proxy", "what changed"]
    assert turned == bool(cells.loc["proxy", "before passed"])
    page = paths.html.read_text()
    assert page.index("id='verdict'") < page.index("What changed: checks")
    assert "2 of 3 cells changed" in page and "not in this run" in page
    assert len(paths.figures) == 1 and page.count("<img ") == 1
    summary = json.loads(paths.summary.read_text())
    assert summary["headline"] == c.headline()
    assert {r["cell"] for r in summary["moved"]} == {"proxy"}
    metrics = pd.read_csv(paths.tables["metrics"])
    assert len(metrics) == len(c.metrics)


def test_an_identical_run_is_not_flagged(runs: dict[str, Path], tmp_path: Path) -> None:
    c = build_comparison([runs["before"], runs["same"]], tmp_path / "cmp").comparison
    assert c.changed == []
    assert c.checks.empty
    assert not c.metrics["same: exceeds"].any()
    assert (c.metrics["same: difference"].dropna() == 0).all()
    assert c.headline().startswith("compared with before: 0 of 2 cells changed")


def test_check_changes_say_which_way() -> None:
    def checks(outcomes: list[str]) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "cell": ["x"] * len(outcomes),
                "rule": [f"r{i}" for i in range(len(outcomes))],
                "estimand": "roas",
                "coords": "channel=tv",
                "metric": "bias",
                "outcome": outcomes,
                "value": 0.0,
                "subset": "all",
            }
        )

    before = checks(["pass", "fail", "pass", "fail", "not applicable"])
    after = checks(["fail", "pass", "pass", "not applicable", "pass"])
    out = check_changes(before, after, ["x"]).set_index("rule")["change"]
    assert out.to_dict() == {
        "r0": NEWLY_FAILING,
        "r1": NEWLY_PASSING,
        "r3": "no longer judged",
        "r4": "newly judged",
    }


def test_a_difference_within_the_combined_mc_error_is_not_flagged() -> None:
    def agg(value: float, half: float) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "cell": ["x"],
                "estimand": ["roas"],
                "coords": ["channel=tv"],
                "metric": ["bias"],
                "value": [value],
                "lower": [value - half],
                "upper": [value + half],
                "mcse": [half / 1.96],
                "pooled": [False],
            }
        )

    # each run's se is 1/1.96: combined 1.414/1.96, so a difference above 1.414 is beyond it
    within = metric_changes([("a", agg(0.0, 1.0)), ("b", agg(1.3, 1.0))], ["x"])
    beyond = metric_changes([("a", agg(0.0, 1.0)), ("b", agg(1.5, 1.0))], ["x"])
    assert not bool(within["b: exceeds"].iloc[0]) and bool(beyond["b: exceeds"].iloc[0])
    # the budget decision's regret is compared too; other estimands are not
    regret = agg(0.02, 0.01).assign(estimand="regret_share", coords="")
    other = agg(0.0, 0.01).assign(estimand="sigma", coords="")
    worse = regret.assign(value=0.2, lower=0.19, upper=0.21)
    both = metric_changes(
        [("a", pd.concat([regret, other])), ("b", pd.concat([worse, other]))], ["x"]
    )
    assert list(both["estimand"]) == ["regret_share"] and bool(both["b: exceeds"].iloc[0])


def test_cli_compares_runs_and_one_run_keeps_its_report(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], one_figure: None
) -> None:
    out = tmp_path / "cmp"
    assert main(["report", str(runs["before"]), str(runs["after"]), "--out", str(out)]) == 0
    assert (out / "index.html").is_file() and (out / "compare.json").is_file()
    assert "comparison:" in capsys.readouterr().out
    single = tmp_path / "single"
    assert main(["report", str(runs["before"]), "--out", str(single)]) == 0
    assert (single / "index.html").is_file() and (single / "summary.json").is_file()


def test_cli_default_output_lies_beside_the_first_run(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    a = Path(shutil.copytree(runs["before"], tmp_path / "a"))
    b = Path(shutil.copytree(runs["same"], tmp_path / "b"))
    assert main(["report", str(a), str(b)]) == 0
    assert (tmp_path / "compare-a-b" / "index.html").is_file()
    assert not (a / "report").exists() and not (b / "report").exists()


@pytest.mark.parametrize("case", ["not a run", "twice", "out inside", "out is a run"])
def test_cli_bad_comparison_is_one_line_and_exit_2(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    before, after = str(runs["before"]), str(runs["after"])
    argv = {
        "not a run": ["report", before, str(tmp_path), "--out", str(tmp_path / "o")],
        "twice": ["report", before, f"{before}/../{runs['before'].name}"],
        "out inside": ["report", before, after, "--out", f"{after}/cmp"],
        "out is a run": ["report", before, after, "--out", before],
    }[case]
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err
    assert "Traceback" not in err
    assert not (tmp_path / "o").exists() and not (runs["after"] / "cmp").exists()


def test_compare_error_is_a_value_error() -> None:
    with pytest.raises(CompareError, match="two or more runs"):
        build_comparison(["only-one"])
