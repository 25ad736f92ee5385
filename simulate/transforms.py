"""The numpy kernels and curves of the media transformation families: the truth's transforms.

Each family is declared once, in :mod:`mmm_workbench.scenarios.families` (its name,
parameters with their admissible intervals, pymc-marketing class and ``rescale`` rule); its
numpy implementation is registered here against that name with :func:`kernel` (adstock) or
:func:`curve` (saturation). Pure numpy: the fitted models' PyTensor twins
(``recover/models/transforms.py``) share no code with it. The simulator calls
:func:`adstock` and :func:`saturation` to build the truth; :func:`check_kernels` checks a
data spec's adstock kernels and saturation curves before anything is drawn. A walk-through
that adds a family: ``docs/tutorials/05-new-transformation.md``.

Conventions are pymc-marketing 1.3.0's (see the declarations' module): ``l_max`` kernel
weights, ``normalize`` divides by their sum (the Weibull PDF kernel is min-max scaled
first, the Weibull CDF kernel is a cumulative product of survival probabilities, both as
in pymc-marketing), and a causal convolution with zeros before the first period
(``ConvMode.After``).
"""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Callable, Mapping
from typing import TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from mmm_workbench.scenarios.errors import ScenarioError
from mmm_workbench.scenarios.families import (
    ADSTOCKS,
    FAMILIES,
    MAX_L_MAX,
    SATURATIONS,
    Family,
    Param,
    Role,
    TransformError,
    check_keys,
    check_params,
    fmt_value,
    get_family,
)
from mmm_workbench.scenarios.spec import DataSpec

__all__ = [
    "ADSTOCKS",
    "CURVES",
    "FAMILIES",
    "KERNELS",
    "SATURATIONS",
    "Family",
    "Param",
    "TransformError",
    "adstock",
    "adstock_weights",
    "check_kernels",
    "check_params",
    "curve",
    "get_family",
    "implementation",
    "kernel",
    "saturation",
]

FloatArray = NDArray[np.float64]
_F = TypeVar("_F", bound=Callable[..., FloatArray])

KERNELS: dict[str, Callable[..., FloatArray]] = {}
"""Adstock name -> ``kernel(lags, **params) -> weights``: lags ``0..l_max-1`` of shape
``(l_max,)``, parameters of shape ``(..., 1)``, unnormalized weights ``(..., l_max)``."""
CURVES: dict[str, Callable[..., FloatArray]] = {}
"""Saturation name -> ``curve(x, **params)``, elementwise, parameters broadcast against x."""

_KIND = {"adstock": ("kernel", KERNELS), "saturation": ("curve", CURVES)}


def _register(role: Role, name: str) -> Callable[[_F], _F]:
    word, implementations = _KIND[role]

    def decorator(func: _F) -> _F:
        families = ADSTOCKS if role == "adstock" else SATURATIONS
        if name not in families:
            raise ValueError(
                f"{role} {name!r} is not declared: declare it in scenarios/families.py "
                f"before @{word}({name!r})"
            )
        if name in implementations:
            raise ValueError(f"{role} {name!r} already has a numpy {word}")
        given = tuple(inspect.signature(func).parameters)[1:]
        if given != families[name].param_names:
            raise ValueError(
                f"@{word}({name!r}) {func.__name__}: parameters {given} differ from the "
                f"declared {families[name].param_names}"
            )
        implementations[name] = func
        return func

    return decorator


def kernel(name: str) -> Callable[[_F], _F]:
    """Register the decorated function as the numpy kernel of the declared adstock ``name``.

    The function is ``kernel(lags, **params)``, its keyword parameters exactly the
    declared ones in order (see :data:`KERNELS`).

    Raises
    ------
    ValueError
        When ``name`` is not declared, already has a kernel, or the parameters differ.
    """
    return _register("adstock", name)


def curve(name: str) -> Callable[[_F], _F]:
    """Register the decorated function as the numpy curve of the declared saturation ``name``.

    The function is ``curve(x, **params)``, its keyword parameters exactly the declared
    ones in order (see :data:`CURVES`).

    Raises
    ------
    ValueError
        When ``name`` is not declared, already has a curve, or the parameters differ.
    """
    return _register("saturation", name)


def implementation(role: str, name: object) -> tuple[Family, Callable[..., FloatArray]]:
    """Return the declaration of a family and its numpy kernel or curve.

    Raises
    ------
    TransformError
        For an undeclared family, or a declared one without a numpy implementation: the
        message names the function to add, e.g. ``saturation 'exponential' is declared in
        scenarios/families.py but has no numpy curve: add a function decorated with
        @curve('exponential') to simulate/transforms.py``.
    """
    family = get_family(role, name, role)
    word, implementations = _KIND[family.role]
    if family.name not in implementations:
        raise TransformError(
            f"{role} {family.name!r} is declared in scenarios/families.py but has no numpy "
            f"{word}: add a function decorated with @{word}({family.name!r}) to "
            "simulate/transforms.py"
        )
    return family, implementations[family.name]


