"""The workbench's geo (hierarchical) model: one fit of a whole panel, partially pooled.

``[model.geo]`` (:class:`~mmm_workbench.scenarios.spec.GeoModelSpec`) turns the workbench
model of a panel world from a fit of the national sum into a fit of every geo at once.
Geo ``g`` has share ``w_g`` of the national size (the dataset's geo sizes, known data:
:class:`~mmm_workbench.recover.models.panel.GeoPanel`); on the national scales (the
target by the national ``max|y|``, ``Y``; channel ``c``'s spend by the national ``max``,
``S_c``), per unit of size::

    y_gt / Y ~ Normal | StudentT(mu_gt, sigma * sqrt(w_g))
    mu_gt = w_g * (intercept_g + trend_slope * t + fourier_t @ gamma_fourier
                   + sum_c beta_gc * saturation(adstock(x_gtc)))     (or the reverse order)
            + controls_gt @ gamma_control
    x_gtc = s_gtc / (w_g * S_c)
    beta_gc = saturation_beta_c * exp(tau_c * z_gc),      tau_c ~ HalfNormal, z ~ N(0, 1)
    intercept_g = intercept + tau * z_g,                  tau ~ HalfNormal, z ~ N(0, 1)

as the data-generating process writes a geo (``simulate/geo.py``, not imported: a geo's
spend unit is ``w_g`` times the national one and its effect ``w_g`` times a per-head
effect, so a curve means the same per head everywhere). ``beta`` and ``intercept`` vary by
geo where ``vary`` names them (non-centred, the national value their median), else they
are national; transform parameters, trend, seasonality and control coefficients are
national. A control with a ``geo`` dim (a demand proxy per geo) enters as it is, one
without (an event) times ``w_g``. The noise of a geo has sd ``sigma * sqrt(w_g)``, so the
national sum has sd ``sigma``: ``sigma`` is the national noise, as the truth states it.

The estimands are the national ones under the existing names, scored against the
national truth unchanged: ``channel_contribution`` and ``mu`` are the sums over geos (the
model's deterministics), ROAS, mROAS and the response curves are each geo's
counterfactual (the window's spend scaled by ``m`` in every geo) summed over geos over the
national spend, shares the summed contribution over the national target, and
``saturation_beta`` the national (median) effect. Per geo, each geo's counterfactual gives
its contribution, share and ROAS (:func:`~mmm_workbench.recover.models.panel.geo_estimands`),
scored against ``/truth/geo``.

The data enter as ``pm.Data`` containers (``spend`` ``(date, geo, channel)``, ``target``
``(date, geo)``, ``controls`` ``(date, geo, control)``) whose shapes depend only on the
cell: one compiled model serves every replicate. The likelihood is per geo, so a fit has no
predictive groups (:mod:`mmm_workbench.recover.predictive` predicts the national target only).

Sampling geometry (issue 14): the variables, priors and estimands are the DGP's, the sampler
moves in other coordinates (:func:`resolve_geo_geometry`; where the intercept varies by geo
under a normal prior ``auto`` gives ``intercept-cond+beta-cond2+signed-all+lr`` to nutpie
(:data:`GEO_NUTPIE`, since 2026-12-01, measured below) and ``intercept-cond+signed+lr`` to
every other backend (:data:`GEO_DEFAULT`); ``MMM_WORKBENCH_GEOMETRY=dgp`` PyMC's default
transforms of the DGP's variables, which were the only geometry before):

* each geo's intercept standardized by its normal conditional (:class:`GeoIntercept`,
  Jacobian its scale). Given every other term of ``mu`` at the sampler's values, the data
  give geo ``g``'s intercept the estimate ``theta_hat_g`` (its mean residual per head) with
  sd ``eps_g = sigma / sqrt(T w_g)``; the national intercept ``m`` is sampled standardized
  by its normal given the spread (``theta_hat_g ~ Normal(m, tau^2 + eps_g^2)`` and its
  prior), each offset ``z_g`` by its normal given ``m``. For a normal likelihood these
  coordinates are independent standard normals given the rest, whatever ``tau``
  (non-centred near 0, centred far from it): the intercepts no longer trade with
  ``gamma_control`` (the demand proxy is nearly ``w_g`` times one series in every geo:
  posterior correlation of ``gamma_control`` and ``intercept`` -0.81) or the media;
* the intercept's spread signed: ``t ~ Normal(0, s)`` and offsets ``z'`` for ``tau ~
  HalfNormal(s)`` and ``z``; ``(|t|, sign(t) z')`` has their distribution and ``t z' = tau
  z``. The DGP's names (``intercept_geo_sd``, ``intercept_geo_z``) are deterministics, over
  which a fit's R-hat and ESS are computed (``diagnosed``). A spread whose posterior
  reaches 0 has a long tail in ``log tau`` (the first cell's: 1%, 50% and 99% quantiles
  -8.3, -4.3, -3.1) and a symmetric hump in ``t``; one away from 0 (the second cell's)
  leaves each chain in one sign (``t``'s own R-hat 1.4), each holding the whole posterior
  of ``(tau, z)``. The offsets, standardized given ``t``, have no funnel as ``t`` crosses 0;
* nutpie's low-rank mass matrix (``+lr``; ``[fit].options`` override it), for what stays
  linear: a channel's national beta against its geos' mean offset (correlation -0.86).

Measured on ``geo-vs-national``'s geo cells at the shipped settings (``mmm-workbench run
scenarios/geo-vs-national.toml --out RUN --workers 1 --quiet --only CELL``, the second cell
also ``--replicates 8``; load 4 to 8; ``bench/survey.py``:
``bench/results/survey-geo-vs-national-geo-cond-20261201.json``): replicates 0 to 3, 7 of 8
clean as in the DGP's coordinates (``bench/results/survey-20261130-evening.json``): cell
1a76a910 4 of 4, max R-hat 1.0086, min bulk ESS 765 to 908 (DGP: 3 of 4, 1.0104, 511);
35f9765b 3 of 4, replicate 2 at R-hat 1.0145, ESS 438 (DGP: 4 of 4, 1.0073, 688); its
replicates 4 to 7 4 of 4 (ESS 746 to 1309); no divergence in the 12. 194,000 to 311,000
leapfrog steps a fit with tuning, 24 to 39 per iteration, against 100 to 139 in the DGP's
(897,758 on the first cell's replicate 0; the second cell's replicates 4 to 7, fitted in the
DGP's coordinates by script: 840,530 to 1,131,000 steps, 4 of 4 clean, max R-hat 1.00999,
min ESS 1090, 606, 859, 628 against 1309, 746, 850, 1183): the same clean share and about
the same min ESS for a quarter to a third of the gradients. The miss is R-hat noise at ESS
438 on social's beta spread (the second cell's replicate 2), near 0: the long ``log tau``
tail the intercept's spread had. Signing the beta spreads too
(``intercept-cond+signed-all+lr``) fixed that fit (R-hat 1.0031, ESS 956) and gave 4 of 4 on
the first cell, but divergences on the second (2 and 1 in replicates 4 and 7, 6 of 8 clean;
``survey-geo-vs-national-geo-signed-all-20261201.json``). Replicate 7's divergence (the fit
repeated by script) starts at social's spread ``t = -1.23``, far in its upper tail (prior
``HalfNormal(0.5)``), not at ``t = 0``; its cause is not established (see below). One fit
each on replicate 0 of the first cell (:class:`~mmm_workbench.recover.fitting.CellFitter` in
a script, per-parameter ESS of the draws; ``bench/results/geo-geometry-20261201.jsonl``):
the conditional intercept alone 269,108 steps, min ESS 614 (``intercept_geo_sd``; the beta
offsets 717 up); with the low-rank mass matrix 244,650, 588 (the offsets 1855 up); the
spread signed too 310,585, 795. Tried before with the DGP's spreads (one fit each,
``bench/results/geo-geometry-20261130.jsonl``): the intercept as a mean level per head
696,491 steps, ESS 669; beta or the intercept centred, 56 and 79 divergences (funnels at
spreads near 0).

``auto``'s choice for nutpie (:data:`GEO_NUTPIE`): the beta offsets standardized by their
approximately normal conditionals too (``intercept-cond+beta-cond2+signed-all+lr``,
:func:`_beta_conditional`; :class:`GeoIntercept`'s transform, Jacobian its scale), with the
beta spreads signed: ``z_gc
= loc_gc + scale_gc u_gc``. Demeaned over dates (the geo's intercept takes the mean) and
linearized in the offsets (``beta_gc = beta_c exp(t_c z_gc)``), geo ``g``'s data give
``z_g`` a normal likelihood, and with the prior ``N(0, I)`` a normal of precision ``A_g = I
+ X_g' X_g``; two Gauss-Newton steps, from the national betas and from the first step's
mean, give ``loc`` (the second's mean) and ``scale = 1 / sqrt(diag A_g)``, about ``1 /
sqrt(1 + t_c^2 p_gc)`` with ``p_gc = w_g beta_c^2 sum_t (f_gtc - mean f_gc)^2 / sigma^2``
the data's precision for ``log beta_gc``: non-centred near ``t = 0``, centred where the data
pin a geo's effect (``t scale u`` tends to ``u / sqrt(p)``, free of ``t``). ``loc`` and
``scale`` read the national betas, the spreads, ``sigma``, the transform parameters and the
non-media terms, never the offsets or the intercepts (whose conditional reads the media at
the sampler's values). Made the default on a branch for the run (``mmm-workbench run
scenarios/geo-vs-national.toml --out RUN --workers 1 --quiet --only CELL``, the second cell
``--replicates 8``; load 2.5 to 5;
``bench/results/survey-geo-vs-national-beta-cond2-20261201.json``, per fit
``geo-geometry-beta-cond-20261201.jsonl``): 12 of 12 clean, no divergence. Cell 1a76a910
(replicates 0 to 3) 4 of 4, max R-hat 1.0055, min bulk ESS 771 to 1186 (this default: 765 to
908), 261,974 to 309,896 leapfrog steps a fit with tuning (276,876 to 310,585); 35f9765b
(replicates 0 to 7) 8 of 8, max R-hat 1.0074, the miss above now R-hat 1.0049 and ESS 1018,
min ESS over replicates 0 to 7 1064, 1007, 1018, 2019, 1187, 2710, 1027, 2464 (this default:
509, 570, 438, 874, 1309, 746, 850, 1183), 144,244 to 247,617 steps (replicates 0 to 3:
241,000, 180,000, 182,000, 144,000 against 265,000, 206,000, 232,000, 194,000). Its cost:
the run's fits computed the Gauss-Newton steps' products per date, a gradient 4.3 times this
default's (2,801 against 649 microseconds, numba, the second cell's replicate 0 at its
initial point, min of 5 x 500 calls at load 2 to 3; ``beta-cond`` 1,227, ``beta-scale``
896), so a fit took about 3 times as long (141 to 215 s against 49 to 96 s in the run
before, at other loads); the code now forms the per-date sums ``sum_t d_gtc d_gtd`` and
``sum_t d_gtc level_gt`` (``d`` the demeaned media at an effect of 1) once, the same
coordinates up to rounding (the density test checks them against the per-date form): 808
against 587 microseconds (1.4 times; one process, load about 2), with about 0.8 times the
leapfrog steps. Re-sampled at this code as ``auto``'s nutpie choice (``mmm-workbench run
scenarios/geo-vs-national.toml --out RUN --workers 1 --quiet --only 35f9765b --replicates
8``, then ``--only 1a76a910``; load 1 to 3;
``bench/results/survey-geo-vs-national-geo-nutpie-auto-20261201.json``): 12 of 12 clean, no
divergence; 35f9765b max R-hat 1.0058, min bulk ESS 1051, 892, 1507, 2433, 1229, 2289, 1060,
837 (replicates 0 to 7), 142,043 to 263,240 leapfrog steps a fit, the 8 fits with the cell's
compilation 12 min 16 s; 1a76a910 max R-hat 1.0051, min ESS 841, 697, 807, 1115, 254,724 to
273,540 steps, 4 fits 9 min 23 s. Why the other backends keep :data:`GEO_DEFAULT`: the
``map`` backend's L-BFGS-B fails in it
(``tests/recover/test_geo_model.py::test_map_recovers_national_roas_in_identical_geos``): it
probes far points where ``A_g`` is ill-conditioned (scipy's LinAlgWarning, rcond 1e-58) and,
that warning silenced, meets a NaN (a sum that overflows). With the per-date sums formed
once, one run of that test met the NaN, the next (the same code and seed) ended with
national ROAS 1.97 and 6.58 against the truth's 1.17 and 1.44: L-BFGS-B does not find the
DGP's mode in these coordinates (why, not established: the cap on evaluations, the far
points' conditionals?); inputs bounded at the far points (the linearization point, the
spreads, ``sigma``) would be the next step for it. The steps on the way
(one fit each by script, ``CellFitter``, the second cell's replicates 2, 4 and 7, where this
default missed and ``signed-all`` diverged): ``beta-cond`` (one Gauss-Newton step, ``scale``
at the national betas) 1 divergence in replicate 2 (at spreads ``t = 0.72, -0.40, -0.79``,
where a geo's effect is up to ``exp(1.6)`` times the national one and the precision at the
national betas is off by its square), else clean, min ESS 1105, 2066, 1978; ``beta-cond2`` 3
of 3, 1199, 1131, 1669. ``beta-scale`` (``loc`` 0) is kept as a geometry for comparison, not
measured.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import xarray as xr
from numpy.typing import NDArray
from pymc.logprob.transforms import Transform
from pytensor.compile.maker import function as compile_function

from mmm_workbench.recover.models.data import ModelData
from mmm_workbench.recover.models.media import (
    MediaModel,
    fixed_transform_params,
    media_graph,
    time_terms,
)
from mmm_workbench.recover.models.panel import GeoPanel, geo_estimands
from mmm_workbench.recover.models.priors import make_prior, prior_for
from mmm_workbench.recover.models.transforms import param_names
from mmm_workbench.scenarios.spec import GeoModelSpec, ModelSpec

__all__ = [
    "BETA_GEO",
    "GEO_GEOMETRIES",
    "GEO_NUTPIE",
    "GeoIntercept",
    "GeoWorkbenchModel",
    "build_geo",
    "geo_containers",
    "geo_media",
    "resolve_geo_geometry",
]

Array = NDArray[np.float64]

BETA_GEO = "saturation_beta_geo"
"""The per-head effect of each channel in each geo, ``(geo, channel)``, scaled units."""


def _panel(data: ModelData) -> GeoPanel:
    if data.geo is None:
        raise ValueError("model.geo: the data has no geo panel (a national series)")
    return data.geo


def geo_containers(spec: ModelSpec, data: ModelData) -> dict[str, Array]:
    """Return the geo model's data containers for one replicate, scaled units.

    Parameters
    ----------
    spec
        The model (its controls).
    data
        The replicate's data with its panel (:attr:`ModelData.geo`).

    Returns
    -------
    dict
        ``spend`` ``(date, geo, channel)`` per unit of size (by ``w_g`` times the national
        spend scale), ``target`` ``(date, geo)`` by the national target scale and, with
        controls, ``controls`` ``(date, geo, control)`` by the national control scales.
    """
    panel = _panel(data)
    unit = panel.shares[:, None] * data.spend_scale[None, :]  # (geo, channel)
    out = {
        "spend": panel.spend / unit[None],
        "target": panel.target / data.target_scale,
    }
    if spec.controls:
        out["controls"] = panel.controls / data.control_scale
    return out


def geo_media(
    spec: ModelSpec, free: tuple[str, ...], shared: bool, shares: Array, n_ch: int, periods: int
) -> Any:
    """Compile the geo model's media graph batched over draws, per geo.

    ``(free transform params with a leading sample axis..., beta_geo (S, G, C), spend per
    unit of size (T, 1, G, C)) -> each geo's contributions (T, S, G, C)``, scaled units:
    ``w_g * beta_gc * f(x_gtc)`` (their sum over geos is the national contribution).
    ``shared`` transform parameters are ``(S,)``, per-channel ones ``(S, C)``; those not in
    ``free`` are fixed in ``spec``.
    """
    params: dict[str, Any] = fixed_transform_params(spec)
    inputs = []
    for name in free:
        var = pt.vector(name) if shared else pt.matrix(name)
        inputs.append(var)
        params[name] = var[:, None, None] if shared else var[:, None, :]  # (S, 1[, C])
    beta = pt.tensor3(BETA_GEO)  # (S, G, C)
    params["saturation_beta"] = beta
    x = pt.tensor4("spend", shape=(None, 1, None, None))
    w = pt.as_tensor_variable(np.asarray(shares, dtype=float))[None, None, :, None]
    media = compile_function([*inputs, beta, x], w * media_graph(spec, x, params))
    n_geo = len(shares)
    media(
        *(np.full((1,) if i.ndim == 1 else (1, n_ch), 0.5) for i in inputs),
        np.full((1, n_geo, n_ch), 0.5),
        np.zeros((periods, 1, n_geo, n_ch)),
    )  # compile lazily-linked code now, not in the first fit
    return media


@dataclass(frozen=True, kw_only=True)
class GeoWorkbenchModel(MediaModel):
    """The built geo model of a cell, its containers and its national estimands.

    ``free`` names the prior draws' media parameters (the estimated transform parameters,
    ``saturation_beta`` and :data:`BETA_GEO`); ``transform_free`` those of them the
    compiled ``media`` takes before :data:`BETA_GEO`.
    """

    model: pm.Model
    transform_free: tuple[str, ...]
    shares: Array
    geometry: str = "dgp"
    """The coordinates the sampler moves in (:func:`resolve_geo_geometry`), kept in each fit
    record."""
    sampler_options: Mapping[str, object] = field(default_factory=dict)
    """nutpie's settings the geometry asks for (``[fit].options`` override them)."""
    diagnosed: tuple[str, ...] = ()
    """The variables a fit's R-hat and ESS are computed over where they are not the free
    ones (a signed spread's DGP names: :func:`~mmm_workbench.recover.inference.diagnosed`)."""
    extra_draws: tuple[str, ...] = (BETA_GEO,)
    """Deterministics the backend keeps besides ``channel_contribution`` and ``mu``."""

    def set_data(self, data: ModelData) -> dict[str, Array]:
        """Return the data containers' new values for one replicate (shapes must match)."""
        panel = _panel(data)
        if not np.allclose(panel.shares, self.shares, rtol=1e-12, atol=0.0):
            raise ValueError("model.geo: a replicate's geo sizes differ from the cell's")
        return geo_containers(self.spec, data)

    def media_inputs(self, draws: Mapping[str, Array]) -> list[Array]:
        """Return the transform parameters' draws, then the per-geo effects'."""
        return [np.asarray(draws[name]) for name in (*self.transform_free, BETA_GEO)]

    def media_spend(self, data: ModelData) -> Array:
        """Return each geo's spend per unit of size, ``(date, geo, channel)``.

        The training rows, the holdout's realized spend and ``l_max - 1`` periods of none
        (the causal scope of the national model's :meth:`MediaModel.media_spend`).
        """
        panel = _panel(data)
        tail = np.zeros((self.spec.adstock.l_max - 1, *panel.spend.shape[1:]))
        unit = panel.shares[:, None] * data.spend_scale[None, :]
        extended: Array = np.concatenate([panel.spend, panel.after, tail]) / unit[None]
        return extended

    def media_path(self, params: list[Array], spend: Array) -> Array:
        """Return the national contributions ``(date, sample, channel)``, summed over geos."""
        summed: Array = self.geo_path(params, spend).sum(axis=2)
        return summed

    def geo_path(self, params: list[Array], spend: Array) -> Array:
        """Return each geo's contributions ``(date, sample, geo, channel)``, scaled units."""
        return np.asarray(self.media(*params, spend[:, None]), dtype=float)

    def estimands(
        self,
        data: ModelData,
        draws: Mapping[str, Array],
        x_scale: Array,
        multipliers: Array,
    ) -> xr.Dataset:
        """Return the national estimands (:meth:`MediaModel.estimands`) and the per-geo ones.

        Per geo (:func:`~mmm_workbench.recover.models.panel.geo_estimands`): each geo's
        contributions with the training window's spend as it was and switched off.
        """
        out = super().estimands(data, draws, x_scale, multipliers)
        params = self.media_inputs(draws)
        spend = self.media_spend(data)
        window = len(data.spend)
        off = spend.copy()
        off[:window] = 0.0
        ys = data.target_scale
        factual = self.geo_path(params, spend) * ys
        return out.merge(
            geo_estimands(factual, self.geo_path(params, off) * ys, window, _panel(data))
        )


