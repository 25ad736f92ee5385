"""The report and the command line: files written, warnings on top, the gate's exit codes."""

from __future__ import annotations

import base64
import errno
import html
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from reports_stubs import healthy, record_tree, stub_values, write_stub_run
from verdict_stubs import Cell, Plant, write_run

from mmm_workbench.recover.cli import main
from mmm_workbench.recover.store import RunStore
from mmm_workbench.reports import figures, parallel, report
from mmm_workbench.reports.html import Banner, render_report
from mmm_workbench.reports.report import FIGURES, build_report, cell_verdicts


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
    assert len({f.name for f in FIGURES}) == len(FIGURES)
    for name, path in paths.figures.items():
        spec = next(f for f in FIGURES if f.name == name)
        assert path == small_run / "report" / "figures" / f"{name}.png"
        assert spec.caption in page
    # drawn in two processes (reports.parallel): each file on the page, in FIGURES' order
    assert list(paths.figures) == [f.name for f in FIGURES if f.name in paths.figures]
    embedded = [
        page.index(base64.b64encode(p.read_bytes()).decode()) for p in paths.figures.values()
    ]
    assert embedded == sorted(embedded)
    # rank figures name each cell's design: SBC, or PIT at a fixed truth (one design for
    # every cell: "both cells" or "all N cells", no label)
    assert re.search(
        r"95% bands, per cell and estimand\. (SBC|PIT at a fixed truth): (both|all \d+) cells",
        page,
    )


def test_failed_and_corrupt_fits_are_announced(small_run: Path, one_figure: None) -> None:
    fail = small_run / "failures" / "a" / "6.json"
    fail.parent.mkdir(parents=True)
    fail.write_text(json.dumps({"status": "failed", "error": "RuntimeError: boom"}))
    corrupt = small_run / "fits" / "b" / "2.arrow"
    corrupt.write_bytes(b"not an Arrow file")
    paths = build_report(small_run)
    page = paths.html.read_text()
    assert "1 of" in page and "RuntimeError: boom" in page
    assert "could not be read and were skipped" in page and str(corrupt) in page
    # the verdict first, then why fits are missing, then the body
    assert page.index("id='verdict'") < page.index("class='error'") < page.index("<section><h2>")


def test_cli_report_and_check(
    small_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], one_figure: None
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


def _rewrite(run: Path, cell: str, replicate: int, **attrs: object) -> Path:
    """Rewrite one stub record through the public writer with some attributes replaced."""
    values = stub_values("calibrated", np.random.default_rng(replicate), 50)
    tree = record_tree(cell, cell, replicate, values, healthy(replicate))
    tree.attrs.update(attrs)
    return RunStore(run).write_record(cell, replicate, tree)


def test_a_bad_attribute_in_one_record_does_not_stop_the_report(
    small_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report, "FIGURES", ())  # figures are not what this is about
    not_json = _rewrite(small_run, "b", 3, diagnostics="{'max_rhat': 1.0")
    array = _rewrite(small_run, "a", 1, timings=np.array([0.5, 1.5]))
    paths = build_report(small_run)
    fits = pd.read_csv(paths.tables["fits"]).set_index(["cell", "replicate"])
    assert fits.loc[("b", 3), "status"] == fits.loc[("a", 1), "status"] == "corrupt"
    assert "'diagnostics' is not JSON" in fits.loc[("b", 3), "error"]
    assert str(array) in fits.loc[("a", 1), "error"]
    assert (fits["status"] == "ok").sum() == 10
    page = paths.html.read_text()
    assert "2 fit records could not be read and were skipped" in page
    assert str(array) in page or str(not_json) in page


