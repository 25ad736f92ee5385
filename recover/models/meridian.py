"""Google's Meridian as a workbench model (``[model] kind = "meridian"``).

Meridian (``google-meridian``) cannot live in the workbench's environment: it pins
``arviz<0.20`` (and ``numpy<2.4``, ``pandas<3``, TensorFlow, JAX), the workbench needs
``arviz>=1``. So the cell model fits each replicate in **another interpreter**, named by
``[model.options] python = "/path/to/venv/bin/python"`` or, where the table leaves it out,
the environment variable :data:`PYTHON_ENV`; it is checked (that it runs and has
``google-meridian``) before any fitting. Per replicate, in a temporary folder removed
after the fit:

1. the training rows in Meridian's data-frame layout (:func:`meridian_frame`: ``time``,
   ``population``, the KPI, one spend column per channel used as media and as spend, the
   model's controls) and the settings (:func:`meridian_request`) are written;
2. :mod:`mmm_workbench.recover.models.meridian_worker` runs under the other interpreter
   (``python -P worker.py DIR``): Meridian's ``DataFrameInputDataBuilder(kpi_type =
   "revenue")``, ``Meridian(ModelSpec(max_lag, hill_before_adstock, knots))`` with
   Meridian's default priors (ROI prior per channel), ``sample_posterior`` (its own NUTS),
   and writes the draws and Meridian's own ``Analyzer`` incremental outcome and ROI to
   ``posterior.npz`` (:func:`read_posterior`);
3. the draws become the workbench's estimands (:meth:`MeridianModel.estimands`).

Units. Meridian scales each channel's media by ``population x`` the median of its
non-zero population-scaled values (``media_scale``), and the KPI by the population-scaled
KPI's mean and standard deviation (the mean cancels in every difference): a channel's
contribution in data units is ``beta_gm x hill(adstock(spend / media_scale)) x
kpi_scale``, ``kpi_scale`` = standard deviation x population (a national series is one
geo of population 1). Meridian's adstock is the workbench's geometric family, normalized,
with ``l_max = max_lag + 1`` weights; its saturation is the workbench's ``hill``
(``ec`` is ``kappa``). So the draws are handed to :meth:`MediaModel.estimands` with the
data's scales replaced by Meridian's (the pymc-marketing adapter's pattern) and
``alpha_m, slope_m, ec_m, beta_gm`` renamed ``adstock_alpha, saturation_slope,
saturation_kappa, saturation_beta``; the transform parameters come out in the DGP's
parameterization (``kappa`` rescaled to its spend unit), and the truth's are scored where
the data's families are geometric (same ``l_max``, normalized) and Hill.

ROI against ROAS. Meridian's ROI is incremental revenue over the **data's periods** per
unit of spend: the carry-over of the last ``max_lag`` weeks' spend past the data's end is
not counted. The workbench's ROAS (its truth, :mod:`mmm_workbench.simulate.truth`) counts
it: the training window's spend switched off, its effect summed over the holdout and
``l_max - 1`` periods past the end. The estimands here are the workbench's (the carry-over
included, from Meridian's own posterior transforms); each fit checks that the
conversion, cut to the data's periods, reproduces Meridian's own incremental outcome and
ROI per draw (:func:`check_against_meridian`, to float32's precision), so a unit that is
not undone fails the fit instead of being scored.

Sampling: ``[fit] backend = "meridian"``; ``chains`` -> ``n_chains``, ``draws`` ->
``n_keep``, ``tune`` -> ``n_adapt + n_burnin`` (``n_burnin = tune // 2`` unless
``[fit.options] n_burnin`` says otherwise), ``fit.options.max_tree_depth`` (default 10).
``target_accept`` is not passed (Meridian's dual averaging targets its own rate).
Not here: a prior (no ``/prior`` group: Meridian's ROI prior depends on each replicate's
spend), the posterior predictive, lift-test calibration, geo-level models (a geo world is
fitted summed over geos, as every national model fits it).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from numpy.typing import NDArray

from mmm_workbench.recover.inference import Posterior, sampler_diagnostics
from mmm_workbench.recover.models.data import ModelData
from mmm_workbench.recover.models.media import MediaModel, compile_media
from mmm_workbench.scenarios.spec import FitSpec, ModelSpec, TransformSpec, declared

__all__ = [
    "BACKEND",
    "DEFAULT_L_MAX",
    "FREE",
    "MODEL_OPTIONS",
    "PYTHON_ENV",
    "WORKER",
    "MeridianModel",
    "build_meridian",
    "check_against_meridian",
    "check_interpreter",
    "check_meridian",
    "meridian_frame",
    "meridian_python",
    "meridian_request",
    "meridian_spec",
    "read_posterior",
    "workbench_draws",
]

Array = NDArray[np.float64]

PYTHON_ENV = "MMM_WORKBENCH_MERIDIAN_PYTHON"
"""The environment variable naming Meridian's interpreter, where ``[model.options]`` does not."""