def _spread(
    name: str, geo: GeoModelSpec, dims: str | tuple[str, ...], offsets: bool = True
) -> tuple[Any, Any]:
    """Return a varying parameter's spread ``tau`` and offsets ``z`` (non-centred).

    ``offsets=False``: ``z`` is ``None``, created later by the caller.
    """
    tau = pm.HalfNormal(f"{name}_geo_sd", sigma=geo.spread_of(_KEY[name]), dims=_SPREAD_DIMS[name])
    z = pm.Normal(f"{name}_geo_z", 0.0, 1.0, dims=dims) if offsets else None
    return tau, z


_KEY = {"saturation_beta": "beta", "intercept": "intercept"}
_SPREAD_DIMS: dict[str, str | None] = {"saturation_beta": "channel", "intercept": None}

GEO_GEOMETRIES = (
    "dgp",
    "intercept-cond",
    "intercept-cond+lr",
    "intercept-cond+signed",
    "intercept-cond+signed+lr",
    "intercept-cond+signed-all",
    "intercept-cond+signed-all+lr",
    "intercept-cond+beta-scale+signed-all",
    "intercept-cond+beta-scale+signed-all+lr",
    "intercept-cond+beta-cond+signed-all",
    "intercept-cond+beta-cond+signed-all+lr",
    "intercept-cond+beta-cond2+signed-all",
    "intercept-cond+beta-cond2+signed-all+lr",
)
"""The geo model's geometries (:func:`resolve_geo_geometry`); ``+lr``: nutpie's low-rank mass
matrix (``adaptation = "low_rank"``, which ``[fit].options`` override). A run reaches three
of them: :data:`GEO_NUTPIE` under nutpie, :data:`GEO_DEFAULT` under any other backend and,
with ``MMM_WORKBENCH_GEOMETRY=dgp``, ``dgp`` (the variable takes the national model's names);
the others, the steps measured on the way (module docstring), are passed to
:func:`build_geo` by the tests and by measurement scripts."""

