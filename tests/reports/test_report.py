"""The report and the command line: files written, warnings on top, the gate's exit codes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mmm_workbench.recover.cli import main
from mmm_workbench.reports.report import build_report


def test_report_writes_page_summary_tables_and_figures(small_run: Path) -> None:
    paths = build_report(small_run)
    assert paths.html == small_run / "report" / "index.html"
    page = paths.html.read_text()
    assert page.count("<img ") == len(paths.figures) >= 5
    assert "data:image/png;base64," in page and "http" not in page.split("<body>")[1].split(
        "render-check"
    )[0].replace("https://", "")
    summary = json.loads(paths.summary.read_text())
    assert {"aggregates", "fits", "cells"} <= set(summary)
    for name in ("estimands", "fits", "aggregates"):
        assert paths.tables[name].stat().st_size > 0


def test_failed_and_corrupt_fits_are_announced(small_run: Path) -> None:
    fail = small_run / "failures" / "a" / "6.json"
    fail.parent.mkdir(parents=True)
    fail.write_text(json.dumps({"status": "failed", "error": "RuntimeError: boom"}))
    (small_run / "fits" / "b" / "2.arrow").write_bytes(b"not an Arrow file")
    paths = build_report(small_run)
    page = paths.html.read_text()
    assert "1 of" in page and "RuntimeError: boom" in page
    assert "could not be read and were skipped" in page
    assert page.index("class='error'") < page.index("<h2>")


def test_cli_report_and_check(
    small_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(small_run), "--out", str(tmp_path / "rep")]) == 0
    assert (tmp_path / "rep" / "index.html").exists()
    rules = tmp_path / "rules.toml"
    rules.write_text(
        '[[rule]]\nmetric = "coverage_90"\nestimand = "*"\nmin = 0.99\njudge = "point"\n'
    )
    loose = tmp_path / "loose.toml"
    loose.write_text('[[rule]]\nmetric = "coverage_90"\nestimand = "*"\nmin = 0.0\n')
    capsys.readouterr()
    assert main(["check", str(small_run), "--rules", str(rules)]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert re.search(r"failed: \d+ of \d+ checks", out) and "0.99" in out
    assert main(["check", str(small_run), "--rules", str(loose)]) == 0


def test_cli_rejects_a_directory_that_is_not_a_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(tmp_path)]) == 2
    assert "error" in capsys.readouterr().err
