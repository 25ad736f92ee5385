"""Power study of the default rule set: how often `check` says no to a broken model, and yes
to a sound one, on real fits.

One well-specified world (two channels, geometric adstock and logistic saturation, the
true demand as a control, no confounding; ``--world``: spend always on, flighted, or quiet,
or the shipped SBC scenario's world, see :data:`WORLDS`) is fitted by the correct model with
NUTS and by broken variants, all on the same datasets (cells that differ only in
``[model]``/``[fit]`` share their data):

- approximations: mean-field ADVI, full-rank ADVI, MAP (real backends);
- posteriors broken after sampling: over-confident (every parameter's draws pulled to their
  mean, sd / 3) and shifted (every parameter moved by one posterior sd: on the log scale
  for positive parameters, the logit scale for those in (0, 1));
- model bugs: the adstock lag off by one (the model sees spend one period late), the adstock
  normalization dropped (``normalize = false``: the model's kernel does not sum to one),
  the channels' labels swapped, and one observation dropped (the target after it shifted
  one period against the spend).

The planted variants are model kinds registered here, in the benchmark, wrapping the
workbench kind: none is reachable from the shipped model. The two draws-broken variants
break one NUTS fit of each dataset between them (kept beside the run directory, in
``<out>.shared-fits``), not one fit each. Each variant is fitted to
``--replicates`` datasets (default 40); the replicates are split into disjoint groups of
``--group`` (default 10; the README recommends 30 replicates per cell, from the groups of
10, 20 and 30 measured), each group judged alone by the
default rules (:func:`mmm_workbench.reports.verdict.evaluate` on a view of the run holding
that variant's records of that group only). The false-alarm rate is the share of groups in
which the correct model fails; a variant's power is the share in which it fails.

Usage: ``python bench/power.py [--world always-on|flighted|quiet|sbc] [--replicates 40] [--group 10]
[--variants a,b] [--fit a] [--out DIR]`` (``nox -s power``); writes
``bench/results/power-<UTC time>.json`` and prints the table. Fits run serially in this
process (the planted kinds are registered here). With
``--out DIR`` the study resumes: run the same command again after a stop to continue;
``--fit ""`` judges what is on disk without fitting, ``--no-judge`` fits without judging
(for 10-minute chunks of a long study).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import os
import pickle
import platform
import re
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from mmm_workbench.recover.fitting import record_summary
from mmm_workbench.recover.inference import Posterior
from mmm_workbench.recover.models import workbench
from mmm_workbench.recover.models.data import ModelData
from mmm_workbench.recover.models.kinds import (
    CellModel,
    Context,
    WorkbenchKind,
    register_model_kind,
)
from mmm_workbench.recover.runner import RunOptions, plan_run, run_grid
from mmm_workbench.recover.store import RunStore
from mmm_workbench.reports.verdict import evaluate
from mmm_workbench.scenarios import scenario_from_text
from mmm_workbench.scenarios.spec import FitSpec, ModelSpec

ROOT = Path(__file__).resolve().parents[1]
Array = NDArray[np.float64]

WORLD = """
name = "power"
description = "The power study's well-specified world (bench/power.py)."
seed = 29
replicates = 40

[data]
periods = 104
freq = "W"
start = "2022-01-07"
target = "sales"

[data.demand]
scale = 1000
noise_sd = 0.05
seasonality = [{ period = 52, sin = [0.1] }]

[data.proxy]
noise_sd = 0.0

[data.noise]
kind = "normal"
sd = 20.0

[[data.channels]]
name = "tv"
spend = { demand_share = 10, demand_strength = 0, noise_sd = 0.5, noise = "lognormal" }
adstock = { kind = "geometric", alpha = 0.5, l_max = 6 }
saturation = { kind = "logistic", lam = 1.5 }
beta = 350

[[data.channels]]
name = "search"
spend = { demand_share = 8, demand_strength = 0, noise_sd = 0.5, noise = "lognormal" }
adstock = { kind = "geometric", alpha = 0.2, l_max = 6 }
saturation = { kind = "logistic", lam = 3.0 }
beta = 200

[model]
adstock = { kind = "geometric", l_max = 6 }
saturation = { kind = "logistic" }
controls = ["demand_proxy"]

