"""Decision-level recovery: the budget optimiser against hand-computed and brute-force
optima, zero regret for a posterior at the truth and positive for a biased one, and the
decision estimands in the estimand table, the aggregates, the rules and the report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from mmm_workbench.recover.store import RunStore
from mmm_workbench.reports import decision as dec
from mmm_workbench.reports.decision import (
    DECISION_ESTIMANDS,
    decide,
    decision_summary,
    optimal_allocation,
)
from mmm_workbench.reports.gate import check
from mmm_workbench.reports.records import read_record
from mmm_workbench.reports.tables import aggregate_table, score_run

GRID = np.round(np.arange(0.0, 2.0001, 0.1), 10)


def test_two_concave_curves_hand_computed() -> None:
    """R1 = 10 sqrt(x), R2 = 5 sqrt(x), spend 1 and 1: the marginals 5 / sqrt(x1) and
    2.5 / sqrt(x2) are equal at x1 = 4 x2, so x = (1.6, 0.4), grid points both."""
    curves = np.stack([10 * np.sqrt(GRID), 5 * np.sqrt(GRID)])
    a = optimal_allocation(curves, GRID, [1.0, 1.0])
    assert a.method == "greedy"
    np.testing.assert_allclose(a.spend, [1.6, 0.4], atol=1e-12)
    np.testing.assert_allclose(a.share, [0.8, 0.2], atol=1e-12)
    np.testing.assert_allclose(a.multiplier, [1.6, 0.4], atol=1e-12)
    assert a.value == pytest.approx(10 * np.sqrt(1.6) + 5 * np.sqrt(0.4), rel=1e-12)


def test_the_optimum_between_grid_points_with_unequal_spend() -> None:
    """Piecewise linear: channel a (spend 2) earns 3 per unit up to 2 units and 1 per unit
    beyond; channel b earns 2 per unit up to 1.5 units, 0 beyond. With b's spend 1
    (budget 3), segments filled by slope (3, 2, 1, 0) give a 2 and b 1: the observed plan,
    value 8. With b's spend 3 (budget 5) a gets 2, b 1.5, and a the last 1.5 at 1 per
    unit: a at 3.5, between its grid points 3 and 4; value 6 + 3 + 1.5."""
    m = np.array([0.0, 0.5, 1.0, 1.5, 2.0])
    a_curve = np.interp(m * 2, [0, 2, 4], [0, 6, 8])
    b_curve = np.interp(m * 1, [0, 1.5, 2], [0, 3, 3])
    alloc = optimal_allocation(np.stack([a_curve, b_curve]), m, [2.0, 1.0])
    np.testing.assert_allclose(alloc.spend, [2.0, 1.0], atol=1e-12)
    assert alloc.value == pytest.approx(8.0)
    b_curve = np.interp(m * 3, [0, 1.5, 6], [0, 3, 3])
    alloc = optimal_allocation(np.stack([a_curve, b_curve]), m, [2.0, 3.0])
    np.testing.assert_allclose(alloc.spend, [3.5, 1.5], atol=1e-12)
    assert alloc.value == pytest.approx(10.5)
    assert alloc.spend.sum() == pytest.approx(5.0)


def _s_curves(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    spend = rng.uniform(0.5, 2.0, n)
    half = rng.uniform(0.3, 1.5, n)
    shape = rng.uniform(1.5, 4.0, n)
    top = rng.uniform(1.0, 10.0, n)
    x = spend[:, None] * GRID[None, :]
    return top[:, None] * x ** shape[:, None] / (
        x ** shape[:, None] + half[:, None] ** shape[:, None]
    ), spend


def _brute_force(curves: np.ndarray, spend: np.ndarray, steps: int = 400) -> float:
    """Best value over a fine grid of the first two channels' spends (three channels)."""
    budget = spend.sum()
    hi = spend * GRID[-1]
    best = -np.inf
    for x0 in np.linspace(0, hi[0], steps):
        x1 = np.linspace(0, hi[1], steps)
        x2 = budget - x0 - x1
        ok = (x2 >= 0) & (x2 <= hi[2])
        if not ok.any():
            continue
        v = (
            np.interp(x0, spend[0] * GRID, curves[0])
            + np.interp(x1[ok], spend[1] * GRID, curves[1])
            + np.interp(x2[ok], spend[2] * GRID, curves[2])
        )
        best = max(best, float(v.max()))
    return best


