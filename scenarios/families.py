"""Declarations of the media transformation families: names, parameters and their rules.

Every adstock (carry-over) and saturation (diminishing returns) family that a scenario may
name is declared here, once, with :func:`declare`: its role, name, parameters with their
admissible intervals and typical ranges (:attr:`Param.typical`, what tests and examples draw
from), a one-line formula, the equivalent pymc-marketing class (if any) and, for a
saturation, its ``rescale`` rule and whether it is bounded. These are statements about a
parameterization, not computations of the data-generating process, so this module is a
leaf: pure Python and numpy, importing nothing of the project. Loading a scenario
validates names and parameters against it without loading the simulator.

Each declared family has two implementations, registered against its name:

* the numpy kernel or curve of the truth, in ``simulate/transforms.py``
  (``@kernel(name)`` / ``@curve(name)``);
* the PyTensor twin of the fitted models, in ``recover/models/transforms.py``.

The two never share code; each one's lookup names the file and the function to add when a
declared family has no implementation there. :data:`FAMILIES` lists every declaration, the
one list that drives the tests of both. ``docs/tutorials/05-new-transformation.md`` walks
through adding a family.

Parameterizations are identical to pymc-marketing 1.3.0 (``pymc_marketing.mmm``; the class
named by :attr:`Family.pymc_marketing`):

* Adstocks have the same ``l_max`` (the number of kernel weights: the current period plus
  ``l_max - 1`` lags), the same ``normalize`` (divide the kernel by its sum) and
  pymc-marketing's default ``ConvMode.After``: a causal convolution with zeros before the
  first period.
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
import re
import reprlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "ADSTOCKS",
    "FAMILIES",
    "MAX_L_MAX",
    "MAX_MAGNITUDE",
    "SATURATIONS",
    "Family",
    "Param",
    "Rescale",
    "Role",
    "TransformError",
    "check_keys",
    "check_params",
    "declare",
    "fmt_value",
    "get_family",
    "integer_problem",
    "registry",
    "subpath",
]

Role = Literal["adstock", "saturation"]
Rescale = Callable[[Mapping[str, Any], Any], tuple[dict[str, Any], Any]]
"""``rescale(params, c) -> (params2, m)``; works elementwise on floats or numpy arrays."""

MAX_MAGNITUDE = 1e12
"""The largest absolute value of an amount in ``[data]`` (intercept, demand scale, trend
levels, effects, ``beta``, ``total_budget``, ...): the simulation multiplies a few of them,
and stays far from float64's overflow (1.8e308)."""
MAX_L_MAX = 100_000
"""The largest adstock ``l_max`` anywhere (a scenario's is also at most ``data.periods``):
the kernel is computed in full, so a bound keeps a typo from allocating gigabytes."""


class TransformError(ValueError):
    """A bad transform name, parameter or setting; the message names the path and value."""


_BARE = re.compile(r"[A-Za-z0-9_-]+")


def subpath(path: str, key: object) -> str:
    """Return the dotted path of ``key`` under ``path``.

    A key that is not a bare TOML key (letters, digits, ``_``, ``-``) is quoted, so a path is always
    one printable line.
    """
    name = key if isinstance(key, str) and _BARE.fullmatch(key) else _REPR.repr(key)
    return f"{path}.{name}" if path else str(name)


_REPR = reprlib.Repr(maxlevel=3, maxstring=80, maxother=80, maxlist=8, maxdict=8, maxtuple=8)