[fit]
backend = "nutpie"
draws = 1000
tune = 1000
chains = 2
target_accept = 0.9
"""

# 2 chains x 1000 draws: at the level geometry 2 x 500 left a bulk or tail ESS below the
# health rule's 100 in 16 of 40 correct fits (ESS 22-110; R-hat up to 1.08), and the
# correct model failed warning_share in 2 of 4 groups of 10 (cause: sampler).

FLIGHTED_SPEND = "flighting = { on_mean = 8, off_mean = 4 }"
"""The flighted world's one change: each channel's spend is on for about 8 weeks, then dark
for about 4 (a two-state Markov chain per channel and replicate)."""

QUIET_NOISE = "sd = 10.0"
"""The quiet world's one change: observation noise sd 10 instead of 20 (sales units)."""

SBC_SCENARIO = ROOT / "scenarios" / "sbc-nuts-vs-advi.toml"
"""The shipped SBC scenario whose world (truth drawn per replicate from the model's prior)
the ``sbc`` world is."""


def sbc_world(path: Path = SBC_SCENARIO) -> str:
    """The SBC scenario's text without its grid: its data, model and fit, as the study's world."""
    text = path.read_text()
    return text[: text.index("[[grid")] if "[[grid" in text else text


WORLDS: dict[str, str] = {
    "always-on": WORLD,
    "flighted": WORLD.replace('noise = "lognormal" }', f'noise = "lognormal", {FLIGHTED_SPEND} }}'),
    "quiet": WORLD.replace("sd = 20.0", QUIET_NOISE),
    "sbc": sbc_world(),
}
"""The study's worlds. ``always-on``: spend always on with lognormal noise; the data barely
inform the saturation steepness ``lam`` (contraction 0.6-0.8, so at a fixed truth the
calibration rules do not judge it). ``flighted``: the same world with flighted spend, whose
dark weeks show the response at zero spend, meant to pin ``lam`` (measured: it did not, see
the README). ``quiet``: the always-on world with half the observation noise, a better-posed
world meant to teach ``lam`` (contraction above the calibration rules' 0.8), so that a
bug that changes only what ``lam`` means (the adstock normalization dropped) is judged
(measured at 20 replicates: it did not help; the bug failed 1 of 2 groups of 10, and the
correct model 1 of 2, on ``adstock_alpha``'s 50% HDI coverage); the default world's row
stays the honest one. ``sbc``: :data:`SBC_SCENARIO`'s world and fit settings (52 weeks, every
parameter drawn per replicate from the model's prior, NUTS 2 x 400 draws): there ranks
judge every parameter, ``lam`` included, not a fixed truth's coverage (measured: the dropped
normalization failed 5 of 5 groups of 30, 6 of 7 of 20, 6 of 15 of 10, on ``lam``'s z_sd and
SBC uniformity; the correct model none)."""

# variant -> (model.kind, fit.backend, model.adstock.normalize)
VARIANTS: dict[str, tuple[str, str, bool]] = {
    "nuts (correct)": ("workbench", "nutpie", True),
    "mean-field ADVI": ("workbench", "advi", True),
    "full-rank ADVI": ("workbench", "fullrank_advi", True),
    "MAP": ("workbench", "map", True),
    "over-confident (sd / 3)": ("planted-overconfident", "nutpie", True),
    "shifted posterior": ("planted-shifted", "nutpie", True),
    "adstock lag off by one": ("planted-lag", "nutpie", True),
    "normalization dropped": ("workbench", "nutpie", False),
    "labels swapped": ("planted-swap", "nutpie", True),
    "observation dropped": ("planted-drop", "nutpie", True),
}


# --------------------------------------------------------------------------- planted kinds


def lag_spend(data: ModelData) -> ModelData:
    """The model sees every period's spend one period late (its adstock off by one lag)."""
    spend = np.zeros_like(data.spend)
    spend[1:] = data.spend[:-1]
    return dataclasses.replace(data, spend=spend)


def swap_labels(data: ModelData) -> ModelData:
    """The spend columns reach the model in reverse channel order (labels swapped)."""
    return dataclasses.replace(
        data, spend=data.spend[:, ::-1].copy(), spend_scale=data.spend_scale[::-1].copy()
    )


