"""Benchmark: a mean-field ADVI fit compiled once per cell against ``pm.fit`` per fit.

On the power study's world (``bench/power.py``: 104 weeks, two channels, the workbench
model), the same replicates are fitted twice in one process, alternating:

- ``refit``: what the ``advi`` backend did before: ``pm.fit(n, method, random_seed=seed)``
  then ``approx.sample``, which builds the approximation and compiles its step function
  (and the sampling function) in every fit;
- ``prepared``: today's backend (:class:`mmm_workbench.recover.inference.Advi`): the step
  compiled once per cell (``prepare``, timed apart as ``compile_s``), then per replicate
  the data swapped in and every state the step updates reset.

Both use the same seed per replicate, so their draws must be equal (checked: the largest
absolute difference is reported). CPU seconds (``time.process_time``, this process) and
wall seconds per fit; say the machine's load beside them.

Usage: ``python bench/bench_advi.py [--replicates 2] [--iterations 20000] [--method advi]``;
writes ``bench/results/advi-<UTC time>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pymc as pm

from mmm_workbench.recover.fitting import CellFitter
from mmm_workbench.recover.inference import Backend, Posterior, Sample, SampledModel
from mmm_workbench.recover.models import workbench
from mmm_workbench.recover.models.data import model_data
from mmm_workbench.scenarios import scenario_from_text
from mmm_workbench.scenarios.spec import FitSpec

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import power  # noqa: E402  (the study's world)


class Refit(Backend):
    """The ``advi`` backend before it compiled once: ``pm.fit`` in every fit."""

    name = "advi-refit"
    method = "advi"

    def prepare(self, model: SampledModel, fit: FitSpec) -> object:
        """Nothing compiled ahead."""
        return None

    def swap(self, prepared: object, model: SampledModel, data: Mapping[str, object]) -> object:
        """Set the data; return the model."""
        pm.set_data(dict(data), model=model.model)
        return model.model

    def sample(self, target: object, model: SampledModel, fit: FitSpec, seed: int) -> Sample:
        """``pm.fit`` then ``approx.sample``, as the backend did."""
        iterations = int(fit.options.get("iterations", 20000))
        with target:  # type: ignore[attr-defined]
            approx = pm.fit(n=iterations, method=self.method, random_seed=seed, progressbar=False)
            trace = approx.sample(draws=fit.draws, random_seed=seed)
        return Sample(
            posterior=trace["posterior"].to_dataset(),
            diagnostics={"final_loss": float(approx.hist[-1])},
            tune_share=1.0,
        )


def main() -> None:
    """Fit, time, compare, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicates", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=20000)
    parser.add_argument("--method", choices=["advi", "fullrank_advi"], default="advi")
    args = parser.parse_args()
    variant = {"advi": "mean-field ADVI", "fullrank_advi": "full-rank ADVI"}[args.method]
    text = power.scenario_text([variant]).replace(
        "target_accept = 0.9\n",
        f"target_accept = 0.9\noptions = {{ iterations = {args.iterations} }}\n",
    )
    workbench.GEOMETRY = os.environ.get("MMM_WORKBENCH_GEOMETRY", power.STUDY_GEOMETRY)  # type: ignore[assignment]
    (cell,) = scenario_from_text(text, "advi.toml").cells
    fitter = CellFitter(cell)  # builds the model and prepares the backend (compiles once)
    model = fitter.model
    fit = cell.scenario.fit
    refit = Refit()
    refit.method = args.method
    rows = []
    for rep in range(args.replicates):
        data = model_data(fitter._dataset(rep), cell.scenario.model)  # type: ignore[arg-type]
        values = model._data(data)  # type: ignore[attr-defined]
        seed = 1000 + rep
        out: dict[str, Posterior] = {}
        for how in ("refit", "prepared") if rep % 2 == 0 else ("prepared", "refit"):
            c0, w0 = time.process_time(), time.perf_counter()
            if how == "refit":
                out[how] = refit.run(None, model.fitted, values, fit, seed)  # type: ignore[attr-defined]
            else:
                out[how] = model.posterior(data, seed)
            rows.append(
                {
                    "replicate": rep,
                    "how": how,
                    "cpu_s": round(time.process_time() - c0, 2),
                    "wall_s": round(time.perf_counter() - w0, 2),
                    "final_loss": out[how].diagnostics["final_loss"],
                }
            )
            print(rows[-1], flush=True)
        diff = max(
            float(np.max(np.abs(out["refit"].draws[k] - out["prepared"].draws[k])))
            for k in out["prepared"].draws
        )
        rows[-1]["max_abs_draw_difference"] = diff
        print(f"replicate {rep}: largest |draw difference| {diff}", flush=True)

    def median(how: str, key: str) -> float:
        return float(np.median([r[key] for r in rows if r["how"] == how]))

    result = {
        "method": args.method,
        "iterations": args.iterations,
        "geometry": workbench.GEOMETRY,
        "build_and_prepare_s": round(fitter.compile_s, 2),  # the model, its prior, the step
        "rows": rows,
        "cpu_s_median": {h: median(h, "cpu_s") for h in ("refit", "prepared")},
        "wall_s_median": {h: median(h, "wall_s") for h in ("refit", "prepared")},
        "load_1min": os.getloadavg()[0],
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = ROOT / "bench" / "results" / f"advi-{stamp}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}), f"wrote {path}")


if __name__ == "__main__":
    main()
