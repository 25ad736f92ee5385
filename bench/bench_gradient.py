"""Benchmark: microseconds per log density + gradient, the sampler's against plain numpy.

The workbench model of a ``confounded-demand`` cell (geometric adstock, l_max 8,
normalized, then logistic saturation per channel; intercept, the demand proxy as a
control, Normal likelihood; 156 weeks x 3 channels) is compiled as the runner compiles it
(``nutpie.compile_pymc_model``: PyTensor's graph of the log density and its gradient,
lowered to numba and called by nutpie's Rust sampler through a C pointer). The same log
density is written here by hand in numpy, with its analytic gradient, in the sampler's
coordinates (PyMC's default transforms: logit of ``adstock_alpha``, log of
``saturation_lam``, ``saturation_beta`` and ``sigma``; Jacobians included), and in numba
(the same arithmetic as loops, fused into one function: a floor for what the arithmetic
costs on one core).

Before any timing the three are checked equal at several points (log density and
gradient within 1e-8 relative); a mismatch stops the benchmark.

Timed in CPU microseconds of one thread (less sensitive to other jobs on the machine than
wall time), at the initial point:

- ``nutpie (compiled model)``: the C function nutpie's sampler calls
  (``compiled_logp_func``), called through ctypes, less the time of a ctypes call of a
  C function of the same signature that does nothing (reported);
- ``numpy, hand-written``: :func:`numpy_logp_dlogp` called from Python;
- ``numba, hand-fused``: :func:`fused_logp_dlogp`'s kernel called from Python (a numba
  dispatch of 9 arguments included), and called in a loop inside numba (none).

Usage: ``python bench/bench_gradient.py [--evals N] [--replicate R]``; writes
``bench/results/gradient-<UTC time>.json`` and prints the table with the load average.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numba
import numpy as np
from numpy.typing import NDArray
from scipy.special import betaln, gammaln

from mmm_workbench.recover.models import workbench
from mmm_workbench.recover.models.data import model_data
from mmm_workbench.recover.models.priors import prior_for
from mmm_workbench.recover.models.workbench import WorkbenchModel, build_workbench
from mmm_workbench.scenarios import expand_grid, parse_scenario, replicate_rng
from mmm_workbench.scenarios.spec import ModelSpec, PriorSpec
from mmm_workbench.simulate import generate

Array = NDArray[np.float64]
ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "confounded-demand.toml"
HALF_LOG_2PI = 0.5 * np.log(2 * np.pi)

VALUE_NAMES = (
    "adstock_alpha_logodds__",
    "saturation_lam_log__",
    "saturation_beta_log__",
    "intercept",
    "gamma_control",
    "sigma_log__",
)
"""The sampler's coordinates the hand-written density expects, in nutpie's order."""


@dataclass(frozen=True)
class Prior:
    """A prior as the hand-written density needs it: kind and its constants.

    ``kind`` is ``"beta"`` (on the logit scale), ``"gamma"`` or ``"halfnormal"`` (on the
    log scale) or ``"normal"``; ``a``, ``b`` are Beta's alpha and beta, Gamma's shape and
    rate, or the normal's mu and sigma (HalfNormal: sigma in ``b``).
    """

    kind: str
    a: float
    b: float


@dataclass(frozen=True)
class Layout:
    """Slices of the sampler's flat vector and the priors of the model it reads."""

    channels: int
    controls: int
    l_max: int
    priors: tuple[Prior, ...]  # alpha, lam, beta, intercept, gamma_control, sigma

    @property
    def n_dim(self) -> int:
        """Length of the flat vector."""
        return 3 * self.channels + 1 + self.controls + 1


