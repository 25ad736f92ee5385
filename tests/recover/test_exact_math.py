"""Issue 10, defect 10: PyTensor's numba code is compiled without fast-math.

With fast-math (PyTensor's default), a process that compiled a cell's kernels itself (a
cold compile cache) computed the model's log density and gradient a few ulp apart from a
process that loaded them from the cache, and nutpie's draws diverged from there. The
workbench turns fast-math off when :mod:`mmm_workbench.recover.inference` is imported;
these tests look at the LLVM code numba actually generates for a PyTensor graph. The
cold/warm comparison itself, bit for bit, is in ``test_slow_reproducibility.py``.
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt

from mmm_workbench.recover import inference

FAST_MATH = ("reassoc", "contract", "afn", "arcp", "nsz", " fast ")
"""LLVM's fast-math flags, as they appear on instructions of the generated code."""


def _llvm_of_a_log_density() -> str:
    """Compile a small log-density-like graph with the numba backend; return its LLVM IR.

    Compiled outside the cache (``numba__cache=False``): numba cannot show the code of a
    function loaded from its cache, and the point is what this process generates.
    """
    x = pt.dvector("x")
    y = -0.5 * pt.sum((x - 1.5) ** 2) + pt.sum(pt.log1p(pt.exp(x)))
    with pytensor.config.change_flags(numba__cache=False):
        fn = pytensor.function([x], [y, pt.grad(y, x)], mode="NUMBA")
        value, _ = fn(np.linspace(-1.0, 1.0, 7))
    assert np.isfinite(value)
    return "\n".join(fn.vm.jit_fn.inspect_llvm().values())


def test_importing_the_backends_turns_fast_math_off() -> None:
    """The module's import set the flag (and calling it again keeps it off)."""
    assert pytensor.config.numba__fastmath is False
    inference.exact_numba_math()
    assert pytensor.config.numba__fastmath is False


def test_generated_code_carries_no_fast_math_flags() -> None:
    """No instruction of the generated code may be reassociated, contracted or approximated;
    with PyTensor's default (fast-math on) the same graph's code is full of such flags, so
    the check can fail."""
    ours = _llvm_of_a_log_density()
    assert "fadd" in ours and "fmul" in ours  # the arithmetic is there to be checked
    assert [flag for flag in FAST_MATH if flag in ours] == []
    with pytensor.config.change_flags(numba__fastmath=True):
        default = _llvm_of_a_log_density()
    assert "reassoc" in default and "contract" in default
