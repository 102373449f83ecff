"""The framework-suite runner's verdict: what counts as a regression, and the allow-list."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.frameworks.suites import (
    Result,
    Run,
    allowed,
    lost,
    node_id,
    read_junit,
    regressions,
)

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest">
<testcase classname="tests.test_a" name="test_kept" />
<testcase classname="tests.test_a" name="test_broken[asyncio]">{broken}</testcase>
<testcase classname="tests.test_a" name="test_errored">{errored}</testcase>
<testcase classname="tests.test_a" name="test_skipped"><skipped message="no trio" /></testcase>
<testcase classname="tests.test_a" name="test_failing_bare">{bare_failure}</testcase>
</testsuite></testsuites>
"""


def result(tmp_path: Path, name: str, *, mounted: bool) -> Result:
    failure = '<failure message="assert">trace</failure>'
    path = tmp_path / f"{name}.xml"
    path.write_text(
        JUNIT.format(
            broken=failure if mounted else "",
            errored='<error message="fixture">trace</error>' if mounted else "",
            bare_failure=failure,
        )
    )
    run = Run("starlette", "readme" if mounted else "bare", "on" if mounted else "-")
    return Result(run, read_junit(path), wall=1.0, cpu=1.0)


def test_a_test_passing_bare_and_failing_or_erroring_mounted_is_a_regression(
    tmp_path: Path,
) -> None:
    bare, mounted = result(tmp_path, "bare", mounted=False), result(tmp_path, "m", mounted=True)
    assert regressions(bare, mounted, {}) == [
        "tests.test_a::test_broken[asyncio]",
        "tests.test_a::test_errored",
    ]


def test_an_allow_list_entry_without_parameters_covers_each_of_them(tmp_path: Path) -> None:
    bare, mounted = result(tmp_path, "bare", mounted=False), result(tmp_path, "m", mounted=True)
    allow = {"tests.test_a::test_broken": "the exact body"}
    assert regressions(bare, mounted, allow) == ["tests.test_a::test_errored"]


def test_every_allow_list_entry_has_a_reason(tmp_path: Path) -> None:
    assert allowed()  # the repository's own list parses
    path = tmp_path / "allowed.txt"
    path.write_text("tests.test_a::test_broken\n")
    with pytest.raises(ValueError, match="has no reason"):
        allowed(path)


def test_a_junit_name_becomes_the_id_pytest_runs_it_by(tmp_path: Path) -> None:
    (tmp_path / "tests" / "test_tutorial").mkdir(parents=True)
    (tmp_path / "tests" / "test_tutorial" / "test_a.py").write_text("")
    assert node_id("tests.test_tutorial.test_a::test_x[p.1]", tmp_path) == (
        "tests/test_tutorial/test_a.py::test_x[p.1]"
    )
    assert node_id("tests.test_tutorial.test_a.TestB::test_y", tmp_path) == (
        "tests/test_tutorial/test_a.py::TestB::test_y"
    )
    assert node_id("tests.test_gone::test_z", tmp_path) is None


def test_the_tests_a_variant_failed_or_lost_are_those_run_bare(tmp_path: Path) -> None:
    mounted = result(tmp_path, "m", mounted=True)
    other = result(tmp_path, "other", mounted=False)
    del other.outcomes["tests.test_a::test_kept"]  # missing from one variant
    crashed = Result(Run("starlette", "instrument", "off"), {}, wall=1.0, cpu=1.0)
    assert lost([mounted, other, crashed]) == {
        "tests.test_a::test_broken[asyncio]",
        "tests.test_a::test_errored",
        "tests.test_a::test_failing_bare",
        "tests.test_a::test_kept",
    }


def test_only_the_lost_tests_run_bare_still_name_every_regression(tmp_path: Path) -> None:
    full_bare = result(tmp_path, "bare", mounted=False)
    mounted = result(tmp_path, "m", mounted=True)
    partial = Result(
        full_bare.run,
        {test: full_bare.outcomes[test] for test in lost([mounted])},
        wall=1.0,
        cpu=1.0,
        whole=False,
    )
    assert regressions(partial, mounted, {}) == regressions(full_bare, mounted, {})