def _arrays(family: Family, params: Mapping[str, ArrayLike]) -> dict[str, FloatArray]:
    """Parameters as float arrays, keys and (elementwise) values validated."""
    check_keys(family, list(params), list(params.values()), family.role)
    out: dict[str, FloatArray] = {}
    for p in family.params:
        raw = np.asarray(params[p.name])
        if raw.dtype.kind not in "iuf":
            raise TransformError(
                f"{family.name} {family.role}: {p.name} = {params[p.name]!r}: "
                "must be a finite number"
            )
        values = raw.astype(np.float64, copy=False)
        ok = p.admits(values)
        if not ok.all():
            bad = values[~ok].flat[0]
            p.check(float(bad), f"{family.name} {family.role}: {p.name}")
        out[p.name] = values
    return out


def _broadcast(name: str, role: str, *shapes: tuple[int, ...]) -> tuple[int, ...]:
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        raise TransformError(f"{name} {role}: shapes {shapes} do not broadcast") from None


def _check_l_max(l_max: object) -> int:
    """``l_max`` as an int in ``[1, MAX_L_MAX]``, checked before any weight is computed."""
    if isinstance(l_max, bool | np.bool_) or not isinstance(l_max, numbers.Integral):
        raise TransformError(f"l_max = {l_max!r}: must be an integer >= 1")
    if int(l_max) < 1:
        raise TransformError(f"l_max = {l_max!r}: must be an integer >= 1")
    if int(l_max) > MAX_L_MAX:
        raise TransformError(f"l_max = {int(l_max)}: must be at most {MAX_L_MAX}")
    return int(l_max)


def adstock_weights(
    name: str, params: Mapping[str, ArrayLike], *, l_max: int, normalize: bool
) -> FloatArray:
    """Return the adstock kernel ``w_0..w_{l_max-1}``.

    Its shape is ``(*broadcast(param shapes), l_max)``.

    ``l_max`` (``1..MAX_L_MAX``) weights: the current period plus ``l_max - 1`` lags;
    ``normalize`` divides them by their sum. A normalized single weight is 1 for every
    family.

    Raises
    ------
    TransformError
        For a bad name, parameters or ``l_max``, or a degenerate kernel where pymc-marketing
        gives NaN: weights not finite (``weibull_pdf``'s min-max scaling with ``l_max = 1``
        unnormalized) or, when normalized, summing to zero (underflow).
    """
    size = _check_l_max(l_max)
    family, func = implementation("adstock", name)
    lags = np.arange(size, dtype=np.float64)
    values = _arrays(family, params)
    shape = _broadcast(name, "adstock", *(v.shape for v in values.values()))
    if normalize and lags.size == 1:  # as pymc-marketing, whose graph rewrites w / sum(w) to 1
        return np.ones((*shape, 1))
    columns = {k: np.broadcast_to(v, shape)[..., None] for k, v in values.items()}
    with np.errstate(all="ignore"):
        weights = np.asarray(func(lags, **columns), dtype=np.float64)
        total = weights.sum(axis=-1, keepdims=True)
        bad = ~np.isfinite(weights).all(axis=-1) | (normalize & ~(total[..., 0] > 0))
    if bad.any():
        first = tuple(np.argwhere(bad)[0])
        at = ", ".join(f"{k} = {fmt_value(float(v[..., 0][first]))}" for k, v in columns.items())
        raise TransformError(
            f"{name} adstock with l_max = {l_max} and {at}: degenerate kernel "
            f"(weights not finite{' or summing to zero' if normalize else ''})"
        )
    return weights / total if normalize else weights


def check_kernels(data: DataSpec) -> None:
    """Compute every channel's adstock kernel once, and find its saturation curve.

    The check a scenario needs before anything is drawn or fitted, beyond what the declarations can
    tell: that each kernel can be computed, and that each family has its numpy implementation
    (a family declared but not yet implemented is refused here, not in every fit).

    Parameters
    ----------
    data
        A data spec (``l_max`` is already at most ``data.periods``).

    Raises
    ------
    ScenarioError
        For a degenerate kernel or a family without numpy implementation, naming the
        channel's path: ``data.channels[0].adstock: delayed adstock with l_max = 2 and alpha
        = 0.01, theta = 14: degenerate kernel (weights not finite or summing to zero)``,
        ``data.channels[1].saturation: saturation 'exponential' is declared in
        scenarios/families.py but has no numpy curve: add a function decorated with
        @curve('exponential') to simulate/transforms.py``.
    """
    for i, channel in enumerate(data.channels):
        a = channel.adstock
        try:
            adstock_weights(a.kind, a.params, l_max=a.l_max, normalize=a.normalize)
        except TransformError as err:
            raise ScenarioError(f"data.channels[{i}].adstock: {err}") from None
        try:
            implementation("saturation", channel.saturation.kind)
        except TransformError as err:
            raise ScenarioError(f"data.channels[{i}].saturation: {err}") from None


