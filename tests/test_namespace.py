"""The distribution claims one import name, ``mmm_workbench``: a user's own modules named
like the layers (``reports.py``, ``simulate.py``, ...) in the working directory must not
shadow the workbench."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

LAYERS = ("scenarios", "simulate", "reports", "recover")


def _plant_shadows(folder: Path) -> None:
    for name in LAYERS:
        (folder / f"{name}.py").write_text(f"raise ImportError('the user\\'s own {name}.py')\n")


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    code = "import sys; from mmm_workbench.recover.cli import main; sys.exit(main())"
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, check=False
    )


def test_stray_layer_modules_in_the_working_directory_do_not_break_the_cli(tmp_path: Path) -> None:
    _plant_shadows(tmp_path)
    out = tmp_path / "data"
    proc = _cli(tmp_path, "simulate", "quickstart", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert (out / "data.csv").is_file()


def test_the_planted_shadows_would_break_a_bare_import(tmp_path: Path) -> None:
    """The broken case: the planted modules do shadow a bare ``import reports``."""
    _plant_shadows(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-c", "import reports"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode != 0
    assert "the user's own reports.py" in proc.stderr


def test_the_distribution_installs_no_generic_top_level_names() -> None:
    from importlib import metadata

    claimed = {
        module
        for module, dists in metadata.packages_distributions().items()
        if "mmm-workbench" in dists
    }
    assert claimed == {"mmm_workbench"}, claimed


def test_each_layer_folder_is_linked_under_the_package() -> None:
    for name in LAYERS:
        link = ROOT / "mmm_workbench" / name
        assert link.is_symlink() and link.resolve() == (ROOT / name).resolve(), link