def _prior(name: str, spec: ModelSpec) -> Prior:
    """The hand-written form of the model's prior for ``name``; others raise."""
    prior: PriorSpec = prior_for(name, spec)
    args = {k: float(v) for k, v in prior.args.items()}
    if prior.dist == "Beta" and set(args) == {"alpha", "beta"}:
        return Prior("beta", args["alpha"], args["beta"])
    if prior.dist == "Gamma" and set(args) == {"alpha", "beta"}:
        return Prior("gamma", args["alpha"], args["beta"])
    if prior.dist == "Gamma" and set(args) == {"mu", "sigma"}:
        mu, sd = args["mu"], args["sigma"]
        return Prior("gamma", mu**2 / sd**2, mu / sd**2)
    if prior.dist == "HalfNormal" and set(args) == {"sigma"}:
        return Prior("halfnormal", 0.0, args["sigma"])
    if prior.dist == "Normal" and set(args) == {"mu", "sigma"}:
        return Prior("normal", args["mu"], args["sigma"])
    raise ValueError(f"model.priors.{name} = {prior.dist}: no hand-written form in this bench")


def layout_of(model: WorkbenchModel) -> Layout:
    """Return the hand-written density's layout for ``model``.

    Raises
    ------
    ValueError
        When the model is not the one written by hand here (families, terms, likelihood
        or the sampler's coordinates differ).
    """
    spec = model.spec
    names = tuple(model.model.rvs_to_values[rv].name for rv in model.model.free_RVs)
    wanted = (
        spec.adstock.kind == "geometric"
        and spec.adstock.normalize
        and not spec.adstock.params
        and spec.saturation.kind == "logistic"
        and not spec.saturation.params
        and spec.order == "adstock_first"
        and spec.pooling == "channel"
        and spec.intercept
        and not spec.trend
        and not spec.seasonality_order
        and bool(spec.controls)
        and not spec.lift_tests
        and spec.likelihood == "normal"
        and names == VALUE_NAMES
    )
    if not wanted:
        raise ValueError(f"model {spec.kind} with coordinates {names}: not the hand-written one")
    priors = tuple(
        _prior(n, spec)
        for n in (
            "adstock_alpha",
            "saturation_lam",
            "saturation_beta",
            "intercept",
            "gamma_control",
            "sigma",
        )
    )
    kinds = tuple(p.kind for p in priors)
    expected = ("beta", ("gamma", "halfnormal"), ("gamma", "halfnormal"), "normal", "normal")
    for kind, allowed in zip(kinds, (*expected, ("gamma", "halfnormal")), strict=True):
        if kind not in allowed:
            raise ValueError(f"prior kinds {kinds}: not the hand-written model's supports")
    return Layout(
        channels=len(spec_channels(model)),
        controls=len(spec.controls),
        l_max=spec.adstock.l_max,
        priors=priors,
    )


def spec_channels(model: WorkbenchModel) -> tuple[str, ...]:
    """The model's channel coordinate."""
    return tuple(str(c) for c in model.model.coords["channel"])


def _log_prior(prior: Prior, u: Array) -> tuple[float, Array]:
    """Log prior density and its gradient in the sampler's coordinate ``u`` (Jacobian in)."""
    if prior.kind == "beta":  # x = sigmoid(u): a log x + b log(1 - x) - log B(a, b)
        log_x = -np.logaddexp(0.0, -u)
        log_1mx = -np.logaddexp(0.0, u)
        x = np.exp(log_x)
        value = prior.a * log_x + prior.b * log_1mx - betaln(prior.a, prior.b)
        return float(np.sum(value)), prior.a * (1 - x) - prior.b * x
    if prior.kind == "gamma":  # x = exp(u): k log r - lgamma(k) + k u - r x
        x = np.exp(u)
        k, rate = prior.a, prior.b
        value = k * np.log(rate) - gammaln(k) + k * u - rate * x
        return float(np.sum(value)), k - rate * x
    if prior.kind == "halfnormal":  # x = exp(u): log(2) - log(s sqrt(2 pi)) - x^2/2s^2 + u
        x = np.exp(u)
        s = prior.b
        value = np.log(2.0) - HALF_LOG_2PI - np.log(s) - 0.5 * (x / s) ** 2 + u
        return float(np.sum(value)), 1.0 - (x / s) ** 2
    z = (u - prior.a) / prior.b
    value = -HALF_LOG_2PI - np.log(prior.b) - 0.5 * z**2
    return float(np.sum(value)), -z / prior.b


