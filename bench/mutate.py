"""Mutation testing: do the tests fail when the code is wrong?

For each module, cosmic-ray lists every mutation its operators can make (a ``<`` turned
into ``<=``, a ``+`` into ``-``, a constant changed, ...); a fixed-seed sample of them
(40 per module by default) is applied one at a time, and the module's own test files are
run against each mutant (``pytest -x``). A mutant is *killed* when a test fails, *survives*
otherwise. Survivors that are equivalent mutants (the program's behaviour cannot change:
listed in :data:`EQUIVALENT` with the reason) are excluded from the score.

Everything runs in a temporary copy of the last commit (``git archive HEAD``, or of
``--commit REV``; the result file records the commit): the mutated file is never one that
people are editing, and uncommitted work elsewhere cannot make a test fail. The unmutated
tests must pass there first. ``nox -s mutate`` runs this script; ``docs/mutation.md``
records the scores.

Usage: ``python bench/mutate.py [--modules simulate/truth.py,...] [--sample 40] [--seed 17]
[--jobs 1] [--commit HEAD]``; writes ``bench/results/mutation-<UTC time>.json``.
``--rescore FILE`` classifies an earlier result's mutants again (after :data:`EQUIVALENT`
changed); ``--session tree/session.sqlite --commit REV`` scores what a run still under way
(or interrupted) in that temporary tree has done so far.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

MODULES: dict[str, list[str]] = {
    "simulate/transforms.py": ["tests/simulate/test_transforms.py"],
    "simulate/truth.py": [
        "tests/simulate/test_truth_scope.py",
        "tests/simulate/test_pymc_marketing_units.py",
        "tests/simulate/test_generate.py",
        "tests/simulate/test_scale.py",
    ],
    "recover/models/transforms.py": ["tests/recover/test_model_transforms.py"],
    "reports/metrics.py": ["tests/reports/test_metrics_edges.py", "tests/reports/test_metrics.py"],
    "reports/sbc.py": ["tests/reports/test_sbc_edges.py", "tests/reports/test_sbc.py"],
    "reports/gate.py": ["tests/reports/test_gate_edges.py", "tests/reports/test_gate.py"],
    "reports/ruleset.py": ["tests/reports/test_gate_edges.py", "tests/reports/test_gate.py"],
}
"""Each module under test and its test files (fastest and most specific first: ``-x``
stops at the first failure). Add a module here to score it."""

_TYPE = (
    r"(?:None|(?:\w+\.)*[A-Z]\w*|str|int|float|bool|bytes|object|tuple|list|dict|set|type)"
    r"(?:\[[^\]]*\])?"
)
_OP = r"(?:-|\+|\*|/|//|%|\*\*|<<|>>|&|\^|@)"
_UNION = rf"(?:{_TYPE} \| )*{_TYPE} {_OP} {_TYPE}(?: \| {_TYPE})*"
ANNOTATIONS = [
    (
        rf".*\b\w+: {_UNION}(?: = [^,)]*)?(?:,|\)).*",
        "a parameter annotation ('|' of a union turned into another operator): never "
        "evaluated at run time (from __future__ import annotations); mypy checks it",
    ),
    (
        rf"(?:async )?def .*\) -> {_UNION}:",
        "a return annotation ('|' of a union turned into another operator): never evaluated "
        "at run time (from __future__ import annotations); mypy checks it",
    ),
]
"""Annotations with the ``|`` of a union (``X | None``) turned into another operator."""

EQUIVALENT: dict[str, list[tuple[str, str]]] = {
    "simulate/truth.py": [
        (
            r"(BATCH_BYTES|plan_bytes|per_batch) = .*",
            "the batch size changes memory and time only: any size gives identical results "
            "(test_batches_of_one_plan_give_identical_truth; sizes below one plan mean one)",
        ),
        (
            r"planned: Array, multipliers: Array, train: int, rows: range .* None = None",
            "an annotation: never evaluated at run time (from __future__ import annotations)",
        ),
    ],
    "simulate/transforms.py": [],
    "reports/metrics.py": [
        (
            r".*\.reshape\(- ?[2-9][0-9]*\).*",
            "numpy treats any negative dimension as the one unknown dimension: reshape(-2) is "
            "reshape(-1)",
        ),
        *ANNOTATIONS,
    ],
    "reports/sbc.py": ANNOTATIONS,
    "reports/gate.py": [
        (
            r'elif rows\.empty or \(rows\["outcome"\] <= NA\)\.all\(\):',
            "the branch sees no failed row (the one before takes them), so an outcome is "
            "'pass' or 'not applicable', and 'pass' > 'not applicable': <= NA is == NA",
        ),
        (
            r'for label in checks\.loc\[checks\["rule_index"\] <= 0, "rule"\].*',
            "rule indexes start at 1 and the identifiability checks have 0: none is negative",
        ),
        *ANNOTATIONS,
    ],
    "reports/ruleset.py": [
        (
            r'rows = rows\[rows\["family"\]\.isin\(rule\.family\) \+ fit_level\]',
            "pandas adds boolean Series as a logical or (dtype bool): '+' is '|' here",
        ),
        *ANNOTATIONS,
    ],
    "recover/models/transforms.py": [
        (
            r"def _twin\(role: str, name: object\) -> .*:",
            "a return annotation: never evaluated at run time (from __future__ import "
            "annotations); mypy checks it",
        ),
        (
            r"upper = pt\.ge\(z, 1\.0\)",
            "both branches compute the same sigmoid (1 / (1 + e^-z) and e^z / (1 + e^z)); "
            "the threshold only picks the overflow-safe form, and at 1 neither overflows",
        ),
    ],
}
"""Per module, survivors that cannot change behaviour: ``(pattern, why)``. A survivor whose
mutated line (the diff's ``+`` line, stripped) matches the pattern (``re.fullmatch``) is
excluded from the score."""


def _equivalent(module: str, line: str) -> str | None:
    """Why the mutant with this mutated line is equivalent, or None."""
    for pattern, why in EQUIVALENT.get(module, []):
        if re.fullmatch(pattern, line):
            return why
    return None


def _mutated_line(diff: str) -> str:
    """The first added line of a unified diff, stripped."""
    for line in diff.splitlines():
        if line.startswith("+") and not line.startswith("+++"):
            return line[1:].strip()
    return ""


def score_module(
    module: str, tests: list[str], sample: int, seed: int, commit: str = "HEAD"
) -> dict[str, Any]:
    """Sample, run and classify ``sample`` mutants of ``module`` in a copy of ``commit``."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    with tempfile.TemporaryDirectory(prefix="mutate-") as tmp:
        tree = Path(tmp) / "tree"
        tree.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", commit], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1")
        pytest = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
        baseline = subprocess.run(pytest, cwd=tree, env=env, capture_output=True, text=True)
        if baseline.returncode != 0:
            output = (baseline.stdout + baseline.stderr)[-3000:]
            raise RuntimeError(f"{module}: the unmutated tests fail:\n{output}")
        config = tree / "cosmic-ray.toml"
        command = " ".join(pytest)
        config.write_text(
            "[cosmic-ray]\n"
            f'module-path = "{module}"\n'
            "timeout = 900.0\n"
            "excluded-modules = []\n"
            f'test-command = "{command}"\n\n'
            '[cosmic-ray.distributor]\nname = "local"\n'
        )
        session = tree / "session.sqlite"
        run = {"cwd": tree, "env": env, "check": True, "capture_output": True}
        subprocess.run([sys.executable, "-m", "cosmic_ray.cli", "init", config, session], **run)
        with use_db(str(session), WorkDB.Mode.open) as db:
            items = sorted(
                db.pending_work_items,
                key=lambda item: (item.mutations[0].operator_name, item.mutations[0].occurrence),
            )
            chosen = random.Random(f"{seed}:{module}").sample(items, min(sample, len(items)))
            keep = {item.job_id for item in chosen}
            skipped = WorkResult(worker_outcome=WorkerOutcome.SKIPPED)
            db.set_multiple_results([i.job_id for i in items if i.job_id not in keep], skipped)
        subprocess.run([sys.executable, "-m", "cosmic_ray.cli", "exec", config, session], **run)
        rows = _session_rows(session)
    return _score(
        {"module": module, "tests": tests, "mutants_in_module": len(items), "mutants": rows}
    )


