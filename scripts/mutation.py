"""Mutation testing: does a test fail when the code it covers is wrong?

Runs mutmut on the given source files (default: all of TARGETS), each against the
test files that cover it, and prints a table per module and, last, the total score.
Mutants listed in tests/mutation-equivalent.txt (the change cannot alter behaviour)
are left out of the score; nothing else is.

mutmut 3 mutates the files of one project directory, configured by that directory's
pyproject.toml. Each group of modules that share their tests gets its own directory
under build/mutation/, linking to the sources and tests, with a pyproject.toml that
adds the group's [tool.mutmut] table, so mutmut itself picks the modules and the
tests. One pytest process runs at a time (--max-children 1).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from mutmut.configuration import reset_config
from mutmut.mutation.file_mutation import mutate_file_contents
from mutmut.stats import status_by_exit_code
from mutmut.utils.format_utils import get_mutant_name

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "build" / "mutation"
EQUIVALENT = ROOT / "tests" / "mutation-equivalent.txt"


@dataclass(frozen=True)
class Group:
    """Modules whose mutants run against the same tests."""

    modules: tuple[str, ...]
    tests: tuple[str, ...]
    # More pytest arguments for every run of this group's tests.
    pytest_args: tuple[str, ...] = ()


SCRUB = Group(
    modules=(
        "middleware/scrub/secrets.py",
        "middleware/scrub/forms.py",
        "middleware/scrub/keys.py",
        "middleware/scrub/walker.py",
        "middleware/scrub/sections.py",
        "middleware/scrub/pii.py",
        "middleware/scrub/budget.py",
    ),
    tests=("tests/middleware/scrub",),
)
TARGETS = {
    "scrub": SCRUB,
    "capture": Group(
        modules=("middleware/capture/storm.py", "middleware/capture/fingerprint.py"),
        tests=("tests/middleware/capture",),
    ),
    # The queue's contract tests run on SQLite only: PostgreSQL shares base.py and
    # would need its cluster in every forked run.
    "queue": Group(
        modules=("booty/queue/base.py", "booty/queue/sqlite.py"),
        tests=("tests/booty/test_queue.py", "tests/booty/test_leases.py"),
        pytest_args=("-k", "not postgresql"),
    ),
    "request": Group(
        modules=("middleware/request/data.py", "middleware/request/client.py"),
        tests=(
            "tests/middleware/request/test_request_data.py",
            "tests/middleware/request/test_request_bodies.py",
            "tests/middleware/request/test_client.py",
            "tests/middleware/request/test_request_context.py",
        ),
    ),
    "config": Group(
        modules=(
            "middleware/config/settings.py",
            "middleware/config/checks.py",
            "middleware/config/policy.py",
        ),
        # Booty's settings go through the same policy (load_settings, their problems).
        tests=("tests/middleware/config", "tests/booty/test_config.py"),
    ),
}
# Statuses that mean a test noticed the mutant.
DETECTED = {"killed", "timeout", "segfault"}


@dataclass
class Score:
    module: str
    statuses: Counter[str] = field(default_factory=Counter)
    equivalent: int = 0
    survivors: list[str] = field(default_factory=list)
    wrongly_equivalent: list[str] = field(default_factory=list)
    unchecked: int = 0

    @property
    def killed(self) -> int:
        return sum(self.statuses[s] for s in DETECTED)

    @property
    def counted(self) -> int:
        return sum(self.statuses.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", help="source files (default: all targets)")
    parser.add_argument("--sample", type=int, metavar="N", help="test N random mutants per module")
    parser.add_argument("--seed", type=int, default=0, help="the sample's seed (default 0)")
    parser.add_argument(
        "--survivors",
        action="store_true",
        help="keep the last run's results; test again only the mutants it left alive",
    )
    parser.add_argument(
        "--report",
        action="store_true",
        help="run nothing: score the results the last run left (an interrupted one, say)",
    )
    parser.add_argument(
        "--min-score", type=float, default=0.0, help="exit 1 when the total is lower (percent)"
    )
    args = parser.parse_args()
    groups = _groups(args.paths)
    equivalent = _read_equivalent()
    scores: list[Score] = []
    generated: set[str] = set()
    started = time.monotonic()
    for name, group in groups.items():
        work = _prepare(name, group, keep=args.survivors or args.report)
        mutants = {m: _mutants(work, m) for m in group.modules}
        generated.update(n for names in mutants.values() for n in names)
        if args.sample is not None:
            rng = random.Random(args.seed)  # noqa: S311 (a sample, not a secret)
            mutants = {
                m: sorted(rng.sample(names, min(args.sample, len(names))))
                for m, names in mutants.items()
            }
        names = [n for module_names in mutants.values() for n in module_names]
        if args.survivors:
            names = [n for n in names if n not in equivalent and _status(work, n) not in DETECTED]
        if names and not args.report:
            _run_mutmut(work, names)
        scores += _score(work, mutants, equivalent)
    for name in sorted(equivalent):
        if _module_of(name) in {s.module for s in scores} and name not in generated:
            print(f"scripts/mutation: no such mutant (stale equivalent): {name}", file=sys.stderr)
    _report(scores, sampled=args.sample, seconds=time.monotonic() - started)
    killed = sum(s.killed for s in scores)
    counted = sum(s.counted for s in scores)
    return 0 if counted and 100 * killed / counted >= args.min_score else 1


def _groups(paths: list[str]) -> dict[str, Group]:
    if not paths:
        return TARGETS
    chosen: dict[str, Group] = {}
    for raw in paths:
        path = Path(raw).resolve().relative_to(ROOT).as_posix()
        found = [(n, g) for n, g in TARGETS.items() if path in g.modules]
        if not found:
            known = ", ".join(m for g in TARGETS.values() for m in g.modules)
            raise SystemExit(f"scripts/mutation: no tests are listed for {raw}; known: {known}")
        name, group = found[0]
        modules = (*chosen[name].modules, path) if name in chosen else (path,)
        chosen[name] = Group(modules, group.tests, group.pytest_args)
    return chosen


def _read_equivalent() -> dict[str, str]:
    """Mutant name -> why it cannot change behaviour; one per line, `name  reason`."""
    found = {}
    for number, line in enumerate(EQUIVALENT.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, reason = line.partition(" ")
        if not reason.strip():
            raise SystemExit(f"{EQUIVALENT.name}:{number}: {name} needs a reason")
        found[name] = reason.strip()
    return found


def _mutants(work: Path, module: str) -> list[str]:
    """The names mutmut gives the module's mutants, from the work dir's configuration."""
    os.chdir(work)
    reset_config()
    source = (ROOT / module).read_text()
    mutated = mutate_file_contents(module, source)
    return [get_mutant_name(Path(module), n) for n in mutated.mutant_names]


def _prepare(name: str, group: Group, *, keep: bool) -> Path:
    work = WORK / name
    work.mkdir(parents=True, exist_ok=True)
    for top in ("middleware", "booty", "tests"):
        link = work / top
        if not link.is_symlink():
            link.symlink_to(ROOT / top)
    config = {
        "source_paths": ["middleware", "booty"],
        "only_mutate": list(group.modules),
        "pytest_add_cli_args_test_selection": list(group.tests),
        "pytest_add_cli_args": [
            "-p",
            "no:cacheprovider",
            "--hypothesis-seed=0",
            # Fewer examples per property test (tests/support/properties.py).
            "--hypothesis-profile=mutation",
            *group.pytest_args,
        ],
        "use_git_change_detection": False,
        # A mutant that loops forever is stopped after (tests' time + 5 s) x 3 x 2 of CPU.
        "timeout_multiplier": 3.0,
        "timeout_constant": 5.0,
    }
    table = "\n".join(f"{key} = {json.dumps(value)}" for key, value in config.items())
    pyproject = (ROOT / "pyproject.toml").read_text()
    (work / "pyproject.toml").write_text(f"{pyproject}\n[tool.mutmut]\n{table}\n")
    if not keep:
        # mutmut keeps results while a function is unchanged; a test may have changed.
        shutil.rmtree(work / "mutants", ignore_errors=True)
    return work


def _run_mutmut(work: Path, names: list[str]) -> None:
    log = work / "mutmut.log"
    command = [sys.executable, "-m", "mutmut", "run", "--max-children", "1", *names]
    print(f"scripts/mutation: {len(names)} mutants in {work.name} (log: {log})", file=sys.stderr)
    with log.open("w") as out:
        done = subprocess.run(  # noqa: S603 (our own interpreter and arguments)
            command, cwd=work, stdout=out, stderr=subprocess.STDOUT, check=False
        )
    if done.returncode != 0:
        tail = log.read_text().splitlines()[-30:]
        raise SystemExit("\n".join([f"mutmut failed in {work}:", *tail]))


def _status(work: Path, name: str) -> str:
    meta = work / "mutants" / f"{_module_of(name)}.meta"
    if not meta.exists():
        return "not checked"
    return status_by_exit_code[json.loads(meta.read_text())["exit_code_by_key"].get(name)]


def _score(work: Path, mutants: dict[str, list[str]], equivalent: dict[str, str]) -> list[Score]:
    scores = []
    for module, names in mutants.items():
        meta = json.loads((work / "mutants" / f"{module}.meta").read_text())
        exit_codes = meta["exit_code_by_key"]
        score = Score(module)
        for name in names:
            status = status_by_exit_code[exit_codes[name]]
            if status == "not checked":
                # An interrupted run: left out of the score, and counted in the table.
                score.unchecked += 1
                continue
            if name in equivalent:
                if status not in DETECTED:
                    score.equivalent += 1
                    continue
                score.wrongly_equivalent.append(name)
            score.statuses[status] += 1
            if status not in DETECTED:
                score.survivors.append(name)
        scores.append(score)
    return scores


def _report(scores: list[Score], *, sampled: int | None, seconds: float) -> None:
    print(
        "| module | mutants | killed | timeout | survived | no tests | equivalent "
        "| not run | score |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in scores:
        not_killed = s.counted - s.killed - s.statuses["no tests"]
        print(
            f"| {s.module} | {s.counted + s.equivalent + s.unchecked} | {s.statuses['killed']} "
            f"| {s.statuses['timeout']} | {not_killed} | {s.statuses['no tests']} "
            f"| {s.equivalent} | {s.unchecked} | {_percent(s.killed, s.counted)} |"
        )
    print()
    for s in scores:
        for name in s.survivors:
            print(f"survived: {name}")
    for s in scores:
        for name in s.wrongly_equivalent:
            print(f"equivalent but killed (the list is wrong): {name}")
    if sampled is not None:
        print(f"sampled: {sampled} mutants per module")
    print(f"took {seconds / 60:.1f} minutes")
    killed = sum(s.killed for s in scores)
    counted = sum(s.counted for s in scores)
    print(f"killed {killed} of {counted} non-equivalent ({_percent(killed, counted)})")


def _module_of(name: str) -> str:
    dotted = re.sub(r"\.x[_ǁ].*$", "", name)
    return dotted.replace(".", "/") + ".py"


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "n/a"


if __name__ == "__main__":
    # At least nice 10, whatever the caller chose: the tests share the machine.
    os.nice(max(0, 10 - os.nice(0)))
    sys.exit(main())