GEO_DEFAULT = "intercept-cond+signed+lr"
"""The geometry ``"auto"`` gives a geo model whose intercept varies by geo, fitted by a
backend other than nutpie (:data:`GEO_NUTPIE`)."""

GEO_NUTPIE = "intercept-cond+beta-cond2+signed-all+lr"
"""The geometry ``"auto"`` gives such a model fitted by nutpie, where it was measured (the
module docstring); the ``map`` backend's optimizer fails in it, so other backends keep
:data:`GEO_DEFAULT`."""


def resolve_geo_geometry(spec: ModelSpec, geometry: str = "auto", backend: str = "") -> str:
    """Return the geometry the geo model of ``spec`` is sampled in.

    ``"dgp"`` (asked for, or where it is the only one: an intercept that does not vary
    by geo, or whose prior is bounded) samples every variable in PyMC's default transform
    of the DGP's parameterization; one of :data:`GEO_GEOMETRIES` is taken as asked; any
    other request (``"auto"``, the national model's names) gives :data:`GEO_NUTPIE` for the
    ``nutpie`` backend and :data:`GEO_DEFAULT` for any other (the module docstring).
    """
    geo = spec.geo
    assert geo is not None
    if geometry == "dgp" or not spec.intercept or "intercept" not in geo.vary:
        return "dgp"
    if prior_for("intercept", spec).dist != "Normal":
        return "dgp"
    if geometry in GEO_GEOMETRIES:
        return geometry
    return GEO_NUTPIE if backend == "nutpie" else GEO_DEFAULT