def adstock(
    x: ArrayLike, name: str, params: Mapping[str, ArrayLike], *, l_max: int, normalize: bool
) -> FloatArray:
    r"""Carry-over: causal convolution of ``x`` with the family's kernel along the last axis.

    Parameters
    ----------
    x : array_like
        Shape ``(..., T)``, time on the last axis.
    name : str
        Declared adstock family.
    params : mapping of str to array_like
        Every parameter of the family, each a scalar or an array broadcastable to
        ``x.shape[:-1]`` (one value per series).
    l_max, normalize
        As :func:`adstock_weights`.

    Returns
    -------
    ndarray
        Same shape as ``x``.

    Notes
    -----
    .. math:: y_{\ldots,t} = \sum_{l=0}^{l_{max}-1} w_l \, x_{\ldots,t-l},
       \quad x_{\ldots,t} = 0 \text{ for } t < 0,

    pymc-marketing's ``batched_convolution`` with ``ConvMode.After``. With ``normalize`` the
    kernel sums to one, so the total of ``x`` is conserved once ``l_max - 1`` trailing zeros
    are appended.
    """
    values = np.asarray(x, dtype=np.float64)
    if values.ndim < 1:
        raise TransformError(f"x has shape {values.shape}: needs a time axis (last)")
    weights = adstock_weights(name, params, l_max=l_max, normalize=normalize)
    batch = values.shape[:-1]
    try:
        fits = np.broadcast_shapes(weights.shape[:-1], batch) == batch
    except ValueError:
        fits = False
    if not fits:
        raise TransformError(
            f"{name} adstock: parameters of shape {weights.shape[:-1]} do not broadcast to "
            f"x.shape[:-1] = {batch}"
        )
    periods = values.shape[-1]
    out = np.zeros_like(values)
    for lag in range(min(weights.shape[-1], periods)):
        out[..., lag:] += weights[..., lag : lag + 1] * values[..., : periods - lag]
    return out


def saturation(x: ArrayLike, name: str, params: Mapping[str, ArrayLike]) -> FloatArray:
    """Diminishing returns: the family's curve applied elementwise to ``x >= 0``.

    ``params`` holds every parameter of the family, scalars or arrays broadcast against
    ``x``; the result has the broadcast shape.
    """
    family, func = implementation("saturation", name)
    values = _arrays(family, params)
    xs = np.asarray(x, dtype=np.float64)
    _broadcast(name, "saturation", xs.shape, *(v.shape for v in values.values()))
    with np.errstate(all="ignore"):
        return np.asarray(func(xs, **values), np.float64)


# --------------------------------------------------------------------------- kernels and curves


@kernel("geometric")
def _geometric(lags: FloatArray, alpha: FloatArray) -> FloatArray:
    r"""Geometric decay, :math:`w_l = \alpha^l`.

    Notes
    -----
    Jin et al. (2017), "Bayesian methods for media mix modeling with carryover and shape
    effects"; pymc-marketing ``geometric_adstock``.
    """
    return np.asarray(alpha**lags, np.float64)


@kernel("delayed")
def _delayed(lags: FloatArray, alpha: FloatArray, theta: FloatArray) -> FloatArray:
    r"""Delayed (peaked) decay, :math:`w_l = \alpha^{(l - \theta)^2}`.

    Notes
    -----
    Jin et al. (2017), eq. 1; pymc-marketing ``delayed_adstock``. ``alpha = 0`` is excluded:
    with a non-integer ``theta`` the kernel would be all zeros.
    """
    return np.asarray(alpha ** ((lags - theta) ** 2), np.float64)


@kernel("weibull_pdf")
def _weibull_pdf(lags: FloatArray, lam: FloatArray, k: FloatArray) -> FloatArray:
    r"""Weibull density kernel, min-max scaled: :math:`w_l = (p_l - \min p)/(\max p - \min p)`.

    Notes
    -----
    :math:`p_l` is the Weibull(shape ``k``, scale ``lam``) density at :math:`t = l + 1`, as
    pymc-marketing ``weibull_adstock(type="PDF")``; the largest weight is 1, the smallest 0,
    so ``l_max >= 2`` is needed. Evaluated from the log density relative to its maximum (the
    same ratio, without underflow).
    """
    t = lags + 1.0
    log_p = np.log(k) - np.log(lam) + (k - 1.0) * (np.log(t) - np.log(lam)) - (t / lam) ** k
    rel = np.exp(log_p - log_p.max(axis=-1, keepdims=True))
    low = rel.min(axis=-1, keepdims=True)
    return np.asarray((rel - low) / (1.0 - low), np.float64)