def test_parameter_panels_come_from_the_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Weibull adstock and Hill saturation: parameters the default families do not have."""
    params = ("adstock_lam", "adstock_k", "saturation_slope", "saturation_kappa")
    run = write_stub_run(
        tmp_path / "run", {"c": "calibrated"}, replicates=4, draws=30, params=params
    )
    drawn: dict[str, list[str]] = {}

    def spy(name: str):  # type: ignore[no-untyped-def]
        real = getattr(figures, name)

        def wrapper(
            table: pd.DataFrame, estimands: list[str], *args: object, **kwargs: object
        ) -> bytes | None:
            drawn[name] = list(estimands)
            return real(table, estimands, *args, **kwargs)  # type: ignore[no-any-return]

        return wrapper

    for name in ("recovery_scatter", "z_vs_contraction"):
        monkeypatch.setattr(figures, name, spy(name))
    drawing = [f for f in FIGURES if f.name in ("recovery", "z_contraction")]
    monkeypatch.setattr(report, "FIGURES", tuple(drawing))
    monkeypatch.setenv(parallel.WORKERS_ENV, "1")  # the spies record in this process
    paths = build_report(run)
    expected = ["roas", "contribution_share", *params]  # one value per channel, record order
    assert drawn == {"recovery_scatter": expected, "z_vs_contraction": expected}
    assert "recovery" in paths.figures


def test_report_outputs_are_written_atomically(
    small_run: Path, monkeypatch: pytest.MonkeyPatch, one_figure: None
) -> None:
    """A full disk in the middle of a table leaves the previous report's file whole."""
    previous = small_run / "report" / "estimands.csv"
    previous.parent.mkdir()
    previous.write_text("cell,estimand\na,roas\n")
    real = report._write_csv

    def disk_full(frame: pd.DataFrame, path: Path) -> None:
        real(frame.head(3), path)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(report, "_write_csv", disk_full)
    with pytest.raises(OSError, match="No space left"):
        build_report(small_run)
    assert previous.read_text() == "cell,estimand\na,roas\n"
    assert [p.name for p in previous.parent.iterdir()] == ["estimands.csv"]  # no temporaries


@pytest.fixture(scope="module")
def verdict_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A passing run (one calibrated cell) and a failing one (posteriors shifted by one
    sd; one parameter left at its prior), 20 replicates x 100 draws each."""
    root = tmp_path_factory.mktemp("verdict")
    good = {"calibrated": Cell()}
    bad = {
        "shifted": Cell(plants={"*": Plant(shift=1.0)}),
        "unlearned": Cell(plants={"saturation_lam": Plant(prior=True)}),
    }
    return {
        "good": write_run(root / "good", good, replicates=20, draws=100),
        "bad": write_run(root / "bad", bad, replicates=20, draws=100),
    }


def test_the_verdict_names_each_cell_by_what_differs_and_keeps_the_whole_label_on_hover(
    verdict_runs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Grid cells whose labels hold whole tables: the banner says the short label, the
    tables and the hover the whole one; a run whose labels are short already is unchanged
    (the other tests of this file)."""
    monkeypatch.setattr(report, "FIGURES", ())
    run = tmp_path / "run"
    shutil.copytree(verdict_runs["bad"], run)
    manifest = json.loads((run / "manifest.json").read_text())
    plans = {
        "shifted": {"pattern": "flighted", "level": 8.0},
        "unlearned": {"pattern": "always_on", "level": 8.0},
    }
    for cell, plan in plans.items():
        overrides = [["data.channels.tv.spend", plan], ["data.periods", 104]]
        manifest["cells"][cell] = {
            "label": f"data.channels.tv.spend={plan}, data.periods=104",
            "overrides": overrides,
        }
    (run / "manifest.json").write_text(json.dumps(manifest))
    page = build_report(run, tmp_path / "report").html.read_text()
    banner = _verdict_html(page)
    for plan in plans.values():
        full = html.escape(f"data.channels.tv.spend={plan}, data.periods=104", quote=True)
        short = f"tv.spend.pattern={plan['pattern']}"
        assert f"title='{full}'>{short}</b>" in banner
    assert "level=8.0" not in banner.split("<ul>")[0]  # the shared level is left out
    assert "data.channels.tv.spend={" in page.split("id='verdict'")[1].split("</section>", 1)[1]
    lines = banner.split("<ul>")[1]  # the verdict's lines name the cells as its sentences do
    assert "data.channels" not in lines
    assert "tv.spend.pattern=always_on: saturation_lam" in lines  # not learned


