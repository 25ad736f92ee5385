"""The HTML report of a tiny real run renders in headless Chromium with every figure
(slow suite: a real nutpie fit, and Debian's chromium, which `nox -s slow` installs)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from mmm_workbench.recover.runner import RunOptions, run_grid
from mmm_workbench.reports.report import build_report
from tests.recover.conftest import SMALL

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def test_report_renders_every_figure_in_chromium(tmp_path: Path) -> None:
    text = SMALL.replace(
        'backend = "map"', 'backend = "nutpie"\ndraws = 200\ntune = 200\nchains = 2'
    )
    summary = run_grid(text, tmp_path / "run", RunOptions(replicates=4))
    assert summary.failed == 0
    paths = build_report(tmp_path / "run")
    assert len(paths.figures) == 8, sorted(paths.figures)
    profile = tmp_path / "profile"
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
            f"--user-data-dir={profile}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            paths.html.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    match = re.search(r"(\d+) of (\d+) figures rendered", done.stdout)
    assert match is not None, done.stdout[-2000:]
    shown, total = int(match.group(1)), int(match.group(2))
    assert shown == total == len(paths.figures)
    for name in paths.figures:
        assert f"{name}" in paths.figures[name].stem