@pytest.mark.parametrize("seed", range(4))
def test_s_curves_exact_vertex_search_beats_brute_force(seed: int) -> None:
    curves, spend = _s_curves(np.random.default_rng(seed), 3)
    alloc = optimal_allocation(curves, GRID, spend)
    assert alloc.method == "vertices"  # S-curves are not concave
    assert alloc.spend.sum() == pytest.approx(spend.sum())
    assert np.all(alloc.multiplier >= GRID[0] - 1e-12) and np.all(
        alloc.multiplier <= GRID[-1] + 1e-12
    )
    brute = _brute_force(curves, spend)
    assert alloc.value >= brute - 1e-9 * abs(brute)
    assert alloc.value <= brute + 0.02 * abs(brute)  # the brute force is a fine grid


def test_the_grid_fallback_is_near_the_exact_optimum(monkeypatch: pytest.MonkeyPatch) -> None:
    curves, spend = _s_curves(np.random.default_rng(7), 3)
    exact = optimal_allocation(curves, GRID, spend)
    monkeypatch.setattr(dec, "_ENUMERATION_LIMIT", 0)
    near = optimal_allocation(curves, GRID, spend)
    assert near.method == "grid" and near.spend.sum() == pytest.approx(spend.sum())
    assert exact.value - 1e-3 * abs(exact.value) <= near.value <= exact.value + 1e-9


