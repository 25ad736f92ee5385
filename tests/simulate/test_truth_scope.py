"""The causal estimands' scope (simulate/truth.py): lifts, ROAS, mROAS and response curves
count the whole carry-over, past the end of the data and through mediated channels.

Every expected value is recomputed here in plain numpy from the dataset's planned spend,
baseline and noise (``np.convolve`` kernels, closed-form curves), never with the
simulator's functions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import xarray as xr

from mmm_workbench.scenarios import parse_scenario
from mmm_workbench.simulate import generate
from tests.conftest import tiny_raw


def kernel(ad: dict[str, Any]) -> np.ndarray:
    lags = np.arange(ad["l_max"], dtype=float)
    if ad["kind"] == "geometric":
        w = ad["alpha"] ** lags
    else:  # delayed
        w = ad["alpha"] ** ((lags - ad["theta"]) ** 2)
    return w / w.sum() if ad.get("normalize", True) else w  # the DGP normalizes by default


def conv(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Causal convolution over the last axis, zeros before the first period."""
    return np.apply_along_axis(lambda v: np.convolve(v, w)[: len(v)], -1, x)


def curve(x: np.ndarray, sat: dict[str, Any]) -> np.ndarray:
    if sat["kind"] == "logistic":
        return (1 - np.exp(-sat["lam"] * x)) / (1 + np.exp(-sat["lam"] * x))
    if sat["kind"] == "hill":
        return x ** sat["slope"] / (sat["kappa"] ** sat["slope"] + x ** sat["slope"])
    raise AssertionError(sat["kind"])


