"""Developer sessions: ``nox -s lint typecheck tests slow smoke bench power mutate``."""

from __future__ import annotations

import shutil

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True
PYTHON = "3.12"


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the four packages."""
    session.install("-e", ".[dev]")
    session.run("mypy")


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The default (fast) test suite, as CI runs it: two pytest-xdist workers, each test
    file on one worker (its module and session fixtures built once)."""
    session.install("-e", ".[test]")
    session.run("pytest", "-n", "2", "--dist", "loadfile", *session.posargs)


@nox.session(python=PYTHON)
def slow(session: nox.Session) -> None:
    """Long tests: real MCMC and recovery runs (``@pytest.mark.slow``), and the HTML report
    in headless Chromium (Debian's package, installed here when missing)."""
    if shutil.which("chromium") is None:
        session.run("apt-get", "update", "-q", external=True)
        session.run("apt-get", "install", "-y", "-q", "chromium", external=True)
    session.install("-e", ".[test]")
    session.run("pytest", "-m", "slow", *session.posargs)


@nox.session(python=PYTHON)
def smoke(session: nox.Session) -> None:
    """The README's main job end to end in a temporary directory."""
    session.install("-e", ".")
    out = session.create_tmp()
    session.run("mmm-workbench", "simulate", "confounded-demand", "--out", f"{out}/data")
    session.run("mmm-workbench", "run", "quickstart", "--out", f"{out}/quickstart", "--report")


@nox.session(python=PYTHON)
def mutate(session: nox.Session) -> None:
    """Mutation testing (cosmic-ray): a fixed-seed sample of mutants per module, each run
    against that module's own tests, in a temporary copy of the last commit. Modules and
    their tests are listed in bench/mutate.py (``-- --modules simulate/truth.py --sample
    40 --jobs 2``); the scores are recorded in docs/mutation.md."""
    session.install("-e", ".[test]", "cosmic-ray")
    session.run("python", "bench/mutate.py", *session.posargs)


@nox.session(python=PYTHON)
def power(session: nox.Session) -> None:
    """Power study of the default rule set on real fits: the false-alarm rate of the correct
    model and how often each broken variant (ADVI, MAP, planted model bugs) is caught
    (``bench/power.py``; ``-- --replicates 40 --group 10``)."""
    session.install("-e", ".")
    session.run("python", "bench/power.py", *session.posargs)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks; each prints ratios against a baseline measured in the same run and
    writes JSON to bench/results/."""
    session.install("-e", ".[pymc-marketing]")  # the fit benchmark's baseline
    session.run("python", "bench/bench_generate.py")
    session.run("python", "bench/bench_records.py")
    session.run("python", "bench/bench_simulate_scale.py")
    session.run("python", "bench/bench_scale.py")
    session.run("python", "bench/bench_fit.py", *session.posargs)
    session.run("python", "bench/bench_gradient.py")
    session.run("python", "bench/bench_families.py")
    # JAX and blackjax are not dependencies: bench_batched.py says so and skips unless the
    # session's environment has them (`nox -s bench` then measures them too)
    session.run("python", "bench/bench_batched.py")