@kernel("weibull_cdf")
def _weibull_cdf(lags: FloatArray, lam: FloatArray, k: FloatArray) -> FloatArray:
    r"""Weibull survival kernel, :math:`w_l = \prod_{j=1}^{l} (1 - F(j))`, :math:`w_0 = 1`.

    Notes
    -----
    :math:`F` is the Weibull CDF, so :math:`w_l = \exp(-\sum_{j \le l} (j/\lambda)^k)`;
    pymc-marketing ``weibull_adstock(type="CDF")`` (``l_max`` weights in total since 1.3.0).
    """
    return np.asarray(np.exp(-np.cumsum((lags / lam) ** k, axis=-1)), np.float64)


@kernel("binomial")
def _binomial(lags: FloatArray, alpha: FloatArray) -> FloatArray:
    r"""Binomial decay, :math:`w_l = (1 - l / (l_{max} + 1))^{1/\alpha - 1}`.

    Notes
    -----
    Google Meridian's binomial decay; pymc-marketing ``binomial_adstock``. ``alpha = 1``
    gives equal weights, ``alpha = 0`` no carry-over.
    """
    return np.asarray((1.0 - lags / (lags.size + 1.0)) ** (1.0 / alpha - 1.0), np.float64)


@curve("logistic")
def _logistic(x: FloatArray, lam: FloatArray) -> FloatArray:
    r"""Logistic saturation, :math:`f = (1 - e^{-\lambda x})/(1 + e^{-\lambda x}) < 1`.

    Notes
    -----
    pymc-marketing ``logistic_saturation`` (``LogisticSaturation`` with ``beta = 1``),
    evaluated as :math:`\tanh(\lambda x / 2)`. Rescale: :math:`f(x; \lambda) = f(cx;
    \lambda / c)`.
    """
    return np.asarray(np.tanh(0.5 * lam * x), np.float64)


@curve("hill")
def _hill(x: FloatArray, slope: FloatArray, kappa: FloatArray) -> FloatArray:
    r"""Hill saturation, :math:`f = x^s / (\kappa^s + x^s) \le 1`, 0 for ``x <= 0``.

    Notes
    -----
    Jin et al. (2017), eq. 5; pymc-marketing ``hill_function`` (``HillSaturation`` with
    ``beta = 1``), evaluated as the sigmoid of :math:`s(\log x - \log\kappa)`. Rescale:
    :math:`f(x; s, \kappa) = f(cx; s, c\kappa)`.
    """
    positive = x > 0
    z = slope * (np.log(np.where(positive, x, 1.0)) - np.log(kappa))
    e = np.exp(-np.abs(z))
    return np.asarray(np.where(positive, np.where(z >= 0, 1.0, e) / (1.0 + e), 0.0), np.float64)


@curve("michaelis_menten")
def _michaelis_menten(x: FloatArray, alpha: FloatArray, lam: FloatArray) -> FloatArray:
    r"""Michaelis-Menten saturation, :math:`f = \alpha x / (\lambda + x) \le \alpha`.

    Notes
    -----
    Michaelis & Menten (1913); pymc-marketing ``michaelis_menten``
    (``MichaelisMentenSaturation``, which has no beta). Rescale: :math:`f(x; \alpha,
    \lambda) = f(cx; \alpha, c\lambda)`.
    """
    return np.asarray(alpha * (x / (lam + x)), np.float64)


@curve("tanh")
def _tanh(x: FloatArray, b: FloatArray, c: FloatArray) -> FloatArray:
    r"""Tanh saturation, :math:`f = b \tanh(x / (b c)) \le b`.

    Notes
    -----
    PyMC Labs' HelloFresh CAC case study; pymc-marketing ``tanh_saturation``
    (``TanhSaturation``, which has no beta). Rescale by :math:`s`: :math:`f(x; b, c) =
    f(sx; b, sc)`.
    """
    return np.asarray(b * np.tanh(x / (b * c)), np.float64)


@curve("root")
def _root(x: FloatArray, alpha: FloatArray) -> FloatArray:
    r"""Root (power) saturation, :math:`f = x^\alpha` for ``x > 0``, 0 otherwise; unbounded.

    Notes
    -----
    pymc-marketing ``root_saturation`` (``RootSaturation`` with ``beta = 1``). Rescale:
    :math:`f(x; \alpha) = c^{-\alpha} f(cx; \alpha)`.
    """
    positive = x > 0
    return np.asarray(np.where(positive, np.where(positive, x, 1.0) ** alpha, 0.0), np.float64)
