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

Uncertainty (Notes): OLS draws come from ``N(b, s^2 (X'X)^{-1})`` with
``s^2 = RSS / (n - p)``. NNLS fits with the free (non-media) coefficients split into
positive and negative parts, then uses the same normal approximation on the columns
whose coefficient is not held at zero and clips media draws at zero.
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
        Naming the first parameter that is not fixed.
    """
    for role, transform in (("adstock", spec.adstock), ("saturation", spec.saturation)):
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
        """Point estimate and ``draws`` normal-approximation draws (``(1, draws, ...)``)."""
        base, features = self.design(data)
        y = data.scaled()["target"]
        x = np.concatenate([base, features], axis=1)
        n, k = x.shape
        media = slice(base.shape[1], k)
        if self.kind == "ols":
            coef = np.linalg.lstsq(x, y, rcond=None)[0]
            active = np.ones(k, dtype=bool)
        else:
            split = np.concatenate([base, -base, features], axis=1)
            solution = nnls(split, y)[0]
            nb = base.shape[1]
            coef = np.concatenate([solution[:nb] - solution[nb : 2 * nb], solution[2 * nb :]])
            active = np.ones(k, dtype=bool)
            active[media] = coef[media] > 0
        resid = y - x @ coef
        s2 = float(resid @ resid) / max(n - int(active.sum()), 1)
        xa = x[:, active]
        cov = s2 * np.linalg.pinv(xa.T @ xa)
        rng = np.random.default_rng(seed)
        sample = np.tile(coef, (draws, 1))
        sample[:, active] = rng.multivariate_normal(coef[active], cov, size=draws, method="svd")
        if self.kind == "nnls":
            sample[:, media] = np.clip(sample[:, media], 0.0, None)
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