class GeoIntercept(Transform):  # type: ignore[misc]  # pymc's Transform is untyped
    """A variable sampled as ``u`` with ``x = loc + scale * u`` (``intercept-cond``).

    ``loc`` and ``scale`` are functions of other variables: of the model's variables
    (``*_rv``, for the initial point) and of the sampler's values (``*_value``, for the
    density), never of ``x`` itself, so the Jacobian is ``scale``.
    """

    name = "geo_cond"

    def __init__(self, loc_rv: Any, scale_rv: Any, loc_value: Any, scale_value: Any) -> None:
        self.loc_rv, self.scale_rv = loc_rv, scale_rv
        self.loc_value, self.scale_value = loc_value, scale_value

    def forward(self, value: Any, *inputs: Any) -> Any:
        """Return ``u`` from ``x``."""
        return (value - self.loc_rv) / self.scale_rv

    def backward(self, value: Any, *inputs: Any) -> Any:
        """Return ``x`` from ``u``."""
        return self.loc_value + self.scale_value * value

    def log_jac_det(self, value: Any, *inputs: Any) -> Any:
        """Return ``log |dx / du|`` = ``log scale``."""
        return pt.log(self.scale_value) + 0.0 * value


def _value(model: pm.Model, rv: Any) -> Any:
    """Return ``rv`` as a function of the sampler's value variables (its transform undone)."""
    value = model.rvs_to_values[rv]
    transform = model.rvs_to_transforms.get(rv)
    return value if transform is None else transform.backward(value, *rv.owner.inputs)