WORKER = Path(__file__).with_name("meridian_worker.py")
"""The script run under Meridian's interpreter."""

BACKEND = "meridian"
"""The ``[fit] backend`` of a Meridian model (and the records' ``backend``)."""

DEFAULT_L_MAX = 9
"""Meridian's default ``max_lag = 8``: nine adstock weights."""

MODEL_OPTIONS = ("python", "knots")
"""``[model.options]`` keys: the interpreter, and Meridian's ``knots`` (time effects)."""

FIT_OPTIONS = ("n_burnin", "max_tree_depth")
"""``[fit.options]`` keys: Meridian's ``sample_posterior`` arguments the scenario may set."""

FREE = ("adstock_alpha", "saturation_slope", "saturation_kappa", "saturation_beta")
"""The workbench's names of Meridian's media parameters (``alpha_m, slope_m, ec_m, beta_gm``)."""

_RENAMED = {
    "adstock_alpha": "alpha",
    "saturation_slope": "slope",
    "saturation_kappa": "ec",
    "saturation_beta": "beta",
    "sigma": "sigma",
}
_PER_FIT = ("media_scale", "kpi_scale")
"""Arrays of ``posterior.npz`` that are one per fit, repeated per draw in the draws."""

CHECK_RTOL = 2e-3
"""How far the conversion may be from Meridian's own incremental outcome (Meridian samples
in float32: about 1e-6 relative per number, sums over 156 weeks, a ratio of them)."""


def _error(field: str, value: object, why: str) -> ValueError:
    shown = repr(value) if isinstance(value, str) else str(value)
    return ValueError(f"{field} = {shown}: {why}")


def meridian_python(model: ModelSpec) -> str:
    """Return the interpreter Meridian runs in: ``[model.options] python``, else :data:`PYTHON_ENV`.

    Raises
    ------
    ValueError
        Neither is set (naming both), or the option is not a string.
    """
    given = model.options.get("python")
    if given is None:
        given = os.environ.get(PYTHON_ENV) or None
    if given is None:
        raise ValueError(
            "model.options.python: missing; model.kind = 'meridian' runs Meridian in its own "
            f"environment: set it (or {PYTHON_ENV}) to that environment's python, one with "
            "'pip install google-meridian'"
        )
    if not isinstance(given, str) or not given:
        raise _error("model.options.python", given, "must be the path of a python interpreter")
    return given


_PROBE = (
    "import importlib.metadata as m, importlib.util as u\n"
    "if u.find_spec('meridian') is None: raise SystemExit('no module named meridian')\n"
    "print(m.version('google-meridian'))"
)


@functools.cache
def check_interpreter(python: str) -> str:
    """Return the ``google-meridian`` version of an interpreter (checked once per path).

    Runs ``python -P -c`` (no import of Meridian itself, which takes a minute cold).

    Raises
    ------
    ValueError
        One line naming ``model.options.python`` and the path: it does not run, or has no
        ``meridian`` module.
    """
    try:
        done = subprocess.run(
            [python, "-P", "-c", _PROBE], capture_output=True, text=True, timeout=120
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise _error("model.options.python", python, f"cannot run it: {err}") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["exit status " + str(done.returncode)])[-1]
        raise _error(
            "model.options.python",
            python,
            f"cannot import meridian there ({last}); pip install google-meridian into it",
        )
    return done.stdout.strip()


def meridian_spec(model: ModelSpec) -> ModelSpec:
    """Return the workbench ``[model]`` table Meridian's model amounts to.

    Geometric adstock, normalized, ``l_max`` the table's (default :data:`DEFAULT_L_MAX`),
    Hill saturation, the table's order and controls: for the media function, the unit
    conversion and which transform parameters of the truth are scored.
    """
    l_max = model.adstock.l_max if declared(model.adstock) else DEFAULT_L_MAX
    return replace(
        model,
        adstock=TransformSpec(
            kind="geometric", params=MappingProxyType({}), l_max=l_max, normalize=True
        ),
        saturation=TransformSpec(kind="hill", params=MappingProxyType({})),
        options=MappingProxyType({}),
    )