def numpy_logp_dlogp(
    theta: Array, layout: Layout, data: Mapping[str, Array]
) -> tuple[float, Array]:
    """Return the workbench model's log density and its gradient, plain numpy.

    Parameters
    ----------
    theta
        The sampler's flat vector (:data:`VALUE_NAMES`, each of its shape).
    layout
        :func:`layout_of` the model.
    data
        The model's scaled containers ``spend`` ``(T, C)``, ``target`` ``(T,)`` and
        ``controls`` ``(T, K)``.

    Returns
    -------
    tuple of float and Array
        The log density (PyMC's, normalizing constants included) and its gradient.
    """
    c, k, n_lag = layout.channels, layout.controls, layout.l_max
    x, y, z = data["spend"], data["target"], data["controls"]
    periods = len(y)
    a_u, l_u, b_u = theta[:c], theta[c : 2 * c], theta[2 * c : 3 * c]
    icpt, g, s_u = theta[3 * c], theta[3 * c + 1 : 3 * c + 1 + k], theta[3 * c + 1 + k]
    alpha = 1.0 / (1.0 + np.exp(-a_u))
    lam, beta, sigma = np.exp(l_u), np.exp(b_u), np.exp(s_u)
    lags = np.arange(n_lag, dtype=float)
    w = alpha[:, None] ** lags  # (C, L)
    w = w / w.sum(axis=1, keepdims=True)
    ad = np.zeros_like(x)
    for j in range(n_lag):
        ad[j:] += w[:, j] * x[: periods - j]
    f = np.tanh(0.5 * lam * ad)
    mu = icpt + f @ beta + z @ g
    r = (y - mu) / sigma
    logp = float(-periods * (HALF_LOG_2PI + s_u) - 0.5 * np.sum(r**2))
    e = r / sigma  # d loglik / d mu
    one_m_f2 = 1.0 - f**2
    grad = np.empty_like(theta)
    grad[2 * c : 3 * c] = beta * (e @ f)
    grad[c : 2 * c] = lam * beta * 0.5 * (e @ (ad * one_m_f2))
    dad = e[:, None] * (beta * 0.5 * lam) * one_m_f2  # (T, C)
    dw = np.empty((c, n_lag))
    for j in range(n_lag):
        dw[:, j] = np.sum(dad[j:] * x[: periods - j], axis=0)
    mean_lag = w @ lags
    grad[:c] = (1 - alpha) * np.sum(dw * w * (lags - mean_lag[:, None]), axis=1)
    grad[3 * c] = np.sum(e)
    grad[3 * c + 1 : 3 * c + 1 + k] = e @ z
    grad[3 * c + 1 + k] = -periods + np.sum(r**2)
    blocks = (a_u, l_u, b_u, theta[3 * c : 3 * c + 1], g, theta[3 * c + 1 + k :])
    starts = (0, c, 2 * c, 3 * c, 3 * c + 1, 3 * c + 1 + k)
    for prior, u, start in zip(layout.priors, blocks, starts, strict=True):
        value, d = _log_prior(prior, u)
        logp += value
        grad[start : start + len(u)] += d
    return logp, grad


