"""Panel worlds (``[data.geo]``): the national world in geos, national truth = sums over geos.

The strongest check is the exactness one: with no spread, no split noise, no confounding
and no demand noise, each geo is its share of the national world, so the geos' expected
target, contributions and causal estimands sum to the national world's computed by the
national generator (a different code path). The others check the ratios of sums, one
geo's ROAS against a brute-force re-simulation, the supports of the pooled parameters, the
spend split, the files written, memory linear in geos, and that a national scenario
simulates bit for bit as before panel worlds existed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import tomllib
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from mmm_workbench.scenarios import parse_scenario, read_scenario, replicate_rng
from mmm_workbench.scenarios.families import Param
from mmm_workbench.scenarios.spec import DataSpec, GeoSpec
from mmm_workbench.simulate import generate, read_dataset, write_dataset
from mmm_workbench.simulate.geo import pooled, split_spend
from mmm_workbench.simulate.truth import DEMAND_UNOBSERVED
from tests.conftest import portable_bytes

WORLD = """
name = "geo"
seed = 11
[data]
periods = 60
train_periods = 50
[data.demand]
scale = 100.0
noise_sd = 0.05
seasonality = [{ period = 26, sin = [0.2], cos = [0.1] }]
[data.proxy]
noise_sd = 0.02
[data.noise]
sd = 4.0
[[data.events]]
name = "sale"
dates = ["2021-03-05"]
effect = 10.0
[[data.channels]]
name = "tv"
beta = 40.0
spend = { demand_share = 0.5, noise_sd = 0.2 }
adstock = { kind = "geometric", alpha = 0.5, l_max = 6 }
saturation = { kind = "logistic", lam = 2.0 }
[[data.channels]]
name = "search"
beta = 25.0
spend = { pattern = "uniform", low = 5.0, high = 30.0 }
adstock = { kind = "delayed", alpha = 0.4, theta = 1.0, l_max = 4 }
saturation = { kind = "hill", slope = 1.5, kappa = 0.6 }
order = "saturation_first"
x_scale = 40.0
"""
SPREAD = """
[data.geo]
count = 7
size_decay = 0.8
split_noise = 0.3
confounding = 1.0
spread = { beta = 0.3, adstock = 0.4, saturation = 0.3, demand = 0.2, seasonality = 0.5 }
"""
EXACT = "[data.geo]\ncount = 5\nsizes = [5.0, 1.0, 2.0, 0.5, 3.0]\n"


def _spec(text: str) -> DataSpec:
    return parse_scenario(tomllib.loads(text)).data


def _tree(spec: DataSpec, replicate: int = 0) -> xr.DataTree:
    return generate(spec, replicate_rng(11, "c0ffee", replicate))


def test_without_spread_the_geos_sum_to_the_national_world() -> None:
    """No spread, split noise, confounding nor demand noise: every geo is its share of the
    nation, so the national truth of the panel equals the national generator's (noise
    differs: the geos draw their own; the noise-free estimands do not see it)."""
    world = WORLD.replace("noise_sd = 0.05", "noise_sd = 0.0")
    national = _tree(_spec(world))["truth"]
    panel = _tree(_spec(world + EXACT))
    truth = panel["truth"]
    for name in (
        "mu",
        "baseline",
        "channel_contribution",
        "contribution_total",
        "roas_noise_free",
        "mroas_noise_free",
        "response_noise_free",
        "response_spend",
        "planned_spend",
        "x_scale",
    ):
        np.testing.assert_allclose(truth[name], national[name], rtol=1e-9, atol=1e-9, err_msg=name)
    # the panel's observed spend is the national plan split by size share
    spend = panel["observed"]["spend"]
    split = national["planned_spend"] * panel["truth/geo"]["share"]
    np.testing.assert_allclose(spend, split.transpose(*spend.dims), rtol=1e-12)
    # the sizes do not matter (each geo is its share, whatever the shares) ...
    equal = _tree(_spec(world + "[data.geo]\ncount = 5\n"))["truth"]
    np.testing.assert_allclose(equal["roas_noise_free"], national["roas_noise_free"], rtol=1e-9)
    # ... but an uneven split does: saturation is not linear, so the nation's ROAS moves
    noisy = _tree(_spec(world + EXACT + "split_noise = 0.5\n"))["truth"]
    assert not np.allclose(noisy["roas_noise_free"], national["roas_noise_free"], rtol=1e-3)


def test_national_truth_is_sums_and_ratios_of_sums_over_geos() -> None:
    tree = _tree(_spec(WORLD + SPREAD))
    nat, geo, obs = tree["truth"], tree["truth/geo"], tree["observed"]
    for name in ("contribution_total", "channel_contribution", "response", "response_spend",
                 "y", "mu", "baseline", "channel_total_effect"):  # fmt: skip
        np.testing.assert_allclose(nat[name], geo[name].sum("geo"), rtol=1e-10, err_msg=name)
    np.testing.assert_allclose(nat["y"], obs["sales"].sum("geo"), rtol=1e-12)
    spend = obs["spend"].isel(date=slice(0, 50)).sum("date")  # (geo, channel)
    for name in ("roas", "mroas", "roas_noise_free"):
        weighted = (geo[name] * spend).sum("geo") / spend.sum("geo")
        np.testing.assert_allclose(nat[name], weighted, rtol=1e-10, err_msg=name)
        # the mean of the geos' ratios is another number: a wrong aggregation would show
        assert not np.allclose(nat[name], geo[name].mean("geo"), rtol=1e-3)
    share = nat["contribution_total"] / nat["y"].isel(date=slice(0, 50)).sum()
    np.testing.assert_allclose(nat["contribution_share"], share, rtol=1e-12)


def test_one_geos_roas_by_brute_force() -> None:
    """Switch one channel off in the training window of one geo only, re-simulate that geo
    with the outcome function and the world's own parameters: the same ROAS."""
    from mmm_workbench.simulate import geo as geo_module

    spec = _spec(WORLD + SPREAD)
    tree = _tree(spec)
    names = geo_module._STREAMS
    streams = dict(zip(names, replicate_rng(11, "c0ffee", 0).spawn(len(names)), strict=True))
    world, _, planned, _ = geo_module._draw_world(spec, spec.geo, streams)  # type: ignore[arg-type]
    horizon = 5  # the longest l_max - 1
    long = geo_module._extend(world, horizon)
    plan = np.pad(planned, ((0, 0), (0, 0), (0, horizon)))
    factual = geo_module.geo_outcome(long, plan)
    g, c = 3, 1
    off = plan.copy()
    off[g, c, :50] = 0.0
    counter = geo_module.geo_outcome(long, off)
    effect = (factual["y"][g] - counter["y"][g]).sum()
    roas = effect / planned[g, c, :50].sum()
    assert float(tree["truth/geo"]["roas"][g, c]) == pytest.approx(roas, rel=1e-10)
    # the other geos did not move
    np.testing.assert_array_equal(np.delete(counter["y"], g, 0), np.delete(factual["y"], g, 0))


