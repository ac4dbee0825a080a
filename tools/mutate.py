"""Mutation testing of the domain and of the SQL adapter's fencing, one target at a time.

    python tools/mutate.py [TARGET ...] [--children N] [--time-limit S] [--show]

Each target runs mutmut over a few source files with the tests that cover them, in a
staging folder of its own (``build/mutate/<target>``), and prints its score: mutants
detected (killed or timed out) over mutants generated, and the survivors. ``table`` is
not mutmut: the transition table is data (mutmut mutates only code), so
``tools/mutate_table.py`` mutates it by hand. See docs/TESTING.md.

Why a staging folder: mutmut names a mutant after its file's path from the working
directory and switches it on only when that name matches the module the code runs in.
The package lives in ``engine/skiplock`` but imports as ``skiplock``, so mutmut must run
where ``skiplock/`` is a top-level folder. The folder holds links to ``engine/skiplock``
and ``tests`` and a pyproject.toml with the project's pytest settings and the target's
mutmut settings; mutmut keeps its copy and its results in ``mutants/`` there, so a second
run of an unchanged target only tests the mutants whose function changed."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAGE = ROOT / "build" / "mutate"
MUTMUT = Path(sys.executable).with_name("mutmut")

# mutmut's exit codes by verdict (mutmut.stats.status_by_exit_code).
TIMED_OUT = {24, 36, 152, 255, -24}
DETECTED = {1, 3, 37, -11, -9} | TIMED_OUT
SURVIVED = {0}
NO_TESTS = {5, 33}


@dataclass(frozen=True)
class Target:
    files: tuple[str, ...]  # paths under engine/
    tests: tuple[str, ...]
    functions: tuple[str, ...] = ()  # only these functions' mutants; () = every function


SQL_FENCING = (
    "xǁWorkerOpsǁheartbeat",
    "xǁWorkerOpsǁcomplete",
    "xǁWorkerOpsǁcomplete_and_claim",
    "xǁWorkerOpsǁ_complete_in",
    "xǁWorkerOpsǁ_completion_values",
    "xǁWorkerOpsǁrelease",
    "xǁMaintenanceOpsǁrescue_expired",
    "xǁWorkerOpsǁ_lock_running",
    "x__attempt",
)
SQL_TRANSITIONS = (
    "xǁTaskOpsǁ_change",
    "xǁTaskOpsǁ_hand_change",
    "xǁTaskOpsǁ_change_matching",
    "xǁTaskOpsǁ_change_or_skip",
)

TARGETS: dict[str, Target] = {
    "scheduler": Target(("skiplock/domain/scheduler.py",), ("tests/unit/test_scheduler.py",)),
    "states": Target(
        ("skiplock/domain/states.py",),
        (
            "tests/unit/test_states.py",
            "tests/contract/test_store_contract.py",
            "tests/contract/test_store_fences_contract.py",
            "tests/contract/test_store_transitions_contract.py",
        ),
    ),
    "ratelimit": Target(
        ("skiplock/domain/ratelimit.py",),
        (
            "tests/unit/test_ratelimit.py",
            "tests/contract/test_rate_limiter_contract.py",
            "tests/contract/test_rate_limit_parity.py",
        ),
    ),
    "retry": Target(("skiplock/domain/retry.py",), ("tests/unit/test_retry.py",)),
    "domain-rest": Target(
        (
            "skiplock/domain/limits.py",
            "skiplock/domain/stats.py",
            "skiplock/domain/models.py",
            "skiplock/domain/errors.py",
        ),
        ("tests/unit", "tests/contract/test_analytics_contract.py"),
    ),
    "sql-fencing": Target(
        ("skiplock/adapters/sql/worker_ops.py", "skiplock/adapters/sql/maintenance_ops.py"),
        (
            "tests/contract/test_store_contract.py",
            "tests/contract/test_store_fences_contract.py",
            "tests/integration/test_zombie_worker.py",
        ),
        SQL_FENCING,
    ),
    "sql-transitions": Target(
        ("skiplock/adapters/sql/task_ops.py",),
        (
            "tests/contract/test_store_contract.py",
            "tests/contract/test_store_fences_contract.py",
            "tests/contract/test_store_transitions_contract.py",
        ),
        SQL_TRANSITIONS,
    ),
}
DEFAULT = (*TARGETS, "table")


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def _section(name: str, values: dict[str, object]) -> str:
    return f"[{name}]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in values.items())


def stage(name: str, target: Target) -> Path:
    """The target's staging folder, (re)written: links to the code and the tests and a
    pyproject.toml with the project's pytest settings and the target's mutmut ones."""
    folder = STAGE / name
    folder.mkdir(parents=True, exist_ok=True)
    for link, to in (("skiplock", ROOT / "engine" / "skiplock"), ("tests", ROOT / "tests")):
        path = folder / link
        if not path.is_symlink():
            path.symlink_to(to, target_is_directory=True)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    pytest_ini = dict(project["tool"]["pytest"]["ini_options"])
    pytest_ini["pythonpath"] = ["."]  # mutmut's copy of skiplock/, not the installed one
    pytest_ini["addopts"] = "--strict-markers --strict-config -p no:cacheprovider"
    mutmut = {
        "source_paths": ["skiplock"],
        "only_mutate": list(target.files),
        "pytest_add_cli_args_test_selection": list(target.tests),
        "use_git_change_detection": False,
    }
    text = _section("tool.pytest.ini_options", pytest_ini) + "\n" + _section("tool.mutmut", mutmut)
    pyproject = folder / "pyproject.toml"
    if not pyproject.exists() or pyproject.read_text("utf-8") != text:
        pyproject.write_text(text, "utf-8")
    return folder


def _names(target: Target) -> list[str]:
    """mutmut's filter for the target's functions (module.function__mutmut_*)."""
    out = []
    for file in target.files:
        module = file.removesuffix(".py").replace("/", ".")
        out += [f"{module}.{fn}__mutmut_*" for fn in target.functions]
    return out


def _selected(target: Target, key: str) -> bool:
    fn = key.rpartition(".")[2].partition("__mutmut_")[0]
    return not target.functions or fn in target.functions


def results(folder: Path, target: Target) -> dict[str, int | None]:
    """Each of the target's mutants and its exit code (None: not run yet)."""
    out: dict[str, int | None] = {}
    for file in target.files:
        meta = folder / "mutants" / f"{file}.meta"
        if meta.exists():
            codes = json.loads(meta.read_text("utf-8"))["exit_code_by_key"]
            out |= {k: v for k, v in codes.items() if _selected(target, k)}
    return out