def fmt_value(value: object) -> str:
    """Format a value for an error message: ``1.3``, ``2``, ``nan``, ``'abc'``.

    Parameters
    ----------
    value
        Any value; real numbers print without a needless ``.0``; long strings and deep or
        long containers are abbreviated (``reprlib``), so the message stays one short line.

    Returns
    -------
    str
        The short form.
    """
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        return _REPR.repr(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    number = float(value)
    return str(int(number)) if number.is_integer() and abs(number) < 1e15 else repr(number)


@dataclass(frozen=True, kw_only=True)
class Param:
    """A real parameter of a family, with its admissible interval.

    Attributes
    ----------
    name : str
        The name scenario files use.
    low, high : float
        The ends of the admissible interval (infinite: unbounded on that side).
    low_open, high_open : bool
        Whether an end is excluded.
    doc : str
        What the parameter means, in a few words.
    typical : tuple of float or None
        ``(lo, hi)``, the range of values worth exploring: the range the tests (property
        tests of both implementations, the scenario fuzzer) and examples draw this
        parameter from. Finite, ``lo < hi``, both ends admissible. Every parameter of a
        declared family has one (:func:`declare`); other uses of :class:`Param` (scenario
        fields) leave it ``None``.

    Raises
    ------
    ValueError
        On construction, for a ``typical`` range that is not two finite admissible
        numbers with ``lo < hi``.
    """

    name: str
    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    doc: str = ""
    typical: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.typical is None:
            return
        where = f"Param {self.name!r}: typical = {_REPR.repr(self.typical)}"
        if not (isinstance(self.typical, tuple) and len(self.typical) == 2):
            raise ValueError(f"{where}: must be a tuple (lo, hi)")
        lo, hi = self.typical
        for end in (lo, hi):
            reason = self.problem(end)
            if reason is not None:
                raise ValueError(f"{where}: {fmt_value(end)} {reason}")
        if not float(lo) < float(hi):
            raise ValueError(f"{where}: lo must be below hi")

    def describe(self) -> str:
        """Return the admissible values in words, e.g. ``in [0, 1)`` or ``> 0``."""
        has_low, has_high = math.isfinite(self.low), math.isfinite(self.high)
        if has_low and has_high:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"in {left}{fmt_value(self.low)}, {fmt_value(self.high)}{right}"
        if has_low:
            return f"{'>' if self.low_open else '>='} {fmt_value(self.low)}"
        if has_high:
            return f"{'<' if self.high_open else '<='} {fmt_value(self.high)}"
        return "a finite number"

    def admits(self, values: NDArray[np.float64]) -> NDArray[np.bool_]:
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
        reason = self.problem(value)
        if reason is not None:
            raise TransformError(f"{path} = {fmt_value(value)}: {reason}")
        return float(value)  # type: ignore[arg-type]

    def problem(self, value: object) -> str | None:
        """Return what is wrong with ``value`` (``must be in [0, 1)``), or ``None``.

        ``None`` means the value is admissible.
        """
        if type(value) is not float and (  # the common case first: no ABC check
            isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real)
        ):
            return "must be a finite number"
        try:
            number = float(value)
        except OverflowError:  # an int beyond float64
            return f"must be {self.describe()}"
        if not math.isfinite(number):
            return "must be a finite number"
        above = number > self.low if self.low_open else number >= self.low
        below = number < self.high if self.high_open else number <= self.high
        return None if above and below else f"must be {self.describe()}"


@dataclass(frozen=True, kw_only=True)
class Family:
    """A declared family (the implementations live in ``simulate`` and ``recover``).

    Attributes
    ----------
    role : {"adstock", "saturation"}
        What the family transforms.
    name : str
        The name scenario files use.
    params : tuple of Param
        The parameters with their admissible intervals, in declaration order.
    doc : str
        The formula in one line.
    pymc_marketing : str or None
        The equivalent class in ``pymc_marketing.mmm``; ``None`` for a family pymc-marketing
        does not have (it is simulated and fitted by the workbench's model, and the tests
        that compare with pymc-marketing skip it).
    rescale : callable or None
        Saturations only: ``rescale(params, c) -> (params2, m)`` with ``f(x; params) ==
        m * f(c * x; params2)`` for all ``x >= 0, c > 0``.
    ceiling : callable or None
        Saturations only: ``ceiling(params)``, the curve's supremum over ``x >= 0``; None
        for an unbounded curve.
    min_l_max_unnormalized : int
        Adstocks only: the fewest weights an unnormalized kernel is defined for (a
        normalized single weight is 1 for every family).
    """

    role: Role
    name: str
    params: tuple[Param, ...]
    doc: str
    pymc_marketing: str | None = None
    rescale: Rescale | None = None
    ceiling: Callable[[Mapping[str, float]], float] | None = None
    min_l_max_unnormalized: int = 1

    @property
    def param_names(self) -> tuple[str, ...]:
        """Names of the parameters, in declaration order."""
        return tuple(p.name for p in self.params)

    @property
    def bounded(self) -> bool:
        """Saturations: whether the curve is bounded above (it has a ceiling)."""
        return self.ceiling is not None


