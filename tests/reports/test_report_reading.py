"""What a first-time reader sees: one line per warning however many cells share it, the
headline table with the cells side by side and proportions with their Jeffreys intervals,
and the rules named as ``check`` names them."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from verdict_stubs import Cell, write_run

from mmm_workbench.reports.tables import RunScores, score_run
from mmm_workbench.reports.verdict import Verdict, evaluate, score_options

CELLS = {"ols": Cell(), "nnls": Cell(), "workbench": Cell()}
"""Three calibrated cells of 10 replicates: coverage_50 <= 0.7 cannot fail in any."""


@pytest.fixture(scope="module")
def scores(tmp_path_factory: pytest.TempPathFactory) -> RunScores:
    root = write_run(tmp_path_factory.mktemp("three") / "run", CELLS, replicates=10, draws=100)
    return score_run(root, **score_options())


@pytest.fixture(scope="module")
def verdict(scores: RunScores) -> Verdict:
    return evaluate(scores)


def test_a_warning_shared_by_three_cells_is_one_line(verdict: Verdict) -> None:
    note = (
        "PIT at a fixed truth; rank statistics are not SBC (truth not drawn per replicate) "
        "and calibration rules judge data-dominated quantities only"
    )
    shared = dataclasses.replace(
        verdict, warnings=tuple(f"{c}: {note}" for c in ("ols", "nnls", "workbench"))
    )
    assert shared.grouped_warnings() == [f"all 3 cells: {note}"]
    two = dataclasses.replace(verdict, warnings=tuple(f"{c}: {note}" for c in ("ols", "nnls")))
    assert two.grouped_warnings() == [f"cells ols and nnls: {note}"]
    pair = dataclasses.replace(
        two,
        fits=verdict.fits[verdict.fits["cell_label"].isin(["ols", "nnls"])],
        calibration=verdict.calibration[verdict.calibration["cell_label"].isin(["ols", "nnls"])],
    )
    assert pair.grouped_warnings() == [f"both cells: {note}"]  # a run of two cells
    # the calibration design every cell shares (these stubs draw their truth: SBC) is one
    # short line too, and a design of some of the cells names them
    assert "SBC: all 3 cells" in verdict.lines()
    assert "SBC: both cells" in pair.lines()
    mixed = verdict.calibration.copy()
    mixed.loc[mixed["cell_label"] == "workbench", "label"] = "PIT at a fixed truth"
    some = dataclasses.replace(verdict, calibration=mixed).lines()
    assert "PIT at a fixed truth: workbench" in some
    assert {"SBC: nnls, ols", "SBC: ols, nnls"} & set(some), some
    lines = [line for line in verdict.lines() if line.startswith("warning:")]
    assert lines and len(lines) < len(verdict.warnings)  # the real run: grouped
    for line in lines:  # no line names a single cell when all three share its note
        assert not re.search(r", cell (ols|nnls|workbench): ", line)


def test_the_power_warning_says_what_cannot_fail(verdict: Verdict) -> None:
    power = [line for line in verdict.lines() if "cannot fail with 10 replicates" in line]
    assert power, verdict.lines()
    assert any(
        "coverage_50 >= 0.4 and <= 0.7 cannot fail with 10 replicates: even 0 of 10 covered is "
        "not shown below 0.4, nor 10 of 10 above 0.7, at this rule's level" in line
        for line in power
    )
    assert all(", all 3 cells: " in line for line in power)


def test_different_notes_stay_apart(verdict: Verdict) -> None:
    """Only identical notes are grouped: a cell with another note keeps its own line."""
    rule = verdict.rules.rules[0].label
    warnings = (
        f"rule {rule}, cell ols: 20 replicates: x",
        f"rule {rule}, cell nnls: 19 replicates: x",
        f"rule {rule}, cell workbench: 20 replicates: x",
        "workbench: something else",
        "a warning of no cell",
    )
    grouped = dataclasses.replace(verdict, warnings=warnings).grouped_warnings()
    assert grouped == [
        f"rule {rule}, cells ols and workbench: 20 replicates: x",
        f"rule {rule}, cell nnls: 19 replicates: x",
        "cell workbench: something else",
        "a warning of no cell",
    ]


def test_check_text_groups_the_warnings(
    scores: RunScores, capsys: pytest.CaptureFixture[str]
) -> None:
    from mmm_workbench.recover.cli import main

    main(["check", str(scores.run.root)])
    out = capsys.readouterr().out
    assert out.count("coverage_50 >= 0.4 and <= 0.7 cannot fail with 10 replicates") == 1
    assert "default rules" in out and str(Path.cwd()) not in out


def test_the_headline_table_has_the_cells_in_columns(scores: RunScores) -> None:
    from mmm_workbench.reports.metrics import jeffreys_interval
    from mmm_workbench.reports.report import _headline
    from mmm_workbench.reports.tables import aggregate_table

    agg = aggregate_table(scores)
    table = _headline(agg, ("contribution_share", "roas", "mroas"), ["ols", "nnls", "workbench"])
    assert list(table.columns) == ["estimand", "channel", "ols", "nnls", "workbench"]
    assert list(table["estimand"].unique()) == ["contribution_share", "roas"]
    assert set(table["channel"]) == {"tv", "search"}
    row = agg[
        (agg["cell"] == "nnls")
        & (agg["estimand"] == "roas")
        & (agg["coords"] == "channel=tv")
        & ~agg["pooled"].astype(bool)
    ].set_index("metric")
    entry = table[(table["estimand"] == "roas") & (table["channel"] == "tv")]["nnls"].iloc[0]
    n = int(row.loc["coverage_90", "n"])
    covered = round(float(row.loc["coverage_90", "value"]) * n)
    lo, hi = jeffreys_interval(covered, n, 0.95)
    assert f"coverage 90: {covered} of {n}, {covered / n:.2f} [{lo:.2f}, {hi:.2f}]" in entry
    bias = 100 * float(row.loc["relative_bias", "value"])
    assert entry.startswith(f"bias {bias:+.1f}%" if abs(bias) < 10 else f"bias {bias:+.0f}%")
    every = " ".join(table[["ols", "nnls", "workbench"]].to_numpy().ravel())
    assert "±" not in every and every.count("coverage 90:") == 3 * len(table)


def test_a_coverage_of_one_is_shown_with_its_jeffreys_interval(scores: RunScores) -> None:
    """Five of five covered is "5 of 5, 1.00 [0.62, 1.00]", never "1 ± 0"."""
    from mmm_workbench.reports.report import _headline
    from mmm_workbench.reports.tables import aggregate_table

    agg = aggregate_table(scores).copy()
    cover = (agg["metric"] == "coverage_90") & (agg["cell"] == "ols")
    agg.loc[cover, ["value", "mcse", "lower", "upper", "n"]] = [1.0, 0.0, 0.6220, 1.0, 5]
    table = _headline(agg, ("roas",))
    assert all("coverage 90: 5 of 5, 1.00 [0.62, 1.00]" in e for e in table["ols"])
    assert not any("5 of 5" in e for e in table["nnls"])


def test_the_rules_level_is_never_rounded_to_100_percent(verdict: Verdict) -> None:
    power = [line for line in verdict.lines() if "cannot fail with 10 replicates" in line]
    levels = [re.search(r"at this rule's level \(([\d.]+)%\)", line) for line in power]
    assert levels and all(m is not None and float(m.group(1)) < 100 for m in levels)


def test_the_readme_shows_the_reports_first_screen() -> None:
    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text()
    images = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", readme)
    assert "docs/report-first-screen.png" in images
    picture = root / "docs" / "report-first-screen.png"
    data = picture.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) < 300_000


def test_the_headline_table_is_words_one_measure_a_line(scores: RunScores) -> None:
    """Left-aligned, one measure a line on the page; a numeric table stays as it was."""
    import pandas as pd

    from mmm_workbench.reports.html import Section, render_report
    from mmm_workbench.reports.report import _headline
    from mmm_workbench.reports.tables import aggregate_table

    table = _headline(aggregate_table(scores), ("roas",))
    assert all(";\ncoverage 90: " in e for e in table["ols"])
    table = table.rename(columns={"ols": "<ols & co>"})
    table.attrs = {"text_table": True}
    page = render_report(
        title="t",
        description="",
        metadata={},
        errors=[],
        sections=[Section(title="s", tables=[(table, "h"), (pd.DataFrame({"x": [1.0]}), "n")])],
    )
    assert page.count('class="dataframe text"') == 1 and "table.text td" in page
    assert page.count(";<br>coverage 90: ") == 3 * len(table) and "\\n" not in page
    assert "&lt;ols &amp; co&gt;" in page and "<ols" not in page  # escaped all the same