def _conditional(
    level: Any, sigma: Any, tau: Any, w: Array, periods: int, prior: tuple[float, float]
) -> tuple[Any, Any, Any, Any]:
    """Return the national intercept's and each geo's offset's ``(loc, scale)``.

    ``level`` ``(geo,)``: each geo's mean per head of the target less every other term
    (``theta_hat``, the estimate of its intercept given the rest, sd ``eps = sigma /
    sqrt(T w_g)``). The national intercept ``m ~ Normal(prior)`` with ``theta_hat_g ~
    Normal(m, tau^2 + eps_g^2)``: its conditional normal ``(loc, scale)``; each geo's
    offset ``z_g = (theta_g - m) / tau`` given ``m`` and ``theta_hat_g``: ``loc =
    (theta_hat_g - m) tau / (tau^2 + eps_g^2)``, ``scale = eps_g / sqrt(tau^2 + eps_g^2)``
    (the offset's ``loc`` is returned as a function of ``m``).
    """
    eps2 = sigma**2 / (periods * pt.as_tensor_variable(w))
    var = tau**2 + eps2
    m0, s0 = prior
    precision = 1.0 / s0**2 + (1.0 / var).sum()
    loc_m = (m0 / s0**2 + (level / var).sum()) / precision
    scale_m = 1.0 / pt.sqrt(precision)
    scale_z = pt.sqrt(eps2 / var)
    return loc_m, scale_m, (lambda m: (level - m) * tau / var), scale_z