def _verdict_html(page: str) -> str:
    start = page.index("<section id='verdict'")
    return page[start : page.index("</section>", start)]


def test_the_verdict_comes_first_in_plain_words(
    verdict_runs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report, "FIGURES", tuple(f for f in FIGURES if f.name == "shares"))
    good = build_report(verdict_runs["good"], tmp_path / "good")
    page = good.html.read_text()
    assert good.verdict.passed
    banner = _verdict_html(page)
    assert page.index("id='verdict'") < page.index("<img ") < page.index("All measures")
    assert "verdict: passed" in banner and "class='verdict pass'" in banner
    assert re.search(r"calibrated</b>trustworthy: \d+ checks passed; fits 20 clean", banner)
    assert "R-hat above" not in page

    bad = build_report(verdict_runs["bad"], tmp_path / "bad")
    page = bad.html.read_text()
    banner = _verdict_html(page)
    assert not bad.verdict.passed
    assert page.index("id='verdict'") < page.index("<img ")
    assert "verdict: FAILED (model, identifiability)" in banner
    assert "class='verdict fail'" in banner
    shifted = re.search(r"shifted</b>not trustworthy \(model\): (\d+) of \d+ checks failed", banner)
    assert shifted and int(shifted.group(1)) == (bad.verdict.failures["cell"] == "shifted").sum()
    # a failed headline check with its numbers: the measure, its interval, the bound missed
    assert re.search(
        r"shifted</b>[^<]*failed: (roas|contribution_share)\[channel=\w+\] \w+ -?[\d.]+ "
        r"\[-?[\d.e-]+, -?[\d.]+\], (above max|below min) -?[\d.]+",
        banner,
    )
    assert re.search(
        r"unlearned</b>not trustworthy \(identifiability\).*saturation_lam\[channel=\w+\] "
        r"not learned from the data \(contraction -?[\d.]+, prior overlap [\d.]+\)",
        banner,
    )
    assert "calibrated</b>" not in banner


def test_cell_verdicts_follow_the_verdict(verdict_runs: dict[str, Path]) -> None:
    from mmm_workbench.reports.verdict import evaluate

    verdict = evaluate(verdict_runs["bad"])
    cells = {c.cell: c for c in cell_verdicts(verdict)}
    assert set(cells) == {"shifted", "unlearned"}
    assert not cells["shifted"].passed and not cells["unlearned"].passed
    assert "not learned from the data" not in cells["shifted"].text
    assert cells["unlearned"].line().startswith("unlearned: not trustworthy")


def test_the_verdict_banner_escapes_its_text() -> None:
    banner = Banner(
        headline="verdict: <b>x</b>",
        passed=False,
        cells=[("<script>alert(1)</script>", False, "a & <i>b</i>")],
        lines=["<img src=x onerror=alert(1)>"],
    )
    page = render_report(
        title="t", description="", metadata={}, verdict=banner, errors=[], sections=[]
    )
    assert "<script>alert" not in page and "<img src=x" not in page and "<i>b" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "a &amp; &lt;i&gt;b" in page


def test_the_header_names_the_sampling_geometries_the_fits_used() -> None:
    from types import SimpleNamespace

    def header(fits: pd.DataFrame) -> dict[str, object]:
        scores = SimpleNamespace(run=SimpleNamespace(manifest={"scenario": "s"}), fits=fits)
        return report._metadata(scores)  # type: ignore[arg-type]

    mixed = pd.DataFrame(
        {
            "status": ["ok"] * 4,
            "backend": ["nutpie"] * 3 + ["ols"],
            "geometry": ["sd+lam", "level", "sd+lam", ""],
        }
    )
    # a resumed run holding fits of two geometries says so; OLS's empty entry is no geometry
    assert header(mixed)["geometry"] == "level, sd+lam"
    assert "geometry" not in header(mixed.assign(geometry=""))
    assert "geometry" not in header(mixed.drop(columns="geometry"))
