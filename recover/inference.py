"""Inference backends behind one call, compiled once per cell and reused per replicate.

``backend.prepare(model)`` compiles what can be compiled once for a cell (nutpie's numba
model); ``backend.run(prepared, model, data, fit, seed)`` swaps the
replicate's data into it and samples. Every backend returns posterior draws with a
``(chain, draw)`` leading shape, sampler diagnostics, and wall times split into compile,
tune and draw.

Backends: ``nutpie`` (default), ``pymc`` (PyMC's NUTS), ``numpyro`` (numpyro's NUTS
through PyMC; the ``jax`` extra), ``pathfinder`` (pymc-extras; the ``pathfinder`` extra),
``advi`` and ``fullrank_advi`` (PyMC's variational inference; ``options.iterations``),
``map`` (a point estimate for smoke runs). A backend whose packages are missing is refused
before any fitting, naming the extra to install.
"""

from __future__ import annotations

import importlib.util
import inspect
import numbers
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Protocol, cast

import numpy as np
import pymc as pm
import xarray as xr
from arviz_stats.sampling_diagnostics import bfmi, ess, rhat
from numpy.typing import NDArray

from mmm_workbench.scenarios.spec import FitSpec

__all__ = [
    "BACKENDS",
    "Backend",
    "CompiledNutpie",
    "Posterior",
    "SampledModel",
    "get_backend",
    "sampler_diagnostics",
]

Array = NDArray[np.float64]


class CompiledNutpie(Protocol):
    """nutpie's compiled model, as ``Nutpie.prepare`` returns it."""

    def with_data(self, **data: Array) -> object:
        """Return the compiled model with its ``pm.Data`` replaced."""


class SampledModel(Protocol):
    """What a backend needs of a model.

    Its ``pm.Model``, with the free random variables, ``channel_contribution`` and ``mu`` (the
    workbench model, the pymc-marketing adapter).
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
    return [v.name for v in model.model.free_RVs] + ["channel_contribution", "mu"]


def sampler_diagnostics(
    posterior: xr.Dataset, stats: xr.Dataset | None, free: list[str]
) -> dict[str, float]:
    """Return the sampler's diagnostics: convergence over the free parameters, and NUTS health.

    Max R-hat, min bulk and tail ESS over the free parameters, and the sampler's divergences,
    tree-depth hits, E-BFMI (min over chains) and final step size.
    """
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
    """One inference method; subclasses set ``name`` and override ``run`` (and ``prepare``)."""

    name: ClassVar[str]
    requires: ClassVar[tuple[str, ...]] = ()

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

    @abstractmethod
    def run(
        self,
        prepared: object,
        model: SampledModel,
        data: Mapping[str, Array],
        fit: FitSpec,
        seed: int,
    ) -> Posterior:
        """Fit one replicate's data."""