def build_geo(
    spec: ModelSpec, data: ModelData, geometry: str = "auto", backend: str = ""
) -> GeoWorkbenchModel:
    """Build the geo model for a cell from its first replicate's data.

    Parameters
    ----------
    spec
        The ``[model]`` table, with ``geo`` set.
    data
        The first replicate's data, with its panel.
    geometry
        Asked for (:func:`resolve_geo_geometry`); the workbench model's ``GEOMETRY``.
    backend
        The ``[fit]`` backend that will fit it (``"auto"``'s choice depends on it).

    Returns
    -------
    GeoWorkbenchModel
        The PyMC model, its containers and its compiled national media function.
    """
    geo = spec.geo
    assert geo is not None
    resolved = resolve_geo_geometry(spec, geometry, backend)
    cond = resolved.startswith("intercept-cond")
    panel = _panel(data)
    periods, shares = len(data.dates), panel.shares
    coords = {
        "date": data.dates,
        "geo": list(panel.names),
        "channel": list(data.channels),
        "control": list(data.control_names),
        "fourier": [
            f"{f}_{k}" for f in ("sin", "cos") for k in range(1, spec.seasonality_order + 1)
        ],
    }
    per = "channel" if spec.pooling == "channel" else None
    containers = geo_containers(spec, data)
    w = shares[None, :]  # (1, geo)
    params: dict[str, Any] = {}
    values: dict[str, Any] = {}  # each parameter as a function of the sampler's values
    free: list[str] = []
    with pm.Model(coords=coords) as model:
        spend = pm.Data("spend", containers["spend"], dims=("date", "geo", "channel"))
        target = pm.Data("target", containers["target"], dims=("date", "geo"))
        for role, transform in (("adstock", spec.adstock), ("saturation", spec.saturation)):
            for p in param_names(role, transform.kind):
                name = f"{role}_{p}"
                if p in transform.params:
                    params[name] = np.asarray(transform.params[p], dtype=float)
                    values[name] = params[name]
                    continue
                params[name] = make_prior(name, prior_for(name, spec), dims=per)
                values[name] = _value(model, params[name])
                free.append(name)
        beta = make_prior("saturation_beta", prior_for("saturation_beta", spec), dims="channel")
        beta_value = _value(model, beta)[None, :]
        # beta-cond/beta-scale: the offsets created after sigma and the other terms, which
        # their coordinates read; any other geometry creates them here, where they always were
        beta_cond = ("beta-cond" in resolved or "beta-scale" in resolved) and "beta" in geo.vary
        if "beta" in geo.vary:
            spread = _signed_spread if "signed-all" in resolved else _spread
            tau_b, z_b = spread("saturation_beta", geo, ("geo", "channel"), offsets=not beta_cond)
        # mu's terms besides the intercepts, (date, geo): (model variables, sampler values)
        rest: list[tuple[Any, Any]] = []
        head: Any = pt.zeros((periods, 1))  # per head: (date, geo) or (date, 1)
        intercept = None
        if spec.intercept and not cond:  # created where it always was: the same draws
            intercept = make_prior("intercept", prior_for("intercept", spec))
            if "intercept" in geo.vary:
                tau, z = _spread("intercept", geo, "geo")
                intercept = intercept + tau * z
            head = head + intercept
        time = time_terms(spec, periods, periods)  # the national model's time terms
        if spec.trend:
            t = time["trend_time"][:, None]
            slope = make_prior("trend_slope", prior_for("trend_slope", spec))
            rest.append((w * slope * t, w * _value(model, slope) * t))
        if spec.seasonality_order:
            fourier = time["fourier_terms"]
            gamma = make_prior("gamma_fourier", prior_for("gamma_fourier", spec), dims="fourier")
            rest.append(
                (
                    w * pt.tensordot(fourier, gamma, axes=[[1], [0]])[:, None],
                    w * pt.tensordot(fourier, _value(model, gamma), axes=[[1], [0]])[:, None],
                )
            )
        if spec.controls:
            controls = pm.Data("controls", containers["controls"], dims=("date", "geo", "control"))
            gamma = make_prior("gamma_control", prior_for("gamma_control", spec), dims="control")
            rest.append(
                (
                    pt.tensordot(controls, gamma, axes=[[2], [0]]),
                    pt.tensordot(controls, _value(model, gamma), axes=[[2], [0]]),
                )
            )
        sigma = make_prior("sigma", prior_for("sigma", spec))
        if beta_cond:  # after the terms and sigma its coordinates read
            z_b = _cond_beta_offsets(
                spec,
                (beta, _value(model, beta)),
                (tau_b, _value(model, tau_b)),
                (sigma, _value(model, sigma)),
                (params, values),
                rest,
                spend,
                target,
                shares,
                steps=2 if "beta-cond2" in resolved else int("beta-cond" in resolved),
                signed="signed-all" in resolved,
            )
        if "beta" in geo.vary:
            beta_geo = beta[None, :] * pt.exp(tau_b * z_b)
            beta_value = beta_value * pt.exp(_value(model, tau_b) * _value(model, z_b))
        else:
            beta_geo = pt.ones((len(shares), 1)) * beta[None, :]
            beta_value = pt.ones((len(shares), 1)) * beta_value
        beta_geo = pm.Deterministic(BETA_GEO, beta_geo, dims=("geo", "channel"))
        per_head = media_graph(spec, spend, params | {"saturation_beta": beta_geo})  # (T, G, C)
        contribution = w[:, :, None] * per_head
        pm.Deterministic("channel_contribution", contribution.sum(axis=1), dims=("date", "channel"))
        media_value = w[:, :, None] * media_graph(
            spec, spend, values | {"saturation_beta": beta_value}
        )
        rest.insert(0, (contribution.sum(axis=2), media_value.sum(axis=2)))
        if cond:  # after the terms and sigma its coordinates read
            signed = "signed" in resolved
            intercept = _cond_intercept(
                spec, geo, model, rest, target, sigma, shares, periods, signed=signed
            )
            head = head + intercept
        mu_geo = w * head
        for term, _ in rest:
            mu_geo = mu_geo + term
        pm.Deterministic("mu", mu_geo.sum(axis=1), dims="date")
        sd = sigma * np.sqrt(w)
        if spec.likelihood == "student_t":
            nu = make_prior("nu", prior_for("nu", spec))
            pm.StudentT("y", nu=nu, mu=mu_geo, sigma=sd, observed=target, dims=("date", "geo"))
        else:
            pm.Normal("y", mu=mu_geo, sigma=sd, observed=target, dims=("date", "geo"))

    transform_free = tuple(free)
    names = [v.name for v in model.free_RVs]
    media = geo_media(spec, transform_free, per is None, shares, len(data.channels), periods)
    return GeoWorkbenchModel(
        spec=spec,
        model=model,
        free=(*transform_free, "saturation_beta", BETA_GEO),
        media=media,
        transform_free=transform_free,
        shares=shares,
        geometry=resolved,
        sampler_options={"adaptation": "low_rank"} if resolved.endswith("+lr") else {},
        diagnosed=tuple(n.removesuffix("_signed") for n in names)
        if any(n.endswith("_signed") for n in names)
        else (),
    )


