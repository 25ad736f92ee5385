"""Ranks of the truth among posterior draws and their calibration checks, always per cell.

The ranks' uniformity tests (with a Holm correction), rank histograms and ECDF differences
with simultaneous bands (Saeilynoja, Buerkner & Vehtari 2022, Statistics and Computing
32:32), as tidy frames.

What the ranks mean depends on how the truth was made:

- **SBC** (simulation-based calibration; Talts, Betancourt, Simpson, Vehtari & Gelman
  2018, arXiv:1804.06788): the truth of each replicate is drawn from the prior and the
  data from the model. If the posterior is exact, the rank of the truth among ``L``
  posterior draws is uniform on ``0..L`` for every estimand.
- **PIT at a fixed truth**: every replicate of a cell shares one truth (a scenario's fixed
  parameters). The same statistics are computed, but no uniformity is guaranteed: an
  exact posterior is shrunk towards its prior, so at a fixed truth its ranks pile up on
  one side wherever the prior has a say. Read them as a diagnostic, not as SBC.

:func:`truth_design` tells the two apart from the data (does a cell's truth vary across
its replicates?); cells are never pooled, since one cell's ranks carry no information
about another's calibration and a biased cell would hide in a pooled histogram.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Literal, cast

import numpy as np
import pandas as pd
from arviz_stats import ecdf_utils
from arviz_stats.base.array import array_stats
from numpy.typing import ArrayLike, NDArray
from scipy import special, stats

__all__ = [
    "METHODS",
    "MIN_UNIFORMITY_REPLICATES",
    "TRUTH_LABELS",
    "ecdf_gamma",
    "holm",
    "rank_histogram",
    "rank_rng",
    "sbc_ecdf",
    "sbc_rank",
    "sbc_uniformity",
    "truth_design",
    "uniformity_pvalue",
]

Method = Literal["pot_c", "chi2", "ecdf"]
METHODS: tuple[str, ...] = ("pot_c", "chi2", "ecdf")
_KEYS = ["cell", "cell_label", "estimand", "coords"]

MIN_UNIFORMITY_REPLICATES = 20
"""Replicates a uniformity test needs to have power. Measured (300 simulations per entry,
``pot_c`` at alpha 0.01): against a posterior sd half the true one, power 0.49 / 0.67 /
0.92 / 0.99 at 5 / 10 / 20 / 30 replicates; against a shift of one posterior sd, 0.30 /
0.60 / 0.93 / 1.00. A posterior 1.5 times too wide needs about 100 (power 0.69)."""

TRUTH_LABELS = {
    "drawn": "SBC",
    "fixed": "PIT at a fixed truth",
    "partly": "PIT at a partly fixed truth",
}
"""How a cell's rank statistics are named, by :func:`truth_design`'s ``truth``."""

PARAMETER_FAMILY = "parameter"
SERIES_FAMILY = "series"


def rank_rng(seed: int, cell: str, replicate: int, estimand: str) -> np.random.Generator:
    """Return the generator that breaks rank ties for one (cell, replicate, estimand).

    The same in every process and session (``zlib.crc32`` of the names, not Python's ``hash``).
    """
    words = [seed, zlib.crc32(cell.encode()), replicate, zlib.crc32(estimand.encode())]
    return np.random.default_rng([int(w) for w in words])


def sbc_rank(
    draws: ArrayLike, truth: ArrayLike, n_ranks: int, rng: np.random.Generator
) -> tuple[NDArray[np.int64], int, NDArray[np.float64]]:
    """Rank of ``truth`` ``(k,)`` among ``draws`` ``(sample, k)`` thinned to ``L`` draws.

    Returns ``(rank, L, pit)``: ``rank`` in ``0..L``, ``L = min(n_ranks, sample)``, and
    ``pit = (rank + U) / (L + 1)`` with ``U ~ Uniform(0, 1)``, exactly uniform on (0, 1)
    when the rank is uniform, so that ranks with different ``L`` can be pooled.

    Notes
    -----
    Thinning keeps ``L`` evenly spaced draws (``i * S // L``) to weaken autocorrelation
    (Talts et al. 2018, sec. 4.1). Ties (draws equal to the truth: discrete quantities,
    fixed parameters, a zero response at zero spend) are broken at random:
    ``rank = #{draws < truth} + Uniform{0..#{draws == truth}}``.
    """
    x = np.asarray(draws, dtype=np.float64)
    y = np.asarray(truth, dtype=np.float64).reshape(x.shape[1])
    s = x.shape[0]
    n = max(1, min(int(n_ranks), s))
    thin = x[(np.arange(n) * s) // n]
    less = np.count_nonzero(thin < y, axis=0)
    ties = np.count_nonzero(thin == y, axis=0)
    rank = (less + rng.integers(0, ties + 1)).astype(np.int64)
    pit = (rank + rng.uniform(size=rank.shape)) / (n + 1)
    return rank, n, pit


def ecdf_gamma(pit: ArrayLike, z: ArrayLike | None = None) -> float:
    """Compute the Saeilynoja et al. (2022) ECDF uniformity statistic of ``pit``.

    It is twice the smallest binomial tail probability of the ECDF of ``pit`` at the points
    ``z`` (default ``i / N``); small means non-uniform.
    """
    u = np.sort(np.asarray(pit, dtype=np.float64))
    n = u.size
    zz = np.arange(1, n) / n if z is None else np.asarray(z, dtype=np.float64)
    counts = np.searchsorted(u, zz, side="right")
    lower = special.bdtr(counts, n, zz)
    upper = 1.0 - special.bdtr(counts - 1, n, zz)
    return float(2 * min(lower.min(), upper.min()))


@lru_cache(maxsize=64)
def _gamma_null(n: int, n_simulations: int, seed: int) -> NDArray[np.float64]:
    rng = np.random.default_rng(seed)
    return np.sort([ecdf_gamma(rng.uniform(size=n)) for _ in range(n_simulations)])


def uniformity_pvalue(
    pit: ArrayLike,
    method: Method = "pot_c",
    *,
    bins: int | None = None,
    n_simulations: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """``(statistic, p_value)`` of a test that ``pit`` is uniform on (0, 1).

    Notes
    -----
    ``method``:

    - ``pot_c``: arviz-stats' pointwise order-statistic test with a truncated Cauchy
      combination (``uniformity_test``; Tesso & Vehtari 2026, arXiv:2603.02928); analytic
      p-value, so it survives a Holm correction; statistic NaN. The default.
    - ``chi2``: Pearson's chi-square on ``bins`` equal bins of (0, 1) (default
      ``min(20, N // 5)``, at least 2), ``bins - 1`` degrees of freedom.
    - ``ecdf``: the ECDF test of Saeilynoja et al. (2022) (:func:`ecdf_gamma`), its null
      distribution simulated (``n_simulations``, seeded): p-values are multiples of
      ``1 / (n_simulations + 1)``, too coarse for a Holm correction over many estimands.
    """
    u = np.asarray(pit, dtype=np.float64)
    u = u[np.isfinite(u)]
    n = u.size
    if n < 2:
        return np.nan, np.nan
    if method == "pot_c":
        p_value = cast(Any, array_stats).uniformity_test(u, method="pot_c")[0]
        return np.nan, float(np.clip(p_value, 0.0, 1.0))
    if method == "chi2":
        b = bins if bins is not None else max(2, min(20, n // 5))
        observed = np.histogram(u, bins=b, range=(0.0, 1.0))[0]
        chi2 = float(((observed - n / b) ** 2 / (n / b)).sum())
        return chi2, float(stats.chi2.sf(chi2, b - 1))
    if method == "ecdf":
        gamma = ecdf_gamma(u)
        null = _gamma_null(n, n_simulations, seed)
        count = int(np.searchsorted(null, gamma, side="right"))
        return gamma, (1 + count) / (n_simulations + 1)
    raise ValueError(f"method = {method!r}: must be one of {', '.join(METHODS)}")


def holm(p_values: ArrayLike) -> NDArray[np.float64]:
    """Holm (1979) step-down adjusted p-values; NaN stays NaN and is not counted.

    Notes
    -----
    With ``m`` finite p-values sorted ``p_(1) <= ... <= p_(m)``:
    ``p~_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))``. Rejecting ``p~ < alpha`` controls
    the family-wise error rate at ``alpha``.
    """
    p = np.asarray(p_values, dtype=np.float64).reshape(-1)
    out = np.full(p.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    m = finite.size
    if m == 0:
        return out
    order = finite[np.argsort(p[finite], kind="stable")]
    adjusted = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(adjusted)
    return out


def sbc_uniformity(
    table: pd.DataFrame,
    *,
    method: Method = "pot_c",
    alpha: float = 0.01,
    bins: int | None = None,
    n_simulations: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Test rank uniformity per (cell, estimand, coords) of an estimand table.

    The p-values are Holm-corrected across the rows of each cell that ``table`` holds.

    ``table`` needs ``cell, cell_label, estimand, coords, rank_draws, pit`` (as written by
    :func:`mmm_workbench.reports.tables.estimand_table`). Returns those keys and ``n,
    rank_draws, method, statistic, p_value, p_holm, reject`` (``p_holm < alpha``) and
    ``enough`` (``n >= MIN_UNIFORMITY_REPLICATES``: the test has power). Each (cell,
    estimand, coordinate) is its own test: quantities of one fit are dependent, so pooling
    their ranks would break the test's null distribution. Time-indexed estimands
    (``family == "series"``, where the table says) get no per-date test; their time mean
    (``mean(<name>)``) is tested instead. The Holm correction runs over what ``table``
    holds: narrow it to the question first (the gate corrects over what a rule selects).
    """
    if "family" in table:
        table = table[table["family"].astype(str) != SERIES_FAMILY]
    rows: list[dict[str, Any]] = []
    for key, g in table.groupby(_KEYS, sort=True, dropna=False, observed=True):
        statistic, p_value = uniformity_pvalue(
            g["pit"].to_numpy(np.float64), method, bins=bins, n_simulations=n_simulations, seed=seed
        )
        rows.append(
            dict(zip(_KEYS, key, strict=True))
            | {"n": int(g["pit"].notna().sum()), "rank_draws": int(g["rank_draws"].min())}
            | {"method": method, "statistic": statistic, "p_value": p_value}
        )
    out = pd.DataFrame(rows, columns=[*_KEYS, "n", "rank_draws", "method", "statistic", "p_value"])
    out["p_holm"] = np.nan
    for _, idx in out.groupby("cell", sort=False).groups.items():
        out.loc[idx, "p_holm"] = holm(out.loc[idx, "p_value"].to_numpy(np.float64))
    out["reject"] = out["p_holm"] < alpha
    out["enough"] = out["n"] >= MIN_UNIFORMITY_REPLICATES
    return out


def truth_design(table: pd.DataFrame, *, rtol: float = 1e-9) -> pd.DataFrame:
    """Tell, per cell, whether the truth was drawn per replicate (SBC) or fixed (PIT).

    PIT here means PIT at a fixed truth.

    Parameters
    ----------
    table
        An estimand table with ``cell, replicate, estimand, coords, truth`` and, where
        known, ``family``.
    rtol
        Truths within ``rtol * max(1, |truth|)`` of each other count as identical.

    Returns
    -------
    pandas.DataFrame
        ``cell, truth, label, n_varying, n_fixed, replicates``: ``truth`` is ``"drawn"``
        when every parameter coordinate's truth varies across the cell's replicates,
        ``"fixed"`` when none does, ``"partly"`` otherwise; ``label`` is its name from
        :data:`TRUTH_LABELS`. Parameters (``family == "parameter"``) decide, since
        derived quantities (ROAS, shares) vary with the simulated spend even at fixed
        parameters; a cell without parameters is judged by its other non-series
        estimands. A cell with one replicate is ``"fixed"``: nothing shows a draw.
    """
    rows = []
    for cell, g in table.groupby("cell", sort=True, observed=True):
        fam = g["family"].astype(str) if "family" in g else pd.Series("", index=g.index)
        params = g[fam == PARAMETER_FAMILY]
        if params.empty:
            params = g[fam != SERIES_FAMILY]
        spread = params.groupby(["estimand", "coords"], observed=True)["truth"].agg(["min", "max"])
        scale = np.maximum(1.0, spread.abs().max(axis=1))
        varying = (spread["max"] - spread["min"]) > rtol * scale
        n_rep = int(g["replicate"].nunique())
        n_var, n_fix = int(varying.sum()), int((~varying).sum())
        if n_rep < 2 or n_var == 0:
            kind = "fixed"
        elif n_fix == 0:
            kind = "drawn"
        else:
            kind = "partly"
        rows.append(
            {"cell": str(cell), "truth": kind, "label": TRUTH_LABELS[kind]}
            | {"n_varying": n_var, "n_fixed": n_fix, "replicates": n_rep}
        )
    columns = ["cell", "truth", "label", "n_varying", "n_fixed", "replicates"]
    return pd.DataFrame(rows, columns=columns)


def rank_histogram(table: pd.DataFrame, bins: int = 10, band: float = 0.99) -> pd.DataFrame:
    """Count ranks in ``bins`` equal bins of the fractional rank (``pit``).

    Counts are per (cell, estimand, coords), with the ``band`` binomial interval of a bin's
    count under uniform ranks; never pooled over cells or coordinates (see the module notes).

    Returns ``cell, cell_label, estimand, coords, bin, count, band_lower, band_upper, n``;
    groups with fewer than ``bins`` finite ranks are left out.
    """
    rows = []
    for key, g in table.groupby(_KEYS, sort=True, dropna=False, observed=True):
        pit = g["pit"].to_numpy(np.float64)
        pit = pit[np.isfinite(pit)]
        if pit.size < bins:
            continue
        counts = np.histogram(pit, bins=bins, range=(0.0, 1.0))[0]
        lo, hi = stats.binom.interval(band, pit.size, 1.0 / bins)
        ident = dict(zip(_KEYS, key, strict=True))
        for b, count in enumerate(counts):
            rows.append(
                ident
                | {"bin": b, "count": int(count), "band_lower": lo, "band_upper": hi}
                | {"n": int(pit.size)}
            )
    columns = [*_KEYS, "bin", "count", "band_lower", "band_upper", "n"]
    return pd.DataFrame(rows, columns=columns)


@lru_cache(maxsize=64)
def _band(n: int, ci_prob: float, n_simulations: int, seed: int) -> tuple[NDArray[Any], ...]:
    rng = np.random.default_rng(seed)
    z = np.arange(1, n) / n
    utils = cast(Any, ecdf_utils)
    prob = utils.simulate_confidence_bands(n, 1, z, ci_prob, n_simulations, rng)
    lower, upper = utils.get_pointwise_confidence_band(prob, n, z)
    x = np.concatenate(([0.0], z, [1.0]))
    return x, np.concatenate(([0.0], lower, [1.0])), np.concatenate(([0.0], upper, [1.0]))


def sbc_ecdf(
    table: pd.DataFrame,
    *,
    ci_prob: float = 0.95,
    n_simulations: int = 1000,
    seed: int = 0,
    estimands: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Compute the ECDF of the rank PIT values minus the uniform CDF, with simultaneous bands.

    Per (cell, estimand, coords): SBC where the cell's truth is drawn per replicate, PIT at a
    fixed truth otherwise (:func:`truth_design`).

    One row per (cell, estimand, coords, x) with ``x = i / N`` (``i = 0..N``, ``N`` the
    number of replicates), ``ecdf_diff = ECDF(x) - x``, ``lower_diff``/``upper_diff``: the
    ``ci_prob`` simultaneous band minus ``x``, and ``outside``. Bands come from arviz-stats'
    simulation method (``simulate_confidence_bands``, seeded; Saeilynoja et al. 2022),
    computed once per ``N``. Figures take this frame and compute nothing.
    """
    frames = []
    data = table if estimands is None else table[table["estimand"].isin(list(estimands))]
    for key, g in data.groupby(_KEYS, sort=True, dropna=False, observed=True):
        u = np.sort(g["pit"].to_numpy(np.float64))
        u = u[np.isfinite(u)]
        if u.size < 2:
            continue
        x, lower, upper = _band(int(u.size), float(ci_prob), int(n_simulations), int(seed))
        ecdf = np.searchsorted(u, x, side="right") / u.size
        ecdf[0], ecdf[-1] = 0.0, 1.0
        frame = pd.DataFrame(
            {"x": x, "ecdf_diff": ecdf - x, "lower_diff": lower - x, "upper_diff": upper - x}
        )
        frame["outside"] = (ecdf < lower) | (ecdf > upper)
        for i, (name, value) in enumerate(zip(_KEYS, key, strict=True)):
            frame.insert(i, name, str(value))
        frames.append(frame)
    columns = [*_KEYS, "x", "ecdf_diff", "lower_diff", "upper_diff", "outside"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
