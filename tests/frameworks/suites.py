"""Run FastAPI's and Starlette's own test suites bare, then with the library on every app.

Usage: python -m tests.frameworks.suites [--cache DIR] [--only fastapi|starlette] [--quick]
                                         [--timing]

The sdists of the FastAPI and Starlette this venv has installed (they carry
their test suites) are downloaded once into a cache outside the repository,
and run in `.venv-frameworks`, a venv of their own: their test dependencies
pin versions ours do not. A test that passes bare and fails with the library
mounted is a regression, unless tests/frameworks/allowed.txt lists it with
its reason; any regression fails the run.

Which runs, to stay within a CI step of 8 minutes on 2 cores: two at a time,
the longest first, each in a fresh copy of the suite's tree (FastAPI's
tutorials write their SQLite files into it). Each suite in all four variants:
the instrument() form and the README's lifespan form, each with Sentry on and
off. Bare, only the tests that failed, erred or went missing in a variant are
run, afterwards: whether they pass there is all the verdict needs, and a whole
bare run of FastAPI's suite (over 5,000 tests) costs as much as a variant.
`--timing` runs each suite whole bare first, for the CPU ratio of each variant
to it. `--quick`, for a developer's loop, runs FastAPI (about four times as
many tests as Starlette) only in the variant that covers the most: the README
form with Sentry on, which also runs the lifespan forms and the router's
default lifespan through SentryLifespan.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv-frameworks"
ALLOWED = Path(__file__).with_name("allowed.txt")
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "booty-frameworks"
SUITES = ("starlette", "fastapi")
VARIANTS = (("readme", "on"), ("instrument", "on"), ("readme", "off"), ("instrument", "off"))


@dataclass(frozen=True)
class Run:
    suite: str
    form: str  # "bare", "instrument" or "readme"
    sentry: str  # "on" or "off"; "-" when bare

    @property
    def name(self) -> str:
        return (
            self.suite if self.form == "bare" else f"{self.suite}-{self.form}-sentry-{self.sentry}"
        )


@dataclass
class Result:
    run: Run
    outcomes: dict[str, str]
    wall: float
    cpu: float
    tail: str = ""
    # Bare: whether the whole suite ran, not only the tests a variant lost.
    whole: bool = True


def sh(*command: str | Path, cwd: Path = ROOT) -> None:
    subprocess.run([str(part) for part in command], cwd=cwd, check=True)


def sdist(name: str, cache: Path) -> Path:
    """The installed version's source tree, downloaded and unpacked once."""
    wanted = version(name)
    tree = cache / f"{name}-{wanted}"
    if tree.is_dir():
        return tree
    cache.mkdir(parents=True, exist_ok=True)
    archive = cache / f"{name}-{wanted}.tar.gz"
    if not archive.exists():
        sh(
            sys.executable, "-m", "pip", "download", "--quiet", "--no-binary", ":all:",
            "--no-deps", f"{name}=={wanted}", "--dest", cache,
        )  # fmt: skip
    with tarfile.open(archive) as tar:
        tar.extractall(cache, filter="data")
    return tree


def install(fastapi_tree: Path) -> None:
    """.venv-frameworks: the library, the same frameworks, FastAPI's test dependency group.

    That group covers what Starlette's suite imports too (trio, httpx2, jinja2,
    python-multipart, opentelemetry-sdk); Starlette's own dev group adds only
    linters, twine and blockbuster, an optional check its conftest skips when
    absent.
    """
    pins = [f"fastapi=={version('fastapi')}", f"starlette[full]=={version('starlette')}"]
    marker = VENV / ".installed"
    wanted = " ".join(pins)
    if marker.exists() and marker.read_text() == wanted:
        return
    sh(sys.executable, "-m", "venv", VENV)
    pip: list[str | Path] = [VENV / "bin" / "python", "-m", "pip", "install", "--quiet"]
    sh(*pip, "--upgrade", "pip")  # --group needs pip 25.1
    sh(*pip, "-e", ROOT, *pins, "--group", f"{fastapi_tree / 'pyproject.toml'}:tests")
    marker.write_text(wanted)


