"""The report's figures keep their promises (issue 13, item 2), checked on the drawn
matplotlib figures of a stub run with three channels, response curves and two cells, one
calibrated and one biased:

- one colour per channel in every figure (tv the same colour everywhere);
- a legend on every panel, the SBC ECDF lines included;
- recovery faceted by cell: no panel mixes the good and the biased cell;
- response curves in spend units, the axis label saying so, the truth against the band;
- at most :data:`~mmm_workbench.reports.figures.MAX_SERIES` series per panel.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import Collection
from matplotlib.colors import to_hex
from matplotlib.container import BarContainer, Container
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from PIL import Image
from reports_stubs import healthy

from mmm_workbench.recover.store import RunStore
from mmm_workbench.reports import figures, plotdata
from mmm_workbench.reports.report import FIGURES, ReportData, report_data
from mmm_workbench.reports.tables import score_run

CHANNELS = ["search", "tv", "radio"]  # tv second here: a colour by position would move it
MULTIPLIERS = [0.0, 0.5, 1.0, 1.5, 2.0]
SPEND = np.array([300.0, 1000.0, 50.0])  # the training window's spend per channel


def _record(cell: str, label: str, rep: int, shift: float, rng: np.random.Generator) -> xr.DataTree:
    draws = 60
    roas = rng.uniform(0.5, 2.0, size=3)
    share = rng.dirichlet(np.ones(3))
    curve = roas[:, None] * SPEND[:, None] * np.sqrt(np.asarray(MULTIPLIERS))[None, :]
    truth = {"roas": roas, "contribution_share": share, "mroas": roas / 2, "response": curve}
    post, prior = {}, {}
    for name, value in truth.items():
        sd = 0.1 * np.abs(value) + 1e-3
        mean = value + shift * sd + sd * rng.normal(size=value.shape)
        post[name] = mean + sd * rng.normal(size=(draws, *value.shape))
        prior[name] = value + 5 * sd * rng.normal(size=(draws, *value.shape))
    dims = {n: ("channel",) for n in truth} | {"response": ("channel", "multiplier")}
    coords = {"channel": np.array(CHANNELS), "multiplier": np.array(MULTIPLIERS)}

    def dataset(arrays: dict[str, np.ndarray], sample: bool) -> xr.Dataset:
        lead = ("sample",) if sample else ()
        data = {n: ((*lead, *dims[n]), a) for n, a in arrays.items()}
        return xr.Dataset(data, coords=coords)

    tree = xr.DataTree.from_dict(
        {"/posterior": dataset(post, True), "/truth": dataset(truth, False),
         "/prior": dataset(prior, True)}
    )  # fmt: skip
    tree.attrs = {
        "scenario": "audit", "cell_id": cell, "cell_label": label, "replicate": rep,
        "backend": "stub", "diagnostics": json.dumps(healthy(rep)),
        "timings": json.dumps({"tune_s": 0.1, "draw_s": 0.1}),
        "versions": json.dumps({"python": "3.12"}),
    }  # fmt: skip
    return tree


@pytest.fixture(scope="module")
def audit_data(tmp_path_factory: pytest.TempPathFactory) -> ReportData:
    root = tmp_path_factory.mktemp("audit") / "run"
    cells = {"good": ("good cell", 0.0), "bad": ("biased cell", 4.0)}
    store = RunStore(root)
    manifest = {
        "scenario": "audit",
        "seed": 1,
        "replicates": 12,
        "cells": {c: {"label": label, "overrides": []} for c, (label, _) in cells.items()},
    }
    store.initialize('name = "audit"\n', json.dumps(sorted(cells)), manifest)
    for i, (cell, (label, shift)) in enumerate(cells.items()):
        rng = np.random.default_rng([5, i])
        for rep in range(12):
            store.write_record(cell, rep, _record(cell, label, rep, shift, rng))
    return report_data(score_run(root), "")


def _drawn(data: ReportData, monkeypatch: pytest.MonkeyPatch) -> dict[str, Figure]:
    """Every figure of the report as matplotlib drew it (before it became a PNG)."""
    out: dict[str, Figure] = {}
    for spec in FIGURES:
        caught: list[Figure] = []
        monkeypatch.setattr(figures, "_png", lambda f, c=caught: c.append(f) or b"png")
        if spec.build(data) is not None:
            out[spec.name] = caught[0]
    return out


@pytest.fixture(scope="module")
def drawn(audit_data: ReportData) -> dict[str, Figure]:
    """Every figure of the report as matplotlib drew it, built once for this module's tests
    (5 s a time on a loaded machine); the layout test, last, lays them out."""
    with pytest.MonkeyPatch.context() as mp:
        return _drawn(audit_data, mp)


def _panels(fig: Figure) -> list[Axes]:
    return [ax for ax in fig.axes if ax.get_visible()]


def _colour(artist: object) -> str | None:
    if isinstance(artist, Container):
        artist = next((a for a in artist if a is not None), None)
        if isinstance(artist, tuple):
            artist = artist[0] if artist else None
    if isinstance(artist, Line2D):
        return to_hex(artist.get_color())
    if isinstance(artist, Collection):
        colours = artist.get_facecolor()
        return to_hex(colours[0]) if len(colours) else None
    return None


def _labelled(ax: Axes) -> Iterator[tuple[str, str | None]]:
    handles, labels = ax.get_legend_handles_labels()
    for handle, label in zip(handles, labels, strict=True):
        yield label, _colour(handle)


def test_every_figure_is_drawn_with_a_legend_on_every_panel(
    audit_data: ReportData, drawn: dict[str, Figure]
) -> None:
    assert {"recovery", "shares", "coverage", "sbc_ecdf", "response", "sbc_ranks"} <= set(drawn)
    for name, fig in drawn.items():
        for ax in _panels(fig):
            assert ax.get_legend() is not None, f"{name}: panel {ax.get_title()!r} has no legend"


def test_one_colour_per_channel_in_every_figure(
    audit_data: ReportData, drawn: dict[str, Figure]
) -> None:
    colours = audit_data.colours
    assert list(colours) == CHANNELS and len(set(colours.values())) == 3
    seen: dict[str, set[str]] = {c: set() for c in CHANNELS}
    for name, fig in drawn.items():
        for ax in _panels(fig):
            for label, colour in _labelled(ax):
                channel = label.removeprefix("channel=")
                if channel in seen and colour is not None:
                    seen[channel].add(colour)
                    assert colour == colours[channel], (name, ax.get_title(), label)
            if name == "response":  # a panel per channel: its band and mean in its colour
                channel = ax.get_title().split(" | ")[0]
                lines = {ln.get_label(): to_hex(ln.get_color()) for ln in ax.get_lines()}
                assert lines["posterior mean"] == colours[channel]
                assert lines["true"] == to_hex("k")
            if name == "shares":  # the estimate's bar in its channel's colour
                bars = [c for c in ax.containers if isinstance(c, BarContainer)][1]
                ticks = [t.get_text() for t in ax.get_xticklabels()]
                for bar, channel in zip(bars, ticks, strict=True):
                    assert to_hex(bar.get_facecolor()) == colours[channel]
                    seen[channel].add(to_hex(bar.get_facecolor()))
    # each channel drawn somewhere, always in the one colour; no other series takes it
    assert all(len(s) == 1 for s in seen.values()), seen
    assert not set(figures.SERIES_PALETTE) & set(colours.values())


def test_recovery_is_faceted_by_cell(audit_data: ReportData, drawn: dict[str, Figure]) -> None:
    fig = drawn["recovery"]
    titles = [ax.get_title() for ax in _panels(fig)]
    estimands = list(audit_data.per_channel)
    assert len(titles) == 2 * len(estimands)
    for cell in ("good cell", "biased cell"):
        assert sorted(t.split(": ")[1] for t in titles if t.startswith(f"{cell}: ")) == sorted(
            estimands
        )
    # each panel holds one cell's replicates: 12 per channel
    for ax in _panels(fig):
        points = [c for c in ax.collections if c.get_label() in CHANNELS]
        assert [len(c.get_offsets()) for c in points] == [12, 12, 12]


def test_response_curves_are_in_spend_units(
    audit_data: ReportData, drawn: dict[str, Figure]
) -> None:
    frame = plotdata.curve_frame(audit_data.estimands)
    spend = frame.groupby("channel")["spend"].max() / max(MULTIPLIERS)
    np.testing.assert_allclose(spend[CHANNELS].to_numpy(), SPEND, rtol=1e-9)
    fig = drawn["response"]
    for ax in _panels(fig):
        channel = ax.get_title().split(" | ")[0]
        assert ax.get_xlabel() == "spend, training window"
        true = next(ln for ln in ax.get_lines() if ln.get_label() == "true")
        assert max(true.get_xdata()) == pytest.approx(2.0 * SPEND[CHANNELS.index(channel)])
        assert any(isinstance(c, Collection) for c in ax.collections)  # the posterior band


def test_response_curves_without_a_known_spend_say_multiplier() -> None:
    table = pd.DataFrame(
        {
            "cell": "c", "cell_label": "c", "replicate": 0, "estimand": "response",
            "channel": "tv", "multiplier": MULTIPLIERS, "truth": [0, 1, 2, 3, 4],
            "mean": [0, 1, 2, 3, 4], "lower_90": [0, 0, 1, 2, 3], "upper_90": [1, 2, 3, 4, 5],
        }
    )  # fmt: skip
    frame = plotdata.curve_frame(table)  # no ROAS: the spend is not known
    assert frame["spend"].isna().all()
    # ROAS per channel and geo: no one spend per channel, and no row duplicated
    geo = pd.concat([table.assign(geo=g) for g in ("north", "south")], ignore_index=True)
    roas = pd.DataFrame(
        {"cell": "c", "replicate": 0, "estimand": "roas", "channel": "tv",
         "geo": ["north", "south"], "truth": [2.0, 4.0]}
    )  # fmt: skip
    both = plotdata.curve_frame(pd.concat([geo, roas], ignore_index=True))
    assert len(both) == len(geo) and both["spend"].isna().all()
    caught: list[Figure] = []
    mp = pytest.MonkeyPatch()
    mp.setattr(figures, "_png", lambda f: caught.append(f) or b"png")
    try:
        figures.response_curves(frame)
    finally:
        mp.undo()
    (ax,) = _panels(caught[0])
    assert ax.get_xlabel() == "spend multiplier (x observed spend)"


def _series(ax: Axes) -> list[str]:
    references = {"nominal", "95% band", "99% band", "truth = estimate"}
    return [label for label, _ in _labelled(ax) if label not in references]


def test_at_most_eight_series_per_panel() -> None:
    names = [f"estimand_{i}" for i in range(11)]  # 11 series on a 10-colour cycle before
    coverage = pd.DataFrame(
        [
            {"cell_label": cell, "estimand": n, "nominal": level, "value": level,
             "lower": level - 0.05, "upper": min(level + 0.05, 1.0)}
            for cell in ("a", "b") for n in names for level in (0.5, 0.8, 0.9, 0.95)
        ]
    )  # fmt: skip
    channels = [f"ch{i}" for i in range(12)]
    hist = pd.DataFrame(
        [
            {"cell": "a", "cell_label": "a", "estimand": "roas", "coords": f"channel={c}",
             "bin": b, "count": 5, "band_lower": 1, "band_upper": 9, "n": 50, "design": "SBC"}
            for c in channels for b in range(10)
        ]
    )  # fmt: skip
    caught: list[Figure] = []
    mp = pytest.MonkeyPatch()
    mp.setattr(figures, "_png", lambda f: caught.append(f) or b"png")
    try:
        figures.coverage_vs_nominal(coverage)
        figures.rank_histograms(hist, colours=figures.channel_colours(channels))
    finally:
        mp.undo()
    cover, ranks = caught
    drawn = [s for ax in _panels(cover) for s in _series(ax)]
    assert sorted(drawn) == sorted(names * 2)  # every estimand of each cell, split 8 + 3
    assert max(len(_series(ax)) for ax in _panels(cover)) == figures.MAX_SERIES
    assert len(_panels(cover)) == 4
    for ax in _panels(cover):  # a colour per series within a panel
        drawn_colours = [c for label, c in _labelled(ax) if label in names]
        assert len(set(drawn_colours)) == len(drawn_colours)
    assert all(len(_series(ax)) <= figures.MAX_SERIES for ax in _panels(ranks))
    assert sorted(s for ax in _panels(ranks) for s in _series(ax)) == sorted(
        f"channel={c}" for c in channels
    )


def test_channel_colours_follow_the_run_order_and_stay_distinct() -> None:
    few = figures.channel_colours(["tv", "search", "tv"])
    assert list(few) == ["tv", "search"] and few["tv"] == figures.CHANNEL_PALETTE[0]
    many = figures.channel_colours([f"c{i}" for i in range(14)])
    assert len(set(many.values())) == 14


def test_figures_are_palette_pngs() -> None:
    """256-colour PNGs: a third of the true-colour size, which keeps a 1,000-fit page small."""
    frame = pd.DataFrame(
        {
            "cell_label": ["a"] * 4, "estimand": ["roas"] * 4, "nominal": [0.5, 0.8, 0.9, 0.95],
            "value": [0.5, 0.8, 0.9, 0.95], "lower": [0.4, 0.7, 0.8, 0.9],
            "upper": [0.6, 0.9, 0.95, 1.0],
        }
    )  # fmt: skip
    png = figures.coverage_vs_nominal(frame)
    assert png is not None
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG" and image.mode == "P"


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def _placed(fig: Figure, lighten: Callable[[Figure], None] | None) -> np.ndarray:
    """Where constrained layout puts each panel and its title, in pixels.

    As :func:`figures._png` lays a figure out, with ``lighten`` (``_lighten_layout`` or a
    broken one) applied first, or none: the full layout. Each title's place is the one the
    automatic position gives it, where the layout measured it, or the pinned one.
    """
    fig.set_dpi(90)
    if lighten is not None:
        lighten(fig)
    FigureCanvasAgg(fig)
    engine = fig.get_layout_engine()
    assert engine is not None
    engine.execute(fig)
    width, height = fig.bbox.width, fig.bbox.height
    rows = []
    for ax in _panels(fig):
        x, y, w, h = ax.get_position().bounds
        tx, ty = ax.title.get_position()  # in the panel's fractions
        rows.append([x * width, y * height, w * width, h * height, tx * w * width, ty * h * height])
    return np.array(rows)


def test_lightened_layout_places_everything_where_the_full_layout_does(
    audit_data: ReportData, drawn: dict[str, Figure], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Leaving spines and in-panel legends out of constrained layout and pinning titles
    (figures._lighten_layout, for speed) moves nothing: in every figure of the report each
    panel and each title sits where the full layout puts it (within half a pixel: the
    response curves' panels differ by 0.02 px), and one figure's PNG has the same pixels;
    a lightening that did move something is seen. Each figure is built once and laid out
    both ways, not drawn: drawing every figure both ways (the check before) took 24 s of
    the default test run."""
    assert {"recovery", "shares", "coverage", "sbc_ecdf", "response", "sbc_ranks"} <= set(drawn)
    full = {}
    for name, fig in drawn.items():
        full[name] = _placed(fig, None)
        light = _placed(fig, figures._lighten_layout)
        assert full[name].shape == light.shape and len(light) > 0, name
        np.testing.assert_allclose(light, full[name], atol=0.5, rtol=0, err_msg=name)

    def moved(fig: Figure) -> None:  # a title pinned too high: what the check must catch
        for ax in fig.axes:
            if ax.get_title():
                ax.set_title(ax.get_title(), y=1.1)

    assert np.abs(_placed(drawn["shares"], moved) - full["shares"]).max() > 5
    shares = next(spec for spec in FIGURES if spec.name == "shares")
    lightened = shares.build(audit_data)
    monkeypatch.setattr(figures, "_lighten_layout", lambda fig: None)
    plain = shares.build(audit_data)
    assert lightened is not None and plain is not None
    assert np.array_equal(_pixels(lightened), _pixels(plain))