def check_meridian(model: ModelSpec, fit: FitSpec) -> None:
    """Everything about a ``meridian`` model that can be checked without the interpreter.

    Raises
    ------
    ValueError
        Naming the ``[model]`` or ``[fit]`` field and its value: what Meridian's model (as
        the adapter builds it) does not have, an unknown option, another backend.
    """
    if fit.backend != BACKEND:
        raise _error(
            "fit.backend",
            fit.backend,
            f"model.kind = 'meridian' samples with Meridian's own NUTS; set backend = {BACKEND!r}",
        )
    if fit.min_ess:
        raise _error(
            "fit.min_ess", fit.min_ess, "Meridian's NUTS cannot stop at an ESS target; set it to 0"
        )
    for key, value in fit.options.items():
        if key not in FIT_OPTIONS:
            raise _error(
                f"fit.options.{key}", value, f"not a Meridian option; known: {FIT_OPTIONS}"
            )
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise _error(f"fit.options.{key}", value, "must be an integer >= 0")
    if fit.options.get("n_burnin", 0) > fit.tune:
        raise _error("fit.options.n_burnin", fit.options["n_burnin"], "must be <= fit.tune")
    for key, value in model.options.items():
        if key not in MODEL_OPTIONS:
            raise _error(
                f"model.options.{key}",
                value,
                f"not an option of kind 'meridian'; known: {MODEL_OPTIONS}",
            )
    knots = model.options.get("knots")
    if knots is not None and not (
        (isinstance(knots, int) and not isinstance(knots, bool) and knots >= 1)
        or (isinstance(knots, list | tuple) and all(isinstance(k, int) for k in knots))
    ):
        raise _error("model.options.knots", knots, "must be an integer >= 1 or a list of periods")
    for role, kind in (("adstock", "geometric"), ("saturation", "hill")):
        transform: TransformSpec = getattr(model, role)
        if not declared(transform):
            continue
        if transform.kind != kind:
            raise _error(f"model.{role}.kind", transform.kind, f"Meridian's {role} is {kind}")
        for name, value in transform.params.items():
            raise _error(f"model.{role}.{name}", value, "Meridian estimates it; leave it out")
    if declared(model.adstock) and not model.adstock.normalize:
        raise _error("model.adstock.normalize", False, "Meridian normalizes its adstock weights")
    refused: dict[str, tuple[bool, str]] = {
        "pooling": (model.pooling != "channel", "Meridian's parameters are per channel"),
        "intercept": (not model.intercept, "Meridian always has a baseline"),
        "trend": (model.trend, "Meridian's time effects are knots: model.options.knots"),
        "seasonality_order": (
            model.seasonality_order != 0,
            "Meridian's time effects are knots: model.options.knots",
        ),
        "likelihood": (model.likelihood != "normal", "Meridian's likelihood is normal"),
        "lift_tests": (model.lift_tests, "not passed to Meridian (its ROI priors) here"),
        "target_scale": (
            model.target_scale is not None,
            "Meridian scales the KPI by its own mean and standard deviation",
        ),
        "priors": (bool(model.priors), "Meridian's default priors are used"),
        "config": (model.config is not None, "only kind = 'pymc-marketing' takes it"),
        "builder": (model.builder is not None, "only kind = 'python' takes it"),
        "geo": (
            getattr(model, "geo", None) is not None,
            "geo-level Meridian is not adapted yet: the national series is fitted",
        ),
    }
    for field, (bad, why) in refused.items():
        if bad:
            value = getattr(model, field)
            shown = dict(value) if isinstance(value, Mapping) else value
            raise _error(f"model.{field}", shown, why)


def meridian_frame(data: ModelData) -> pd.DataFrame:
    """Return the training rows in Meridian's data-frame layout (one national geo).

    ``time`` (``YYYY-MM-DD``), ``population`` (1: Meridian's national model), the target
    under its own name (the KPI, revenue), one spend column per channel (Meridian's media
    and media spend both), the model's controls.
    """
    frame = pd.DataFrame({"time": pd.DatetimeIndex(data.dates).strftime("%Y-%m-%d")})
    frame["population"] = 1.0
    frame[data.target_name] = data.target
    for i, channel in enumerate(data.channels):
        frame[channel] = data.spend[:, i]
    for i, control in enumerate(data.control_names):
        frame[control] = data.controls[:, i]
    return frame


