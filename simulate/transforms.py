"""Registry of the media transformation families of the data-generating process.

Every adstock (carry-over) and saturation (diminishing returns) family that a scenario may
name is registered here, once, with :func:`register`. The module is pure numpy and a leaf
of the project: the scenario loader imports it to validate names and parameters
(:func:`get_family`, :func:`check_params`), the simulator calls :func:`adstock` and
:func:`saturation` to build the truth.

Parameterizations are identical to pymc-marketing 1.3.0 (``pymc_marketing.mmm.transformers``
and the classes in ``pymc_marketing.mmm``, named by :attr:`Family.pymc_marketing`):

* Adstocks have the same ``l_max`` (the number of kernel weights: the current period plus
  ``l_max - 1`` lags), the same ``normalize`` (divide the kernel by its sum; the Weibull PDF
  kernel is min-max scaled first, the Weibull CDF kernel is a cumulative product of survival
  probabilities, both as in pymc-marketing) and pymc-marketing's default ``ConvMode.After``:
  a causal convolution with zeros before the first period.
* Saturations and the overall multiplier: in the DGP a channel's contribution is
  ``beta * saturation(x, ...)`` with a separate per-channel ``beta``. Where the
  pymc-marketing class has a ``beta`` argument (``LogisticSaturation``, ``HillSaturation``,
  ``RootSaturation``) our family equals the class's ``function`` with ``beta = 1``, so the
  DGP's beta is pymc-marketing's beta. Where the class has no ``beta`` (``TanhSaturation``:
  ``b, c``; ``MichaelisMentenSaturation``: ``alpha, lam``) our family has exactly the class's
  parameters and the DGP's beta multiplies on top: set ``beta = 1`` to match pymc-marketing.

Every saturation is zero at zero and monotone non-decreasing for ``x >= 0``, and carries a
``rescale`` with ``f(x; p) == m * f(c * x; p2)`` for ``x >= 0, c > 0``: with ``c = 1 / s``
for a channel scaled as ``x / s`` (pymc-marketing's max-abs scaling) it gives the truth in
the model's internal units.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "ADSTOCKS",
    "SATURATIONS",
    "Family",
    "Param",
    "Rescale",
    "Role",
    "TransformError",
    "adstock",
    "adstock_weights",
    "check_params",
    "get_family",
    "register",
    "saturation",
]

Role = Literal["adstock", "saturation"]
FloatArray = NDArray[np.float64]
Rescale = Callable[[Mapping[str, float], float], tuple[dict[str, float], float]]
_F = TypeVar("_F", bound=Callable[..., FloatArray])


class TransformError(ValueError):
    """A bad transform name, parameter or setting; the message names the path and value."""


def _fmt(value: object) -> str:
    """Format a value for an error message: ``1.3``, ``2``, ``nan``, ``'abc'``."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        return repr(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    number = float(value)
    return str(int(number)) if number.is_integer() and abs(number) < 1e15 else repr(number)


@dataclass(frozen=True, kw_only=True)
class Param:
    """A real parameter of a family, with its admissible interval."""

    name: str
    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    doc: str = ""

    def describe(self) -> str:
        """The admissible values in words, e.g. ``in [0, 1)`` or ``> 0``."""
        has_low, has_high = math.isfinite(self.low), math.isfinite(self.high)
        if has_low and has_high:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"in {left}{_fmt(self.low)}, {_fmt(self.high)}{right}"
        if has_low:
            return f"{'>' if self.low_open else '>='} {_fmt(self.low)}"
        if has_high:
            return f"{'<' if self.high_open else '<='} {_fmt(self.high)}"
        return "a finite number"

    def admits(self, values: FloatArray) -> NDArray[np.bool_]:
        """Elementwise: finite and inside the interval."""
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(values)
            ok &= values > self.low if self.low_open else values >= self.low
            ok &= values < self.high if self.high_open else values <= self.high
        return ok

    def check(self, value: object, path: str) -> float:
        """Return ``float(value)`` for an admissible value, named ``path`` in errors.

        Raises
        ------
        TransformError
            For a non-number (strings and booleans included), NaN, infinity or a value
            outside the interval: ``data.channels[1].adstock.alpha = 1.3: must be in [0, 1)``.
        """
        if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
            raise TransformError(f"{path} = {_fmt(value)}: must be a finite number")
        number = float(value)
        if not math.isfinite(number):
            raise TransformError(f"{path} = {_fmt(value)}: must be a finite number")
        if not self.admits(np.asarray(number)):
            raise TransformError(f"{path} = {_fmt(value)}: must be {self.describe()}")
        return number


