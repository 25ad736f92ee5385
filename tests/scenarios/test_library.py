"""The shipped-scenario library: list, show, copy to edit."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import numpy as np
import pytest

from mmm_workbench.recover.cli import main
from mmm_workbench.reports import fit_table, open_run
from mmm_workbench.scenarios import ScenarioError, read_scenario, shipped_scenarios
from mmm_workbench.scenarios.grid import Cell
from mmm_workbench.scenarios.library import _summary, library, new_scenario, scenario_text
from mmm_workbench.scenarios.load import ScenarioSource, scenario_from_text


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


SMOKE_DRAWS = 100
"""Draws and tuning steps per chain of the every-scenario smoke fits: enough to run every
step (sampling, scoring, the report), not to measure anything."""


def smoke_text(text: str) -> str:
    """Return a scenario's text with its ``[fit]`` table's sizes cut to :data:`SMOKE_DRAWS`.

    ``draws``, ``tune`` and ``keep_draws`` are replaced (added where absent); the rest of
    the document, its grid included, is unchanged.
    """
    sizes = f"draws = {SMOKE_DRAWS}\ntune = {SMOKE_DRAWS}\nkeep_draws = {SMOKE_DRAWS}\n"
    lines = text.splitlines(keepends=True)
    out, in_fit, done = [], False, False
    for line in lines:
        header = re.match(r"^\s*\[+([^\]]+)\]+", line)
        if header:
            in_fit = header.group(1).strip() == "fit"
            out.append(line)
            if in_fit:
                out.append(sizes)
                done = True
            continue
        if in_fit and re.match(r"^\s*(draws|tune|keep_draws)\s*=", line):
            continue
        out.append(line)
    if not done:
        out.append(f"\n[fit]\n{sizes}")
    return "".join(out)


def test_smoke_text_cuts_only_the_fit_sizes() -> None:
    text = scenario_text("quickstart")
    short = scenario_from_text(smoke_text(text)).scenario
    original = read_scenario("quickstart").scenario
    assert (short.fit.draws, short.fit.tune, short.fit.keep_draws) == (SMOKE_DRAWS,) * 3
    assert short.fit.chains == original.fit.chains
    assert short.fit.options == original.fit.options
    assert short.data == original.data and short.model == original.model
    assert short.grid == original.grid
    without_fit = re.sub(r"(?ms)^\[fit\]\n.*?(?=^\[)", "", text)
    assert "[fit]" not in without_fit
    assert scenario_from_text(smoke_text(without_fit)).scenario.fit.draws == SMOKE_DRAWS


def smoke_cells(source: ScenarioSource) -> list[Cell]:
    """Return one cell per distinct model kind and backend of a scenario's grid, in grid order.

    Cells that differ only in their data or in a model's settings fit with the same code;
    those that differ in the model's kind or in the backend run different code, so each
    such pair gets a smoke fit.
    """
    seen: dict[tuple[str, str], Cell] = {}
    for cell in source.cells:
        key = (str(getattr(cell.scenario.model, "kind", "")), cell.scenario.fit.backend)
        seen.setdefault(key, cell)
    return list(seen.values())


def _smoke_run(name: str, text: str, original: str | Path, tmp_path: Path) -> None:
    """Run a scenario's text as the every-scenario smoke test does (see its docstring)."""
    from mmm_workbench.simulate import generate

    file = tmp_path / f"{name}.toml"
    file.write_text(smoke_text(text), encoding="utf-8")
    source = read_scenario(file)
    assert [c.overrides for c in source.cells] == [
        c.overrides for c in read_scenario(original).cells
    ]
    for cell in source.cells:
        data = generate(cell.scenario.data, np.random.default_rng(0))
        assert "observed" in data.children and "truth" in data.children, cell.label
    out = tmp_path / "run"
    chosen = smoke_cells(source)
    for cell in chosen:
        argv = ["run", str(file), "--replicates", "2", "--only", cell.cell_id, "--out", str(out)]
        assert main([*argv, "--quiet"]) == 0, f"{name}: a fit of {cell.label} failed"
    fits = fit_table(open_run(out))
    assert len(fits) == 2 * len(chosen) and (fits["status"] == "ok").all(), fits
    assert main(["report", str(out)]) == 0
    assert (out / "report" / "index.html").stat().st_size > 0
    assert main(["check", str(out), "--format", "json"]) in (0, 1)  # many scenarios teach a failure


@pytest.mark.slow
@pytest.mark.parametrize("name", shipped_scenarios())
def test_every_shipped_scenario_runs_with_two_replicates(name: str, tmp_path: Path) -> None:
    """Every shipped scenario loads, simulates each cell, fits, reports and is judged.

    All cells load and simulate a dataset; one cell per model kind and backend
    (:func:`smoke_cells`) fits two replicates with :data:`SMOKE_DRAWS` draws (the scenario's
    own sizes are measurements, minutes a cell; the tutorials run those), then the run is
    reported and checked. A smoke test: that each scenario works end to end, not what it
    teaches.
    """
    _smoke_run(name, scenario_text(name), name, tmp_path)


MERIDIAN_EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "meridian"
MERIDIAN_EXAMPLE /= "confounded-demand-meridian.toml"


def _meridian_interpreter() -> str | None:
    """Return the Meridian interpreter named by the environment if it works, else None."""
    import os

    from mmm_workbench.recover.models import meridian

    python = os.environ.get(meridian.PYTHON_ENV)
    if not python:
        return None
    try:
        meridian.check_interpreter(python)
    except ValueError:
        return None
    return python


@pytest.mark.slow
@pytest.mark.skipif(
    _meridian_interpreter() is None,
    reason="examples/meridian needs Meridian's own interpreter: set "
    "MMM_WORKBENCH_MERIDIAN_PYTHON to the python of an environment with google-meridian",
)
def test_the_meridian_example_runs_with_two_replicates(tmp_path: Path) -> None:
    """The Meridian example (not shipped: it needs its own interpreter) as the shipped ones."""
    text = MERIDIAN_EXAMPLE.read_text(encoding="utf-8")
    _smoke_run("confounded-demand-meridian", text, MERIDIAN_EXAMPLE, tmp_path)