@numba.njit(cache=False, fastmath=False)  # type: ignore[misc]  # numba is untyped
def _fused(
    theta: Array,
    x: Array,
    y: Array,
    z: Array,
    kinds: Array,
    pa: Array,
    pb: Array,
    n_lag: int,
    grad: Array,
) -> float:  # pragma: no cover - compiled by numba; checked against numpy in the bench
    periods, c = x.shape
    k = z.shape[1]
    alpha = np.empty(c)
    lam = np.empty(c)
    beta = np.empty(c)
    w = np.empty((c, n_lag))
    mean_lag = np.empty(c)
    for ch in range(c):
        alpha[ch] = 1.0 / (1.0 + np.exp(-theta[ch]))
        lam[ch] = np.exp(theta[c + ch])
        beta[ch] = np.exp(theta[2 * c + ch])
        total = 0.0
        p = 1.0
        for j in range(n_lag):
            w[ch, j] = p
            total += p
            p *= alpha[ch]
        m = 0.0
        for j in range(n_lag):
            w[ch, j] /= total
            m += j * w[ch, j]
        mean_lag[ch] = m
    icpt = theta[3 * c]
    s_u = theta[3 * c + 1 + k]
    sigma = np.exp(s_u)
    for i in range(theta.size):
        grad[i] = 0.0
    ad = np.empty((periods, c))
    f = np.empty((periods, c))
    e = np.empty(periods)
    ss = 0.0
    for t in range(periods):
        mu = icpt
        for q in range(k):
            mu += z[t, q] * theta[3 * c + 1 + q]
        for ch in range(c):
            acc = 0.0
            for j in range(min(n_lag, t + 1)):
                acc += w[ch, j] * x[t - j, ch]
            ad[t, ch] = acc
            f[t, ch] = np.tanh(0.5 * lam[ch] * acc)
            mu += beta[ch] * f[t, ch]
        r = (y[t] - mu) / sigma
        ss += r * r
        e[t] = r / sigma
    logp = -periods * (0.5 * np.log(2 * np.pi) + s_u) - 0.5 * ss
    grad[3 * c + 1 + k] = -periods + ss
    for t in range(periods):
        grad[3 * c] += e[t]
        for q in range(k):
            grad[3 * c + 1 + q] += e[t] * z[t, q]
    for ch in range(c):
        gb = 0.0
        gl = 0.0
        ga = 0.0
        for t in range(periods):
            om = 1.0 - f[t, ch] * f[t, ch]
            gb += e[t] * f[t, ch]
            gl += e[t] * ad[t, ch] * om
            dad = e[t] * beta[ch] * 0.5 * lam[ch] * om
            for j in range(min(n_lag, t + 1)):
                ga += dad * x[t - j, ch] * w[ch, j] * (j - mean_lag[ch])
        grad[2 * c + ch] = beta[ch] * gb
        grad[c + ch] = lam[ch] * beta[ch] * 0.5 * gl
        grad[ch] = (1.0 - alpha[ch]) * ga
    # priors: kinds 0 beta (logit), 1 gamma (log), 2 halfnormal (log), 3 normal
    for i in range(theta.size):
        u = theta[i]
        kind = kinds[i]
        a = pa[i]
        b = pb[i]
        if kind == 0:
            xx = 1.0 / (1.0 + np.exp(-u))
            logp += a * np.log(xx) + b * np.log1p(-xx) - b_const(a, b)
            grad[i] += a * (1 - xx) - b * xx
        elif kind == 1:
            xx = np.exp(u)
            logp += a * np.log(b) - lgamma(a) + a * u - b * xx
            grad[i] += a - b * xx
        elif kind == 2:
            xx = np.exp(u)
            logp += np.log(2.0) - 0.5 * np.log(2 * np.pi) - np.log(b) - 0.5 * (xx / b) ** 2 + u
            grad[i] += 1.0 - (xx / b) ** 2
        else:
            zz = (u - a) / b
            logp += -0.5 * np.log(2 * np.pi) - np.log(b) - 0.5 * zz * zz
            grad[i] += -zz / b
    return logp


@numba.njit(cache=False)  # type: ignore[misc]
def _fused_loop(
    evals: int,
    theta: Array,
    x: Array,
    y: Array,
    z: Array,
    kinds: Array,
    pa: Array,
    pb: Array,
    n_lag: int,
    grad: Array,
) -> float:  # pragma: no cover - numba
    """``evals`` calls of :func:`_fused` inside numba: its time with no call overhead."""
    total = 0.0
    for _ in range(evals):
        total += _fused(theta, x, y, z, kinds, pa, pb, n_lag, grad)
    return total


