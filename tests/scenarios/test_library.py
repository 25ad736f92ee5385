"""The shipped-scenario library: list, show, copy to edit."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from mmm_workbench.recover.cli import main
from mmm_workbench.scenarios import ScenarioError, read_scenario, shipped_scenarios
from mmm_workbench.scenarios.library import _summary, library, new_scenario, scenario_text


def test_every_shipped_scenario_is_listed_with_its_first_sentence() -> None:
    entries = library()
    assert [e.name for e in entries] == list(shipped_scenarios())
    for entry in entries:
        assert entry.summary, f"{entry.name} has no description"
        assert "\n" not in entry.summary
        assert len(entry.summary) <= 100


def test_summary_takes_the_first_sentence_on_one_line() -> None:
    assert _summary("Spend drives\n sales. Then more.") == "Spend drives sales."
    assert _summary("no full stop") == "no full stop"
    long = "word " * 40
    cut = _summary(long, width=30)
    assert len(cut) <= 30
    assert cut.endswith("...")


def test_show_prints_the_shipped_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenarios", "show", "quickstart"]) == 0
    out = capsys.readouterr().out
    assert out == scenario_text("quickstart")
    assert tomllib.loads(out)["name"] == "quickstart"


def test_list_names_every_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenarios"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for name in shipped_scenarios():
        assert any(line.startswith(name + " ") for line in lines)


def test_new_copies_under_a_new_name_and_validates(tmp_path: Path) -> None:
    dest = tmp_path / "mine.toml"
    assert new_scenario("mine", "quickstart", dest) == dest
    copy = read_scenario(dest)
    original = read_scenario("quickstart")
    assert copy.scenario.name == "mine"
    assert [c.cell_id for c in copy.cells] == [c.cell_id for c in original.cells]
    with pytest.raises(ScenarioError, match="exists"):
        new_scenario("mine", "quickstart", dest)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["scenarios", "new", "../up", "--from", "quickstart"], "name = '../up'"),
        (["scenarios", "new", "x", "--from", "no-such"], "no-such: no such scenario"),
        (["scenarios", "show", "no-such"], "no-such: no such scenario"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*argv, *(["--out", str(tmp_path / "x.toml")] if "new" in argv else [])]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.toml").exists()


@pytest.mark.slow
@pytest.mark.parametrize("name", shipped_scenarios())
def test_every_shipped_scenario_runs_with_two_replicates(name: str, tmp_path: Path) -> None:
    out = tmp_path / "run"
    status = main(["run", name, "--replicates", "2", "--out", str(out), "--quiet"])
    assert status in (0, 1)  # 1: the verdict may fail (many scenarios teach a failure)
    cells = read_scenario(name).cells
    records = sorted(out.glob("fits/*/*.arrow"))
    assert len(records) == 2 * len(cells), f"{name}: a fit failed ({len(records)} records)"