def test_bad_grids_and_inputs_are_named() -> None:
    curves = np.ones((2, 3))
    with pytest.raises(ValueError, match=r"must span 1"):
        optimal_allocation(curves, [0.0, 0.5, 0.9], [1.0, 1.0])
    with pytest.raises(ValueError, match=r"increasing"):
        optimal_allocation(curves, [0.0, 2.0, 1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match=r"expected \(channel, multiplier\)"):
        optimal_allocation(np.ones((3, 3)), [0.0, 1.0, 2.0], [1.0, 1.0])


def _truth_curves() -> tuple[np.ndarray, np.ndarray]:
    """Two concave channels: tv saturates early, search late; spend 3 and 1."""
    spend = np.array([3.0, 1.0])
    x = spend[:, None] * GRID[None, :]
    curves = np.stack([20 * (1 - np.exp(-x[0] / 2.0)), 6 * (1 - np.exp(-x[1] / 3.0))])
    return curves, spend


def test_zero_regret_at_the_truth_and_positive_when_biased() -> None:
    truth, spend = _truth_curves()
    rng = np.random.default_rng(1)
    at_truth = truth[None] * (1 + 1e-6 * rng.normal(size=(400, *truth.shape)))
    d = decide(at_truth, truth, GRID, spend, ["tv", "search"])
    assert d.regret == pytest.approx(0.0, abs=1e-9) and d.regret_share == pytest.approx(
        0.0, abs=1e-9
    )
    np.testing.assert_allclose(d.plan.share, d.optimum.share, atol=1e-9)
    assert d.optimum.spend.sum() == pytest.approx(4.0)
    # search over-credited fivefold: the plan moves budget to search and loses outcome
    biased = at_truth.copy()
    biased[:, 1] *= 5.0
    b = decide(biased, truth, GRID, spend, ["tv", "search"])
    assert b.plan.share[1] > b.optimum.share[1] + 0.1
    assert b.regret > 0 and b.regret_share > 0.05
    true_at_plan = np.interp(b.plan.spend[0], spend[0] * GRID, truth[0]) + np.interp(
        b.plan.spend[1], spend[1] * GRID, truth[1]
    )
    assert b.regret == pytest.approx(b.optimum.value - true_at_plan)
    assert b.regret_share == pytest.approx(b.regret / b.optimum.value)
    # a posterior centred on the truth with wide draws plans on its mean: no regret
    wide = truth[None] * rng.lognormal(0.0, 0.3, size=(4000, 1, 1)) / np.exp(0.3**2 / 2)
    w = decide(wide, truth, GRID, spend)
    assert w.regret_share < 0.01


# --------------------------------------------------------- the estimands of a run


def _record(
    label: str, replicate: int, truth: np.ndarray, post: np.ndarray, spend: np.ndarray
) -> xr.DataTree:
    coords = {"channel": ["tv", "search"], "multiplier": GRID}
    dims = ("channel", "multiplier")
    rng = np.random.default_rng(replicate)
    sigma = rng.normal(1.0, 0.1, post.shape[0])
    tree = xr.DataTree.from_dict(
        {
            "/posterior": xr.Dataset(
                {
                    "response": (("sample", *dims), post),
                    "roas": (("sample", "channel"), post[:, :, 10] / spend),
                    "sigma": (("sample",), sigma),
                },
                coords=coords,
            ),
            "/truth": xr.Dataset(
                {
                    "response": (dims, truth),
                    "response_spend": (dims, spend[:, None] * GRID[None, :]),
                    "roas": (("channel",), truth[:, 10] / spend),
                    "sigma": ((), 1.0),
                },
                coords=coords,
            ),
        }
    )
    tree.attrs = {
        "scenario": "decision", "cell_id": label, "cell_label": label, "replicate": replicate,
        "backend": "stub",
        "diagnostics": json.dumps({"draws": 100.0, "max_rhat": 1.0, "divergences": 0.0}),
        "timings": json.dumps({}), "versions": json.dumps({}),
    }  # fmt: skip
    return tree


@pytest.fixture(scope="module")
def decision_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Cell ``right``: draws around the true curves; cell ``search6x``: search x6."""
    root = tmp_path_factory.mktemp("decision") / "run"
    store = RunStore(root)
    cells = {"right": 1.0, "search6x": 6.0}
    manifest = {
        "scenario": "decision", "seed": 0, "replicates": 12,
        "cells": {c: {"label": f"search x{k:g}", "overrides": []} for c, k in cells.items()},
    }  # fmt: skip
    store.initialize('name = "decision"\n', json.dumps(sorted(cells)), manifest)
    for cell, factor in cells.items():
        for rep in range(12):
            rng = np.random.default_rng([rep, int(factor)])
            spend = np.array([3.0, 1.0]) * rng.uniform(0.8, 1.2, 2)
            x = spend[:, None] * GRID[None, :]
            scale = rng.uniform(0.8, 1.2, 2)
            truth = np.stack(
                [
                    20 * scale[0] * (1 - np.exp(-x[0] / 2.0)),
                    4 * scale[1] * (1 - np.exp(-x[1] / 3.0)),
                ]
            )
            post = truth[None] * rng.lognormal(0.0, 0.02, size=(100, 2, 1))
            post[:, 1] *= factor
            store.write_record(cell, rep, _record(cell, rep, truth, post, spend))
    return root


def test_decision_estimands_in_the_tables(decision_run: Path) -> None:
    scores = score_run(decision_run)
    est = scores.estimands
    d = est[est["family"] == "decision"]
    assert set(d["estimand"]) == set(DECISION_ESTIMANDS)
    assert len(d) == 2 * 12 * 6  # two shares, two multipliers, regret, regret share per fit
    shares = d[d["estimand"] == "optimal_share"]
    sums = shares.groupby(["cell", "replicate"])[["mean", "truth"]].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0)
    # the same decision as decide() on the record itself
    record = read_record(decision_run / "fits" / "search6x" / "0.arrow", "search6x", 0)
    direct = dec.record_decision(record)
    assert direct is not None
    row = d[(d["cell"] == "search6x") & (d["replicate"] == 0) & (d["estimand"] == "regret")]
    assert float(row["mean"].iloc[0]) == pytest.approx(direct.regret)
    assert float(row["truth"].iloc[0]) == 0.0
    mult = d[(d["cell"] == "search6x") & (d["replicate"] == 0)]
    mult = mult[mult["estimand"] == "optimal_multiplier"].set_index("channel")
    np.testing.assert_allclose(mult.loc[["tv", "search"], "mean"], direct.plan.multiplier)
    np.testing.assert_allclose(mult.loc[["tv", "search"], "truth"], direct.optimum.multiplier)
    summary = decision_summary(est).set_index(["cell", "channel"])
    # over-credited sixfold, search gets far more than its optimum, often the grid's most
    over = summary.loc[("search6x", "search")]
    assert over["plan_multiplier"] > over["true_multiplier"] + 0.5
    assert 0 < over["at_edge"] <= 12
    assert (summary["at_edge"] <= summary["fits"]).all()
    assert summary.loc[("right", "tv"), "regret_share"] < 1e-3
    assert summary.loc[("search6x", "tv"), "regret_share"] > 0.05
    assert (
        summary.loc[("search6x", "search"), "plan_share"]
        > summary.loc[("search6x", "search"), "true_share"]
    )
    agg = aggregate_table(scores)
    da = agg[agg["family"] == "decision"]
    assert set(da["metric"]) <= set(dec.DECISION_METRICS)
    assert "bias_pp" in set(da.loc[da["estimand"] == "optimal_share", "metric"])
    assert not agg["metric"].astype(str).str.startswith("coverage").loc[da.index].any()


def test_the_default_regret_rule_passes_the_right_plan_and_fails_the_biased_one(
    decision_run: Path,
) -> None:
    verdict = check(decision_run)
    regret = verdict.checks[
        (verdict.checks["estimand"] == "regret_share") & (verdict.checks["subset"] == "all")
    ]
    outcome = dict(zip(regret["cell"], regret["outcome"], strict=True))
    assert outcome == {"right": "pass", "search6x": "fail"}
    failed = verdict.failures[verdict.failures["estimand"] == "regret_share"]
    assert list(failed["cell"]) == ["search6x"] and (failed["value"] > 0.05).all()
    # a rule on regret in a run without response curves selects nothing: not applicable
    # (stub runs of the other tests hold none); an unknown name is still an error
    with pytest.raises(ValueError, match="unknown estimand 'regrets'"):
        check(decision_run, [{"metric": "bias", "estimand": "regrets", "max": 1}])


def test_a_regret_rule_without_response_curves_is_not_applicable(tmp_path: Path) -> None:
    from reports_stubs import write_stub_run

    root = write_stub_run(tmp_path / "run", {"a": "calibrated"}, replicates=3, draws=20)
    verdict = check(root)  # the default rules, which judge regret_share
    rows = verdict.checks[verdict.checks["rule"].astype(str).str.contains("regret_share")]
    assert list(rows["outcome"]) == ["not applicable"]
    assert rows["detail"].iloc[0] == "selects nothing in this run"


def test_the_report_shows_the_decision_first(
    decision_run: Path, tmp_path: Path, one_figure: None
) -> None:
    from mmm_workbench.reports.report import build_report, cell_verdicts

    paths = build_report(decision_run, tmp_path / "report")
    page = paths.html.read_text()
    assert page.index("id='verdict'") < page.index("Budget decision") < page.index("Headline")
    assert "model plan share" in page and "true optimal share" in page
    words = {c.cell: c.text for c in cell_verdicts(paths.verdict)}
    assert "budget plan loses 0%" in words["right"]
    share = float(words["search6x"].split("budget plan loses ")[1].split("%")[0])
    assert share > 5
    assert "(default rules)" in page


def test_a_regret_of_zero_set_by_the_grid_s_bound_says_so(
    decision_run: Path, tmp_path: Path
) -> None:
    """The quickstart's case: tv's true marginal outcome beats search's at any allocation,
    so the true optimum puts tv at the grid's highest multiplier; so does the plan of a
    model that over-credits search threefold. The regret is 0 because that bound, not the
    model, set the plan, and the sentence says so; where the plan alone is at an edge
    (search x6) or neither is (the right model, curves saturating inside the grid), not."""
    from mmm_workbench.reports.report import cell_verdicts

    root = tmp_path / "run"
    store = RunStore(root)
    manifest = {
        "scenario": "decision", "seed": 0, "replicates": 6,
        "cells": {"bound": {"label": "search x3", "overrides": []}},
    }  # fmt: skip
    store.initialize('name = "decision"\n', json.dumps(["bound"]), manifest)
    for rep in range(6):
        rng = np.random.default_rng(rep)
        spend = np.array([1.0, 3.0]) * rng.uniform(0.8, 1.2, 2)
        x = spend[:, None] * GRID[None, :]
        truth = np.stack([10.0 * x[0], 6.0 * (1 - np.exp(-x[1] / 3.0))])
        post = truth[None] * rng.lognormal(0.0, 0.02, size=(100, 2, 1))
        post[:, 1] *= 3.0
        store.write_record("bound", rep, _record("bound", rep, truth, post, spend))
    verdict = check(root)
    rows = verdict.decisions.set_index("channel")
    assert rows.loc["tv", "at_bound"] == 6 and rows.loc["tv", "bound"] == 2.0
    assert rows.loc["search", "at_bound"] == 0 and np.isnan(rows.loc["search", "bound"])
    assert rows["regret_share"].max() == pytest.approx(0.0, abs=1e-12)
    (said,) = [c.text for c in cell_verdicts(verdict)]
    assert (
        "budget plan loses 0% of the best achievable incremental outcome within the grid's "
        "range, but both plans put tv at the grid's highest multiplier (2x its spend) in 6 of "
        "6 fits, so that bound, not the model, set the whole plan"
    ) in said
    # where the plan alone is at an edge (search x6), the regret speaks for itself; the
    # right model's cell shares the optimum's bound on search (none of it) in some fits, and says so
    before = check(decision_run)
    other = before.decisions.set_index(["cell", "channel"])
    assert other.loc[("search6x", "search"), "at_edge"] > 0
    assert (other.loc["search6x", "at_bound"] == 0).all()
    assert dec.bound_words(before.decisions[before.decisions["cell"] == "search6x"]) == ""
    shared = int(other.loc[("right", "search"), "at_bound"])
    assert 0 < shared < 12 and other.loc[("right", "tv"), "at_bound"] == 0
    words = {c.cell: c.text for c in cell_verdicts(before)}
    assert "both plans put" not in words["search6x"]
    assert (
        f"but both plans put search at the grid's lowest multiplier (0x its spend) in "
        f"{shared} of 12 fits, so that bound, not the model, set its spend"
    ) in words["right"]