@numba.njit(cache=False)  # type: ignore[misc]
def lgamma(a: float) -> float:  # pragma: no cover - numba
    """``log Gamma(a)`` (numba's ``math.lgamma``)."""
    return math.lgamma(a)


@numba.njit(cache=False)  # type: ignore[misc]
def b_const(a: float, b: float) -> float:  # pragma: no cover - numba
    """``log B(a, b)``."""
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def fused_arguments(layout: Layout) -> tuple[NDArray[np.int64], Array, Array]:
    """Per coordinate of the flat vector: prior kind code and its two constants."""
    codes = {"beta": 0, "gamma": 1, "halfnormal": 2, "normal": 3}
    sizes = (layout.channels,) * 3 + (1, layout.controls, 1)
    kinds = np.concatenate(
        [np.full(n, codes[p.kind]) for p, n in zip(layout.priors, sizes, strict=True)]
    )
    pa = np.concatenate([np.full(n, p.a) for p, n in zip(layout.priors, sizes, strict=True)])
    pb = np.concatenate([np.full(n, p.b) for p, n in zip(layout.priors, sizes, strict=True)])
    return kinds.astype(np.int64), pa, pb


def fused_logp_dlogp(
    theta: Array, layout: Layout, data: Mapping[str, Array]
) -> tuple[float, Array]:
    """:func:`numpy_logp_dlogp` as one numba function (same arguments and result)."""
    kinds, pa, pb = fused_arguments(layout)
    grad = np.empty_like(theta)
    logp = _fused(
        theta, data["spend"], data["target"], data["controls"], kinds, pa, pb, layout.l_max, grad
    )
    return float(logp), grad


@dataclass(frozen=True)
class Cell:
    """One replicate of the ``confounded-demand`` cell, built and compiled for nutpie."""

    model: WorkbenchModel
    compiled: Any
    data: dict[str, Array]
    layout: Layout


def build_cell(replicate: int = 0, compile_nutpie: bool = True) -> Cell:
    """Build the workbench model of ``confounded-demand`` on one replicate's data.

    Parameters
    ----------
    replicate
        The replicate whose dataset is simulated (the runner's seeds).
    compile_nutpie
        Compile nutpie's model (about 10 s); ``False`` leaves ``compiled`` as ``None``.

    Returns
    -------
    Cell
        The model, nutpie's compiled model, the scaled containers and the layout.
    """
    scenario = parse_scenario(tomllib.loads(SCENARIO.read_text()))
    cell = expand_grid(scenario)[0]
    spec = cell.scenario.model
    assert spec is not None
    tree = generate(cell.scenario.data, replicate_rng(scenario.seed, cell.data_id, replicate))
    data = model_data(tree, spec)
    saved, workbench.GEOMETRY = workbench.GEOMETRY, "dgp"  # the hand-written coordinates
    try:
        model = build_workbench(spec, data)
    finally:
        workbench.GEOMETRY = saved
    assert isinstance(model, WorkbenchModel)
    compiled = None
    if compile_nutpie:
        import nutpie

        compiled = nutpie.compile_pymc_model(model.model)
        names = tuple(compiled.shape_info[0])[: len(VALUE_NAMES)]
        if names != VALUE_NAMES:
            raise ValueError(f"nutpie's coordinates {names}: expected {VALUE_NAMES}")
    scaled = {k: np.ascontiguousarray(v, dtype=float) for k, v in data.scaled().items()}
    return Cell(model=model, compiled=compiled, data=scaled, layout=layout_of(model))