def drop_observation(data: ModelData) -> ModelData:
    """One target value (the middle one) dropped: later targets shift one period earlier."""
    target = data.target.copy()
    k = len(target) // 2
    target[k:-1] = data.target[k + 1 :]
    return dataclasses.replace(data, target=target)


def _transform(values: Array, how: Callable[[Array, Array], Array]) -> Array:
    """Apply ``how(draws, sd)`` on the scale where a parameter is unbounded."""
    flat = values.reshape(-1, *values.shape[2:])
    if np.all((flat > 0) & (flat < 1)):
        z = np.log(values / (1 - values))
        moved = how(z, z.reshape(flat.shape).std(axis=0))
        return np.asarray(1 / (1 + np.exp(-moved)))
    if np.all(flat > 0):
        z = np.log(values)
        return np.asarray(np.exp(how(z, z.reshape(flat.shape).std(axis=0))))
    return how(values, flat.std(axis=0))


def overconfident(draws: Mapping[str, Array]) -> dict[str, Array]:
    """Every parameter's draws pulled to their mean: a posterior sd a third of the sampler's."""

    def shrink(z: Array, sd: Array) -> Array:
        mean = z.reshape(-1, *z.shape[2:]).mean(axis=0)
        return np.asarray(mean + (z - mean) / 3.0)

    return {k: _transform(np.asarray(v, dtype=float), shrink) for k, v in draws.items()}


def shifted(draws: Mapping[str, Array]) -> dict[str, Array]:
    """Every parameter moved up by one posterior sd (on its unbounded scale)."""
    return {
        k: _transform(np.asarray(v, dtype=float), lambda z, sd: np.asarray(z + sd))
        for k, v in draws.items()
    }


SHARED_FITS: Path | None = None
"""Where the draws-bug variants keep the posteriors they share (None: each fits its own)."""


def _shared_posterior(inner: CellModel, data: ModelData, seed: int) -> Posterior:
    """The correct model's posterior of ``data``, fitted once per dataset and backend."""
    if SHARED_FITS is None:
        return inner.posterior(data, seed)
    digest = hashlib.sha256(inner.method.encode())
    for part in (data.spend, data.target, data.controls):
        digest.update(np.ascontiguousarray(part, dtype=float).tobytes())
    path = SHARED_FITS / f"{digest.hexdigest()[:24]}.pkl"
    if path.is_file():
        with path.open("rb") as handle:
            cached: Posterior = pickle.load(handle)
        return cached
    post = inner.posterior(data, seed)
    SHARED_FITS.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    with partial.open("wb") as handle:
        pickle.dump(post, handle)
    partial.replace(path)
    return post


@dataclasses.dataclass(frozen=True)
class PlantedCell:
    """A workbench cell model fitted to perturbed data or with its draws broken."""

    inner: CellModel
    data_bug: Callable[[ModelData], ModelData] | None = None
    draws_bug: Callable[[Mapping[str, Array]], dict[str, Array]] | None = None

    @property
    def method(self) -> str:
        """The inner model's backend."""
        return self.inner.method

    def _data(self, data: ModelData) -> ModelData:
        return data if self.data_bug is None else self.data_bug(data)

    def posterior(self, data: ModelData, seed: int) -> Posterior:
        """Fit the (perturbed) data; break the draws where planted.

        A draws bug breaks the correct model's posterior, which depends on the data only:
        where :data:`SHARED_FITS` names a folder, that posterior is fitted once per dataset
        and shared by every draws-bug variant (the first one's sampler seed is used).
        """
        if self.draws_bug is None:
            return self.inner.posterior(self._data(data), seed)
        post = _shared_posterior(self.inner, data, seed)
        return dataclasses.replace(post, draws=self.draws_bug(post.draws))

    def prior(self, count: int, seed: int) -> Mapping[str, Array] | None:
        """The inner model's prior."""
        return self.inner.prior(count, seed)

    def estimands(
        self, data: ModelData, draws: Mapping[str, Array], x_scale: Array, multipliers: Array
    ) -> object:
        """Estimands as the broken model sees its data."""
        return self.inner.estimands(self._data(data), draws, x_scale, multipliers)