def test_geo_parameters_spread_around_the_national_values_within_their_supports() -> None:
    tree = _tree(_spec(WORLD + SPREAD.replace("count = 7", "count = 400")))
    geo = tree["truth/geo"]
    alpha = geo["adstock_alpha"].sel(channel="tv")
    assert float(alpha.min()) > 0 and float(alpha.max()) < 1
    assert float(alpha.median()) == pytest.approx(0.5, abs=0.05)
    per_size = geo["saturation_beta"] / geo["share"]
    assert float(np.log(per_size.sel(channel="tv")).std()) == pytest.approx(0.3, rel=0.15)
    assert float(per_size.sel(channel="tv").median()) == pytest.approx(40.0, rel=0.1)
    assert float(geo["saturation_slope"].sel(channel="search").min()) > 0
    # the national (pool-centre) values are what /truth reports as parameters
    assert float(tree["truth"]["adstock_alpha"].sel(channel="tv")) == 0.5


def test_pooled_keeps_supports_medians_and_bounds() -> None:
    z = np.random.default_rng(0).standard_normal(20_000)
    unit = Param(name="alpha", low=0.0, high=1.0, high_open=True)
    draws = pooled(0.9, unit, 3.0, z)
    assert draws.min() >= 0 and draws.max() < 1
    assert np.median(draws) == pytest.approx(0.9, abs=0.01)
    logit = np.log(draws / (1 - draws))
    assert logit.std() == pytest.approx(3.0, rel=0.03)
    positive = pooled(2.0, Param(name="lam", low=0.0, low_open=True), 0.5, z)
    assert positive.min() > 0 and np.log(positive).std() == pytest.approx(0.5, rel=0.03)
    np.testing.assert_array_equal(pooled(2.0, unit, 0.0, z[:5]), np.full(5, 2.0))
    np.testing.assert_array_equal(pooled(0.0, unit, 1.0, z[:5]), np.zeros(5))  # on the bound


def test_split_keeps_the_national_plan_and_confounding_follows_demand() -> None:
    rng = np.random.default_rng(1)
    national = rng.uniform(1, 2, (2, 300))
    demand = rng.uniform(0.5, 1.5, (4, 300)) * np.array([[4.0], [3.0], [2.0], [1.0]])
    plain = GeoSpec(count=4, sizes=(4.0, 3.0, 2.0, 1.0))
    np.testing.assert_allclose(
        split_spend(plain, national, demand, rng), national * np.array([0.4, 0.3, 0.2, 0.1])[:, None, None]
    )  # fmt: skip
    noisy = GeoSpec(count=4, sizes=(4.0, 3.0, 2.0, 1.0), split_noise=0.5, confounding=2.0)
    split = split_spend(noisy, national, demand, rng)
    np.testing.assert_allclose(split.sum(axis=0), national, rtol=1e-12)
    per_size = demand / np.array([4.0, 3.0, 2.0, 1.0])[:, None]
    share = split[:, 0] / national[0] / np.array([0.4, 0.3, 0.2, 0.1])[:, None]
    assert np.corrcoef(per_size.ravel(), share.ravel())[0, 1] > 0.3
    unconfounded = split_spend(dataclasses.replace(noisy, confounding=0.0), national, demand, rng)
    share0 = unconfounded[:, 0] / national[0] / np.array([0.4, 0.3, 0.2, 0.1])[:, None]
    assert abs(np.corrcoef(per_size.ravel(), share0.ravel())[0, 1]) < 0.1