@dataclass(frozen=True, kw_only=True)
class Family:
    """A registered family.

    ``func`` is, for an adstock, the kernel ``func(lags, **params) -> weights`` (lags
    ``0..l_max-1`` of shape ``(l_max,)``, parameters of shape ``(..., 1)``, unnormalized
    weights ``(..., l_max)``); for a saturation, the curve ``func(x, **params)``.
    """

    role: Role
    name: str
    func: Callable[..., FloatArray]
    params: tuple[Param, ...]
    pymc_marketing: str | None
    rescale: Rescale | None = None
    bounded: bool = True

    @property
    def param_names(self) -> tuple[str, ...]:
        """Names of the parameters, in declaration order."""
        return tuple(p.name for p in self.params)


ADSTOCKS: dict[str, Family] = {}
SATURATIONS: dict[str, Family] = {}


def _registry(role: str) -> dict[str, Family]:
    if role == "adstock":
        return ADSTOCKS
    if role == "saturation":
        return SATURATIONS
    raise ValueError(f"role = {role!r}: must be 'adstock' or 'saturation'")


def register(
    role: Role,
    name: str,
    params: Sequence[Param],
    *,
    pymc_marketing: str | None = None,
    rescale: Rescale | None = None,
    bounded: bool = True,
) -> Callable[[_F], _F]:
    """Decorator registering a kernel or curve: the one place a new family is added.

    Parameters
    ----------
    role, name : str
        ``"adstock"`` or ``"saturation"``; the name used in scenario files.
    params : sequence of Param
        The family's parameters with their admissible intervals.
    pymc_marketing : str, optional
        Name of the equivalent class in ``pymc_marketing.mmm``.
    rescale : callable, optional
        Saturations only: ``rescale(params, c) -> (params2, m)`` with
        ``f(x; params) == m * f(c * x; params2)`` for all ``x >= 0, c > 0``.
    bounded : bool, default True
        Saturations only: whether the curve is bounded above.
    """
    registry = _registry(role)

    def decorator(func: _F) -> _F:
        if name in registry:
            raise ValueError(f"{role} {name!r} is already registered")
        if role == "adstock" and rescale is not None:
            raise ValueError("rescale applies to saturations only")
        registry[name] = Family(
            role=role,
            name=name,
            func=func,
            params=tuple(params),
            pymc_marketing=pymc_marketing,
            rescale=rescale,
            bounded=bounded,
        )
        return func

    return decorator


def get_family(role: str, name: object, path: str) -> Family:
    """The family ``name`` (the ``kind`` read from the transform table at ``path``).

    Raises
    ------
    TransformError
        For an unknown name, e.g. ``data.channels[0].adstock.kind = 'geometrik': unknown
        adstock; known: binomial, delayed, geometric, weibull_cdf, weibull_pdf``.
    """
    registry = _registry(role)
    if isinstance(name, str) and name in registry:
        return registry[name]
    where = path if path.endswith(".kind") else f"{path}.kind"
    known = ", ".join(sorted(registry))
    raise TransformError(f"{where} = {name!r}: unknown {role}; known: {known}")


def _check_keys(
    family: Family, keys: Sequence[object], values: Sequence[object], path: str
) -> None:
    names = family.param_names
    for key, value in zip(keys, values, strict=True):
        if key not in names:
            raise TransformError(
                f"{path}.{key} = {_fmt(value)}: unknown parameter of {family.name} "
                f"{family.role}; expected one of: {', '.join(names)}"
            )
    for name in names:
        if name not in keys:
            raise TransformError(f"{path}.{name}: missing parameter of {family.name} {family.role}")


def check_params(role: str, name: str, params: Mapping[str, object], path: str) -> dict[str, float]:
    """Every parameter of the family as a float, in declaration order.

    ``path`` is the transform table, e.g. ``data.channels[1].adstock``.

    Raises
    ------
    TransformError
        On an unknown family, an unknown or missing parameter (``{path}.alpha: missing
        parameter of geometric adstock``) or an inadmissible value (:meth:`Param.check`).
    """
    family = get_family(role, name, path)
    if not isinstance(params, Mapping):
        raise TransformError(f"{path} = {params!r}: parameters must be a table")
    _check_keys(family, list(params), list(params.values()), path)
    return {p.name: p.check(params[p.name], f"{path}.{p.name}") for p in family.params}


def _arrays(family: Family, params: Mapping[str, ArrayLike]) -> dict[str, FloatArray]:
    """Parameters as float arrays, keys and (elementwise) values validated."""
    _check_keys(family, list(params), list(params.values()), family.role)
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
    if isinstance(l_max, bool | np.bool_) or not isinstance(l_max, numbers.Integral):
        raise TransformError(f"l_max = {l_max!r}: must be an integer >= 1")
    if int(l_max) < 1:
        raise TransformError(f"l_max = {l_max!r}: must be an integer >= 1")
    return int(l_max)