@dataclasses.dataclass(frozen=True)
class PlantedKind:
    """The workbench kind with a planted bug (a benchmark test double)."""

    name: str
    data_bug: Callable[[ModelData], ModelData] | None = None
    draws_bug: Callable[[Mapping[str, Array]], dict[str, Array]] | None = None

    def validate(self, model: ModelSpec, fit: FitSpec, context: Context) -> None:
        """As the workbench kind."""
        WorkbenchKind().validate(model, fit, context)

    def build(self, model: ModelSpec, fit: FitSpec, data: ModelData) -> CellModel:
        """Build the workbench model on the (perturbed) first replicate."""
        bugged = data if self.data_bug is None else self.data_bug(data)
        inner = WorkbenchKind().build(model, fit, bugged)
        return PlantedCell(inner, self.data_bug, self.draws_bug)  # type: ignore[return-value]


PLANTED = (
    PlantedKind("planted-overconfident", draws_bug=overconfident),
    PlantedKind("planted-shifted", draws_bug=shifted),
    PlantedKind("planted-lag", data_bug=lag_spend),
    PlantedKind("planted-swap", data_bug=swap_labels),
    PlantedKind("planted-drop", data_bug=drop_observation),
)


def register_planted() -> None:
    """Register the planted kinds (idempotent)."""
    from mmm_workbench.recover.models import kinds

    for kind in PLANTED:
        if kind.name not in kinds.model_kinds():
            register_model_kind(kind)


# --------------------------------------------------------------------------- the study


def scenario_text(variants: list[str], replicates: int | None = None, world: str = WORLD) -> str:
    """The world with one grid cell per variant (zipped kind, backend, normalization).

    ``replicates`` rewrites the scenario's count; the study keeps the text as it is (and
    sets the count as a run option) so that a run directory resumes at any count.
    """
    kinds = [VARIANTS[v][0] for v in variants]
    backends = [VARIANTS[v][1] for v in variants]
    normalize = [VARIANTS[v][2] for v in variants]
    grid = (
        "\n[[grid.zip]]\n"
        f'"model.kind" = {json.dumps(kinds)}\n'
        f'"fit.backend" = {json.dumps(backends)}\n'
        f'"model.adstock.normalize" = {json.dumps(normalize)}\n'
    )
    if replicates is not None:
        world = re.sub(r"(?m)^replicates = \d+$", f"replicates = {replicates}", world)
    return world + grid


def _view(run: Path, cell: str, replicates: list[int], where: Path) -> Path:
    """A run directory holding one cell's records of the given replicates (symlinks)."""
    where.mkdir(parents=True)
    (where / "scenario.toml").symlink_to(run / "scenario.toml")
    # the manifest names this cell only: a cell listed without fits would fail every rule
    # ("nothing to judge"), which is about the view, not the variant
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["cells"] = {cell: manifest["cells"][cell]}
    manifest["replicates"] = len(replicates)
    (where / "manifest.json").write_text(json.dumps(manifest))
    (where / "fits" / cell).mkdir(parents=True)
    for rep in replicates:
        for record in (run / "fits" / cell).glob(f"{rep}.*"):
            (where / "fits" / cell / record.name).symlink_to(record)
    return where


def _variants_on_disk(run: Path, variants: list[str]) -> dict[str, str]:
    """Cell id -> variant for the run's cells that are among ``variants`` (by overrides)."""
    by_key: dict[tuple[object, ...], str] = {spec: name for name, spec in VARIANTS.items()}
    out = {}
    cells = json.loads((run / "manifest.json").read_text())["cells"]
    for cell, info in cells.items():
        given = {str(k): v for k, v in info.get("overrides", [])}
        key = (
            given.get("model.kind"),
            given.get("fit.backend"),
            given.get("model.adstock.normalize"),
        )
        variant = by_key.get(key)
        if variant in variants:
            out[cell] = variant
    return out


def _on_disk(run: Path, cell: str, replicate: int) -> bool:
    """A fit of ``replicate`` finished (a record or a failure record)."""
    return any((run / "fits" / cell).glob(f"{replicate}.*"))