def run_mutmut(
    name: str, target: Target, *, children: int, time_limit: float, survivors: bool
) -> bool:
    """Run mutmut on one target within ``time_limit`` seconds; False when cut short.
    With ``survivors``, only the mutants that survived, had no test or were not run
    (a run cut short by its time limit) last time."""
    folder = stage(name, target)
    names = _names(target)
    if survivors:
        again = SURVIVED | NO_TESTS | {None}
        names = [k for k, v in results(folder, target).items() if v in again]
        if not names:
            print(f"==> {name}: no survivors to run again", flush=True)
            return True
    cmd = [str(MUTMUT), "run", "--max-children", str(children), *names]
    print(f"==> {name}: {' '.join(cmd[1:])}  (in {folder.relative_to(ROOT)})", flush=True)
    log = (folder / "mutmut.log").open("wb")
    proc = subprocess.Popen(
        cmd, cwd=folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        proc.wait(timeout=time_limit)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        print(f"    stopped after {time_limit:.0f} s; the score below is partial", flush=True)
        return False
    finally:
        log.close()
    if proc.returncode != 0:
        tail = (folder / "mutmut.log").read_text("utf-8", errors="replace")[-3000:]
        print(f"    mutmut exited {proc.returncode}:\n{tail}", flush=True)
    return proc.returncode == 0


def report(name: str, target: Target, *, show: bool) -> tuple[int, int]:
    folder = STAGE / name
    codes = results(folder, target)
    detected = sum(v in DETECTED for v in codes.values())
    timed_out = sum(v in TIMED_OUT for v in codes.values())
    survivors = sorted(k for k, v in codes.items() if v in SURVIVED)
    untested = sorted(k for k, v in codes.items() if v in NO_TESTS)
    pending = sum(v is None for v in codes.values())
    other = len(codes) - detected - len(survivors) - len(untested) - pending
    score = 100 * detected / len(codes) if codes else 0.0
    print(
        f"    {name}: {len(codes)} mutants, {detected} detected ({score:.1f} %; "
        f"{timed_out} by timing out), "
        f"{len(survivors)} survived, {len(untested)} with no test, {pending} not run"
        + (f", {other} suspicious" if other else ""),
        flush=True,
    )
    for key in survivors + untested:
        print(f"      {'survived' if key in survivors else 'no test '} {key}")
        if show:
            diff = subprocess.run(
                [str(MUTMUT), "show", key], cwd=folder, capture_output=True, text=True, check=False
            )
            print("        " + diff.stdout.replace("\n", "\n        "))
    return detected, len(codes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "targets", nargs="*", default=list(DEFAULT), help=f"of {[*TARGETS, 'table']}"
    )
    parser.add_argument("--children", type=int, default=int(os.environ.get("MUTATE_CHILDREN", "1")))
    parser.add_argument("--time-limit", type=float, default=1800, help="seconds per target")
    parser.add_argument("--show", action="store_true", help="print each survivor's diff")
    parser.add_argument("--report", action="store_true", help="report the last results only")
    parser.add_argument(
        "--survivors",
        action="store_true",
        help="run only last time's survivors (and the mutants not run) again",
    )
    args = parser.parse_args(argv)
    unknown = set(args.targets) - {*TARGETS, "table"}
    if unknown:
        parser.error(f"unknown targets {sorted(unknown)}; known: {[*TARGETS, 'table']}")
    started = time.monotonic()
    complete = True
    for name in args.targets:
        if name == "table":
            cmd = [sys.executable, str(ROOT / "tools" / "mutate_table.py")]
            cmd += ["--time-limit", str(args.time_limit)] + (["--report"] if args.report else [])
            complete &= subprocess.run(cmd, cwd=ROOT, check=False).returncode == 0
            continue
        target = TARGETS[name]
        if not args.report:
            complete &= run_mutmut(
                name,
                target,
                children=args.children,
                time_limit=args.time_limit,
                survivors=args.survivors,
            )
        report(name, target, show=args.show)
    print(f"done in {time.monotonic() - started:.0f} s", flush=True)
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
