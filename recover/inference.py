"""Inference backends behind one call, compiled once per cell and reused per replicate.

``backend.prepare(model)`` compiles what can be compiled once for a cell (nutpie's numba
model, ADVI's optimization step); ``backend.run(prepared, model, data, fit, seed)`` swaps
the replicate's data into it and samples. Every backend returns posterior draws with a
``(chain, draw)`` leading shape, sampler diagnostics, and wall times split into compile,
tune and draw.

Backends: ``nutpie`` (default), ``pymc`` (PyMC's NUTS), ``numpyro`` (numpyro's NUTS
through PyMC; the ``jax`` extra), ``pathfinder`` (pymc-extras; the ``pathfinder`` extra),
``advi`` and ``fullrank_advi`` (PyMC's variational inference; ``options.iterations``),
``map`` (a point estimate for smoke runs). A backend whose packages are missing is refused
before any fitting, naming the extra to install.

Every backend fits through one template, :meth:`Backend.run`: swap the replicate's data in
(:meth:`Backend.swap`), sample (:meth:`Backend.sample`), compute the deterministics the
method did not return, and keep the draws the model needs. A backend is a
:class:`Backend` subclass registered under its ``name``: :func:`register_backend` in code,
or the entry-point group ``mmm_workbench.backends`` in an installed package's metadata
(``name = "module:Class"``), loaded the first time an unknown name is looked up.

Importing this module turns PyTensor's numba fast-math off for the process
(:func:`exact_numba_math`): with it, a cold and a warm compile cache gave different posteriors.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import numbers
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, ClassVar, Protocol, cast

import numpy as np
import pymc as pm
import xarray as xr
from numpy.typing import NDArray
from pytensor.configdefaults import config as pytensor_config

from mmm_workbench.scenarios.spec import FitSpec

__all__ = [
    "BACKENDS",
    "BACKEND_ENTRY_POINTS",
    "THREADS_ENV",
    "Backend",
    "CompiledNutpie",
    "Posterior",
    "PreparedAdvi",
    "Sample",
    "SampledModel",
    "backends",
    "exact_numba_math",
    "fit_threads",
    "get_backend",
    "register_backend",
    "sampler_diagnostics",
]

Array = NDArray[np.float64]


def exact_numba_math() -> None:
    """Compile PyTensor's numba code without fast-math, so a warm cache reproduces a cold one.

    PyTensor compiles numba code with LLVM's fast-math flags by default (``reassoc``,
    ``contract``, ``afn``, ``arcp``, ``nsz``: ``pytensor.config.numba__fastmath``). They let
    LLVM round the same graph differently depending on how its code was put together: a
    process that compiles a graph's per-Op kernels itself (a cold compile cache) computed
    the log density and gradient of a workbench cell 1e-16 to 1e-14 apart (relative) from a
    process that loaded those kernels from PyTensor's numba cache (issue 10, defect 10),
    and MCMC amplified that into different posteriors. Without fast-math LLVM keeps IEEE
    semantics, so every process computes the same bits, cold or warm (measured on the same
    cell: 64 of 64 values identical, against 25 of 64 with fast-math). Set for the whole
    process (at import), before anything is compiled: PyTensor's numba cache keys carry
    the setting, so code compiled with fast-math is never loaded.
    """
    pytensor_config.numba__fastmath = False


exact_numba_math()


THREADS_ENV = "MMM_WORKBENCH_THREADS"
"""The environment variable that caps the CPU threads one fit samples on (default: every CPU).

The runner sets it for its worker processes (``--workers N``: the CPUs / N each), so that N
fits at once do not run more sampler threads than there are CPUs."""


def fit_threads() -> int:
    """Return how many CPU threads one fit may sample on.

    :data:`THREADS_ENV` when it is set, else the CPUs of this machine.

    Raises
    ------
    ValueError
        ``MMM_WORKBENCH_THREADS = 'x': must be an integer >= 1``.
    """
    value = os.environ.get(THREADS_ENV, "").strip()
    if not value:
        return os.cpu_count() or 1
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{THREADS_ENV} = {value!r}: must be an integer >= 1")
    return int(value)


class CompiledNutpie(Protocol):
    """nutpie's compiled model, as ``Nutpie.prepare`` returns it."""

    def with_data(self, **data: Array) -> object:
        """Return the compiled model with its ``pm.Data`` replaced."""


class SampledModel(Protocol):
    """What a backend needs of a model.

    Its ``pm.Model``, with the free random variables, ``channel_contribution`` and ``mu`` (the
    workbench model, the pymc-marketing adapter, a ``kind = "python"`` builder's model). A
    model may also name deterministics to keep, ``extra_draws`` (a tuple of names).
    """

    @property
    def model(self) -> pm.Model:
        """The built PyMC model."""


@dataclass(frozen=True, kw_only=True)
class Posterior:
    """What a backend returns: draws ``(chain, draw, ...)``, diagnostics, timings (s)."""

    draws: dict[str, Array]
    diagnostics: dict[str, float]
    timings: dict[str, float] = field(default_factory=dict)


def _draws(posterior: xr.Dataset, names: list[str]) -> dict[str, Array]:
    return {
        n: posterior[n].transpose("chain", "draw", ...).to_numpy() for n in names if n in posterior
    }


def _needed(model: SampledModel) -> list[str]:
    extra = [str(n) for n in getattr(model, "extra_draws", ())]
    free = [v.name for v in model.model.free_RVs]
    return [
        *free,
        *(n for n in diagnosed(model) if n not in free),
        "channel_contribution",
        "mu",
        *extra,
    ]