def execute(run: Run, source: Path, reports: Path, tests: list[str] | None = None) -> Result:
    """One pytest run of the suite in a fresh copy of its tree; `tests`: only those."""
    junit = reports / f"{run.name}.xml"
    log = reports / f"{run.name}.log"
    tree = reports / run.name
    shutil.rmtree(tree, ignore_errors=True)
    shutil.copytree(source, tree)
    command = [str(VENV / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    command += ["-p", "no:sugar", f"--junitxml={junit}", *(tests or ())]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SENTRY_", "BOOTY_"))}
    if run.form != "bare":
        command += ["-p", "dropin"]
        env.update(
            BOOTY_SUITE_FORM=run.form,
            BOOTY_SUITE_SENTRY=run.sentry,
            PYTHONPATH=str(Path(__file__).parent),
        )
    started = time.monotonic()
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=tree, env=env, stdout=output, stderr=output)
        _, _, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - started
    outcomes = read_junit(junit) if junit.exists() else {}
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    tail = lines[-1] if lines else "no output"  # pytest's summary line
    cpu = usage.ru_utime + usage.ru_stime
    return Result(run, outcomes, wall, cpu, tail, whole=tests is None)


def node_id(test: str, tree: Path) -> str | None:
    """pytest's id of a test as JUnit names it (`pkg.module.Class::name`), or None."""
    classname, _, name = test.partition("::")
    parts = classname.split(".")
    for end in range(len(parts), 0, -1):
        path = "/".join(parts[:end]) + ".py"
        if (tree / path).is_file():
            return "::".join([path, *parts[end:], name])
    return None


def lost(results: list[Result]) -> set[str]:
    """The tests that failed, erred or are missing in any of `results`, one suite's variants."""
    ran = [r for r in results if r.outcomes]  # a run with none fails on its own
    seen = set().union(*(r.outcomes for r in ran))
    return {
        test
        for r in ran
        for test in seen
        if r.outcomes.get(test, "missing") in ("failed", "error", "missing")
    }


def rerun_bare(suite: str, results: list[Result], source: Path, reports: Path) -> Result:
    """The suite bare, only the tests its variants lost; a test not found is reported lost."""
    run = Run(suite, "bare", "-")
    tests = sorted(lost(results))
    ids = [found for test in tests if (found := node_id(test, source)) is not None]
    if not ids:
        return Result(run, {}, 0.0, 0.0, "nothing to run bare", whole=False)
    result = execute(run, source, reports, ids)
    for test in tests:
        # Not run (an id not found): counted as passing bare, so that the
        # variant's loss is reported rather than hidden.
        result.outcomes.setdefault(test, "passed")
    return result


def read_junit(path: Path) -> dict[str, str]:
    """Each test's outcome: passed, failed, error or skipped."""
    outcomes: dict[str, str] = {}
    for case in ET.parse(path).getroot().iter("testcase"):  # noqa: S314 - our own file
        test = f"{case.get('classname')}::{case.get('name')}"
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = "failed" if child.tag == "failure" else child.tag
        outcomes[test] = outcome
    return outcomes


def allowed(path: Path = ALLOWED) -> dict[str, str]:
    """The reviewed differences: `<test id>  # <reason>`, one a line."""
    entries: dict[str, str] = {}
    for line in path.read_text().splitlines():
        test, _, reason = line.partition("#")
        if test.strip():
            if not reason.strip():
                raise ValueError(f"{path.name}: {test.strip()} has no reason")
            entries[test.strip()] = reason.strip()
    return entries


def regressions(bare: Result, mounted: Result, allow: dict[str, str]) -> list[str]:
    return sorted(
        test
        for test, outcome in bare.outcomes.items()
        if outcome == "passed"
        and mounted.outcomes.get(test, "missing") in ("failed", "error", "missing")
        and test not in allow
        and test.partition("[")[0] not in allow  # an entry without [...]: every parameter
    )


def plan(only: str | None, quick: bool, timing: bool = False) -> list[Run]:
    """The runs, FastAPI's (the longest) first; whole bare runs only with `timing`."""
    runs: list[Run] = []
    for suite in ("fastapi", "starlette"):
        if only not in (None, suite):
            continue
        variants = VARIANTS[:1] if suite == "fastapi" and quick else VARIANTS
        runs += [Run(suite, "bare", "-")] if timing else []
        runs += [Run(suite, form, on) for form, on in variants]
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/framework-suites")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--only", choices=SUITES)
    parser.add_argument("--quick", action="store_true", help="FastAPI in one variant only")
    parser.add_argument(
        "--timing", action="store_true", help="each suite whole bare too: the CPU ratios"
    )
    args = parser.parse_args()
    pending = plan(args.only, args.quick, args.timing)
    trees = {suite: sdist(suite, args.cache) for suite in SUITES}
    install(trees["fastapi"])
    reports = args.cache / "reports"
    reports.mkdir(exist_ok=True)
    results: list[Result] = []
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                if not pending:
                    return
                run = pending.pop(0)
            result = execute(run, trees[run.suite], reports)
            with lock:
                results.append(result)
                print(f"{run.name}: {result.wall:.0f} s, {result.cpu:.0f} s CPU; {result.tail}")

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for suite in SUITES:
        mounted = [r for r in results if r.run.suite == suite and r.run.form != "bare"]
        if mounted and not any(r.run.suite == suite and r.run.form == "bare" for r in results):
            bare = rerun_bare(suite, mounted, trees[suite], reports)
            print(f"{suite}, bare, the {len(bare.outcomes)} tests lost: {bare.tail}")
            results.append(bare)
    return report(results, allowed())


def report(results: list[Result], allow: dict[str, str]) -> int:
    failed = False
    bare = {r.run.suite: r for r in results if r.run.form == "bare"}
    for result in results:
        if result.run.form == "bare":
            continue
        base = bare[result.run.suite]
        if not result.outcomes:
            print(f"{result.run.name}: no results ({result.tail})")
            failed = True
            continue
        regressed = regressions(base, result, allow)
        ratio = f"; CPU {result.cpu / base.cpu:.2f}x bare" if base.whole and base.cpu else ""
        print(f"{result.run.name}: {len(regressed)} new failures{ratio}")
        for test in regressed:
            print(f"  {test}")
        failed = failed or bool(regressed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