def _fit_seconds(run: Path, cell: str, replicates: list[int]) -> dict[str, float]:
    """Median seconds per fit of a cell's records: sampling and post-processing, and compiling.

    A draws-bug variant's records carry the timings of the fit it shares.
    """
    store = RunStore(run)
    fit, compile_s = [], []
    for rep in replicates:
        if not store.has_record(cell, rep):
            continue
        _, timings = record_summary(store.read_record(cell, rep))
        compiled = timings.pop("compile_s", 0.0)
        if compiled > 0:
            compile_s.append(compiled)
        fit.append(sum(timings.values()))
    return {
        "fit_s_median": round(float(np.median(fit)), 1) if fit else float("nan"),
        "compile_s_median": round(float(np.median(compile_s)), 1) if compile_s else float("nan"),
    }


def _interval(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Clopper-Pearson interval of a rate of ``k`` in ``n``."""
    if n == 0:
        return float("nan"), float("nan")
    tail = (1 - level) / 2
    lo = 0.0 if k == 0 else float(stats.beta.ppf(tail, k, n - k + 1))
    hi = 1.0 if k == n else float(stats.beta.ppf(1 - tail, k + 1, n - k))
    return lo, hi


def study(
    out: Path,
    variants: list[str],
    replicates: int,
    group: int,
    fit: list[str] | None = None,
    world: str = WORLD,
    judge: bool = True,
) -> dict[str, object]:
    """Fit the variants (``fit``: only these now), judge each complete group of replicates
    alone; return the results.

    The run directory resumes: fits already in ``out`` are skipped, so a study stopped at
    any point continues where it stopped when run again with the same ``--out`` and
    ``--variants`` (``--replicates`` may grow). Groups whose fits are not all on disk yet
    are left out of the table (``groups`` says how many were judged). ``world`` is the
    scenario without its grid (default :data:`WORLD`; a test passes a smaller one).
    """
    global SHARED_FITS
    register_planted()
    SHARED_FITS = out.parent / f"{out.name}.shared-fits"
    source = scenario_from_text(scenario_text(variants, world=world), "power.toml")
    label_of = {c.cell_id: v for c, v in zip(source.cells, variants, strict=True)}
    only = tuple(c for c, v in label_of.items() if fit is None or v in fit)
    started = time.perf_counter()
    with _pinned_geometry(out):
        plan = plan_run(source, RunOptions(replicates=replicates, only=only))
        summary = run_grid(plan, out) if only else None
    fit_s = time.perf_counter() - started
    label_of = _variants_on_disk(out, variants)  # also a run made with other fit settings
    settings = tomllib.loads((out / "scenario.toml").read_text()).get("fit", {})
    groups = [list(range(i, i + group)) for i in range(0, replicates - group + 1, group)]
    if not judge:  # a fitting chunk of a long study: judged once at the end (``--fit ""``)
        groups = []
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for cell, variant in label_of.items():
            failed, causes, counts, rules = [], [], [], []
            for g, reps in enumerate(groups):
                if not all(_on_disk(out, cell, r) for r in reps):
                    continue
                verdict = evaluate(_view(out, cell, reps, Path(tmp) / f"{cell}-{g}"))
                failed.append(not verdict.passed)
                causes.append(list(verdict.causes))
                counts.append([len(verdict.failures), verdict.checked])
                rules.append(verdict.failures["rule"].value_counts().head(5).to_dict())
            k, n = int(sum(failed)), len(failed)
            rows.append(
                {
                    "variant": variant,
                    "cell": cell,
                    "groups": n,
                    "failed": k,
                    "fail_share": k / n if n else float("nan"),
                    "interval_95": _interval(k, n),
                    "causes": causes,
                    "failed_checks": counts,
                    "top_failing_rules": rules,
                    **_fit_seconds(out, cell, list(range(replicates))),
                }
            )
    return {
        "replicates": replicates,
        "group": group,
        "fit_settings": {k: settings.get(k) for k in ("draws", "tune", "chains")},
        "fits": summary.done if summary else 0,
        "skipped_fits": summary.skipped if summary else 0,
        "failed_fits": summary.failed if summary else 0,
        "fit_seconds": round(fit_s, 1),
        "rows": rows,
    }


STUDY_GEOMETRY = "level"
"""The sampler geometry the README's power numbers are measured with: ``level``, the shipped
model's default when the study was run (now ``auto``; the first study's numbers were
``dgp``'s). The study uses it unless
``MMM_WORKBENCH_GEOMETRY`` names another, and never the model's default implicitly: a
change of default must not change what a resumed study fits."""


@contextlib.contextmanager
def _pinned_geometry(out: Path) -> Iterator[None]:
    """Fix the study's sampler geometry while its fits run; refuse to add fits of another.

    ``MMM_WORKBENCH_GEOMETRY`` when set, else :data:`STUDY_GEOMETRY` (not the model's own
    default, which may change), set on the model module and in the environment (for the
    worker processes) before any model is built, and both put back afterwards: a caller in
    the same process (a test session, whose later tests start ``mmm-workbench`` commands)
    keeps its own. The first call on a run directory writes it beside the run
    (``<out>.geometry``), later calls compare: one study, one geometry.
    """
    wanted = os.environ.get("MMM_WORKBENCH_GEOMETRY", STUDY_GEOMETRY)
    if wanted not in workbench.GEOMETRIES:
        sys.exit(f"MMM_WORKBENCH_GEOMETRY = {wanted!r}: one of {list(workbench.GEOMETRIES)}")
    marker = out.parent / f"{out.name}.geometry"
    if marker.is_file() and marker.read_text().strip() != wanted:
        sys.exit(
            f"--out {out}: its fits use geometry {marker.read_text().strip()!r}, this process "
            f"{wanted!r} (MMM_WORKBENCH_GEOMETRY): a study never mixes geometries"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(wanted + "\n")
    saved, saved_env = workbench.GEOMETRY, os.environ.get("MMM_WORKBENCH_GEOMETRY")
    workbench.GEOMETRY = wanted
    os.environ["MMM_WORKBENCH_GEOMETRY"] = wanted  # and for any worker process
    try:
        yield
    finally:
        workbench.GEOMETRY = saved
        if saved_env is None:
            os.environ.pop("MMM_WORKBENCH_GEOMETRY", None)
        else:
            os.environ["MMM_WORKBENCH_GEOMETRY"] = saved_env


def _commit() -> str:
    """The checkout's commit (with ``+dirty`` when files differ), or "" outside git."""
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return ""
    return head + ("+dirty" if dirty else "")


def main() -> None:
    """Run the study and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicates", type=int, default=40)
    parser.add_argument("--group", type=int, default=10)
    parser.add_argument("--variants", help="comma-separated subset (default: all)")
    parser.add_argument(
        "--fit", help="comma-separated variants to fit now (default: all; '' judges only)"
    )
    parser.add_argument(
        "--world", choices=list(WORLDS), default="always-on", help="the world (see WORLDS)"
    )
    parser.add_argument(
        "--out", type=Path, help="run directory, resumed when run again (default: temporary)"
    )
    parser.add_argument(
        "--no-judge", action="store_true", help="fit only; judge later with --fit ''"
    )
    args = parser.parse_args()
    variants = list(VARIANTS) if not args.variants else args.variants.split(",")
    fit = None if args.fit is None else [v for v in args.fit.split(",") if v]
    unknown = [v for v in [*variants, *(fit or [])] if v not in VARIANTS]
    if unknown:
        sys.exit(f"--variants/--fit: unknown {unknown}; known: {list(VARIANTS)}")
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out if args.out is not None else Path(tmp) / "power"
        result = study(
            out, variants, args.replicates, args.group, fit, WORLDS[args.world], not args.no_judge
        )
    result |= {
        "world": args.world,
        "geometry": workbench.GEOMETRY,
        "variants": variants,
        "commit": _commit(),
        "python": platform.python_version(),
        "load_1min": os.getloadavg()[0],
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    print(f"{'variant':<26} {'gate failed':>12}   (groups of {args.group} replicates; 95% CI)")
    for row in result["rows"]:  # type: ignore[attr-defined]
        lo, hi = row["interval_95"]
        print(
            f"{row['variant']:<26} {row['failed']:>5} of {row['groups']:<4}  [{lo:.2f}, {hi:.2f}]"
        )
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = ROOT / "bench" / "results" / f"power-{stamp}.json"
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"wrote {path} ({result['fits']} fits in {result['fit_seconds']} s)")


if __name__ == "__main__":
    main()
