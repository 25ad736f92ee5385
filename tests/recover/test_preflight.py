"""The simulator's own checks (``simulate.check_data``) run before anything is fitted or
written: a degenerate adstock kernel in one grid cell is bad input (exit 2, one line naming
the path), not a failure record per replicate."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mmm_workbench.recover.cli import main
from tests.recover.conftest import SMALL

# delayed adstock with theta far beyond l_max: every kernel weight is ~0 once normalized
DEGENERATE = SMALL.replace(
    '"data.proxy.noise_sd" = [0.0, 0.2]',
    '"data.channels.search.adstock" = [{ kind = "geometric", alpha = 0.2, l_max = 3 }, '
    '{ kind = "delayed", alpha = 0.01, theta = 30.0, l_max = 2 }]',
)


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    code = "import sys; from mmm_workbench.recover.cli import main; sys.exit(main())"
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, check=False
    )


def test_run_refuses_a_degenerate_kernel_before_creating_the_run(tmp_path: Path) -> None:
    scenario = tmp_path / "bad.toml"
    scenario.write_text(DEGENERATE)
    out = tmp_path / "runs" / "bad"
    proc = _cli("run", str(scenario), "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    message = (proc.stderr + proc.stdout).strip()
    assert "data.channels[1].adstock: delayed adstock" in message, message
    assert "Traceback" not in message
    assert not out.exists()


def test_simulate_refuses_the_degenerate_cell_and_accepts_the_good_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """In this process (the refusal above goes through a real ``python`` process; this
    one is about which cell is refused, not about the process boundary)."""
    monkeypatch.chdir(tmp_path)
    scenario = tmp_path / "bad.toml"
    scenario.write_text(DEGENERATE)
    assert main(["simulate", str(scenario), "--cell", "1", "--out", str(tmp_path / "d1")]) == 2
    captured = capsys.readouterr()
    assert "data.channels[1].adstock" in captured.err + captured.out
    assert len(captured.err.strip().splitlines()) == 1, captured.err
    assert not (tmp_path / "d1").exists()
    assert main(["simulate", str(scenario), "--cell", "0", "--out", str(tmp_path / "d0")]) == 0
    assert (tmp_path / "d0" / "data.csv").is_file()
