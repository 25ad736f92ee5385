"""Teaching baselines.

Ordinary and non-negative least squares with normal-approximation uncertainty (``[model] kind =
"ols"`` or ``"nnls"``).

The regressors are the model's media features with every transform parameter fixed in
the scenario (``adstock = { kind = "geometric", l_max = 1, alpha = 0 }`` and
``saturation = { kind = "root", alpha = 1 }`` give raw spend), plus the intercept, trend,
Fourier terms and controls of the workbench model, all on the same scaled data. OLS shows
what correlated spend does to unconstrained coefficients (they can turn negative); NNLS
constrains the media coefficients to be non-negative, which removes the negative signs
but not the bias.

Transform parameters may be fixed per channel (``alpha = [0.3, 0.6]``, one value per
channel in the order of ``[[data.channels]]``), as in every model kind.

Uncertainty (Notes). OLS draws come from ``N(b, s^2 (X'X)^{-1})`` with
``s^2 = RSS / (n - p)``: the sampling distribution of the estimator, exact for normal
errors. NNLS fits with the free (non-media) coefficients split into positive and negative
parts, and its draws are the sampling distribution of that bounded estimator by parametric
bootstrap: ``y* = X b + e*`` with ``e* ~ N(0, s^2 I)`` (``b`` the NNLS fit, ``s^2`` from its
residuals over ``n`` minus the coefficients not held at zero), each ``y*`` refitted by NNLS.

Why not a normal approximation on the active set, clipped at zero (the earlier rule): a
coefficient held at its bound is not in the active set, so every draw of it was exactly
0, an interval of zero width that claims certainty the data do not give (the next dataset
from the same world can put it well above 0). The bootstrap keeps the estimator's actual
law: a bound coefficient's draws are 0 in about half the refits and positive in the
others, so its interval starts at 0 and has the width the noise allows; a coefficient far
from its bound is refitted unconstrained in (nearly) every draw, and the refits of a
linear estimator under normal noise are exactly ``N(b, s^2 (X'X)^{-1})``, so its interval
is OLS's (up to Monte Carlo error, on the same active columns). A truncated normal from
the active-set covariance would give the bound coefficient some width too, but it has to
pick a variance for a coefficient the fit says nothing about; the refits need no such choice.
The bootstrap is centred at the fit, not bias-corrected: it reports how far the estimate
moves with the noise, not where the truth is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import nnls

from mmm_workbench.recover.models.data import ModelData
from mmm_workbench.recover.models.media import MediaModel, compile_media, fourier_features
from mmm_workbench.recover.models.transforms import param_names
from mmm_workbench.scenarios.spec import ModelSpec

__all__ = ["LINEAR_KINDS", "LinearModel", "build_linear", "check_linear"]

Array = NDArray[np.float64]
LINEAR_KINDS = ("ols", "nnls")


def check_linear(spec: ModelSpec) -> None:
    """Least squares needs every transform parameter fixed.

    Raises
    ------
    ValueError
        Naming the missing transform table or the first parameter that is not fixed.
    """
    for role, transform in (("adstock", spec.adstock), ("saturation", spec.saturation)):
        if not transform.kind:  # the table is left out
            raise ValueError(
                f"model.{role}: missing; model.kind = {spec.kind!r} needs every transform "
                "parameter fixed in [model.adstock] and [model.saturation]"
            )
        for p in param_names(role, transform.kind):
            if p not in transform.params:
                raise ValueError(
                    f"model.{role}.{p}: model.kind = {spec.kind!r} needs every transform "
                    "parameter fixed (for raw spend: adstock geometric with l_max = 1 and "
                    "alpha = 0, saturation root with alpha = 1)"
                )
    if spec.likelihood != "normal":
        raise ValueError(f"model.likelihood = {spec.likelihood!r}: least squares is normal only")
    if spec.lift_tests:
        raise ValueError(
            f"model.lift_tests = true: model.kind = {spec.kind!r} has no lift-test calibration "
            "(the workbench and pymc-marketing models have)"
        )


def _nnls(base: Array, features: Array, y: Array) -> Array:
    """Least squares with the media coefficients (``features``' columns) non-negative.

    The baseline coefficients are free: their columns enter twice, as ``+base`` and
    ``-base``, and each coefficient is the difference of the two non-negative parts.
    Returns the coefficients of ``[base, features]``.
    """
    nb = base.shape[1]
    solution = nnls(np.concatenate([base, -base, features], axis=1), y)[0]
    coef: Array = np.concatenate([solution[:nb] - solution[nb : 2 * nb], solution[2 * nb :]])
    return coef


@dataclass(frozen=True, kw_only=True)
class LinearModel(MediaModel):
    """A least-squares fit of the media features and the baseline terms."""

    kind: Literal["ols", "nnls"]
    fourier: Array

    def design(self, data: ModelData) -> tuple[Array, Array]:
        """Baseline columns ``(T, k)`` and media features ``(T, C)`` on scaled data."""
        scaled = data.scaled()
        periods, n_ch = scaled["spend"].shape
        features = np.asarray(self.media(np.ones((1, n_ch)), scaled["spend"][:, None, :]))[:, 0]
        columns = [np.ones((periods, 1))] if self.spec.intercept else []
        if self.spec.trend:
            columns.append(np.linspace(0.0, 1.0, periods)[:, None])
        columns += [self.fourier, scaled["controls"]]
        return np.concatenate(columns, axis=1), features

    def fit(
        self, data: ModelData, draws: int, seed: int
    ) -> tuple[dict[str, Array], dict[str, float]]:
        """Point estimate and ``draws`` draws of its sampling distribution (``(1, draws, ...)``).

        OLS: the normal law of the estimator; NNLS: parametric-bootstrap refits (module
        Notes). ``sigma`` is the residual standard deviation in every draw.
        """
        base, features = self.design(data)
        y = data.scaled()["target"]
        x = np.concatenate([base, features], axis=1)
        n, k = x.shape
        media = slice(base.shape[1], k)
        rng = np.random.default_rng(seed)
        if self.kind == "ols":
            coef = np.linalg.lstsq(x, y, rcond=None)[0]
            resid = y - x @ coef
            s2 = float(resid @ resid) / max(n - k, 1)
            cov = s2 * np.linalg.pinv(x.T @ x)
            sample = rng.multivariate_normal(coef, cov, size=draws, method="svd")
        else:
            coef = _nnls(base, features, y)
            active = np.ones(k, dtype=bool)
            active[media] = coef[media] > 0
            resid = y - x @ coef
            s2 = float(resid @ resid) / max(n - int(active.sum()), 1)
            refits = x @ coef + rng.normal(0.0, np.sqrt(s2), size=(draws, n))
            sample = np.stack([_nnls(base, features, row) for row in refits])
        beta = sample[:, media]
        contribution = features[None] * beta[:, None, :]
        mu = sample @ x.T
        out = {
            "saturation_beta": beta,
            "channel_contribution": contribution,
            "mu": mu,
            "sigma": np.full(draws, np.sqrt(s2)),
        }
        diagnostics = {
            "draws": float(draws),
            "negative_media_coefficients": float(np.sum(coef[media] < 0)),
            "condition_number": float(np.linalg.cond(x)),
        }
        return {k: v[None] for k, v in out.items()}, diagnostics


def build_linear(spec: ModelSpec, data: ModelData) -> LinearModel:
    """Return a least-squares model for a cell (``spec.kind`` is ``"ols"`` or ``"nnls"``)."""
    check_linear(spec)
    periods, n_ch = data.spend.shape
    media = compile_media(spec, ("saturation_beta",), False, n_ch, periods)
    kind: Literal["ols", "nnls"] = "ols" if spec.kind == "ols" else "nnls"
    return LinearModel(
        spec=spec,
        free=("saturation_beta",),
        media=media,
        kind=kind,
        fourier=fourier_features(periods, spec.seasonality_period, spec.seasonality_order),
    )