def meridian_request(model: ModelSpec, fit: FitSpec, data: ModelData, seed: int) -> dict[str, Any]:
    """Return ``request.json`` for one fit (the worker's :data:`REQUEST_KEYS`)."""
    spec = meridian_spec(model)
    n_burnin = int(fit.options.get("n_burnin", fit.tune // 2))
    knots = model.options.get("knots")
    return {
        "channels": list(data.channels),
        "controls": list(data.control_names),
        "kpi": data.target_name,
        "n_chains": fit.chains,
        "n_adapt": fit.tune - n_burnin,
        "n_burnin": n_burnin,
        "n_keep": fit.draws,
        "seed": int(seed) % 2**31,
        "max_lag": spec.adstock.l_max - 1,
        "hill_before_adstock": spec.order == "saturation_first",
        "knots": list(knots) if isinstance(knots, list | tuple) else knots,
        "max_tree_depth": int(fit.options.get("max_tree_depth", 10)),
    }


def read_posterior(folder: Path) -> dict[str, Array]:
    """Return the arrays of the worker's ``posterior.npz``.

    Raises
    ------
    ValueError
        The file lacks an array the conversion needs, or the draws' shapes disagree.
    """
    with np.load(folder / "posterior.npz") as npz:
        arrays = {k: np.asarray(npz[k]) for k in npz.files}
    needed = ("alpha", "ec", "slope", "beta", "sigma", "incremental_outcome", "roi", *_PER_FIT)
    missing = [k for k in needed if k not in arrays]
    if missing:
        raise ValueError(f"Meridian's worker wrote no {', '.join(missing)} ({folder})")
    shape = arrays["alpha"].shape
    for name in ("ec", "slope", "beta", "incremental_outcome", "roi"):
        if arrays[name].shape != shape:
            raise ValueError(
                f"Meridian's worker wrote {name} of shape {arrays[name].shape}, not {shape}"
            )
    return arrays


def workbench_draws(arrays: Mapping[str, Array]) -> dict[str, Array]:
    """Return the draws ``(chain, draw, ...)`` under the workbench's names.

    The media parameters (:data:`FREE`) and ``sigma`` in Meridian's units (converted by
    :meth:`MeridianModel.estimands`), Meridian's per-fit scales repeated per draw
    (``meridian_media_scale``, ``meridian_kpi_scale``), its expected outcome as ``mu`` in
    units of the KPI scale, and its own ``incremental_outcome`` and ``roi`` (prefixed
    ``meridian_``) for :func:`check_against_meridian`.
    """
    chains, draws = arrays["alpha"].shape[:2]
    out = {name: np.asarray(arrays[source], dtype=float) for name, source in _RENAMED.items()}
    kpi_scale = float(arrays["kpi_scale"])
    for name in _PER_FIT:
        value = np.asarray(arrays[name], dtype=float)
        out[f"meridian_{name}"] = np.broadcast_to(value, (chains, draws, *value.shape)).copy()
    for name in ("incremental_outcome", "roi"):
        out[f"meridian_{name}"] = np.asarray(arrays[name], dtype=float)
    if "expected_outcome" in arrays:
        out["mu"] = np.asarray(arrays["expected_outcome"], dtype=float) / kpi_scale
    return out


def check_against_meridian(
    data: ModelData, estimates: xr.Dataset, draws: Mapping[str, Array]
) -> None:
    """Check the conversion against Meridian's own numbers, per draw.

    The converted contributions summed over the data's periods must be Meridian's
    ``Analyzer.incremental_outcome``, and that per unit of spend Meridian's ROI (both over
    the data's periods, no carry-over past the end), to :data:`CHECK_RTOL`.

    Raises
    ------
    ValueError
        Naming the channel, the two numbers and how far apart they are.
    """
    ours = estimates["contribution_total"].transpose("sample", "channel").to_numpy()
    theirs = np.asarray(draws["meridian_incremental_outcome"], dtype=float)
    roi = np.asarray(draws["meridian_roi"], dtype=float)
    spend = data.spend.sum(axis=0)
    for what, a, b in (
        ("incremental outcome", ours, theirs),
        ("ROI", theirs / spend, roi),
    ):
        scale = np.maximum(np.abs(b), np.abs(b).max(axis=0) * 1e-3)
        gap = np.abs(a - b) / scale
        if not np.all(gap <= CHECK_RTOL):
            s, c = np.unravel_index(int(np.argmax(gap)), gap.shape)
            raise ValueError(
                f"Meridian's {what} of {data.channels[c]} (draw {s}) is {b[s, c]:.6g}, the "
                f"conversion's {a[s, c]:.6g} ({gap[s, c]:.2g} relative): the units are not "
                "Meridian's"
            )


@dataclass(frozen=True, kw_only=True)
class MeridianModel(MediaModel):
    """A cell's Meridian model: fitted per replicate in Meridian's interpreter.

    Attributes
    ----------
    spec
        The workbench table Meridian's model amounts to (:func:`meridian_spec`).
    python
        Meridian's interpreter.
    model_table
        The scenario's ``[model]`` table; ``fit`` its ``[fit]`` table.
    """

    python: str
    model_table: ModelSpec
    fit: FitSpec

    @property
    def method(self) -> str:
        """``meridian``."""
        return BACKEND

    def posterior(self, data: ModelData, seed: int) -> Posterior:
        """Fit one replicate in Meridian's interpreter; return its draws (workbench names).

        Raises
        ------
        RuntimeError
            The worker failed: its one-line error (or its stderr's last line) and exit status.
        """
        t0 = time.perf_counter()
        folder = Path(tempfile.mkdtemp(prefix="mmm-workbench-meridian-"))
        try:
            meridian_frame(data).to_csv(folder / "data.csv", index=False)
            request = meridian_request(self.model_table, self.fit, data, seed)
            (folder / "request.json").write_text(json.dumps(request), encoding="utf-8")
            done = subprocess.run(
                [self.python, "-P", str(WORKER), str(folder)],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                error = folder / "error.txt"
                why = (
                    error.read_text(encoding="utf-8")
                    if error.exists()
                    else (done.stderr.strip().splitlines() or ["(no output)"])[-1]
                )
                raise RuntimeError(f"Meridian's fit failed (exit {done.returncode}): {why}")
            result = json.loads((folder / "result.json").read_text(encoding="utf-8"))
            arrays = read_posterior(folder)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        draws = workbench_draws(arrays)
        names = ("alpha", "ec", "slope", "roi_m", "sigma")
        posterior = xr.Dataset(
            {
                n: (("chain", "draw", *(f"{n}_dim",) * (arrays[n].ndim - 2)), arrays[n])
                for n in names
                if n in arrays
            }
        )
        stats = xr.Dataset(
            {n: (("chain", "draw"), arrays[n]) for n in ("diverging", "step_size") if n in arrays}
        )
        with np.errstate(invalid="ignore", divide="ignore"):  # constant draws: NaN R-hat
            diagnostics = sampler_diagnostics(posterior, stats, list(names))
        diagnostics["peak_rss_mib"] = float(result.get("peak_rss_mib", float("nan")))
        if "n_steps" in arrays:
            diagnostics["mean_leapfrog_steps"] = float(np.mean(arrays["n_steps"]))
        timings = {
            "meridian_import_s": float(result["import_s"]),
            "meridian_build_s": float(result["build_s"]),
            "tune_s": 0.0,
            "draw_s": float(result["sample_s"]),
            "meridian_analyze_s": float(result["analyze_s"]),
            "meridian_total_s": time.perf_counter() - t0,
        }
        return Posterior(draws=draws, diagnostics=diagnostics, timings=timings)

    def prior(self, count: int, seed: int) -> Mapping[str, Array] | None:
        """None: Meridian's ROI prior depends on each replicate's spend (module docstring)."""
        return None

    def estimands(
        self, data: ModelData, draws: Mapping[str, Array], x_scale: Array, multipliers: Array
    ) -> xr.Dataset:
        """Return the estimands in the data's units, checked against Meridian's own numbers.

        :meth:`MediaModel.estimands` on Meridian's scales (``meridian_media_scale`` per
        channel, ``meridian_kpi_scale``), the carry-over past the data's end included; then
        :func:`check_against_meridian`.

        Parameters
        ----------
        data, x_scale, multipliers
            As :meth:`MediaModel.estimands`.
        draws
            :func:`workbench_draws`, sample axis first.

        Raises
        ------
        ValueError
            The conversion does not reproduce Meridian's incremental outcome or ROI.
        """
        scaled = replace(
            data,
            spend_scale=np.asarray(draws["meridian_media_scale"][0], dtype=float),
            target_scale=float(np.asarray(draws["meridian_kpi_scale"])[0]),
        )
        out = super().estimands(scaled, draws, x_scale, multipliers)
        check_against_meridian(data, out, draws)
        return out


def build_meridian(model: ModelSpec, fit: FitSpec, data: ModelData) -> MeridianModel:
    """Build a cell's Meridian model: the interpreter and the workbench's media function.

    Raises
    ------
    ValueError
        As :func:`check_meridian`, :func:`meridian_python` and :func:`check_interpreter`.
    """
    check_meridian(model, fit)
    python = meridian_python(model)
    check_interpreter(python)
    spec = meridian_spec(model)
    periods, n_ch = data.spend.shape
    media = compile_media(spec, FREE, False, n_ch, periods)
    return MeridianModel(
        spec=spec, free=FREE, media=media, python=python, model_table=model, fit=fit
    )