def compiled_logp_dlogp(compiled: Any, theta: Array) -> tuple[float, Array]:
    """Call the compiled C function nutpie's sampler calls; return log density and gradient.

    Raises
    ------
    RuntimeError
        When the function reports an error (non-finite value or gradient).
    """
    import ctypes

    x = np.ascontiguousarray(theta, dtype=float)
    grad = np.empty_like(x)
    logp = np.empty(())
    ptr = ctypes.POINTER(ctypes.c_double)
    rc = compiled.compiled_logp_func.ctypes(
        x.size,
        x.ctypes.data_as(ptr),
        grad.ctypes.data_as(ptr),
        logp.ctypes.data_as(ptr),
        ctypes.c_void_p(compiled.user_data.ctypes.data),
    )
    if rc != 0:
        raise RuntimeError(f"compiled log density returned code {rc} at {x}")
    return float(logp), grad


def compiled_call(compiled: Any, theta: Array) -> Callable[[Array], object]:
    """A call of the compiled C function at ``theta`` with its pointers made once (for
    timing: the sampler, too, calls it on buffers it owns)."""
    import ctypes

    x = np.ascontiguousarray(theta, dtype=float).copy()
    grad, logp = np.empty_like(x), np.empty(())
    ptr = ctypes.POINTER(ctypes.c_double)
    args = (
        x.size,
        x.ctypes.data_as(ptr),
        grad.ctypes.data_as(ptr),
        logp.ctypes.data_as(ptr),
        ctypes.c_void_p(compiled.user_data.ctypes.data),
    )
    function = compiled.compiled_logp_func.ctypes

    def call(_: Array) -> object:
        return function(*args)

    call.buffers = (x, grad, logp)  # type: ignore[attr-defined]  # kept alive with the call
    return call


def check_equal(
    reference: Callable[[Array], tuple[float, Array]],
    candidate: Callable[[Array], tuple[float, Array]],
    points: Array,
    rtol: float = 1e-8,
) -> float:
    """Return the largest relative difference of log density and gradient over ``points``.

    Raises
    ------
    AssertionError
        When the log density or any gradient component differs by more than ``rtol``
        relative (to the larger of the two values and 1).
    """
    worst = 0.0
    for theta in points:
        lp_ref, g_ref = reference(theta)
        lp, g = candidate(theta)
        rel_lp = abs(lp - lp_ref) / max(abs(lp_ref), 1.0)
        rel_g = float(np.max(np.abs(g - g_ref) / np.maximum(np.abs(g_ref), 1.0)))
        worst = max(worst, rel_lp, rel_g)
        if rel_lp > rtol or rel_g > rtol:
            raise AssertionError(
                f"log density {lp} against {lp_ref}, gradient differs by {rel_g:.2e} "
                f"relative at theta = {np.round(theta, 4).tolist()}"
            )
    return worst


def check_points(cell: Cell, count: int = 5, seed: int = 0) -> Array:
    """Points to compare at: the initial point and jittered copies of it."""
    rng = np.random.default_rng(seed)
    base = np.zeros(cell.layout.n_dim)
    if cell.compiled is not None:
        base = np.asarray(cell.compiled.initial_point_func(seed), dtype=float)
    return np.vstack([base, base + rng.normal(0.0, 0.5, size=(count - 1, base.size))])


