"""``mmm-workbench simulate``: files, summary, and clean failures on bad input."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from mmm_workbench.recover.cli import main
from tests.conftest import CONFOUNDED


def test_simulate_writes_files_and_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", str(CONFOUNDED), "--out", str(tmp_path), "--replicate", "2"]) == 0
    out = capsys.readouterr().out
    for word in (
        "confounded-demand",
        "replicate 2",
        "tv",
        "social",
        "search",
        "true share",
        "ROAS",
    ):
        assert word in out
    assert {p.name for p in tmp_path.iterdir()} == {"data.csv", "dataset.nc", "lift_tests.csv"}


def test_replicates_differ(tmp_path: Path) -> None:
    main(["simulate", "confounded-demand", "--out", str(tmp_path / "a")])
    main(["simulate", "confounded-demand", "--out", str(tmp_path / "b"), "--replicate", "1"])
    main(["simulate", "confounded-demand", "--out", str(tmp_path / "c")])
    a, b, c = ((tmp_path / d / "data.csv").read_text() for d in "abc")
    assert a == c and a != b


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('name = "x"\n[data\n', "malformed TOML"),
        (
            CONFOUNDED.read_text().replace("alpha = 0.25", "alpha = 1.3"),
            "data.channels[1].adstock.alpha = 1.3: must be in [0, 1)",
        ),
        (
            CONFOUNDED.read_text().replace(
                'kind = "logistic", lam = 2.5', 'kind = "logistik", lam = 2.5'
            ),
            "data.channels[1].saturation.kind = 'logistik': unknown saturation",
        ),
        (
            CONFOUNDED.read_text().replace("train_periods = 156", "train_periods = 200"),
            "data.train_periods = 200: exceeds data.periods = 156",
        ),
        (  # fmt_value prints 156.0 as 156: the message says what TOML read
            CONFOUNDED.read_text().replace("periods = 156", "periods = 156.0", 1),
            "data.periods = 156: must be an integer, not the decimal number 156.0",
        ),
    ],
)
def test_bad_scenario_exits_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    scenario = tmp_path / "bad.toml"
    scenario.write_text(text)
    out = tmp_path / "out"
    assert main(["simulate", str(scenario), "--out", str(out)]) == 2
    assert message in " ".join(capsys.readouterr().err.split())
    assert not out.exists()


@pytest.mark.parametrize("command", ["simulate", "run", "new"])
def test_an_out_that_cannot_be_written_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """A file where ``--out`` wants a directory (or in its path): exit 2, one line naming
    ``--out`` and its value, before anything is fitted or written."""
    blocker = tmp_path / "a_file"
    blocker.write_text("keep me")
    out = blocker if command != "new" else blocker / "copy.toml"
    argv = {
        "simulate": ["simulate", str(CONFOUNDED), "--out", str(out)],
        "run": ["run", str(CONFOUNDED), "--out", str(out / "sub"), "--quiet"],
        "new": ["scenarios", "new", "copy", "--from", "quickstart", "--out", str(out)],
    }[command]
    assert main(argv) == 2
    err = capsys.readouterr().err
    (line,) = [x for x in err.splitlines() if x.strip()]
    shown = str(out / "sub") if command == "run" else str(out)
    reason = "a file is there" if command == "simulate" else "a file is in its path"
    assert line.startswith(f"error: --out = {shown!r}: cannot write there ({reason}")
    assert "Traceback" not in err and blocker.read_text() == "keep me"


def test_negative_replicate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "confounded-demand", "--out", str(tmp_path), "--replicate", "-1"]) == 2
    assert "--replicate = -1: must be >= 0" in capsys.readouterr().err


def test_console_script_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mmm_workbench.recover.cli", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and "simulate" in done.stdout


def test_flags_are_never_abbreviated(small: Path, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["run", str(small), "--out", str(tmp_path / "r"), "--rep", "1"])
    assert exit_.value.code == 2
    assert not (tmp_path / "r").exists()


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib import metadata

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"mmm-workbench {metadata.version('mmm-workbench')}"


def test_error_text_is_not_eaten_as_markup(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "[bold]x[/bold].toml"
    assert main(["run", str(missing)]) == 2
    assert "[bold]x[/bold].toml: no such scenario file" in capsys.readouterr().err


def test_a_directory_or_binary_file_as_the_scenario(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(tmp_path)]) == 2
    assert f"{tmp_path}: is a directory" in capsys.readouterr().err
    binary = tmp_path / "s.toml"
    binary.write_bytes(b"\xff\xfe n\x00a\x00")
    assert main(["run", str(binary)]) == 2
    err = capsys.readouterr().err
    assert f"{binary}: not UTF-8 text" in err and len(err.strip().splitlines()) == 1


def test_run_quiet_prints_only_the_totals(
    small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fast = small.read_text().replace(
        'adstock = { kind = "geometric", l_max = 3 }\nsaturation = { kind = "logistic" }',
        'kind = "ols"\nadstock = { kind = "geometric", l_max = 3, alpha = 0.35 }\n'
        'saturation = { kind = "logistic", lam = 2.0 }',
    )
    small.write_text(fast)
    out = tmp_path / "r"
    assert main(["run", str(small), "--out", str(out), "--quiet", "--replicates", "1"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == "this run: 2 fitted, 0 failed, 0 already on disk"
    assert captured.err == ""
    assert main(["run", str(small), "--out", str(out), "--replicates", "1"]) == 0
    captured = capsys.readouterr()
    assert "median s" in captured.out and "this run: 0 fitted, 0 failed, 2 already" in captured.out


def test_run_ends_with_the_verdict_per_cell(
    small: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    one_figure: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The run's last lines are ``check``'s verdict and one sentence per cell, on stdout,
    each cell named as the report's verdict names it, in both (short labels like
    ``data.proxy.noise_sd=0.2`` whole, as ``check`` names them)."""
    from mmm_workbench.reports.gate import named_rules
    from mmm_workbench.reports.report import cell_verdicts
    from mmm_workbench.reports.verdict import evaluate

    fast = small.read_text().replace(
        'adstock = { kind = "geometric", l_max = 3 }\nsaturation = { kind = "logistic" }',
        'kind = "ols"\nadstock = { kind = "geometric", l_max = 3, alpha = 0.35 }\n'
        'saturation = { kind = "logistic", lam = 2.0 }',
    )
    small.write_text(fast)
    out = tmp_path / "r"
    assert main(["run", str(small), "--out", str(out), "--replicates", "2"]) == 0
    captured = capsys.readouterr()
    verdict = named_rules(evaluate(out))
    cells = [(c.label, c.text) for c in cell_verdicts(verdict)]
    assert all(label.startswith("data.proxy.noise_sd=") for label, _ in cells)
    expected = verdict.lines() + [f"{label}: {text}" for label, text in cells]
    lines = captured.out.strip().splitlines()
    assert lines[-len(expected) :] == expected
    assert lines[-len(expected)].endswith("(default rules)")  # not a path into site-packages
    assert lines[-len(expected) - 1].startswith("this run: 4 fitted")
    assert len(cell_verdicts(verdict)) == 2
    assert all(
        re.match(r"(trustworthy|not trustworthy \(\w+(, \w+)*\)|not judged): ", c.text)
        for c in cell_verdicts(verdict)
    )
    assert "verdict" not in captured.err
    assert main(["run", str(small), "--out", str(out), "--replicates", "2", "--report"]) == 0
    reported = capsys.readouterr().out.strip().splitlines()
    assert reported[-len(expected) :] == expected
    assert "report: " in "\n".join(reported[: -len(expected)])
    # where labels are long, the closing lines name each cell by the report's short name,
    # in the verdict's lines as in its sentences (check keeps the whole labels)
    from rich.console import Console

    from mmm_workbench.recover import cli
    from mmm_workbench.reports import plotdata
    from mmm_workbench.reports.verdict import Verdict

    names = {label: f"cell-{i}" for i, (label, _) in enumerate(cells)}
    monkeypatch.setattr(plotdata, "cell_words", lambda _: names)
    asked: list[object] = []
    lines = Verdict.lines
    monkeypatch.setattr(Verdict, "lines", lambda v, n=None: asked.append(n) or lines(v, n))
    cli._print_verdict(Console(), out, None)
    named = capsys.readouterr().out.strip().splitlines()
    sentences = [f"{names[label]}: {text}" for label, text in cells]
    assert asked == [names]  # this run's lines name no single cell: both read the same
    assert named == verdict.lines(names) + sentences
