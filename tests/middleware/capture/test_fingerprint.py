"""Which frame names an error for the storm guard, by the sdk's in-app rule."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import pytest
import sentry_sdk

from middleware.capture.storm import StormGuard, guard_from_settings
from tests.support import FAKE_DSN, CapturingTransport

LIBRARY = "json.decoder"


class Clock:
    def __call__(self) -> float:
        return 1000.0


def _parse(body: str) -> Any:
    return json.loads(body)


def _from_helper() -> None:
    _parse("{")


def _from_here() -> None:
    json.loads("{")


def _caught(raiser: Callable[[], None]) -> BaseException:
    try:
        raiser()
    except ValueError as exc:
        return exc
    raise AssertionError("did not raise")


def _labels(guard: StormGuard, *raisers: Callable[[], None]) -> list[str]:
    return [guard.admit(_caught(raiser)).label for raiser in raisers]


def _guard(**options: Any) -> StormGuard:
    return StormGuard(limit=1, window=60, clock=Clock(), **options)


def test_by_default_the_innermost_frame_under_the_project_root_names_the_error() -> None:
    helper, here = _labels(_guard(), _from_helper, _from_here)

    assert helper.startswith("JSONDecodeError at tests.middleware.capture.test_fingerprint:")
    assert helper.endswith(" in _parse")
    assert here.endswith(" in _from_here")


def test_with_no_in_app_frame_the_innermost_frame_names_the_error() -> None:
    guard = _guard(project_root="/nonexistent-project")

    helper, here = _labels(guard, _from_helper, _from_here)

    # Both end in the same library line: one error, so the second one is lean.
    assert helper == here
    assert LIBRARY in helper
    assert guard.admit(_caught(_from_here)).detail == "lean"


def test_excluded_modules_are_not_in_app() -> None:
    guard = _guard(in_app_exclude=["tests.middleware.capture"])

    helper, here = _labels(guard, _from_helper, _from_here)

    assert helper == here
    assert LIBRARY in helper


def test_included_modules_are_in_app_outside_the_project_root() -> None:
    guard = _guard(project_root="/nonexistent-project", in_app_include=["tests.middleware"])

    helper, here = _labels(guard, _from_helper, _from_here)

    assert helper.endswith(" in _parse")
    assert here.endswith(" in _from_here")


def test_the_project_root_decides_what_is_in_app() -> None:
    inside = _guard(project_root=os.getcwd())
    elsewhere = _guard(project_root=os.path.dirname(json.__file__))

    assert _labels(inside, _from_helper)[0].endswith(" in _parse")
    assert LIBRARY in _labels(elsewhere, _from_helper)[0]


@pytest.mark.parametrize("times", [1, 3])
def test_the_same_error_keeps_its_fingerprint(times: int) -> None:
    guard = _guard(project_root="/nonexistent-project")

    verdicts = [guard.admit(_caught(_from_here)) for _ in range(times)]

    assert [v.count for v in verdicts] == list(range(1, times + 1))


def _from_generated_code() -> None:
    # Code with no file name (a template, a REPL line): no path to place under the project.
    namespace: dict[str, Any] = {}
    exec(compile("def generated():\n    raise ValueError('x')\n", "", "exec"), namespace)  # noqa: S102
    namespace["generated"]()


def test_code_without_a_file_is_not_in_app_under_the_project_root() -> None:
    [label] = _labels(_guard(), _from_generated_code)

    assert label.endswith(" in _from_generated_code")


@pytest.mark.parametrize(
    ("options", "library"),
    [
        ({}, False),
        ({"project_root": "/nonexistent-project"}, True),
        ({"in_app_exclude": ["tests.middleware.capture"]}, True),
        ({"project_root": "/nonexistent-project", "in_app_include": ["tests.middleware"]}, False),
    ],
)
def test_the_guard_built_for_a_client_follows_its_in_app_options(
    options: dict[str, Any], library: bool
) -> None:
    client = sentry_sdk.Client(FAKE_DSN, transport=CapturingTransport(), **options)
    try:
        guard = guard_from_settings(client, limit=1, window=60)
    finally:
        client.close(timeout=0)
    assert guard is not None

    helper, here = _labels(guard, _from_helper, _from_here)

    assert (LIBRARY in helper, LIBRARY in here) == (library, library)
    assert (helper == here) is library