def adstock_weights(
    name: str, params: Mapping[str, ArrayLike], *, l_max: int, normalize: bool
) -> FloatArray:
    """The adstock kernel ``w_0..w_{l_max-1}``, shape ``(*broadcast(param shapes), l_max)``.

    ``l_max`` (``>= 1``) weights: the current period plus ``l_max - 1`` lags; ``normalize``
    divides them by their sum. A normalized single weight is 1 for every family.

    Raises
    ------
    TransformError
        For a bad name, parameters or ``l_max``, or a degenerate kernel where pymc-marketing
        gives NaN: weights not finite (``weibull_pdf``'s min-max scaling with ``l_max = 1``
        unnormalized) or, when normalized, summing to zero (underflow).
    """
    family = get_family("adstock", name, "adstock")
    lags = np.arange(_check_l_max(l_max), dtype=np.float64)
    values = _arrays(family, params)
    shape = _broadcast(name, "adstock", *(v.shape for v in values.values()))
    if normalize and lags.size == 1:  # as pymc-marketing, whose graph rewrites w / sum(w) to 1
        return np.ones((*shape, 1))
    columns = {k: np.broadcast_to(v, shape)[..., None] for k, v in values.items()}
    with np.errstate(all="ignore"):
        weights = np.asarray(family.func(lags, **columns), dtype=np.float64)
        total = weights.sum(axis=-1, keepdims=True)
        bad = ~np.isfinite(weights).all(axis=-1) | (normalize & ~(total[..., 0] > 0))
    if bad.any():
        first = tuple(np.argwhere(bad)[0])
        at = ", ".join(f"{k} = {_fmt(float(v[..., 0][first]))}" for k, v in columns.items())
        raise TransformError(
            f"{name} adstock with l_max = {l_max} and {at}: degenerate kernel "
            f"(weights not finite{' or summing to zero' if normalize else ''})"
        )
    return weights / total if normalize else weights