def diagnosed(model: SampledModel) -> list[str]:
    """Return the variables whose R-hat and ESS a fit's diagnostics report.

    The model's free variables, or its own list (``diagnosed``): the geo model samples a
    spread as a signed variable whose sign is not identified, and reports its DGP names.
    """
    own = getattr(model, "diagnosed", ())
    return [str(n) for n in own] if own else [v.name for v in model.model.free_RVs]


@dataclass(frozen=True, kw_only=True)
class Sample:
    """What :meth:`Backend.sample` returns; :meth:`Backend.run` turns it into a :class:`Posterior`.

    Attributes
    ----------
    posterior
        The draws, dims ``(chain, draw, ...)``; deterministics it lacks are computed after.
    stats
        Sampler statistics (NUTS), for :func:`sampler_diagnostics`; ``None`` for other methods.
    diagnostics
        The method's own numbers (``final_loss``), added to the diagnostics.
    tune_share
        The share of the sampling wall time spent tuning (or fitting an approximation).
    """

    posterior: xr.Dataset
    stats: xr.Dataset | None = None
    diagnostics: Mapping[str, float] = field(default_factory=dict)
    tune_share: float = 0.0


def sampler_diagnostics(
    posterior: xr.Dataset, stats: xr.Dataset | None, free: list[str]
) -> dict[str, float]:
    """Return the sampler's diagnostics: convergence over the free parameters, and NUTS health.

    Max R-hat, min bulk and tail ESS over the free parameters, and the sampler's divergences,
    tree-depth hits, E-BFMI (min over chains) and final step size.
    """
    # imported here, not with the module: arviz_stats takes about 1.5 s to import, which
    # processes that diagnose no chains paid too (the CLI's own, MAP and ADVI workers)
    from arviz_stats.sampling_diagnostics import bfmi, ess, rhat

    params = posterior[[n for n in free if n in posterior]]
    out: dict[str, float] = {"draws": float(posterior.sizes["draw"] * posterior.sizes["chain"])}
    if posterior.sizes["chain"] * posterior.sizes["draw"] > 3:
        r_hat = rhat(params)
        out["max_rhat"] = float(max(float(r_hat[v].max()) for v in r_hat.data_vars))
        bulk = ess(params, method="bulk")
        tail = ess(params, method="tail")
        out["min_ess_bulk"] = float(min(float(bulk[v].min()) for v in bulk.data_vars))
        out["min_ess_tail"] = float(min(float(tail[v].min()) for v in tail.data_vars))
    if stats is not None:
        for name, key in (
            ("diverging", "divergences"),
            ("maxdepth_reached", "treedepth_hits"),
            ("reached_max_treedepth", "treedepth_hits"),
        ):
            if name in stats:
                out[key] = float(stats[name].sum())
        if "energy" in stats and stats.sizes.get("draw", 0) > 2:
            energy = stats["energy"].transpose("chain", "draw").to_numpy()
            out["ebfmi"] = float(np.min(bfmi(energy)))
        if "step_size" in stats:
            out["step_size"] = float(stats["step_size"].isel(draw=-1).mean())
    return out


def _show(value: object) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def _refuse_unknown(backend: str, options: Mapping[str, object], known: Iterable[str]) -> None:
    known = sorted(set(known))
    for name, value in options.items():
        if name not in known:
            takes = f"known: {', '.join(known)}" if known else "it takes no options"
            raise ValueError(
                f"fit.options.{name} = {_show(value)}: not an option of the {backend} backend; "
                f"{takes}"
            )


def _parameters(func: Callable[..., object], reserved: Iterable[str]) -> set[str]:
    """Return the keyword parameters of ``func`` a scenario may set.

    All but ``reserved`` (the ones the workbench sets itself) and ``self``/``*args``/``**kwargs``.
    """
    named = {
        n
        for n, p in inspect.signature(func).parameters.items()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and n != "self"
    }
    return named - set(reserved)