def _session_rows(session: Path) -> list[dict[str, Any]]:
    """The sampled mutants a cosmic-ray session has run so far (the rest were skipped)."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome

    rows = []
    with use_db(str(session), WorkDB.Mode.open) as db:
        for item, result in db.completed_work_items:
            if result.worker_outcome == WorkerOutcome.SKIPPED:
                continue
            mutation = item.mutations[0]
            rows.append(
                {
                    "operator": mutation.operator_name,
                    "line": mutation.start_pos[0],
                    "mutated": _mutated_line(result.diff or ""),
                    "outcome": str((result.test_outcome or result.worker_outcome).value),
                    "diff": result.diff,
                }
            )
    return rows


def session_result(session: Path) -> dict[str, Any]:
    """Score a running or interrupted session (``tree/session.sqlite`` of a run): the
    mutants it has run so far; ``pending`` counts the sampled ones still to run."""
    from cosmic_ray.work_db import WorkDB, use_db

    config = (session.parent / "cosmic-ray.toml").read_text()
    found = re.search(r'^module-path = "(.*)"$', config, re.MULTILINE)
    if found is None:
        raise ValueError(f"{session}: no module-path in the cosmic-ray.toml beside it")
    module = found.group(1)
    with use_db(str(session), WorkDB.Mode.open) as db:
        total = db.num_work_items
        pending = sum(1 for _ in db.pending_work_items)
    rows = _session_rows(session)
    result = {"module": module, "tests": MODULES.get(module, []), "mutants_in_module": total}
    return _score(result | {"mutants": rows, "pending": pending})


def _score(result: dict[str, Any]) -> dict[str, Any]:
    """Classify survivors by :data:`EQUIVALENT` and count the outcomes of ``result``."""
    rows = sorted(result["mutants"], key=lambda r: r["line"])
    for row in rows:
        if row["outcome"] == "equivalent":
            row["outcome"] = "survived"  # classified afresh
        why = (
            _equivalent(result["module"], row["mutated"]) if row["outcome"] == "survived" else None
        )
        row["why_equivalent"] = why
        if why is not None:
            row["outcome"] = "equivalent"
    counts = {k: sum(r["outcome"] == k for r in rows) for k in ("killed", "survived", "equivalent")}
    counts["other"] = len(rows) - sum(counts.values())
    scored = counts["killed"] + counts["survived"]
    share = round(counts["killed"] / scored, 4) if scored else None
    return {**result, "sampled": len(rows), **counts, "killed_share": share, "mutants": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", default=",".join(MODULES))
    parser.add_argument("--sample", type=int, default=40)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--jobs", type=int, default=1, help="modules scored at once")
    parser.add_argument(
        "--commit", default="HEAD", help="the commit whose tree is mutated (default: HEAD)"
    )
    parser.add_argument(
        "--rescore", type=Path, help="classify the mutants of an earlier result file again"
    )
    parser.add_argument(
        "--session",
        type=Path,
        help="score the mutants a running or interrupted run's session.sqlite has run so far "
        "(give its --commit)",
    )
    args = parser.parse_args()
    if args.session:
        _report([session_result(args.session)], args.sample, args.seed, args.commit)
        return
    if args.rescore:
        earlier = json.loads(args.rescore.read_text())
        results = [_score(r) for r in earlier["results"]]
        _report(results, earlier["sample"], earlier["seed"], earlier.get("commit", ""))
        return
    modules = [m for m in args.modules.split(",") if m]
    unknown = [m for m in modules if m not in MODULES]
    if unknown:
        parser.error(f"--modules: no test files listed for {unknown}; add them to MODULES")
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--verify", f"{args.commit}^{{commit}}"],
        capture_output=True,
        text=True,
    )
    if commit.returncode != 0:
        parser.error(f"--commit: {args.commit!r} is not a commit of this repository")
    rev = commit.stdout.strip()
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(
            pool.map(lambda m: score_module(m, MODULES[m], args.sample, args.seed, rev), modules)
        )
    _report(results, args.sample, args.seed, rev)


def _report(results: list[dict[str, Any]], sample: int, seed: int, commit: str) -> None:
    """Print the score table and the survivors; write the result file."""
    print(f"commit {commit}")
    print(f"{'module':<32}{'killed':>8}{'survived':>10}{'equivalent':>12}{'other':>7}{'score':>8}")
    for r in results:
        share = "n/a" if r["killed_share"] is None else f"{100 * r['killed_share']:.0f}%"
        print(
            f"{r['module']:<32}{r['killed']:>8}{r['survived']:>10}{r['equivalent']:>12}"
            f"{r['other']:>7}{share:>8}"
        )
        if r.get("pending"):
            print(f"  {r['pending']} sampled mutants not run yet (a partial score)")
        for m in r["mutants"]:
            if m["outcome"] in ("survived", "equivalent"):
                why = f"  ({m['why_equivalent']})" if m["why_equivalent"] else ""
                print(f"  {m['outcome']:<10} line {m['line']:>4}: {m['mutated']}{why}")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    payload = {"sample": sample, "seed": seed, "commit": commit, "results": results}
    (out / f"mutation-{stamp}.json").write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