def adstock(
    x: ArrayLike, name: str, params: Mapping[str, ArrayLike], *, l_max: int, normalize: bool
) -> FloatArray:
    r"""Carry-over: causal convolution of ``x`` with the family's kernel along the last axis.

    Parameters
    ----------
    x : array_like
        Shape ``(..., T)``, time on the last axis.
    name : str
        Registered adstock family.
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
    family = get_family("saturation", name, "saturation")
    values = _arrays(family, params)
    xs = np.asarray(x, dtype=np.float64)
    _broadcast(name, "saturation", xs.shape, *(v.shape for v in values.values()))
    with np.errstate(all="ignore"):
        return np.asarray(family.func(xs, **values), np.float64)


# --------------------------------------------------------------------------- families


def _positive(name: str, doc: str) -> Param:
    return Param(name=name, low=0.0, low_open=True, doc=doc)


_RETENTION = "retention rate of the ad effect"
_WEIBULL = [_positive("lam", "Weibull scale"), _positive("k", "Weibull shape")]


@register(
    "adstock",
    "geometric",
    [Param(name="alpha", low=0.0, high=1.0, high_open=True, doc=_RETENTION)],
    pymc_marketing="GeometricAdstock",
)
def _geometric(lags: FloatArray, alpha: FloatArray) -> FloatArray:
    r"""Geometric decay, :math:`w_l = \alpha^l`.

    Notes
    -----
    Jin et al. (2017), "Bayesian methods for media mix modeling with carryover and shape
    effects"; pymc-marketing ``geometric_adstock``.
    """
    return np.asarray(alpha**lags, np.float64)


@register(
    "adstock",
    "delayed",
    [
        Param(name="alpha", low=0.0, high=1.0, low_open=True, high_open=True, doc=_RETENTION),
        Param(name="theta", low=0.0, doc="lag of the peak"),
    ],
    pymc_marketing="DelayedAdstock",
)
def _delayed(lags: FloatArray, alpha: FloatArray, theta: FloatArray) -> FloatArray:
    r"""Delayed (peaked) decay, :math:`w_l = \alpha^{(l - \theta)^2}`.

    Notes
    -----
    Jin et al. (2017), eq. 1; pymc-marketing ``delayed_adstock``. ``alpha = 0`` is excluded:
    with a non-integer ``theta`` the kernel would be all zeros.
    """
    return np.asarray(alpha ** ((lags - theta) ** 2), np.float64)


@register("adstock", "weibull_pdf", _WEIBULL, pymc_marketing="WeibullPDFAdstock")
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


@register("adstock", "weibull_cdf", _WEIBULL, pymc_marketing="WeibullCDFAdstock")
def _weibull_cdf(lags: FloatArray, lam: FloatArray, k: FloatArray) -> FloatArray:
    r"""Weibull survival kernel, :math:`w_l = \prod_{j=1}^{l} (1 - F(j))`, :math:`w_0 = 1`.

    Notes
    -----
    :math:`F` is the Weibull CDF, so :math:`w_l = \exp(-\sum_{j \le l} (j/\lambda)^k)`;
    pymc-marketing ``weibull_adstock(type="CDF")`` (``l_max`` weights in total since 1.3.0).
    """
    return np.asarray(np.exp(-np.cumsum((lags / lam) ** k, axis=-1)), np.float64)


@register(
    "adstock",
    "binomial",
    [Param(name="alpha", low=0.0, high=1.0, doc=_RETENTION)],
    pymc_marketing="BinomialAdstock",
)
def _binomial(lags: FloatArray, alpha: FloatArray) -> FloatArray:
    r"""Binomial decay, :math:`w_l = (1 - l / (l_{max} + 1))^{1/\alpha - 1}`.

    Notes
    -----
    Google Meridian's binomial decay; pymc-marketing ``binomial_adstock``. ``alpha = 1``
    gives equal weights, ``alpha = 0`` no carry-over.
    """
    return np.asarray((1.0 - lags / (lags.size + 1.0)) ** (1.0 / alpha - 1.0), np.float64)


@register(
    "saturation",
    "logistic",
    [_positive("lam", "efficiency")],
    pymc_marketing="LogisticSaturation",
    rescale=lambda p, c: ({"lam": p["lam"] / c}, 1.0),
)
def _logistic(x: FloatArray, lam: FloatArray) -> FloatArray:
    r"""Logistic saturation, :math:`f = (1 - e^{-\lambda x})/(1 + e^{-\lambda x}) < 1`.

    Notes
    -----
    pymc-marketing ``logistic_saturation`` (``LogisticSaturation`` with ``beta = 1``),
    evaluated as :math:`\tanh(\lambda x / 2)`. Rescale: :math:`f(x; \lambda) = f(cx;
    \lambda / c)`.
    """
    return np.asarray(np.tanh(0.5 * lam * x), np.float64)


@register(
    "saturation",
    "hill",
    [
        _positive("slope", "steepness; S-shaped above 1"),
        _positive("kappa", "half-saturation point"),
    ],
    pymc_marketing="HillSaturation",
    rescale=lambda p, c: ({"slope": p["slope"], "kappa": p["kappa"] * c}, 1.0),
)
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


@register(
    "saturation",
    "michaelis_menten",
    [_positive("alpha", "maximum (the bound)"), _positive("lam", "half-saturation point")],
    pymc_marketing="MichaelisMentenSaturation",
    rescale=lambda p, c: ({"alpha": p["alpha"], "lam": p["lam"] * c}, 1.0),
)
def _michaelis_menten(x: FloatArray, alpha: FloatArray, lam: FloatArray) -> FloatArray:
    r"""Michaelis-Menten saturation, :math:`f = \alpha x / (\lambda + x) \le \alpha`.

    Notes
    -----
    Michaelis & Menten (1913); pymc-marketing ``michaelis_menten``
    (``MichaelisMentenSaturation``, which has no beta). Rescale: :math:`f(x; \alpha,
    \lambda) = f(cx; \alpha, c\lambda)`.
    """
    return np.asarray(alpha * (x / (lam + x)), np.float64)


@register(
    "saturation",
    "tanh",
    [
        _positive("b", "saturation level (the bound)"),
        _positive("c", "initial cost per unit (slope at 0 is 1 / c)"),
    ],
    pymc_marketing="TanhSaturation",
    rescale=lambda p, c: ({"b": p["b"], "c": p["c"] * c}, 1.0),
)
def _tanh(x: FloatArray, b: FloatArray, c: FloatArray) -> FloatArray:
    r"""Tanh saturation, :math:`f = b \tanh(x / (b c)) \le b`.

    Notes
    -----
    PyMC Labs' HelloFresh CAC case study; pymc-marketing ``tanh_saturation``
    (``TanhSaturation``, which has no beta). Rescale by :math:`s`: :math:`f(x; b, c) =
    f(sx; b, sc)`.
    """
    return np.asarray(b * np.tanh(x / (b * c)), np.float64)


@register(
    "saturation",
    "root",
    [_positive("alpha", "exponent; concave below 1")],
    pymc_marketing="RootSaturation",
    bounded=False,
    rescale=lambda p, c: ({"alpha": p["alpha"]}, c ** -p["alpha"]),
)
def _root(x: FloatArray, alpha: FloatArray) -> FloatArray:
    r"""Root (power) saturation, :math:`f = x^\alpha` for ``x > 0``, 0 otherwise; unbounded.

    Notes
    -----
    pymc-marketing ``root_saturation`` (``RootSaturation`` with ``beta = 1``). Rescale:
    :math:`f(x; \alpha) = c^{-\alpha} f(cx; \alpha)`.
    """
    positive = x > 0
    return np.asarray(np.where(positive, np.where(positive, x, 1.0) ** alpha, 0.0), np.float64)