def _positive_int(path: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < 1:
        raise ValueError(f"{path} = {_show(value)}: must be an integer >= 1")


class Backend(ABC):
    """One inference method; subclasses set ``name`` and override ``sample``.

    They may override ``prepare`` (compile once per cell), ``swap`` (put a replicate's data
    in) and ``check_options``; :meth:`run` is the one template every backend fits through.
    """

    name: ClassVar[str]
    requires: ClassVar[tuple[str, ...]] = ()
    stops_at_ess: ClassVar[bool] = False
    """Whether :meth:`sample` honours ``fit.min_ess`` (others refuse it: :meth:`check_fit`)."""

    def check_fit(self, fit: FitSpec) -> None:
        """Refuse ``[fit]`` settings this backend cannot honour, then check its options.

        Raises ``ValueError`` naming the setting and its value: ``fit.min_ess`` on a backend
        that cannot stop at an ESS target, or an option :meth:`check_options` refuses.
        """
        if fit.min_ess and not self.stops_at_ess:
            raise ValueError(
                f"fit.min_ess = {fit.min_ess}: the {self.name} backend cannot stop at an ESS "
                "target (nutpie can); remove it or set it to 0"
            )
        self.check_options(fit)

    def check_options(self, fit: FitSpec) -> None:
        """Refuse ``fit.options`` this backend does not take, before anything is compiled.

        The default takes no options. Raises ``ValueError`` naming the option and its value
        (``fit.options.bogus = 1: not an option of the map backend; ...``).
        """
        _refuse_unknown(self.name, fit.options, ())

    def prepare(self, model: SampledModel, fit: FitSpec) -> object:
        """Compile what can be reused by every replicate of a cell (default: nothing).

        The result is handed back to :meth:`run` as ``prepared``.
        """
        return None

    def swap(self, prepared: object, model: SampledModel, data: Mapping[str, Array]) -> object:
        """Put one replicate's data into the model; return what :meth:`sample` samples.

        The default sets the ``pm.Data`` containers of ``model.model`` and returns it.
        """
        pm.set_data(dict(data), model=model.model)
        return model.model

    @abstractmethod
    def sample(self, target: object, model: SampledModel, fit: FitSpec, seed: int) -> Sample:
        """Sample ``target`` (what :meth:`swap` returned) with the ``[fit]`` settings."""

    def run(
        self,
        prepared: object,
        model: SampledModel,
        data: Mapping[str, Array],
        fit: FitSpec,
        seed: int,
    ) -> Posterior:
        """Fit one replicate's data: swap it in, sample, and keep the draws the model needs.

        Deterministics the method did not return (``channel_contribution``, ``mu``) are
        computed from the draws; diagnostics are :func:`sampler_diagnostics` plus the
        method's own; the wall time is split into tuning and drawing by the method's share,
        and ``sample_cpu_s`` is the process's CPU time while sampling (all threads).
        """
        target = self.swap(prepared, model, data)
        t0, cpu0 = time.perf_counter(), time.process_time()
        result = self.sample(target, model, fit, seed)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        posterior = result.posterior
        wanted = [n for n in _needed(model) if n in model.model.named_vars]
        missing = [n for n in wanted if n not in posterior]
        if missing:
            posterior = posterior.merge(
                pm.compute_deterministics(
                    posterior, var_names=missing, model=model.model, progressbar=False
                )
            )
        if result.stats is not None:
            diagnostics = sampler_diagnostics(posterior, result.stats, diagnosed(model))
        else:  # an approximation's draws are independent: no convergence to diagnose
            diagnostics = {"draws": float(posterior.sizes["chain"] * posterior.sizes["draw"])}
        diagnostics.update({k: float(v) for k, v in result.diagnostics.items()})
        return Posterior(
            draws=_draws(posterior, wanted),
            diagnostics=diagnostics,
            timings={
                "tune_s": wall * result.tune_share,
                "draw_s": wall * (1 - result.tune_share),
                "sample_cpu_s": cpu,
            },
        )


def _finished(sampler: Any) -> bool:
    """Return whether nutpie's background sampler is done (0.16 raises TimeoutError if not)."""
    try:
        return bool(sampler.is_finished)
    except TimeoutError:
        return False


def _so_far(sampler: Any, names: list[str]) -> Array:
    """Return the posterior draws of ``names`` sampled so far, ``(chain, draw, coordinate)``.

    Every chain is cut to the shortest chain's draws after tuning. Read from nutpie's raw
    (Arrow) trace of a running sampler: converting the whole trace to xarray
    (``sampler.inspect()``) measured 0.75 CPU s per call on ``confounded-demand`` (the
    deterministics ``mu`` and ``channel_contribution`` included), this 0.06 s.
    """
    import pyarrow  # type: ignore[import-untyped]

    draws, stats = sampler._sampler.inspect().get_arrow_trace()
    tuned = [
        int(np.asarray(pyarrow.array(st.column("tuning")).to_numpy(False), dtype=bool).sum())
        for st in stats
    ]
    kept = min(d.num_rows - t for d, t in zip(draws, tuned, strict=True))
    chains = []
    for batch, start in zip(draws, tuned, strict=True):
        columns = []
        for name in names:
            if name in batch.column_names:
                column = pyarrow.array(batch.column(name)).slice(start, kept)
                if hasattr(column, "flatten"):
                    column = column.flatten()
                columns.append(np.asarray(column.to_numpy(False), dtype=float).reshape(kept, -1))
        chains.append(np.concatenate(columns, axis=1) if columns else np.empty((kept, 0)))
    return np.stack(chains)


_STATS = (
    "n_steps",
    "diverging",
    "energy",
    "step_size",
    "maxdepth_reached",
    "reached_max_treedepth",
)
"""The sampler statistics a fit uses (:func:`sampler_diagnostics`, leapfrog steps)."""


def _arrow_group(
    batches: list[Any], tuned: list[int], warmup: bool, names: Iterable[str] | None = None
) -> xr.Dataset:
    """Return nutpie's Arrow trace rows as a ``(chain, draw, ...)`` dataset.

    The tuning rows (``warmup``) or the rows after them, of ``names`` (every column by
    default), each column reshaped by its ``shape`` metadata as nutpie's own conversion
    does (``nutpie.sample._arrow_to_arviz``); every chain has the same number of rows (a
    finished sampler's).
    """
    import pyarrow

    wanted = list(batches[0].column_names) if names is None else list(names)
    out: dict[str, tuple[tuple[str, ...], Array]] = {}
    for name in wanted:
        if name not in batches[0].column_names:
            continue
        meta = batches[0].column(name).field.metadata or {}
        shape = [int(v) for v in meta.get(b"shape", b"").decode().split(",") if v]
        chains = []
        for batch, tune in zip(batches, tuned, strict=True):
            start, count = (0, tune) if warmup else (tune, batch.num_rows - tune)
            column = pyarrow.array(batch.column(name)).slice(start, count)
            if hasattr(column, "flatten"):
                column = column.flatten()
            chains.append(np.asarray(column.to_numpy(False)).reshape(count, *shape))
        dims = ("chain", "draw", *(f"{name}_dim_{i}" for i in range(len(shape))))
        out[name] = (dims, np.stack(chains))
    return xr.Dataset(out)


def _from_raw_trace(raw: Any, skip: Iterable[str]) -> tuple[xr.Dataset, xr.Dataset, xr.Dataset]:
    """Return the posterior, its sampler statistics and the tuning's from a raw nutpie trace.

    What ``nutpie.sample`` would return converted to ArviZ, for the columns a fit uses: the
    posterior's every variable but ``skip`` (nutpie's reparameterized ones), the
    statistics :data:`_STATS`, the tuning's ``n_steps``. nutpie's own conversion builds
    every group and column with ArviZ: 0.4 of 0.54 s per fit in a profile of 10
    ``confounded-demand`` fits (load 5), against about 0.05 s here.
    """
    import pyarrow

    draws, stats = raw.get_arrow_trace()
    tuned = [
        int(np.asarray(pyarrow.array(st.column("tuning")).to_numpy(False), dtype=bool).sum())
        for st in stats
    ]
    skipped = set(skip)
    names = [n for n in draws[0].column_names if n not in skipped]
    return (
        _arrow_group(draws, tuned, False, names),
        _arrow_group(stats, tuned, False, _STATS),
        _arrow_group(stats, tuned, True, ("n_steps",)),
    )


def _cut(data: xr.Dataset, kept: int) -> xr.Dataset:
    return data.isel(draw=slice(0, kept))


class Nutpie(Backend):
    """nutpie's NUTS: the model compiled once by numba, data swapped with ``with_data``.

    ``options`` go to ``nutpie.sample`` (``adaptation = "low_rank"``, ``maxdepth``, ...);
    ``cores`` (chains sampled at once) defaults to ``min(chains, fit_threads())`` (the CPUs,
    or the worker's share of them: :func:`fit_threads`): more threads than CPUs measured
    slower (4 chains on 2 CPUs: 2.90 s against 2.70 s per fit). The draws do not depend on
    ``cores`` (each chain has its own random stream: the same seed gave identical draws
    with 1, 2 and 4). With
    ``fit.min_ess`` it defaults to ``chains``: nutpie runs ``cores`` chains at a time, and the
    rule can only stop chains that run together.

    ``fit.min_ess`` (0: off) stops sampling once the min bulk ESS over the free parameters
    reaches it: from ``ess_first`` draws per chain on, the draws so far (every chain cut to
    the slowest one's) are checked, next where the ESS, growing linearly, would reach the
    target (at least ``ess_every`` draws later); at the target the sampler is aborted and
    its draws, cut to the same length in every chain, are the posterior. The rule looks at
    bulk ESS only, never at R-hat, so R-hat is not selected for; R-hat, ESS and divergences
    are then diagnosed on the kept draws as for any fit. ``draws`` is the most each chain
    samples.
    """

    name = "nutpie"
    stops_at_ess = True
    ess_first: ClassVar[int] = 200
    """Draws per chain before the first ESS check: R-hat is judged on at least these."""
    ess_every: ClassVar[int] = 100
    """Draws of the slowest chain between two ESS checks, at least."""
    adaptations = ("diag", "draw_diag", "low_rank", "flow")
    samplers = ("nuts", "mclmc")
    reserved = (
        "compiled_model", "draws", "tune", "chains", "seed", "progress_bar", "blocking",
        "return_raw_trace", "progress_callback", "progress_template", "progress_style",
        "progress_rate", "zarr_store", "init_mean", "target_accept",
    )  # fmt: skip

    def check_options(self, fit: FitSpec) -> None:
        """Check ``fit.options`` as ``nutpie.sample`` would, without compiling a model.

        ``cores``, ``adaptation``, ``sampler``, ``save_warmup`` and ``store_unconstrained``
        are ``nutpie.sample``'s own arguments; any other name is one of nutpie's sampler
        settings (``maxdepth``, ``mass_matrix_gamma``, ...) and is checked by nutpie's own
        settings object, which refuses unknown names and values of the wrong type.
        """
        options = dict(fit.options)
        for name in self.reserved:
            if name in options:
                raise ValueError(
                    f"fit.options.{name} = {_show(options[name])}: set by the workbench "
                    f"(from [fit] or per replicate), not an option"
                )
        if "cores" in options:
            _positive_int("fit.options.cores", options.pop("cores"))
        for name, allowed in (("adaptation", self.adaptations), ("sampler", self.samplers)):
            if name in options and options[name] not in allowed:
                raise ValueError(
                    f"fit.options.{name} = {_show(options[name])}: must be one of "
                    f"{', '.join(allowed)}"
                )
        for name in ("save_warmup", "store_unconstrained"):
            if name in options and not isinstance(options[name], bool):
                raise ValueError(f"fit.options.{name} = {_show(options[name])}: must be a boolean")
        adaptation = options.pop("adaptation", "diag")
        sampler = options.pop("sampler", "nuts")
        for name in ("save_warmup", "store_unconstrained"):
            options.pop(name, None)
        if not options:
            return  # nothing left for nutpie's settings: do not import it (2-3 s a run)
        from nutpie import _lib  # nutpie's settings: the checks nutpie.sample applies

        settings = (
            _lib.PyNutsSettings.LowRank(0)
            if adaptation == "low_rank" and sampler == "nuts"
            else _lib.PyNutsSettings.Flow(0)
            if adaptation == "flow" and sampler == "nuts"
            else _lib.PyNutsSettings.Diag(0)
        )
        for name, value in options.items():
            try:
                settings.update({name: value})
            except (AttributeError, TypeError, ValueError, OverflowError) as err:
                raise ValueError(
                    f"fit.options.{name} = {_show(value)}: nutpie refuses it ({err})"
                ) from None

    def prepare(self, model: SampledModel, fit: FitSpec) -> CompiledNutpie:
        import nutpie

        return cast(CompiledNutpie, nutpie.compile_pymc_model(model.model))

    def swap(self, prepared: object, model: SampledModel, data: Mapping[str, Array]) -> object:
        """Return the compiled model with the replicate's data (nutpie's ``with_data``)."""
        return cast(CompiledNutpie, prepared).with_data(**data)

    def sample(self, target: object, model: SampledModel, fit: FitSpec, seed: int) -> Sample:
        """Sample with ``nutpie.sample``; the tuning share is that of the leapfrog steps.

        The raw (Arrow) trace is converted here (:func:`_from_raw_trace`), only the
        columns a fit uses. With ``fit.min_ess``, sample in the background and stop at the
        ESS target (:meth:`_until_ess`); the diagnostics then say whether it stopped
        (``ess_stop``).
        """
        import nutpie

        # the model's own choice (the workbench's geometry: a low-rank mass matrix), which
        # the scenario's [fit].options override
        options = {**getattr(model, "sampler_options", {}), **fit.options}
        stopping = fit.min_ess > 0 and fit.draws > self.ess_first
        at_once = fit.chains if stopping else min(fit.chains, fit_threads())
        settings: dict[str, Any] = {
            "draws": fit.draws,
            "tune": fit.tune,
            "chains": fit.chains,
            "seed": seed,
            "progress_bar": False,
            "target_accept": fit.target_accept,
            "cores": int(options.pop("cores", at_once)),
            **options,
        }
        diagnostics: dict[str, float] = {}
        if stopping:
            free = diagnosed(model)
            posterior, stats, warmup, stopped = self._until_ess(target, fit, free, settings)
            diagnostics["ess_stop"] = float(stopped)
        else:
            raw = nutpie.sample(target, return_raw_trace=True, **settings)
            skip = getattr(target, "reparameterized_names", ())
            posterior, stats, warmup = _from_raw_trace(raw, skip)
        steps_draw = float(stats["n_steps"].sum())
        steps_tune = float(warmup["n_steps"].sum()) if warmup is not None else 0.0
        diagnostics["leapfrog_steps"] = steps_tune + steps_draw
        share = steps_tune / (steps_tune + steps_draw) if steps_tune + steps_draw else 0.0
        return Sample(posterior=posterior, stats=stats, diagnostics=diagnostics, tune_share=share)

    def _until_ess(
        self, target: object, fit: FitSpec, free: list[str], settings: Mapping[str, Any]
    ) -> tuple[xr.Dataset, xr.Dataset, xr.Dataset | None, bool]:
        """Sample in the background until ``fit.min_ess`` or ``fit.draws`` per chain.

        Returns the posterior, its sampler statistics, the tuning's statistics and whether
        the target stopped it; every chain keeps as many draws as the shortest one.
        """
        import nutpie
        from arviz_stats.base.array import array_stats

        progress: list[Any] = []

        def track(chains: list[Any]) -> None:  # nutpie's thread: only swap the list's item
            progress[:] = [chains]

        sampler: Any = nutpie.sample(
            target, blocking=False, progress_callback=track, progress_rate=50, **settings
        )
        stopped = False
        check = self.ess_first
        try:
            while not _finished(sampler):
                time.sleep(0.05)
                chains = progress[0] if progress else []
                if not chains or min(c.finished_draws for c in chains) - fit.tune < check:
                    continue
                values = _so_far(sampler, free)
                drawn = values.shape[1]
                if drawn < check:
                    continue
                if not values.shape[2]:  # no free parameter in the trace: nothing to check
                    check = fit.draws + 1
                    continue
                bulk = array_stats.ess(values, chain_axis=0, draw_axis=1, method="bulk")
                reached = float(np.min(bulk))
                if reached >= fit.min_ess:
                    stopped = True
                    break
                # ESS grows about linearly with the draws: check next where it would reach
                # the target, at least ess_every draws on (fewer checks, each ~0.06 CPU s)
                check = max(drawn + self.ess_every, int(drawn * fit.min_ess / max(reached, 1.0)))
            trace = sampler.abort() if stopped else sampler.wait()
        except BaseException:
            sampler.cancel()
            raise
        posterior = trace["posterior"].to_dataset()
        stats = trace["sample_stats"].to_dataset()
        warmup = (
            trace["warmup_sample_stats"].to_dataset() if "warmup_sample_stats" in trace else None
        )
        if stopped:  # chains that ran ahead are NaN-padded by nutpie: cut to the shortest
            first = posterior[free[0]].transpose("chain", "draw", ...).to_numpy()
            finite = np.isfinite(first.reshape(first.shape[0], first.shape[1], -1)[..., 0])
            kept = int(finite.sum(axis=1).min())
            posterior, stats = _cut(posterior, kept), _cut(stats, kept)
        return posterior, stats, warmup, stopped


class PymcNuts(Backend):
    """PyMC's own NUTS (chains in sequence).

    PyMC compiles its log density in every ``pm.sample`` call; its C code is cached on disk, so only
    a cell's first fit pays the full compilation.
    """

    name = "pymc"
    sampler = "pymc"
    reserved = (
        "draws", "tune", "chains", "cores", "random_seed", "progressbar", "nuts_sampler",
        "compute_convergence_checks", "model", "step", "trace", "return_inferencedata",
        "target_accept", "vars",
    )  # fmt: skip

    def check_options(self, fit: FitSpec) -> None:
        """Allow ``pm.sample``'s own keyword arguments and those of its NUTS step."""
        from pymc.step_methods.hmc.base_hmc import BaseHMC

        known = _parameters(pm.sample, self.reserved)
        known |= _parameters(pm.NUTS.__init__, self.reserved)
        known |= _parameters(BaseHMC.__init__, self.reserved)
        _refuse_unknown(self.name, fit.options, known)

    def sample(self, target: object, model: SampledModel, fit: FitSpec, seed: int) -> Sample:
        """Sample with ``pm.sample`` (chains in sequence)."""
        with cast(pm.Model, target):
            trace = pm.sample(
                nuts_sampler=self.sampler,  # PyMC 6 would pick nutpie when it is installed
                draws=fit.draws,
                tune=fit.tune,
                chains=fit.chains,
                cores=1,
                random_seed=seed,
                target_accept=fit.target_accept,
                progressbar=False,
                compute_convergence_checks=False,
                **dict(fit.options),
            )
        return Sample(
            posterior=trace["posterior"].to_dataset(),
            stats=trace["sample_stats"].to_dataset(),
            tune_share=fit.tune / (fit.tune + fit.draws),
        )


class Numpyro(PymcNuts):
    """numpyro's NUTS through PyMC (JAX; the ``jax`` extra)."""

    name = "numpyro"
    sampler = "numpyro"
    requires = ("jax", "numpyro")


class Pathfinder(Backend):
    """Multi-path Pathfinder from pymc-extras (the ``pathfinder`` extra).

    Its option is ``options.num_paths`` (default 4).
    """

    name = "pathfinder"
    requires = ("pymc_extras",)

    def check_options(self, fit: FitSpec) -> None:
        """Allow ``pymc_extras``' ``fit_pathfinder`` keyword arguments."""
        from pymc_extras.inference.pathfinder import fit_pathfinder

        reserved = ("model", "num_draws", "random_seed", "progressbar")
        _refuse_unknown(self.name, fit.options, _parameters(fit_pathfinder, reserved))

    def sample(self, target: object, model: SampledModel, fit: FitSpec, seed: int) -> Sample:
        """Fit with ``pymc_extras.fit(method="pathfinder")`` (all of it counted as tuning)."""
        import pymc_extras

        trace = pymc_extras.fit(
            method="pathfinder",
            model=target,
            num_draws=fit.draws,
            random_seed=seed,
            progressbar=False,
            **dict(fit.options),
        )
        return Sample(posterior=trace["posterior"].to_dataset(), tune_share=1.0)


@dataclass(frozen=True, kw_only=True)
class PreparedAdvi:
    """A cell's variational fit, compiled once (:meth:`Advi.prepare`) and reset per replicate.

    Attributes
    ----------
    model
        The PyMC model the objective was built on (its ``pm.Data`` are swapped per replicate).
    inference
        PyMC's ``ADVI`` or ``FullRankADVI`` object holding the approximation.
    step
        The compiled optimization step: one call updates the approximation's parameters, the
        optimizer's accumulators and the random generators, and returns the loss.
    initial
        Every shared variable ``step`` updates (except the random generators) with its value
        before the first step: restored before each fit.
    rngs
        The random generators ``step`` draws from, in the order ``pymc.compile`` seeds them.
    """

    model: pm.Model
    inference: object
    step: Callable[[], object]
    initial: dict[object, Array]
    rngs: list[object]

    def reset(self, seed: int) -> None:
        """Put every state ``step`` updates where a fresh ``pm.fit(random_seed=seed)`` starts.

        As PyMC does: the approximation's group draws from ``RandomState(seed)`` the seed of
        its starting point (the model's initial point), then the seed of the step's random
        generators. The optimizer's accumulators and the approximation's other parameters
        return to their values at compilation.
        """
        from pymc.pytensorf import reseed_rngs

        group = self.inference.approx.groups[0]  # type: ignore[attr-defined]
        group.rng = np.random.RandomState(seed)
        for shared, value in self.initial.items():
            shared.set_value(value.copy())  # type: ignore[attr-defined]
        with self.model:
            fresh = group.create_shared_params()
        for name, shared in fresh.items():
            group.shared_params[name].set_value(shared.get_value())
        reseed_rngs(self.rngs, group.rng.randint(2**30, dtype=np.int64))

    def fit(self, iterations: int, seed: int) -> Array:
        """Reset (:meth:`reset`), then run ``iterations`` steps; return the losses.

        Raises
        ------
        FloatingPointError
            When a loss is NaN (as ``pm.fit`` does).
        """
        self.reset(seed)
        losses = np.empty(iterations)
        for i in range(iterations):
            losses[i] = cast(float, self.step())
            if np.isnan(losses[i]):
                raise FloatingPointError(f"NaN occurred in the ADVI optimization at step {i}")
        self.inference.approx.hist = losses  # type: ignore[attr-defined]
        return losses


class Advi(Backend):
    """PyMC's mean-field ADVI; ``options.iterations`` (default 20000).

    The objective and its optimization step are compiled once per cell (:meth:`prepare`);
    each replicate swaps its data into the ``pm.Data`` containers and resets every state
    the step updates (:meth:`PreparedAdvi.reset`), so that a fit equals ``pm.fit(n,
    method, random_seed=seed)`` on that replicate's data, without compiling again.
    """

    name = "advi"
    method = "advi"

    def check_options(self, fit: FitSpec) -> None:
        """Allow ``iterations`` (a positive integer) only."""
        _refuse_unknown(self.name, fit.options, ("iterations",))
        if "iterations" in fit.options:
            _positive_int("fit.options.iterations", fit.options["iterations"])

    def prepare(self, model: SampledModel, fit: FitSpec) -> PreparedAdvi:
        """Build the approximation and compile its step once, as ``pm.fit`` would per fit."""
        from pymc.pytensorf import collect_default_updates
        from pymc.pytensorf import compile as compile_pymc

        kinds = {"advi": pm.ADVI, "fullrank_advi": pm.FullRankADVI}
        with model.model:
            inference = kinds[self.method](random_seed=0)
            updates = inference.objective.updates()
            rngs = list(collect_default_updates(inputs=[], outputs=[updates.loss]))
            # random_seed=False: the generators are seeded per fit (PreparedAdvi.reset)
            step = compile_pymc([], updates.loss, updates=updates, random_seed=False)
        initial = {shared: np.array(shared.get_value(), copy=True) for shared in updates}
        return PreparedAdvi(
            model=model.model, inference=inference, step=step, initial=initial, rngs=rngs
        )

    def swap(self, prepared: object, model: SampledModel, data: Mapping[str, Array]) -> object:
        """Set the replicate's data in the model the step was compiled on; return the fit."""
        super().swap(prepared, model, data)
        return prepared

    def sample(self, target: object, model: SampledModel, fit: FitSpec, seed: int) -> Sample:
        """Fit the approximation (compiled once per cell), then draw from it."""
        if not isinstance(target, PreparedAdvi):
            raise TypeError(f"{self.name}: sample takes what prepare and swap return")
        iterations = int(fit.options.get("iterations", 20000))
        t0 = time.perf_counter()
        losses = target.fit(iterations, seed)
        tuned = time.perf_counter()
        with target.model:
            approx = target.inference.approx  # type: ignore[attr-defined]
            trace = approx.sample(draws=fit.draws, random_seed=seed)
        total = time.perf_counter() - t0
        return Sample(
            posterior=trace["posterior"].to_dataset(),
            diagnostics={"final_loss": float(losses[-1])},
            tune_share=(tuned - t0) / total if total > 0 else 1.0,
        )


class FullRankAdvi(Advi):
    """PyMC's full-rank ADVI."""

    name = "fullrank_advi"
    method = "fullrank_advi"


@dataclass(frozen=True)
class PreparedMap:
    """The MAP backend's functions, compiled once per cell (what ``pm.find_MAP`` compiles).

    They read the model's ``pm.Data`` containers, so they serve every replicate once its
    data are swapped in. ``point_logps`` returns the log density of each of ``factors`` (the
    model's random variables and potentials), the start check of ``check_start_vals``.
    """

    model: pm.Model
    initial_point: Callable[[int | None], dict[str, Array]]
    logp: Callable[..., object]
    dlogp: Callable[..., object]
    outputs: Callable[..., object]
    names: tuple[str, ...]
    point_logps: Callable[..., object]
    factors: tuple[str, ...]


class Map(Backend):
    """The maximum a posteriori point (one "draw"): for smoke runs, not for coverage.

    It does what ``pm.find_MAP`` does (``check_start_vals``, then L-BFGS-B from the model's
    initial point, log density without Jacobian, at most 5,000 evaluations) with the start
    check, the log density, its gradient and the output function compiled once per cell
    (:meth:`prepare`) instead of in every fit: the point is the one ``pm.find_MAP`` finds on
    that replicate's data, and a cell of N replicates compiles these four functions once
    instead of N times. (Under the tests'
    FAST_COMPILE mode, evaluating them dominates a fit, so the saving there is small.)
    """

    name = "map"
    maxeval: ClassVar[int] = 5000
    """``pm.find_MAP``'s default cap on log-density evaluations."""

    def prepare(self, model: SampledModel, fit: FitSpec) -> PreparedMap:
        """Compile the log density, its gradient and the outputs, as ``pm.find_MAP`` does."""
        from pymc.initial_point import make_initial_point_fn
        from pymc.util import get_default_varnames

        m = model.model
        values = m.continuous_value_vars
        rvs = [m.values_to_rvs[v] for v in values]
        outs = get_default_varnames(m.unobserved_value_vars, True)
        factors = [*m.basic_RVs, *m.potentials]  # what model.check_start_vals evaluates
        return PreparedMap(
            model=m,
            initial_point=make_initial_point_fn(model=m, jitter_rvs=set(), return_transformed=True),
            logp=m.compile_logp(jacobian=False),
            dlogp=m.compile_dlogp(rvs, jacobian=False),
            outputs=m.compile_fn(inputs=m.value_vars, outs=outs),
            names=tuple(v.name for v in outs),
            point_logps=m.compile_fn(
                inputs=m.value_vars, outs=[f.sum() for f in m.logp(factors, sum=False)]
            ),
            factors=tuple(f.name for f in factors),
        )

    def swap(self, prepared: object, model: SampledModel, data: Mapping[str, Array]) -> object:
        """Set the replicate's data in the model the functions were compiled on."""
        super().swap(prepared, model, data)
        return prepared

    def sample(self, target: object, model: SampledModel, fit: FitSpec, seed: int) -> Sample:
        """Find the MAP point with the prepared functions: one chain of one draw."""
        from pymc.blocking import DictToArrayBijection, RaveledVars
        from pymc.exceptions import SamplingError
        from pymc.progress_bar import default_progress_theme
        from pymc.tuning.starting import CostFuncWrapper
        from scipy import optimize

        if not isinstance(target, PreparedMap):
            raise TypeError(f"{self.name}: sample takes what prepare and swap return")
        start = target.initial_point(seed)
        # model.check_start_vals(start), with its log densities compiled once per cell (it
        # compiled them in every fit)
        logps = cast(list[Array], target.point_logps(start))
        at_start = dict(zip(target.factors, logps, strict=True))
        if not all(np.isfinite(v) for v in at_start.values()):
            raise SamplingError(
                "Initial evaluation of model at starting point failed!\n"
                f"Starting values:\n{start}\n\nLogp initial evaluation results:\n"
                f"{ {k: round(float(v), 2) for k, v in at_start.items()} }\n"
                "You can call `model.debug()` for more details."
            )
        wanted = {v.name for v in target.model.continuous_value_vars}
        x0 = DictToArrayBijection.map({k: v for k, v in start.items() if k in wanted})
        logp = DictToArrayBijection.mapf(target.logp, start)
        dlogp = DictToArrayBijection.mapf(target.dlogp, start)
        cost = CostFuncWrapper(
            self.maxeval,
            False,
            default_progress_theme,
            lambda x: logp(RaveledVars(x, x0.point_map_info)),
            lambda x: dlogp(RaveledVars(x, x0.point_map_info)),
        )
        with cost.progress:
            try:
                found = optimize.minimize(cost, x0.data, method="L-BFGS-B", jac=True)["x"]
            except StopIteration:  # the evaluation cap, as pm.find_MAP takes it
                found = cost.previous_x
        point = DictToArrayBijection.rmap(RaveledVars(found, x0.point_map_info), start)
        values = cast(list[Array], target.outputs(point))
        posterior = xr.Dataset(
            {
                name: (
                    ("chain", "draw", *(f"{name}_dim_{i}" for i in range(np.ndim(value)))),
                    np.asarray(value)[None, None],
                )
                for name, value in zip(target.names, values, strict=True)
            }
        )
        return Sample(posterior=posterior, tune_share=1.0)


BACKENDS: dict[str, type[Backend]] = {
    b.name: b for b in (Nutpie, PymcNuts, Numpyro, Pathfinder, Advi, FullRankAdvi, Map)
}
"""The registry: backend classes by name (the built-in ones, then registered ones)."""

BACKEND_ENTRY_POINTS = "mmm_workbench.backends"
"""The entry-point group an installed package adds backends by (``name = "module:Class"``)."""

_EXTRAS = {"numpyro": "jax", "pathfinder": "pathfinder"}


def register_backend(backend: type[Backend]) -> type[Backend]:
    """Register a :class:`Backend` subclass under its ``name`` (usable as a class decorator).

    Raises
    ------
    ValueError
        If it is not a ``Backend`` subclass with a ``name``, or the name is taken by
        another class.
    """
    if not (isinstance(backend, type) and issubclass(backend, Backend)):
        raise ValueError(f"{backend!r}: a backend must be a subclass of Backend")
    name = getattr(backend, "name", None)
    if not isinstance(name, str) or not name:
        raise ValueError(f"{backend.__name__}: a backend needs a class attribute name = '...'")
    if BACKENDS.get(name, backend) is not backend:
        raise ValueError(f"backend {name!r} is registered already ({BACKENDS[name].__name__})")
    BACKENDS[name] = backend
    return backend


@functools.cache
def _entry_points() -> dict[str, metadata.EntryPoint]:
    """Return the installed packages' backends by name (read once; ``cache_clear`` rereads)."""
    return {ep.name: ep for ep in metadata.entry_points(group=BACKEND_ENTRY_POINTS)}


def backends() -> tuple[str, ...]:
    """Return the names of every backend: registered, and installed through entry points."""
    return tuple(dict.fromkeys([*BACKENDS, *_entry_points()]))


def _load(name: str) -> type[Backend] | None:
    """Load the entry point ``name`` of :data:`BACKEND_ENTRY_POINTS` into the registry."""
    entry = _entry_points().get(name)
    if entry is None:
        return None
    try:
        loaded = entry.load()
    except Exception as err:  # a plugin's import error, named with its entry point
        raise ValueError(
            f"fit.backend = {name!r}: its entry point {entry.value!r} "
            f"({BACKEND_ENTRY_POINTS}) cannot be loaded: {type(err).__name__}: {err}"
        ) from None
    return register_backend(loaded)


def get_backend(name: str) -> Backend:
    """Return the backend registered as ``name`` (or installed through an entry point).

    Raises
    ------
    ValueError
        ``fit.backend = 'name': unknown backend; known: ...``, or a backend whose packages
        are missing.
    """
    backend = BACKENDS.get(name) or _load(name)
    if backend is None:
        raise ValueError(
            f"fit.backend = {name!r}: unknown backend; known: {', '.join(backends())} "
            f"(a package adds one through the entry-point group {BACKEND_ENTRY_POINTS!r}, "
            "or code through register_backend)"
        )
    missing = [m for m in backend.requires if importlib.util.find_spec(m) is None]
    if missing:
        raise ValueError(
            f"fit.backend = {name!r} needs {', '.join(missing)}: "
            f"pip install 'mmm-workbench[{_EXTRAS.get(name, name)}]'"
        )
    return backend()