ADSTOCKS: dict[str, Family] = {}
SATURATIONS: dict[str, Family] = {}


def integer_problem(value: object) -> str:
    """Say why ``value`` is not an integer.

    ``must be an integer`` and, for a number TOML reads as a decimal one (``1e9``,
    ``4.0``), that it did: :func:`fmt_value` prints a whole real number without its ``.0``.
    """
    if isinstance(value, float):
        return f"must be an integer, not the decimal number {value!r}"
    return "must be an integer"


def registry(role: str) -> dict[str, Family]:
    """Return the declarations of one role.

    Raises
    ------
    ValueError
        For a role other than ``"adstock"`` or ``"saturation"``.
    """
    if role == "adstock":
        return ADSTOCKS
    if role == "saturation":
        return SATURATIONS
    raise ValueError(f"role = {role!r}: must be 'adstock' or 'saturation'")


def declare(family: Family) -> Family:
    """Declare a family: the one place a new family is added.

    Raises
    ------
    ValueError
        For a duplicate name, a bad role, a parameter without its ``typical`` range, or a
        rule that does not apply to the role.
    """
    families = registry(family.role)
    if family.name in families:
        raise ValueError(f"{family.role} {family.name!r} is already declared")
    for param in family.params:
        if param.typical is None:
            raise ValueError(
                f"{family.role} {family.name!r}: parameter {param.name!r} needs "
                "typical=(lo, hi), the range tests and examples draw it from"
            )
    if family.role == "adstock" and (family.rescale is not None or family.ceiling is not None):
        raise ValueError("rescale and ceiling apply to saturations only")
    if family.role == "saturation" and family.rescale is None:
        raise ValueError(f"saturation {family.name!r}: declare its rescale rule")
    families[family.name] = family
    return family


def get_family(role: str, name: object, path: str) -> Family:
    """Return the family ``name`` (the ``kind`` read from the transform table at ``path``).

    Raises
    ------
    TransformError
        For an unknown name, e.g. ``data.channels[0].adstock.kind = 'geometrik': unknown
        adstock; known: binomial, delayed, geometric, weibull_cdf, weibull_pdf``.
    """
    families = registry(role)
    if isinstance(name, str) and name in families:
        return families[name]
    where = path if path.endswith(".kind") else f"{path}.kind"
    known = ", ".join(sorted(families))
    raise TransformError(f"{where} = {fmt_value(name)}: unknown {role}; known: {known}")