def _cond_intercept(
    spec: ModelSpec,
    geo: GeoModelSpec,
    model: pm.Model,
    rest: list[tuple[Any, Any]],
    target: Any,
    sigma: Any,
    shares: Array,
    periods: int,
    signed: bool = False,
) -> Any:
    """Create ``intercept``, its spread and offsets in ``intercept-cond``'s coordinates.

    Returns each geo's intercept ``(geo,)`` as a graph of the model's variables.
    """
    prior = prior_for("intercept", spec)
    m0, s0 = float(prior.args.get("mu", 0.0)), float(prior.args.get("sigma", 1.0))
    scale = geo.spread_of("intercept")
    if signed:
        tau = pm.Normal("intercept_geo_sd_signed", 0.0, scale, dims=_SPREAD_DIMS["intercept"])
    else:
        tau = pm.HalfNormal("intercept_geo_sd", sigma=scale, dims=_SPREAD_DIMS["intercept"])

    def level(k: int) -> Any:  # theta_hat_g: each geo's mean residual per head
        others = sum(term[k] for term in rest)
        return (target - others).mean(axis=0) / shares

    graphs = [
        _conditional(level(k), s, t, shares, periods, (m0, s0))
        for k, (s, t) in enumerate(((sigma, tau), (_value(model, sigma), _value(model, tau))))
    ]
    national = make_prior(
        "intercept",
        prior,
        transform=GeoIntercept(graphs[0][0], graphs[0][1], graphs[1][0], graphs[1][1]),
        default_transform=None,
    )
    national_value = _value(model, national)
    offsets = GeoIntercept(
        graphs[0][2](national), graphs[0][3], graphs[1][2](national_value), graphs[1][3]
    )
    z = pm.Normal(
        "intercept_geo_z" + ("_signed" if signed else ""),
        0.0,
        1.0,
        dims="geo",
        transform=offsets,
        default_transform=None,
    )
    if signed:
        _unsigned("intercept", tau, z, "geo")
    return national + tau * z