def time_python(fn: Callable[[Array], object], theta: Array, evals: int) -> float:
    """Minimum over 5 blocks of the CPU microseconds of this thread per call of ``fn(theta)``.

    CPU time of the calling thread (``time.thread_time``), not wall time: on a shared,
    loaded machine the wall time counts the other jobs' turns; the minimum over blocks is
    the least disturbed (caches, frequency) of them.
    """
    per_call = []
    for _ in range(5):
        t0 = time.thread_time()
        for _ in range(evals // 5):
            fn(theta)
        per_call.append((time.thread_time() - t0) / (evals // 5) * 1e6)
    return float(np.min(per_call))


def ctypes_overhead_us(evals: int) -> float:
    """Microseconds of one ctypes call of a C function of the compiled one's signature
    that does nothing (subtracted from the compiled model's time called from Python)."""
    import ctypes

    signature = numba.types.int64(
        numba.types.uint64,
        numba.types.CPointer(numba.types.double),
        numba.types.CPointer(numba.types.double),
        numba.types.CPointer(numba.types.double),
        numba.types.voidptr,
    )

    def noop(dim: int, x: Any, out: Any, logp: Any, user_data: Any) -> int:
        return 0

    empty = numba.cfunc(signature)(noop)
    x = np.zeros(1)
    ptr = ctypes.POINTER(ctypes.c_double)
    args = (1, x.ctypes.data_as(ptr), x.ctypes.data_as(ptr), x.ctypes.data_as(ptr), None)
    return time_python(lambda _: empty.ctypes(*args), x, evals)


def main() -> None:
    """Check the three equal, time them and write the JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--evals", type=int, default=20000)
    parser.add_argument("--replicate", type=int, default=0)
    args = parser.parse_args()
    t0 = time.perf_counter()
    cell = build_cell(args.replicate)
    compile_s = time.perf_counter() - t0

    def nutpie_fn(theta: Array) -> tuple[float, Array]:
        return compiled_logp_dlogp(cell.compiled, theta)

    def numpy_fn(theta: Array) -> tuple[float, Array]:
        return numpy_logp_dlogp(theta, cell.layout, cell.data)

    kinds, pa, pb = fused_arguments(cell.layout)
    spend, target, controls = cell.data["spend"], cell.data["target"], cell.data["controls"]
    grad_out = np.empty(cell.layout.n_dim)

    def fused_fn(theta: Array) -> float:
        return float(
            _fused(theta, spend, target, controls, kinds, pa, pb, cell.layout.l_max, grad_out)
        )

    n_lag = cell.layout.l_max

    def fused_loop(theta: Array) -> float:  # args.evals evaluations in one call
        return float(
            _fused_loop(args.evals, theta, spend, target, controls, kinds, pa, pb, n_lag, grad_out)
        )

    def fused_pair(theta: Array) -> tuple[float, Array]:
        return fused_fn(theta), grad_out.copy()

    points = check_points(cell)
    worst = {
        "numpy": check_equal(nutpie_fn, numpy_fn, points),
        "numba": check_equal(nutpie_fn, fused_pair, points),
    }
    theta = points[0]
    load = [round(os.getloadavg()[0], 2)]
    rows = {
        "nutpie (compiled model, ctypes call)": time_python(
            compiled_call(cell.compiled, theta), theta, args.evals
        ),
        "ctypes call of an empty C function": ctypes_overhead_us(args.evals),
        "numpy, hand-written": time_python(numpy_fn, theta, args.evals // 4),
        "numba, hand-fused (called from Python)": time_python(fused_fn, theta, args.evals),
        "numba, hand-fused (loop inside numba)": time_python(fused_loop, theta, 5) / args.evals,
    }
    load.append(round(os.getloadavg()[0], 2))
    rows["nutpie (compiled model, net of the call)"] = (
        rows["nutpie (compiled model, ctypes call)"] - rows["ctypes call of an empty C function"]
    )
    ref = rows["nutpie (compiled model, net of the call)"]
    print(f"\nconfounded-demand, workbench model, {cell.layout.n_dim} coordinates; load {load}")
    print(f"{'':<46}{'us per call':>12}{'vs nutpie':>11}")
    for name, us in rows.items():
        print(f"{name:<46}{us:>12.2f}{us / ref:>11.2f}")
    result = {
        "scenario": "confounded-demand",
        "replicate": args.replicate,
        "n_dim": cell.layout.n_dim,
        "compile_s": round(compile_s, 2),
        "max_relative_difference": worst,
        "us_per_call": {k: round(v, 3) for k, v in rows.items()},
        "ratio_to_nutpie": {k: round(v / ref, 3) for k, v in rows.items()},
        "evals": args.evals,
        "load_1min": load,
        "machine": {
            "python": platform.python_version(),
            "cores": os.cpu_count(),
            "versions": {
                n: metadata.version(n) for n in ("pymc", "pytensor", "nutpie", "numba", "numpy")
            },
        },
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    out_dir = Path(__file__).parent / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    (out_dir / f"gradient-{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