def test_the_panel_is_written_with_a_geo_column(tmp_path: Path) -> None:
    tree = _tree(_spec(WORLD + SPREAD))
    paths = write_dataset(tree, tmp_path)
    frame = pd.read_csv(paths["csv"])
    assert list(frame.columns) == ["date", "geo", "tv", "search", "demand_proxy", "event_sale",
                                   "sales"]  # fmt: skip
    assert len(frame) == 60 * 7
    assert frame["geo"].iloc[:7].tolist() == [f"geo_0{g}" for g in range(1, 8)]
    by_date = frame.groupby("date", sort=True)["sales"].sum().to_numpy()
    np.testing.assert_allclose(by_date, tree["truth"]["y"], rtol=1e-10)
    back = read_dataset(paths["netcdf"])
    xr.testing.assert_allclose(back["truth/geo"].to_dataset(), tree["truth/geo"].to_dataset())
    assert back["observed"]["spend"].dims == ("date", "geo", "channel")


def test_replicates_differ_and_repeat() -> None:
    spec = _spec(WORLD + SPREAD)
    a, b, again = _tree(spec, 0), _tree(spec, 1), _tree(spec, 0)
    assert not np.allclose(a["truth/geo"]["saturation_beta"], b["truth/geo"]["saturation_beta"])
    xr.testing.assert_identical(a["observed"].to_dataset(), again["observed"].to_dataset())


def test_memory_is_linear_in_geos() -> None:
    """Peak memory of one replicate at 16 and 64 geos (x 4): at most ~x 5 (linear plus the
    fixed part), never the x 16 of a geo x geo array."""
    spec = _spec(WORLD + SPREAD)
    assert spec.geo is not None
    peaks = []
    for count in (16, 64):
        data = dataclasses.replace(spec, geo=dataclasses.replace(spec.geo, count=count))
        tracemalloc.start()
        _tree(data)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] / peaks[0] < 5.0, peaks


def _digest(tree: xr.DataTree) -> str:
    h = hashlib.sha256()
    for node in tree.subtree:
        ds = node.to_dataset(inherit=False)
        for k in sorted(ds.data_vars):
            if k in DEMAND_UNOBSERVED:  # added since (simulate.truth.demand_unobserved)
                continue
            h.update(str(k).encode())
            h.update(portable_bytes(ds[k].to_numpy()))
        h.update(repr(sorted(ds.attrs.items())).encode())
    return h.hexdigest()[:16]


def test_a_national_scenario_simulates_bit_for_bit_as_before() -> None:
    """The quickstart's first cell, replicate 1: its cell id and the digest of every array
    and attribute of its dataset, computed with the code before panel worlds existed
    (commit 68bd976). Floats enter rounded (:func:`portable_bytes`: the raw bytes differ
    between CPUs with and without AVX-512, 6749040b2a39a22a against 00f2fadc0d8cd6ad). numpy
    or xarray upgrades that change float results beyond that or the tree's layout change the
    digest too: recompute it then, with the same function, at a commit without geo changes."""
    cell = read_scenario("quickstart").cells[0]
    assert (cell.cell_id, cell.data_id) == ("3c5d3f65016b", "25adfa1eb06f")
    scenario = cell.scenario
    tree = generate(scenario.data, replicate_rng(scenario.seed, cell.data_id, 1))
    assert _digest(tree) == "f9de52b79f77c4b3"


def test_truth_priors_are_drawn_nationally_and_the_geos_spread_around_the_draw() -> None:
    """A prior over a channel's beta draws the national value per replicate; the geos are
    centred on that draw, not on the prior's mean."""
    text = WORLD.replace("beta = 40.0", 'beta = { dist = "Gamma", mu = 40, sigma = 10 }')
    spec = _spec(text + SPREAD.replace("count = 7", "count = 300"))
    for replicate in (0, 1):
        tree = _tree(spec, replicate)
        drawn = float(tree["truth"]["saturation_beta"].sel(channel="tv"))
        geo = tree["truth/geo"]
        per_size = (geo["saturation_beta"] / geo["share"]).sel(channel="tv")
        assert float(per_size.median()) == pytest.approx(drawn, rel=0.06)
        assert drawn != pytest.approx(40.0, rel=1e-3)
