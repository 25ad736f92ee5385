"""Fit Google's Meridian to one replicate, in Meridian's own interpreter.

Run by :mod:`mmm_workbench.recover.models.meridian` as ``python -P meridian_worker.py DIR``
with the interpreter of an environment that has ``google-meridian`` (Meridian pins
``arviz<0.20``, the workbench needs ``arviz>=1``: they cannot share one environment). So
this file imports nothing from ``mmm_workbench``: the standard library, numpy, pandas and
Meridian only.

Protocol (the folder ``DIR``):

- in: ``request.json`` (:data:`REQUEST_KEYS`) and ``data.csv``, the training rows in
  Meridian's data-frame layout: ``time`` (``YYYY-MM-DD``), ``population``, the KPI column,
  one spend column per channel (media = spend: the simulated worlds have no impressions),
  the controls; a ``geo`` column where the data are a panel.
- out: ``posterior.npz`` (:data:`OUTPUT_ARRAYS`, ``(chain, draw, ...)`` for draws) and
  ``result.json`` (timings, peak memory, versions); or ``error.txt`` (one line) and exit
  status 1.

Units of ``posterior.npz``: transform parameters in Meridian's (``ec`` in units of
Meridian's media scale, ``media_scale``); ``beta`` per channel is Meridian's ``beta_gm``
of the first geo, in units of ``kpi_scale`` (the population-scaled KPI's standard deviation
times the geo's population) per unit of Hill output; ``sigma`` in units of ``kpi_scale``;
``incremental_outcome`` and ``roi`` are Meridian's own (``Analyzer``), over the data's
periods; ``expected_outcome`` in KPI units, per period.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

REQUEST_KEYS = (
    "channels",
    "controls",
    "kpi",
    "n_chains",
    "n_adapt",
    "n_burnin",
    "n_keep",
    "seed",
    "max_lag",
    "hill_before_adstock",
    "knots",
    "max_tree_depth",
)
"""What ``request.json`` holds."""

OUTPUT_ARRAYS = (
    "alpha",
    "ec",
    "slope",
    "beta",
    "roi_m",
    "sigma",
    "incremental_outcome",
    "roi",
    "expected_outcome",
    "media_scale",
    "kpi_scale",
    "diverging",
    "step_size",
    "n_steps",
)
"""What ``posterior.npz`` holds."""


def _log(stage: str, since: float) -> None:
    """Write one progress line to stderr (the workbench shows the last one if the fit fails)."""
    sys.stderr.write(f"meridian_worker: {stage} after {time.perf_counter() - since:.1f} s\n")
    sys.stderr.flush()


def _posterior_array(posterior: Any, name: str) -> Any:
    """Return a posterior variable as ``(chain, draw, ...)`` float64."""
    import numpy as np

    return np.asarray(posterior[name].transpose("chain", "draw", ...).values, dtype=np.float64)


def fit(folder: Path) -> dict[str, Any]:
    """Fit Meridian to ``folder/data.csv`` as ``folder/request.json`` asks; write the draws."""
    t0 = time.perf_counter()
    import numpy as np
    import pandas as pd
    from meridian import __version__ as meridian_version
    from meridian.analysis import analyzer
    from meridian.data import data_frame_input_data_builder as builders
    from meridian.model import model, spec

    imported = time.perf_counter()
    _log("imported", t0)
    request = json.loads((folder / "request.json").read_text(encoding="utf-8"))
    frame = pd.read_csv(folder / "data.csv")
    channels, controls = list(request["channels"]), list(request["controls"])
    builder = (
        builders.DataFrameInputDataBuilder(kpi_type="revenue")
        .with_kpi(frame, kpi_col=request["kpi"])
        .with_population(frame)
        .with_media(frame, media_cols=channels, media_spend_cols=channels, media_channels=channels)
    )
    if controls:
        builder = builder.with_controls(frame, control_cols=controls)
    data = builder.build()
    model_spec = spec.ModelSpec(
        max_lag=int(request["max_lag"]),
        hill_before_adstock=bool(request["hill_before_adstock"]),
        knots=request["knots"],
    )
    mmm = model.Meridian(input_data=data, model_spec=model_spec)
    built = time.perf_counter()
    _log("built", t0)
    mmm.sample_posterior(
        n_chains=int(request["n_chains"]),
        n_adapt=int(request["n_adapt"]),
        n_burnin=int(request["n_burnin"]),
        n_keep=int(request["n_keep"]),
        max_tree_depth=int(request["max_tree_depth"]),
        seed=int(request["seed"]),
    )
    sampled = time.perf_counter()
    _log("sampled", t0)
    posterior = mmm.inference_data.posterior
    stats = mmm.inference_data.sample_stats
    found = analyzer.Analyzer(mmm)
    sigma = _posterior_array(posterior, "sigma")
    out = {
        "alpha": _posterior_array(posterior, "alpha_m"),
        "ec": _posterior_array(posterior, "ec_m"),
        "slope": _posterior_array(posterior, "slope_m"),
        "beta": _posterior_array(posterior, "beta_gm")[:, :, 0, :],
        "roi_m": _posterior_array(posterior, "roi_m"),
        "sigma": sigma.reshape(sigma.shape[0], sigma.shape[1], -1)[:, :, 0],
        "incremental_outcome": np.asarray(
            found.incremental_outcome(include_non_paid_channels=False), dtype=np.float64
        ),
        "roi": np.asarray(found.roi(), dtype=np.float64),
        "expected_outcome": np.asarray(
            found.expected_outcome(aggregate_geos=True, aggregate_times=False), dtype=np.float64
        ),
        "media_scale": np.asarray(
            mmm.media_tensors.media_transformer.scale_factors_gm, dtype=np.float64
        )[0],
        "kpi_scale": np.asarray(
            float(mmm.kpi_transformer.population_scaled_stdev) * float(mmm.population[0])
        ),
        "diverging": np.asarray(stats["diverging"].transpose("chain", "draw").values, dtype=bool),
        "step_size": np.asarray(stats["step_size"].transpose("chain", "draw").values, float),
        "n_steps": np.asarray(stats["n_steps"].transpose("chain", "draw").values, float),
    }
    np.savez(folder / "posterior.npz", **out)
    analyzed = time.perf_counter()
    return {
        "import_s": imported - t0,
        "build_s": built - imported,
        "sample_s": sampled - built,
        "analyze_s": analyzed - sampled,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "versions": {
            "google-meridian": meridian_version,
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "python": sys.version.split()[0],
        },
    }


def _exit_with_parent(folder: Path) -> None:
    """Exit when the workbench's process dies (its pid changes): never an orphan sampling.

    The folder is removed first: a workbench killed at a time limit cannot remove it.
    """
    parent = os.getppid()
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            shutil.rmtree(folder, ignore_errors=True)
            os._exit(1)


def main(argv: list[str]) -> int:
    """Fit the folder ``argv[0]``; write ``result.json``, or ``error.txt`` and return 1."""
    folder = Path(argv[0])
    threading.Thread(target=_exit_with_parent, args=(folder,), daemon=True).start()
    try:
        result = fit(folder)
    except Exception as err:  # the workbench reads the one line; the traceback goes to stderr
        traceback.print_exc()
        message = " ".join(f"{type(err).__name__}: {err}".split())
        (folder / "error.txt").write_text(message, encoding="utf-8")
        return 1
    (folder / "result.json").write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
