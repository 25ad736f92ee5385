"""Run files are written with the user's umask (issue 13: every file was 0600)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from mmm_workbench.reports.contract import atomic_write


def _mode_in_child(path: Path, umask: int) -> int:
    code = (
        "import os, sys; from pathlib import Path; os.umask(int(sys.argv[2], 8));"
        "from mmm_workbench.reports.contract import atomic_write;"
        "atomic_write(Path(sys.argv[1]), lambda p: p.write_text('x'))"
    )
    subprocess.run([sys.executable, "-c", code, str(path), oct(umask)[2:]], check=True)
    return stat.S_IMODE(path.stat().st_mode)


def test_atomic_write_follows_the_umask(tmp_path: Path) -> None:
    assert _mode_in_child(tmp_path / "a.json", 0o022) == 0o644
    assert _mode_in_child(tmp_path / "b.json", 0o077) == 0o600
    assert _mode_in_child(tmp_path / "c.json", 0o002) == 0o664


def test_atomic_write_replaces_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "x.txt"
    atomic_write(path, lambda p: p.write_text("one"))
    atomic_write(path, lambda p: p.write_text("two"))
    assert path.read_text() == "two"
    assert os.listdir(path.parent) == ["x.txt"]
