"""The HTML pages render in headless Chromium: the report of a tiny real run, and the
comparison of two runs (slow suite: a real nutpie fit, and Debian's chromium, which
`nox -s slow` installs). Each page must load, decode every figure, log nothing to the
console (no script error) and show its verdict first."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from test_compare import write_labelled_run

from mmm_workbench.recover.runner import RunOptions, run_grid
from mmm_workbench.reports.compare import build_comparison
from mmm_workbench.reports.report import FIGURES, build_report
from tests.recover.conftest import SMALL

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def open_in_chromium(page: Path, profile: Path) -> str:
    """Load ``page`` in headless Chromium and return its DOM after the load event.

    Fails on a non-zero exit and on any console message (an uncaught error, a failed
    resource, a log left in a script): the pages log nothing when all is well.
    """
    done = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], console
    return done.stdout


def rendered(dom: str) -> tuple[int, int]:
    """Return (figures decoded, figures on the page) from the page's foot line."""
    match = re.search(r"(\d+) of (\d+) figures rendered; page loaded in \d+ ms", dom)
    assert match is not None, dom[-2000:]
    return int(match.group(1)), int(match.group(2))


def test_report_renders_every_figure_in_chromium(tmp_path: Path) -> None:
    """Every figure of the registry is drawn and decoded. Ten replicates per cell: the rank
    histograms leave out a cell with fewer ranks than their ten bins (sbc.rank_histogram),
    so with four the page had seven figures and the test could not pass."""
    text = SMALL.replace(
        'backend = "map"', 'backend = "nutpie"\ndraws = 200\ntune = 200\nchains = 2'
    )
    summary = run_grid(text, tmp_path / "run", RunOptions(replicates=10))
    assert summary.failed == 0
    paths = build_report(tmp_path / "run")
    assert sorted(paths.figures) == sorted(f.name for f in FIGURES), sorted(paths.figures)
    dom = open_in_chromium(paths.html, tmp_path / "profile")
    shown, total = rendered(dom)
    assert shown == total == len(paths.figures)
    verdict = re.search(r"<section id=\"verdict\"[^>]*>\s*<h2>([^<]+)</h2>", dom)
    assert verdict is not None and verdict.group(1).startswith("verdict: ")
    assert dom.index('id="verdict"') < dom.index("<h2>Headline")


def test_comparison_page_renders_in_chromium(tmp_path: Path) -> None:
    before = write_labelled_run(
        tmp_path / "before", {"a": ("truth", "calibrated"), "b": ("proxy", "calibrated")},
        replicates=8, draws=40,
    )  # fmt: skip
    after = write_labelled_run(
        tmp_path / "after", {"a": ("truth", "calibrated"), "b": ("proxy", "biased")},
        replicates=8, draws=40,
    )  # fmt: skip
    paths = build_comparison([before, after], tmp_path / "cmp")
    dom = open_in_chromium(paths.html, tmp_path / "profile")
    shown, total = rendered(dom)
    assert shown == total == len(paths.figures) == 1
    verdict = re.search(r"<section id=\"verdict\"[^>]*>\s*<h2>([^<]+)</h2>", dom)
    assert verdict is not None
    assert verdict.group(1) == paths.comparison.headline()
    assert dom.index('id="verdict"') < dom.index("What changed: checks")
    assert "not in this run" not in dom  # both runs have both cells


def test_stub_report_renders_in_chromium(tmp_path: Path) -> None:
    """The same checks on a stub run's report (no sampler): every figure, the verdict first."""
    run = write_labelled_run(
        tmp_path / "run", {"a": ("truth", "calibrated"), "b": ("proxy", "biased")},
        replicates=8, draws=40,
    )  # fmt: skip
    paths = build_report(run)
    dom = open_in_chromium(paths.html, tmp_path / "profile")
    shown, total = rendered(dom)
    assert shown == total == len(paths.figures) >= 5
    verdict = re.search(r"<section id=\"verdict\"[^>]*>\s*<h2>([^<]+)</h2>", dom)
    assert verdict is not None and verdict.group(1).startswith("verdict: FAILED")
    assert dom.index('id="verdict"') < dom.index("<h2>Headline")