class Nutpie(Backend):
    """nutpie's NUTS: the model compiled once by numba, data swapped with ``with_data``.

    ``options`` go to ``nutpie.sample`` (``adaptation = "low_rank"``, ``maxdepth``, ...);
    ``cores`` (chains sampled at once) defaults to ``min(chains, CPUs)``: more threads than
    CPUs measured slower (4 chains on 2 CPUs: 2.90 s against 2.70 s per fit).
    """

    name = "nutpie"
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
        from nutpie import _lib  # nutpie's settings: the checks nutpie.sample applies

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

    def run(
        self,
        prepared: object,
        model: SampledModel,
        data: Mapping[str, Array],
        fit: FitSpec,
        seed: int,
    ) -> Posterior:
        import nutpie

        compiled = cast(CompiledNutpie, prepared).with_data(**data)
        options = dict(fit.options)
        t0 = time.perf_counter()
        trace = nutpie.sample(
            compiled,
            draws=fit.draws,
            tune=fit.tune,
            chains=fit.chains,
            seed=seed,
            progress_bar=False,
            target_accept=fit.target_accept,
            cores=int(options.pop("cores", min(fit.chains, os.cpu_count() or 1))),
            **options,
        )
        wall = time.perf_counter() - t0
        posterior = trace["posterior"].to_dataset()
        stats = trace["sample_stats"].to_dataset()
        steps_draw = float(stats["n_steps"].sum())
        steps_tune = (
            float(trace["warmup_sample_stats"]["n_steps"].sum())
            if "warmup_sample_stats" in trace
            else 0.0
        )
        share = steps_tune / (steps_tune + steps_draw) if steps_tune + steps_draw else 0.0
        free = [v.name for v in model.model.free_RVs]
        return Posterior(
            draws=_draws(posterior, _needed(model)),
            diagnostics=sampler_diagnostics(posterior, stats, free),
            timings={"tune_s": wall * share, "draw_s": wall * (1 - share)},
        )


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

    def run(
        self,
        prepared: object,
        model: SampledModel,
        data: Mapping[str, Array],
        fit: FitSpec,
        seed: int,
    ) -> Posterior:
        pm.set_data(dict(data), model=model.model)
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        with model.model:
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
        wall = time.perf_counter() - t0
        share = fit.tune / (fit.tune + fit.draws)
        timings = {"tune_s": wall * share, "draw_s": wall * (1 - share)}
        posterior = trace["posterior"].to_dataset()
        stats = trace["sample_stats"].to_dataset()
        free = [v.name for v in model.model.free_RVs]
        return Posterior(
            draws=_draws(posterior, _needed(model)),
            diagnostics=sampler_diagnostics(posterior, stats, free),
            timings=timings,
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

    def run(
        self,
        prepared: object,
        model: SampledModel,
        data: Mapping[str, Array],
        fit: FitSpec,
        seed: int,
    ) -> Posterior:
        import pymc_extras

        pm.set_data(dict(data), model=model.model)
        t0 = time.perf_counter()
        trace = pymc_extras.fit(
            method="pathfinder",
            model=model.model,
            num_draws=fit.draws,
            random_seed=seed,
            progressbar=False,
            **dict(fit.options),
        )
        posterior = trace["posterior"].to_dataset()
        missing = [n for n in ("channel_contribution", "mu") if n not in posterior]
        if missing:
            posterior = posterior.merge(
                pm.compute_deterministics(
                    posterior, var_names=missing, model=model.model, progressbar=False
                )
            )
        return Posterior(
            draws=_draws(posterior, _needed(model)),
            diagnostics={"draws": float(fit.draws)},
            timings={"tune_s": time.perf_counter() - t0, "draw_s": 0.0},
        )


class Advi(Backend):
    """PyMC's mean-field ADVI; ``options.iterations`` (default 20000)."""

    name = "advi"
    method = "advi"

    def check_options(self, fit: FitSpec) -> None:
        """Allow ``iterations`` (a positive integer) only."""
        _refuse_unknown(self.name, fit.options, ("iterations",))
        if "iterations" in fit.options:
            _positive_int("fit.options.iterations", fit.options["iterations"])

    def run(
        self,
        prepared: object,
        model: SampledModel,
        data: Mapping[str, Array],
        fit: FitSpec,
        seed: int,
    ) -> Posterior:
        pm.set_data(dict(data), model=model.model)
        iterations = int(fit.options.get("iterations", 20000))
        t0 = time.perf_counter()
        with model.model:
            approx = pm.fit(n=iterations, method=self.method, random_seed=seed, progressbar=False)
            tuned = time.perf_counter()
            trace = approx.sample(draws=fit.draws, random_seed=seed)
        posterior = trace["posterior"].to_dataset()
        return Posterior(
            draws=_draws(posterior, _needed(model)),
            diagnostics={"draws": float(fit.draws), "final_loss": float(approx.hist[-1])},
            timings={"tune_s": tuned - t0, "draw_s": time.perf_counter() - tuned},
        )


class FullRankAdvi(Advi):
    """PyMC's full-rank ADVI."""

    name = "fullrank_advi"
    method = "fullrank_advi"


class Map(Backend):
    """The maximum a posteriori point (one "draw"): for smoke runs, not for coverage."""

    name = "map"

    def run(
        self,
        prepared: object,
        model: SampledModel,
        data: Mapping[str, Array],
        fit: FitSpec,
        seed: int,
    ) -> Posterior:
        pm.set_data(dict(data), model=model.model)
        t0 = time.perf_counter()
        point = pm.find_MAP(model=model.model, progressbar=False, seed=seed)
        draws = {n: np.asarray(point[n])[None, None] for n in _needed(model) if n in point}
        return Posterior(
            draws=draws,
            diagnostics={"draws": 1.0},
            timings={"tune_s": time.perf_counter() - t0, "draw_s": 0.0},
        )


BACKENDS: dict[str, type[Backend]] = {
    b.name: b for b in (Nutpie, PymcNuts, Numpyro, Pathfinder, Advi, FullRankAdvi, Map)
}
_EXTRAS = {"numpyro": "jax", "pathfinder": "pathfinder"}


def get_backend(name: str) -> Backend:
    """Return the backend registered as ``name``.

    Raises
    ------
    ValueError
        ``fit.backend = 'name': unknown backend; known: ...``.
    """
    if name not in BACKENDS:
        raise ValueError(f"fit.backend = {name!r}: unknown backend; known: {', '.join(BACKENDS)}")
    backend = BACKENDS[name]
    missing = [m for m in backend.requires if importlib.util.find_spec(m) is None]
    if missing:
        raise ValueError(
            f"fit.backend = {name!r} needs {', '.join(missing)}: "
            f"pip install 'mmm-workbench[{_EXTRAS.get(name, name)}]'"
        )
    return backend()
