"""The exception interface capture builds is the one the sdk sends for the same error."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
import sentry_sdk
import sentry_sdk.utils

import middleware.capture.stack
from middleware.capture.exceptions import capture_unhandled, set_local_variables
from tests.support import FAKE_DSN, CapturingTransport, SentryInit


def caught(fail: Callable[[], None]) -> BaseException:
    # Both captures read this frame's locals: they stay the same between them.
    try:
        fail()
    except BaseException as exc:
        return exc
    raise AssertionError("did not fail")


def _query(table: str) -> None:
    rows: list[str] = []
    raise ConnectionError(f"database down reading {table} ({rows})")


def _hidden_helper(table: str) -> None:
    __tracebackhide__ = True
    _query(table)


def _chained() -> None:
    try:
        _query("jobs")
    except ConnectionError as exc:
        raise RuntimeError("job failed") from exc


def _during_handling() -> None:
    try:
        _query("jobs")
    except ConnectionError:
        int("not a number")


def _oserror_with_note() -> None:
    error = FileNotFoundError(2, "no spool")
    error.add_note("while flushing")
    raise error


def _class_body() -> None:
    class Broken:
        _query("in a class body")


def _group() -> None:
    raise ExceptionGroup("two", [ValueError("a"), KeyError("b")])


def _values(event: dict[str, Any]) -> list[dict[str, Any]]:
    values = event["exception"]["values"]
    for value in values:
        value["mechanism"].pop("type")
        value["mechanism"].pop("handled")
    return list(values)


def _sdk_and_ours(capture: CapturingTransport, fail: Callable[[], None]) -> tuple[Any, Any]:
    # Two raises of one error: the sdk sends one exception object only once.
    sentry_sdk.capture_exception(caught(fail))
    assert capture_unhandled(caught(fail), "test") is not None
    sdks, ours = capture.events
    return _values(sdks), _values(ours)


CASES = [_query, _hidden_helper, _chained, _during_handling, _oserror_with_note, _class_body]


@pytest.mark.parametrize("fail", CASES, ids=lambda f: f.__name__)
def test_a_lean_exception_interface_is_the_sdks(
    sentry_init: SentryInit, fail: Callable[[], None]
) -> None:
    capture = sentry_init()
    options = sentry_sdk.get_client().options
    options["include_local_variables"] = options["include_source_context"] = False
    sdks, ours = _sdk_and_ours(capture, fail)
    assert ours == sdks
    frames = ours[-1]["stacktrace"]["frames"]
    assert frames[0]["function"] == "caught"
    assert all("vars" not in f and "context_line" not in f for f in frames)


@pytest.mark.parametrize("fail", CASES, ids=lambda f: f.__name__)
def test_a_full_exception_interface_is_the_sdks(
    sentry_init: SentryInit, fail: Callable[[], None]
) -> None:
    capture = sentry_init()
    set_local_variables(sentry_sdk.get_client(), "all")
    sdks, ours = _sdk_and_ours(capture, fail)
    assert ours == sdks
    frames = ours[-1]["stacktrace"]["frames"]
    assert all("vars" in f and "context_line" in f for f in frames)


def test_hidden_frames_are_left_out(sentry_init: SentryInit) -> None:
    capture = sentry_init()
    assert capture_unhandled(caught(lambda: _hidden_helper("jobs")), "test") is not None
    (event,) = capture.events
    functions = [f["function"] for f in event["exception"]["values"][0]["stacktrace"]["frames"]]
    assert functions == ["caught", "<lambda>", "_query"]


def test_an_exception_group_is_the_sdks(sentry_init: SentryInit) -> None:
    capture = sentry_init()
    options = sentry_sdk.get_client().options
    options["include_local_variables"] = options["include_source_context"] = False
    sdks, ours = _sdk_and_ours(capture, _group)
    assert ours == sdks
    assert [v["type"] for v in ours] == ["KeyError", "ValueError", "ExceptionGroup"]


def test_a_stack_past_the_sdks_frame_limit_is_sent_as_the_sdk_sends_it(
    sentry_init: SentryInit, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sentry_sdk.utils, "MAX_STACK_FRAMES", 2)
    monkeypatch.setattr(middleware.capture.stack, "MAX_STACK_FRAMES", 2)
    capture = sentry_init()
    sdks, ours = _sdk_and_ours(capture, lambda: _chained())
    assert ours == sdks
    assert ours[-1]["stacktrace"] is None  # caught, the lambda and _chained: past the limit
    assert [f["function"] for f in ours[0]["stacktrace"]["frames"]] == ["_chained", "_query"]


def _two_lines(second: bool) -> None:
    if second:
        raise ValueError("second line")
    raise ValueError("first line")


def test_frames_of_one_code_keep_their_own_line_and_context(sentry_init: SentryInit) -> None:
    capture = sentry_init()
    for second in (False, True, False):
        assert capture_unhandled(caught(partial(_two_lines, second)), "test") is not None
    lines = [
        event["exception"]["values"][0]["stacktrace"]["frames"][-1]["context_line"].strip()
        for event in capture.events
    ]
    assert lines == [
        'raise ValueError("first line")',
        'raise ValueError("second line")',
        'raise ValueError("first line")',
    ]
    first, _, third = capture.events
    assert first["exception"] == third["exception"]


def test_a_change_of_in_app_rules_reaches_the_next_event(sentry_init: SentryInit) -> None:
    capture = sentry_init()
    assert capture_unhandled(caught(lambda: _query("jobs")), "test") is not None
    sentry_sdk.get_client().options["in_app_exclude"] = [__name__]
    assert capture_unhandled(caught(lambda: _query("jobs")), "test") is not None
    before, after = (
        {f["function"]: f for f in e["exception"]["values"][0]["stacktrace"]["frames"]}
        for e in capture.events
    )
    assert before["_query"]["in_app"] is True
    assert after["_query"]["in_app"] is False
    assert "vars" in before["_query"]
    assert "vars" not in after["_query"]


def test_the_whole_event_is_the_one_the_sdk_sends(sentry_init: SentryInit) -> None:
    capture = sentry_init()
    options = sentry_sdk.get_client().options
    options["include_local_variables"] = options["include_source_context"] = False
    options["max_value_length"] = 100
    options["release"] = "booty@" + "1" * 150  # trimmed, with the serializer's annotation
    with sentry_sdk.new_scope() as scope:
        scope.set_tag("queue", "jobs")
        scope.set_extra("attempts", {"count": 3, "note": "x" * 160, "when": float("nan")})
        scope.set_user({"id": "42"})
        scope.set_context("job", {"name": "reindex", "args": [1, 2]})
        sentry_sdk.add_breadcrumb(message="started", data={"api_key": "k" * 8})
        sdks, ours = _sdk_and_ours(capture, _chained)
    assert ours == sdks
    sdk_event, our_event = (
        {k: v for k, v in e.items() if k not in ("event_id", "timestamp", "exception")}
        for e in capture.events
    )
    assert our_event == sdk_event
    assert our_event["_meta"]["release"][""]["len"] == 156
    assert our_event["extra"]["attempts"]["when"] == "nan"
    assert our_event["breadcrumbs"]["values"][0]["data"]["api_key"] == "[Filtered]"


def test_a_client_started_by_hand_gets_the_sdks_interface_too() -> None:
    # No runtime on this client: the templates live for one event only.
    capture = CapturingTransport()
    client = sentry_sdk.Client(FAKE_DSN, transport=capture, include_source_context=False)
    sentry_sdk.get_global_scope().set_client(client)
    client.options["include_local_variables"] = False
    sdks, ours = _sdk_and_ours(capture, _chained)
    assert ours == sdks
    assert [f["function"] for f in ours[0]["stacktrace"]["frames"]] == ["_chained", "_query"]