def check_keys(family: Family, keys: Sequence[object], values: Sequence[object], path: str) -> None:
    """Every key a parameter of ``family``, every parameter given.

    Raises
    ------
    TransformError
        ``{path}.alpah = 0.5: unknown parameter of geometric adstock; expected one of:
        alpha`` or ``{path}.alpha: missing parameter of geometric adstock``.
    """
    names = family.param_names
    for key, value in zip(keys, values, strict=True):
        if key not in names:
            raise TransformError(
                f"{subpath(path, key)} = {fmt_value(value)}: unknown parameter of {family.name} "
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
    check_keys(family, list(params), list(params.values()), path)
    return {p.name: p.check(params[p.name], f"{path}.{p.name}") for p in family.params}


# --------------------------------------------------------------------------- declarations


def _positive(name: str, doc: str, typical: tuple[float, float]) -> Param:
    return Param(name=name, low=0.0, low_open=True, doc=doc, typical=typical)


_RETENTION = "retention rate of the ad effect"
_WEIBULL = (
    _positive("lam", "Weibull scale", (0.3, 10.0)),
    _positive("k", "Weibull shape", (0.3, 6.0)),
)

declare(
    Family(
        role="adstock",
        name="geometric",
        params=(
            Param(
                name="alpha", low=0.0, high=1.0, high_open=True, doc=_RETENTION, typical=(0.0, 0.99)
            ),
        ),
        doc="geometric decay, w_l = alpha^l (Jin et al. 2017)",
        pymc_marketing="GeometricAdstock",
    )
)
declare(
    Family(
        role="adstock",
        name="delayed",
        params=(
            Param(
                name="alpha",
                low=0.0,
                high=1.0,
                low_open=True,
                high_open=True,
                doc=_RETENTION,
                typical=(0.01, 0.99),
            ),
            Param(name="theta", low=0.0, doc="lag of the peak", typical=(0.0, 10.0)),
        ),
        doc="delayed (peaked) decay, w_l = alpha^((l - theta)^2) (Jin et al. 2017, eq. 1)",
        pymc_marketing="DelayedAdstock",
    )
)
declare(
    Family(
        role="adstock",
        name="weibull_pdf",
        params=_WEIBULL,
        doc="Weibull density at l + 1, min-max scaled (largest weight 1, smallest 0)",
        pymc_marketing="WeibullPDFAdstock",
        min_l_max_unnormalized=2,
    )
)
declare(
    Family(
        role="adstock",
        name="weibull_cdf",
        params=_WEIBULL,
        doc="Weibull survival, w_l = prod_{j=1..l} (1 - F(j)), w_0 = 1",
        pymc_marketing="WeibullCDFAdstock",
    )
)
declare(
    Family(
        role="adstock",
        name="binomial",
        params=(Param(name="alpha", low=0.0, high=1.0, doc=_RETENTION, typical=(0.0, 1.0)),),
        doc="binomial decay, w_l = (1 - l / (l_max + 1))^(1/alpha - 1) (Google Meridian)",
        pymc_marketing="BinomialAdstock",
    )
)
declare(
    Family(
        role="saturation",
        name="logistic",
        params=(_positive("lam", "efficiency", (0.05, 20.0)),),
        doc="logistic, f = (1 - exp(-lam x)) / (1 + exp(-lam x)) < 1",
        pymc_marketing="LogisticSaturation",
        rescale=lambda p, c: ({"lam": p["lam"] / c}, 1.0),
        ceiling=lambda p: 1.0,
    )
)
declare(
    Family(
        role="saturation",
        name="hill",
        params=(
            _positive("slope", "steepness; S-shaped above 1", (0.2, 6.0)),
            _positive("kappa", "half-saturation point", (0.05, 5.0)),
        ),
        doc="Hill, f = x^slope / (kappa^slope + x^slope) <= 1 (Jin et al. 2017, eq. 5)",
        pymc_marketing="HillSaturation",
        rescale=lambda p, c: ({"slope": p["slope"], "kappa": p["kappa"] * c}, 1.0),
        ceiling=lambda p: 1.0,
    )
)
declare(
    Family(
        role="saturation",
        name="michaelis_menten",
        params=(
            _positive("alpha", "maximum (the bound)", (0.1, 10.0)),
            _positive("lam", "half-saturation point", (0.05, 5.0)),
        ),
        doc="Michaelis-Menten, f = alpha x / (lam + x) <= alpha",
        pymc_marketing="MichaelisMentenSaturation",
        rescale=lambda p, c: ({"alpha": p["alpha"], "lam": p["lam"] * c}, 1.0),
        ceiling=lambda p: p["alpha"],
    )
)
declare(
    Family(
        role="saturation",
        name="tanh",
        params=(
            _positive("b", "saturation level (the bound)", (0.1, 10.0)),
            _positive("c", "initial cost per unit (slope at 0 is 1 / c)", (0.05, 5.0)),
        ),
        doc="tanh, f = b tanh(x / (b c)) <= b (PyMC Labs' HelloFresh CAC case study)",
        pymc_marketing="TanhSaturation",
        rescale=lambda p, c: ({"b": p["b"], "c": p["c"] * c}, 1.0),
        ceiling=lambda p: p["b"],
    )
)
declare(
    Family(
        role="saturation",
        name="root",
        params=(_positive("alpha", "exponent; concave below 1", (0.05, 3.0)),),
        doc="root (power), f = x^alpha for x > 0, 0 otherwise; unbounded",
        pymc_marketing="RootSaturation",
        rescale=lambda p, c: ({"alpha": p["alpha"]}, c ** -p["alpha"]),
    )
)

FAMILIES: tuple[Family, ...] = (*ADSTOCKS.values(), *SATURATIONS.values())
"""Every declared family, adstocks first: the one list the tests of both implementations
are parametrized over."""