def _beta_conditional(
    beta: Any,
    t: Any,
    sigma: Any,
    unit: Any,
    others: Any,
    target: Any,
    w: Array,
    steps: int,
) -> tuple[Any, Any]:
    """Return the beta offsets' ``(loc, scale)``, each ``(geo, channel)``.

    ``unit`` ``(date, geo, channel)``: each geo's media per head at an effect of 1
    (``f_gtc``); ``others`` ``(date, geo)``: mu's terms besides the media and the
    intercepts. Demeaned over dates (the geo's intercept takes the mean) and linearized in
    the offsets at ``z0`` (``beta_gc = beta_c exp(t_c z_gc)``), geo ``g``'s data give its
    offsets ``z_g`` a normal likelihood; with their prior ``N(0, I)``, precision ``A_g = I +
    X_g' X_g`` and mean ``A_g^-1 X_g' (r_g + X_g z0_g)``, ``X_gtc = t_c beta_c exp(t_c
    z0_gc) (f_gtc - mean_t f_gc) sqrt(w_g) / sigma`` and ``r_g`` the demeaned residual at
    ``z0`` by ``sigma / sqrt(w_g)`` (Gauss-Newton). ``steps`` 1: one step from ``z0 = 0``
    (the national betas), ``diag A_g = 1 + t_c^2 p_gc`` with ``p_gc = w_g beta_c^2 sum_t
    (f_gtc - mean f_gc)^2 / sigma^2`` the data's precision for ``log beta_gc``; 2: a second
    from the first's mean; 0: ``loc`` 0 and ``scale`` at ``z0 = 0``. ``loc`` is the last
    step's mean, ``scale`` ``1 / sqrt(diag A_g)`` at its ``z0``. Neither reads the offsets
    or the intercepts.
    """
    wt = pt.as_tensor_variable(np.asarray(w, dtype=float))
    demeaned = unit - unit.mean(axis=0)
    # the per-date sums, once: (geo, channel, channel) and (geo, channel); sum_t d_gtc = 0,
    # so a residual need not be demeaned against d
    cross = (demeaned[:, :, :, None] * demeaned[:, :, None, :]).sum(axis=0)
    level = (demeaned * ((target - others) / wt[None, :])[:, :, None]).sum(axis=0)
    root = pt.sqrt(wt)[:, None] / sigma  # (geo, 1)
    diag = (demeaned**2).sum(axis=0)
    loc: Any = pt.zeros((len(w), 1)) * t[None, :]  # z0 = 0, (geo, channel)
    for _ in range(max(steps, 1)):
        effect = beta[None, :] * pt.exp(t[None, :] * loc)  # (geo, channel)
        a = effect * t[None, :] * root  # X_gtc = a_gc d_gtc
        scale = 1.0 / pt.sqrt(1.0 + a**2 * diag)  # 1 / sqrt(diag A_g)
        if steps == 0:
            return loc, scale
        gram = a[:, :, None] * a[:, None, :] * cross
        fitted = (cross * effect[:, None, :]).sum(axis=2)  # sum_t d_gtc sum_c' f_gtc' e_gc'
        rhs = a * root * (level - fitted) + (gram * loc[:, None, :]).sum(axis=2)
        eye = pt.eye(gram.shape[-1])[None]  # type: ignore[no-untyped-call]
        loc = pt.linalg.solve(eye + gram, rhs, b_ndim=1)
    return loc, scale


def _cond_beta_offsets(
    spec: ModelSpec,
    beta: tuple[Any, Any],
    t: tuple[Any, Any],
    sigma: tuple[Any, Any],
    transform_params: tuple[dict[str, Any], dict[str, Any]],
    rest: list[tuple[Any, Any]],
    spend: Any,
    target: Any,
    shares: Array,
    steps: int,
    signed: bool,
) -> Any:
    """Create the beta offsets standardized by their conditionals (``beta-cond``, ``beta-scale``).

    Each pair is (the model's variable, its sampler-value graph). ``z = loc + scale u``
    (:func:`_beta_conditional`; :class:`GeoIntercept`'s transform, Jacobian ``scale``): near
    ``t = 0`` non-centred (``scale`` 1), where the data pin a geo's effect centred (``t
    scale u`` tends to ``u / sqrt(p)``, free of ``t``). Returns the offsets.
    """
    graphs = []
    for k in (0, 1):
        unit = media_graph(spec, spend, transform_params[k] | {"saturation_beta": 1.0})
        others = sum((term[k] for term in rest), pt.zeros((1, 1)))
        graphs.append(
            _beta_conditional(beta[k], t[k], sigma[k], unit, others, target, shares, steps)
        )
    name = "saturation_beta_geo_z" + ("_signed" if signed else "")
    z = pm.Normal(
        name,
        0.0,
        1.0,
        dims=("geo", "channel"),
        transform=GeoIntercept(graphs[0][0], graphs[0][1], graphs[1][0], graphs[1][1]),
        default_transform=None,
    )
    if signed:
        _unsigned("saturation_beta", t[0], z, ("geo", "channel"))
    return z


def _signed_spread(
    name: str, geo: GeoModelSpec, dims: str | tuple[str, ...], offsets: bool = True
) -> tuple[Any, Any]:
    """Return a varying parameter's signed spread ``t`` and offsets ``z`` (non-centred).

    ``t ~ Normal(0, s)``, ``z ~ Normal(0, 1)``: ``(|t|, sign(t) z)`` has the distribution of
    ``(tau, z)`` with ``tau ~ HalfNormal(s)``, and ``t * z = |t| * sign(t) z``.
    ``offsets=False``: ``z`` is ``None``, created later by the caller (who records the DGP's
    names with :func:`_unsigned`).
    """
    t = pm.Normal(f"{name}_geo_sd_signed", 0.0, geo.spread_of(_KEY[name]), dims=_SPREAD_DIMS[name])
    if not offsets:
        return t, None
    z = pm.Normal(f"{name}_geo_z_signed", 0.0, 1.0, dims=dims)
    _unsigned(name, t, z, dims)
    return t, z


def _unsigned(name: str, t: Any, z: Any, dims: str | tuple[str, ...]) -> None:
    """Record the DGP's spread ``|t|`` and offsets ``sign(t) z`` as deterministics."""
    spread_dims = _SPREAD_DIMS[name]
    pm.Deterministic(f"{name}_geo_sd", pt.abs(t), dims=spread_dims)
    sign = pt.switch(t < 0, -1.0, 1.0)
    pm.Deterministic(f"{name}_geo_z", (sign[None, :] if spread_dims else sign) * z, dims=dims)