class Reference:
    """The DGP of a generated dataset, recomputed from its raw scenario and stored draws,
    over the data plus ``tail`` periods with zero spend, the last baseline and no noise."""

    def __init__(self, raw: dict[str, Any], tree: xr.DataTree, tail: int) -> None:
        self.data = raw["data"]
        self.names = [c["name"] for c in self.data["channels"]]
        truth = tree["truth"]
        self.n = len(truth["baseline"])
        self.tail = tail
        self.planned = np.pad(truth["planned_spend"].to_numpy().T, ((0, 0), (0, tail)))
        self.x_scale = truth["x_scale"].to_numpy()
        self.baseline = np.pad(truth["baseline"].to_numpy(), (0, tail), mode="edge")
        noise = truth["noise"].to_numpy()
        if self.data.get("model") == "multiplicative" or self.data["noise"]["kind"] == "lognormal":
            noise = np.log(truth["y"].to_numpy() / truth["mu"].to_numpy())
        self.noise = np.pad(noise, (0, tail))
        self.refs = self._activity_refs()

    def _activity(self, c: int, spend: np.ndarray) -> np.ndarray:
        return conv(spend, kernel(self.data["channels"][c]["adstock"]))

    def _activity_refs(self) -> dict[int, float]:
        spend = self.realized(self.planned[None], refs={})[0]
        return {
            self.names.index(m["source"]): float(
                self._activity(self.names.index(m["source"]), spend[self.names.index(m["source"])])[
                    : self.n
                ].max()
            )
            for m in self.data.get("mediation", [])
        }

    def realized(self, planned: np.ndarray, refs: dict[int, float] | None = None) -> np.ndarray:
        refs = self.refs if refs is None else refs
        spend = planned.copy()
        for m in self.data.get("mediation", []):  # sources here are never targets
            if m["on"] == "spend":
                s, t = self.names.index(m["source"]), self.names.index(m["target"])
                act = self._activity(s, spend[:, s])
                spend[:, t] *= 1 + m["strength"] * act / refs.get(s, act[:, : self.n].max())
        return spend

    def outcome(self, planned: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mu, y) for plans ``(plan, channel, date)``."""
        spend = self.realized(planned)
        terms = np.empty_like(spend)
        for c, ch in enumerate(self.data["channels"]):
            x = spend[:, c] / self.x_scale[c]
            w = kernel(ch["adstock"])
            if ch.get("order", "adstock_first") == "adstock_first":
                terms[:, c] = ch["beta"] * curve(conv(x, w), ch["saturation"])
            else:
                terms[:, c] = ch["beta"] * conv(curve(x, ch["saturation"]), w)
        for m in self.data.get("mediation", []):
            if m["on"] == "effect":
                s, t = self.names.index(m["source"]), self.names.index(m["target"])
                act = self._activity(s, spend[:, s]) / self.refs[s]
                terms[:, t] *= 1 + m["strength"] * act
        if self.data.get("model") == "multiplicative":
            mu = self.baseline * np.exp(terms.sum(axis=1))
            return mu, mu * np.exp(self.noise)
        mu = self.baseline + terms.sum(axis=1)
        if self.data["noise"]["kind"] == "lognormal":
            return mu, mu * np.exp(self.noise)
        return mu, mu + self.noise


def _generate(raw: dict[str, Any], seed: int = 3) -> xr.DataTree:
    return generate(parse_scenario(raw).data, np.random.default_rng(seed))


def test_a_lift_ending_at_the_last_period_counts_its_tail_past_the_data() -> None:
    """80 weeks, a test from week 70 for 8 weeks at -50% spend, delayed adstock with
    l_max = 7, saturation first: 6 periods of carry-over fall past the data."""
    raw = tiny_raw(periods=80, train_periods=80)
    ch = raw["data"]["channels"][0]
    ch.update(
        adstock={"kind": "delayed", "alpha": 0.6, "theta": 2.0, "l_max": 7},
        saturation={"kind": "logistic", "lam": 1.2},
        order="saturation_first",
        beta=120.0,
    )
    raw["data"]["channels"] = [ch]
    raw["data"]["lift_tests"] = [
        {"channel": "tv", "start": 70, "periods": 8, "spend_change": -0.5, "sigma": 1.0}
    ]
    tree = _generate(raw)
    ref = Reference(raw, tree, tail=6)
    tested = ref.planned.copy()
    tested[0, 70:78] *= 0.5
    mu, y = ref.outcome(np.stack([ref.planned, tested]))
    lift = y[1] - y[0]
    expected = lift[70:].sum()
    inside = lift[70:80].sum()
    assert abs(expected - inside) > 0.02 * abs(expected)  # the tail past the data matters
    truth = tree["truth"]
    assert float(truth["lift_total"][0]) == pytest.approx(expected, rel=1e-10)
    assert float(truth["lift_total_noise_free"][0]) == pytest.approx(
        (mu[1] - mu[0])[70:].sum(), rel=1e-10
    )
    assert float(truth["lift_delta_y_true"][0]) == pytest.approx(expected / 8, rel=1e-10)
    assert truth.attrs["carry_over_periods"] == 6


def test_a_mediated_lift_counts_the_downstream_carry_over() -> None:
    """tv (l_max 3) raises search's spend; search (geometric alpha 0.85, l_max 13) carries
    it over for 12 more periods: the lift runs 2 + 12 periods past the test window."""
    raw = tiny_raw(periods=60, train_periods=60)
    tv, search = raw["data"]["channels"]
    tv["adstock"] = {"kind": "geometric", "alpha": 0.5, "l_max": 3}
    search["adstock"] = {"kind": "geometric", "alpha": 0.85, "l_max": 13}
    raw["data"]["mediation"] = [
        {"source": "tv", "target": "search", "on": "spend", "strength": 1.5}
    ]
    raw["data"]["lift_tests"] = [
        {"channel": "tv", "start": 20, "periods": 4, "spend_change": -0.5, "sigma": 1.0}
    ]
    tree = _generate(raw)
    ref = Reference(raw, tree, tail=14)
    tested = ref.planned.copy()
    tested[0, 20:24] *= 0.5
    _, y = ref.outcome(np.stack([ref.planned, tested]))
    lift = y[1] - y[0]
    expected = lift[20:].sum()
    assert np.all(lift[24 + 14 :] == 0)  # nothing after the longest carry-over
    own_tail_only = lift[20 : 24 + 2].sum()  # tv's own l_max - 1 periods after the window
    assert abs(expected - own_tail_only) > 0.01 * abs(expected)
    assert float(tree["truth"]["lift_total"][0]) == pytest.approx(expected, rel=1e-10)
    assert tree["truth"].attrs["carry_over_periods"] == 14


@pytest.mark.parametrize("noise", ["normal", "lognormal"])
def test_roas_mroas_response_count_carry_over_into_holdout_and_past_the_data(
    noise: str,
) -> None:
    """Training window 0..29 of 40; holdout spend stays as realized; the noisy estimands
    use the realized noise inside the data, the noise-free twins the expected target."""
    raw = tiny_raw(periods=40, train_periods=30)
    raw["data"]["noise"] = {"kind": noise, "sd": 0.05 if noise == "lognormal" else 2.0}
    raw["data"]["response_multipliers"] = [0.0, 0.5, 1.0, 2.0]
    tree = _generate(raw)
    ref = Reference(raw, tree, tail=5)  # tv l_max 6, search 4
    truth = tree["truth"]
    spend = tree["observed"]["spend"].to_numpy()[:30].sum(axis=0)
    for c, name in enumerate(ref.names):

        def plan(factor: float, c: int = c) -> np.ndarray:
            p = ref.planned.copy()
            p[c, :30] *= factor
            return p

        factors = [1.0, 0.0, 1.01, 0.5, 2.0]
        mu, y = ref.outcome(np.stack([plan(f) for f in factors]))
        for suffix, out in (("", y), ("_noise_free", mu)):
            ch = truth.sel(channel=name)
            total = (out[0] - out[1]).sum()
            assert float(ch["roas" + suffix]) == pytest.approx(total / spend[c], rel=1e-9)
            mroas = (out[2] - out[0]).sum() / (0.01 * spend[c])
            assert float(ch["mroas" + suffix]) == pytest.approx(mroas, rel=1e-7)
            expected_curve = [0.0, (out[3] - out[1]).sum(), total, (out[4] - out[1]).sum()]
            np.testing.assert_allclose(ch["response" + suffix], expected_curve, rtol=1e-9)
            inside_training = (out[0] - out[1])[:30].sum()
            assert abs(total - inside_training) > 0.01 * abs(total)  # carry-over counts
        if noise == "normal":  # additive noise cancels in every difference
            assert float(ch["roas"]) == pytest.approx(float(ch["roas_noise_free"]), rel=1e-9)
        else:
            assert float(ch["roas"]) != pytest.approx(float(ch["roas_noise_free"]), rel=1e-4)
    np.testing.assert_allclose(
        truth["response_spend"], spend[:, None] * np.array([0.0, 0.5, 1.0, 2.0]), rtol=1e-12
    )


def test_channel_total_effect_switches_the_channel_off_in_every_period() -> None:
    raw = tiny_raw(periods=40, train_periods=30)
    tree = _generate(raw)
    ref = Reference(raw, tree, tail=5)
    for c, name in enumerate(ref.names):
        off = ref.planned.copy()
        off[c] = 0.0
        _, y = ref.outcome(np.stack([ref.planned, off]))
        np.testing.assert_allclose(
            tree["truth"]["channel_total_effect"].sel(channel=name), (y[0] - y[1])[:40], rtol=1e-9
        )


# --------------------------------------------------------------------------- test gaps


def test_multiplicative_contributions_against_the_equation() -> None:
    """mu = baseline * exp(sum terms); a channel's contribution is what removing its term
    takes away, mu * (1 - exp(-term)); interaction is the rest (here: negative)."""
    raw = tiny_raw(model="multiplicative", intercept=500.0)
    raw["data"]["noise"] = {"kind": "normal", "sd": 0.05}
    for ch in raw["data"]["channels"]:
        ch["beta"] = 0.3
    tree = _generate(raw)
    truth = tree["truth"]
    ref = Reference(raw, tree, tail=0)
    spend = ref.realized(ref.planned[None])[0]
    terms = []
    for c, ch in enumerate(raw["data"]["channels"]):
        x = conv(spend[c] / ref.x_scale[c], kernel(ch["adstock"]))
        terms.append(ch["beta"] * curve(x, ch["saturation"]))
    mu = ref.baseline * np.exp(np.sum(terms, axis=0))
    np.testing.assert_allclose(truth["mu"], mu, rtol=1e-12)
    for c, name in enumerate(ref.names):
        np.testing.assert_allclose(
            truth["channel_contribution"].sel(channel=name),
            mu * (1 - np.exp(-terms[c])),
            rtol=1e-12,
        )
    interaction = mu - ref.baseline - sum(mu * (1 - np.exp(-t)) for t in terms)
    np.testing.assert_allclose(truth["interaction"], interaction, rtol=1e-10, atol=1e-9)
    assert np.all(interaction < 0)
    log_noise = np.log(tree["observed"]["sales"].to_numpy() / mu)  # N(0, 0.05) on the log scale
    assert 0.02 < log_noise.std() < 0.08
    np.testing.assert_allclose(truth["noise"], mu * np.expm1(log_noise), rtol=1e-9)


def _standard_normal(z: np.ndarray) -> bool:
    """Whether ``z`` looks like independent N(0, 1) draws (mean, sd, lag-1 correlation
    within about 4 standard errors for its length)."""
    n = len(z)
    if abs(z.mean()) >= 4 / np.sqrt(n) or abs(z.std() - 1) >= 4 / np.sqrt(2 * n):
        return False
    return bool(abs(np.corrcoef(z[:-1], z[1:])[0, 1]) < 4 / np.sqrt(n))


@pytest.mark.parametrize("kind", ["sigma", "sigma_rel"])
def test_measured_lifts_carry_their_noise(kind: str) -> None:
    """400 lift tests: the measured delta_y is delta_y_true plus N(0, sigma), with sigma
    given or sigma_rel * |delta_y_true|; the broken alternatives (no noise, the noise
    doubled, one draw for all) are rejected by the same check."""
    tests = [
        {
            "channel": ("tv", "search")[i % 2],
            "start": i % 30,
            "periods": 1 + i % 4,
            "spend_change": (-0.5, 0.3)[i % 2],
            kind: 2.0 if kind == "sigma" else 0.1,
        }
        for i in range(400)
    ]
    tree = _generate(tiny_raw(lift_tests=tests))
    obs, truth = tree["observed"], tree["truth"]
    true_dy = truth["lift_delta_y_true"].to_numpy()
    sigma = obs["lift_sigma"].to_numpy()
    expected_sigma = 2.0 if kind == "sigma" else 0.1 * np.abs(true_dy)
    np.testing.assert_allclose(sigma, expected_sigma, rtol=1e-12)
    noise = obs["lift_delta_y"].to_numpy() - true_dy
    z = noise / sigma
    assert _standard_normal(z)
    assert not _standard_normal(0 * z)
    assert not _standard_normal(2 * z)
    assert not _standard_normal(np.full_like(z, z[0]))


def test_a_channel_without_training_spend(monkeypatch: pytest.MonkeyPatch) -> None:
    """tv spends only in the holdout: its training-window estimands are undefined (NaN)
    or zero, its effect in the holdout is not; pymc-marketing's channel scale falls back
    to 1 (its training maximum is 0)."""
    import mmm_workbench.simulate.generator as generator

    original = generator.planned_spend

    def no_tv_in_training(*args: Any) -> np.ndarray:
        out = original(*args)
        out[0, :30] = 0.0
        return out

    monkeypatch.setattr(generator, "planned_spend", no_tv_in_training)
    tree = _generate(tiny_raw(periods=40, train_periods=30))
    tv = tree["truth"].sel(channel="tv")
    for name in ("roas", "mroas", "roas_noise_free", "mroas_noise_free"):
        assert np.isnan(float(tv[name])), name
    assert float(tv["contribution_total"]) == 0.0
    assert float(tv["contribution_share"]) == 0.0
    np.testing.assert_array_equal(tv["response"], 0.0)
    np.testing.assert_array_equal(tv["response_spend"], 0.0)
    effect = tv["channel_total_effect"].to_numpy()
    assert np.all(effect[:30] == 0.0) and np.all(effect[30:] > 0.0)
    group = tree["truth/pymc_marketing"].sel(channel="tv")
    assert float(group["channel_scale"]) == 1.0
    np.testing.assert_array_equal(group["channel_contribution"][:30], 0.0)
    search = tree["truth"].sel(channel="search")
    assert np.isfinite(float(search["roas"])) and float(search["roas"]) > 0


@pytest.mark.parametrize("train", [6, 10])
def test_counterfactual_plan_list(train: int) -> None:
    """Each channel off in the training window, +1% there, times each multiplier there,
    then (only with a holdout) off in every period; nothing else changes."""
    from mmm_workbench.simulate.truth import counterfactual_plans

    planned = np.arange(1.0, 21.0).reshape(2, 10)
    mults = np.array([0.0, 0.5, 2.0])
    plans = counterfactual_plans(planned, mults, train)
    expected = []
    for factor in [0.0, 1.01, *mults]:
        for c in range(2):
            p = planned.copy()
            p[c, :train] *= factor
            expected.append((c, factor, p))
    order = [0, 1, 2, 3] + [4 + 2 * m + c for c in range(2) for m in range(3)]
    wanted = [expected[i][2] for i in order]
    if train < 10:
        for c in range(2):
            p = planned.copy()
            p[c] = 0.0
            wanted.append(p)
    np.testing.assert_array_equal(plans, np.stack(wanted))
    np.testing.assert_array_equal(
        counterfactual_plans(planned, mults, train, range(3, 5)), plans[3:5]
    )
