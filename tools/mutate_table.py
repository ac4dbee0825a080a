"""Hand mutants of the task-state transition table (``skiplock.domain.states.TRANSITIONS``).

    python tools/mutate_table.py [--tests PATH ...] [--rows NAME ...] [--time-limit S] [--report]

mutmut mutates code, not data, so this harness makes every one-step edit of the table:
each possible source state (and "no task yet") added to or removed from each
transition's sources, and each transition's target changed to each other state. For
each it forks, edits the table in place in the child and runs the tests there (pytest
in-process, stopping at the first failure): the unit tests first, then, if they all
pass, the store contract suite (SQLite and MariaDB). A mutant no test fails is a
survivor. Results (which tier caught each mutant) go to build/mutate/table/, one file per
choice of tiers and rows.
See docs/TESTING.md."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "build" / "mutate" / "table"
TIERS = {
    "unit": ["tests/unit/test_states.py"],
    "contract": [
        "tests/contract/test_store_contract.py",
        "tests/contract/test_store_fences_contract.py",
        "tests/contract/test_store_transitions_contract.py",
    ],
}
PER_MUTANT_S = 300.0

sys.path[:0] = [str(ROOT), str(ROOT / "engine")]

# Imported once here so each forked child starts with them loaded.
import pytest  # noqa: E402
import sqlalchemy  # noqa: E402, F401

import skiplock.adapters.sql  # noqa: E402, F401
from skiplock.domain import states  # noqa: E402
from skiplock.domain.states import TaskState, Transition  # noqa: E402


@dataclass(frozen=True)
class Mutant:
    transition: Transition
    kind: str  # "+source", "-source" or "target"
    state: TaskState | None

    @property
    def name(self) -> str:
        what = self.state.value if self.state is not None else "new"
        return f"{self.transition.value} {self.kind} {what}"

    def apply(self) -> None:
        sources, target = states.TRANSITIONS[self.transition]
        if self.kind == "+source":
            sources = sources | {self.state}
        elif self.kind == "-source":
            sources = sources - {self.state}
        else:
            assert self.state is not None
            target = self.state
        states.TRANSITIONS[self.transition] = (frozenset(sources), target)


def mutants(rows: set[str]) -> list[Mutant]:
    out = []
    for t in Transition:
        if rows and t.value not in rows:
            continue
        sources, target = states.TRANSITIONS[t]
        for s in (None, *TaskState):
            out.append(Mutant(t, "-source" if s in sources else "+source", s))
        out += [Mutant(t, "target", s) for s in TaskState if s is not target]
    return out


def run_one(mutant: Mutant | None, tests: list[str], time_limit: float) -> int:
    """Exit code of the tests with ``mutant`` applied in a forked child (None: no edit);
    -1 when they ran past ``time_limit`` (counted as detected, as mutmut counts it)."""
    pid = os.fork()
    if pid == 0:  # the child: edit, test, leave without running the parent's cleanup
        code = 3
        try:
            os.setsid()
            if mutant is not None:
                mutant.apply()
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            args = ["-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", *tests]
            code = int(pytest.main(args))
        finally:
            os._exit(code)
    deadline = time.monotonic() + time_limit
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return -1
        time.sleep(0.05)


def caught_by(mutant: Mutant, tiers: list[str], deadline: float) -> str:
    """The first tier whose tests fail with ``mutant`` applied, or "survived"."""
    for tier in tiers:
        left = deadline - time.monotonic()
        if run_one(mutant, TIERS[tier], min(PER_MUTANT_S, max(left, 1.0))) != 0:
            return tier
    return "survived"


def report(results: dict[str, str]) -> None:
    n = len(results)
    unit = sum(v == "unit" for v in results.values())
    detected = sum(v != "survived" for v in results.values())
    survivors = sorted(name for name, v in results.items() if v == "survived")
    print(
        f"    table: {n} mutants, {detected} detected ({100 * detected / max(n, 1):.1f} %); "
        f"by the unit tests alone {unit} ({100 * unit / max(n, 1):.1f} %); "
        f"{len(survivors)} survived",
        flush=True,
    )
    for name in survivors:
        print(f"      survived {name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiers", nargs="+", default=list(TIERS), choices=list(TIERS))
    parser.add_argument("--rows", nargs="+", default=[], help="transitions to mutate (all)")
    parser.add_argument("--time-limit", type=float, default=1800, help="seconds in all")
    parser.add_argument("--report", action="store_true", help="report the last results only")
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    out = OUT / f"results-{'-'.join(args.tiers)}{''.join(f'-{r}' for r in sorted(args.rows))}.json"
    if args.report:
        report(json.loads(out.read_text("utf-8")) if out.exists() else {})
        return 0
    print(f"==> table: hand mutants of the transition table; tiers: {' '.join(args.tiers)}")
    for tier in args.tiers:
        if run_one(None, TIERS[tier], PER_MUTANT_S) != 0:
            print(f"    the {tier} tests fail on the unmutated table: fix them first")
            return 1
    deadline = time.monotonic() + args.time_limit
    results: dict[str, str] = {}
    todo = mutants(set(args.rows))
    for m in todo:
        if time.monotonic() > deadline:
            print(f"    stopped after {args.time_limit:.0f} s; the score below is partial")
            break
        results[m.name] = caught_by(m, args.tiers, deadline)
        print(f"    {len(results)}/{len(todo)} {m.name}: {results[m.name]}", flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, sort_keys=True), "utf-8")
    report(results)
    return 0 if len(results) == len(todo) else 1


if __name__ == "__main__":
    sys.exit(main())
