from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import sentry_sdk
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from middleware import SentryLifespan, instrument, load_sentry_config
from middleware._runtime import runtime_for, runtime_of
from middleware._sdk import BaseClient
from middleware.capture.storm import DISTINCT_MESSAGES, FULL, StormGuard, admit
from middleware.config.settings import ConfigError
from tests.support import CapturingTransport, EnvelopeServer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _query_database() -> None:
    host = "db.internal"
    raise ConnectionError(f"database {host} is down")


def _parse(body: str) -> Any:
    return json.loads(body)


def build_app(transport: CapturingTransport | None = None) -> FastAPI:
    app = FastAPI(lifespan=SentryLifespan(transport=transport))
    instrument(app)

    @app.get("/fail")
    async def fail() -> None:
        _query_database()

    @app.get("/other-type")
    async def other_type() -> None:
        raise KeyError("missing")

    @app.get("/other-place")
    async def other_place() -> None:
        raise ConnectionError("database is down")

    @app.get("/json-a")
    async def json_a() -> None:
        _parse("{")

    @app.get("/json-b")
    async def json_b() -> None:
        json.loads("{")

    return app


def guard_of(client: BaseClient) -> StormGuard | None:
    runtime = runtime_of(client)
    return None if runtime is None else runtime.guard


@asynccontextmanager
async def serve(app: FastAPI, guard: StormGuard | None = None) -> AsyncIterator[httpx.AsyncClient]:
    async with LifespanManager(app) as manager:
        if guard is not None:
            runtime_for(sentry_sdk.get_client()).guard = guard
        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


def exception_types(events: list[dict[str, Any]]) -> list[str]:
    return [event["exception"]["values"][-1]["type"] for event in events]


def storm_of(event: dict[str, Any]) -> dict[str, Any] | None:
    context: dict[str, Any] | None = event.get("contexts", {}).get("storm")
    return context


def innermost(event: dict[str, Any]) -> dict[str, Any]:
    frame: dict[str, Any] = event["exception"]["values"][-1]["stacktrace"]["frames"][-1]
    return frame


async def test_past_the_limit_events_arrive_lean_and_none_is_lost(
    monkeypatch: pytest.MonkeyPatch, envelope_server: EnvelopeServer
) -> None:
    monkeypatch.setenv("SENTRY_DSN", envelope_server.dsn)
    guard = StormGuard(limit=3, window=60, clock=Clock())
    responses = []
    async with serve(build_app(), guard) as client:
        for _ in range(10):
            responses.append(await client.get("/fail"))

    assert [r.status_code for r in responses] == [500] * 10
    assert all("event_id" in r.json() for r in responses)
    envelope_server.wait_for(lambda: len(envelope_server.events) >= 10)
    events = sorted(envelope_server.events, key=lambda e: e["timestamp"])
    assert [e["event_id"] for e in events] == [r.json()["event_id"] for r in responses]
    assert [e["tags"]["request_id"] for e in events] == [
        r.headers["x-request-id"] for r in responses
    ]
    full, lean = events[:3], events[3:]
    for event in full:
        assert innermost(event)["vars"] == {"host": "'db.internal'"}
        assert "raise ConnectionError" in innermost(event)["context_line"]
        assert storm_of(event) is None
        assert "sentry-sdk" in event["modules"]
    for event in lean:
        assert "vars" not in innermost(event)
        # Nor the installed modules: the same in every event, sent with the full ones.
        assert "modules" not in event
        assert all(
            "context_line" not in f
            for f in event["exception"]["values"][-1]["stacktrace"]["frames"]
        )
    assert [storm_of(e)["count"] for e in lean] == list(range(4, 11))  # type: ignore[index]
    label = storm_of(lean[0])["label"]  # type: ignore[index]
    assert label.startswith("ConnectionError at tests.middleware.capture.test_storm:")
    assert label.endswith("in _query_database")
    for event in events:
        [value] = event["exception"]["values"]
        assert value["type"] == "ConnectionError"
        assert value["mechanism"]["handled"] is False
        assert innermost(event)["function"] == "_query_database"
        assert event["request"]["method"] == "GET"
    functions = {
        tuple(f["function"] for f in e["exception"]["values"][-1]["stacktrace"]["frames"])
        for e in events
    }
    assert len(functions) == 1  # the same frames, full or lean
    assert envelope_server.items("client_report") == []


async def test_past_the_ceiling_events_are_dropped_counted_and_reported_on_the_next(
    monkeypatch: pytest.MonkeyPatch, envelope_server: EnvelopeServer
) -> None:
    monkeypatch.setenv("SENTRY_DSN", envelope_server.dsn)
    clock = Clock()
    guard = StormGuard(limit=2, ceiling=3, window=60, clock=clock)
    async with serve(build_app(), guard) as client:
        burst = [await client.get("/fail") for _ in range(8)]
        clock.now += 60
        after = await client.get("/fail")
        again = await client.get("/fail")

    assert [("event_id" in r.json()) for r in burst] == [True] * 5 + [False] * 3
    envelope_server.wait_for(lambda: len(envelope_server.events) >= 7)
    envelope_server.wait_for(lambda: len(envelope_server.items("client_report")) >= 1)
    lost = [d for r in envelope_server.items("client_report") for d in r["discarded_events"]]
    assert lost == [{"reason": "backpressure", "category": "error", "quantity": 3}]
    by_id = {e["event_id"]: e for e in envelope_server.events}
    reported = by_id[after.json()["event_id"]]
    assert storm_of(reported) == {
        "label": storm_of(by_id[burst[2].json()["event_id"]])["label"],  # type: ignore[index]
        "count": 1,
        "dropped": 3,
    }
    assert innermost(reported)["vars"] == {"host": "'db.internal'"}  # full again
    assert storm_of(by_id[again.json()["event_id"]]) is None


async def test_a_different_error_in_the_middle_of_a_storm_is_sent_full(
    capture: CapturingTransport,
) -> None:
    guard = StormGuard(limit=2, ceiling=1, window=60, clock=Clock())
    async with serve(build_app(capture), guard) as client:
        for _ in range(5):
            await client.get("/fail")
        other_type = await client.get("/other-type")
        other_place = await client.get("/other-place")
        for _ in range(5):
            await client.get("/fail")

    assert "event_id" in other_type.json()
    assert "event_id" in other_place.json()
    assert exception_types(capture.events) == [
        "ConnectionError",
        "ConnectionError",
        "ConnectionError",
        "KeyError",
        "ConnectionError",
    ]
    assert [storm_of(e) is None for e in capture.events] == [True, True, False, True, True]
    assert capture.events[4]["tags"]["request_id"] == other_place.headers["x-request-id"]


async def test_a_library_error_is_told_apart_by_its_innermost_in_app_frame(
    capture: CapturingTransport,
) -> None:
    guard = StormGuard(limit=1, window=60, clock=Clock())
    async with serve(build_app(capture), guard) as client:
        for _ in range(3):
            await client.get("/json-a")
        for _ in range(3):
            await client.get("/json-b")

    counts = [(storm_of(e) or {}).get("count") for e in capture.events]
    assert counts == [None, 2, 3, None, 2, 3]
    labels = [storm_of(e)["label"] for e in capture.events if storm_of(e)]  # type: ignore[index]
    assert "_parse" in labels[0]
    assert "_parse" not in labels[2]


async def test_the_window_reopens_full_and_the_drops_are_logged(
    capture: CapturingTransport, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    guard = StormGuard(limit=2, ceiling=2, window=60, clock=clock)
    caplog.set_level(logging.WARNING, logger="middleware.storm")
    async with serve(build_app(capture), guard) as client:
        for _ in range(6):
            await client.get("/fail")
        clock.now += 59.9
        await client.get("/fail")
        assert len(capture.events) == 4
        clock.now += 0.1
        reopened = [await client.get("/fail") for _ in range(5)]

    assert [("event_id" in r.json()) for r in reopened] == [True] * 4 + [False]
    assert [(storm_of(e) or {}).get("dropped") for e in capture.events[4:]] == [
        3,
        None,
        None,
        None,
    ]
    messages = [r.getMessage() for r in caplog.records]
    assert [m for m in messages if "storm over" in m] == [
        f"error storm over: 3 events of {storm_of(capture.events[4])['label']} were dropped "  # type: ignore[index]
        "past the ceiling (window 60 s)"
    ]
    assert len([m for m in messages if "sent without local variables" in m]) == 2
    assert len([m for m in messages if "further ones are dropped" in m]) == 2


async def test_settings_configure_the_guard(
    capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTRY_STORM_LIMIT", "2")
    monkeypatch.setenv("SENTRY_STORM_WINDOW", "30")
    monkeypatch.setenv("SENTRY_STORM_CEILING", "1")
    async with serve(build_app(capture)) as client:
        guard = guard_of(sentry_sdk.get_client())
        for _ in range(4):
            await client.get("/fail")

    assert guard is not None
    assert (guard.limit, guard.window, guard.ceiling) == (2, 30, 1)
    assert [storm_of(e) is None for e in capture.events] == [True, True, False]


async def test_the_default_guard_sends_ten_full_then_lean(capture: CapturingTransport) -> None:
    async with serve(build_app(capture)) as client:
        for _ in range(12):
            await client.get("/fail")

    assert len(capture.events) == 12
    assert ["vars" in innermost(e) for e in capture.events] == [True] * 10 + [False] * 2


async def test_limit_zero_disables_the_guard(
    capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTRY_STORM_LIMIT", "0")
    async with serve(build_app(capture)) as client:
        assert guard_of(sentry_sdk.get_client()) is None
        for _ in range(15):
            await client.get("/fail")

    assert len(capture.events) == 15
    assert all(innermost(e)["vars"] == {"host": "'db.internal'"} for e in capture.events)
    assert all(storm_of(e) is None for e in capture.events)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SENTRY_STORM_LIMIT", "-1"),
        ("SENTRY_STORM_LIMIT", "many"),
        ("SENTRY_STORM_WINDOW", "0"),
        ("SENTRY_STORM_WINDOW", "86401"),
        ("SENTRY_STORM_WINDOW", "nan"),
        ("SENTRY_STORM_CEILING", "-1"),
        ("SENTRY_STORM_CEILING", "lots"),
    ],
)
def test_invalid_storm_settings_fail_open_elsewhere_and_closed_in_production(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    config = load_sentry_config()
    assert [p.variable for p in config.problems] == [name]
    settings = config.settings
    assert (settings.storm_limit, settings.storm_window, settings.storm_ceiling) == (10, 60, 1000)

    monkeypatch.setenv("SENTRY_ENVIRONMENT", "production")
    monkeypatch.setenv("SENTRY_DSN", "https://publickey0123456789abcdef@sentry.invalid/42")
    with pytest.raises(ConfigError) as raised:
        load_sentry_config()
    assert [p.variable for p in raised.value.problems] == [name]


def _caught(raiser: Callable[[], None]) -> BaseException:
    try:
        raiser()
    except ValueError as exc:
        return exc
    raise AssertionError("did not raise")


def _fail_one() -> None:
    raise ValueError("one")


def _fail_two() -> None:
    raise ValueError("two")


def _fail_three() -> None:
    raise ValueError("three")


def details(guard: StormGuard, exc: BaseException, times: int) -> list[str]:
    return [guard.admit(exc).detail for _ in range(times)]


def test_errors_past_the_tracking_limit_are_never_trimmed() -> None:
    guard = StormGuard(limit=1, ceiling=1, window=60, clock=Clock(), max_fingerprints=2)
    first, second, third = _caught(_fail_one), _caught(_fail_two), _caught(_fail_three)
    assert details(guard, first, 3) == ["full", "lean", "drop"]
    assert details(guard, second, 3) == ["full", "lean", "drop"]
    assert details(guard, third, 3) == ["full", "full", "full"]


def test_an_exception_never_raised_has_a_type_only_fingerprint() -> None:
    guard = StormGuard(limit=1, window=60, clock=Clock())
    assert guard.admit(RuntimeError("a")).detail == "full"
    assert guard.admit(RuntimeError("b")).detail == "lean"
    assert guard.admit(KeyError("a")).detail == "full"


def test_ceiling_zero_never_drops() -> None:
    guard = StormGuard(limit=1, ceiling=0, window=60, clock=Clock())
    error = _caught(_fail_one)
    assert details(guard, error, 3000) == ["full"] + ["lean"] * 2999


@pytest.mark.parametrize(
    "options",
    [
        {"limit": 0, "window": 1},
        {"limit": 1, "window": 0},
        {"limit": 1, "window": 1, "max_fingerprints": 0},
        {"limit": 1, "window": 1, "ceiling": -1},
    ],
)
def test_the_guard_refuses_meaningless_options(options: dict[str, Any]) -> None:
    with pytest.raises(
        ValueError, match=r"^limit and max_fingerprints must be >= 1, ceiling >= 0, window > 0$"
    ):
        StormGuard(**options)


def test_a_new_message_from_the_same_line_passes_the_ceiling_lean() -> None:
    guard = StormGuard(limit=10, ceiling=1000, window=60, clock=Clock())

    def raised(status: int) -> BaseException:
        try:
            raise RuntimeError(f"HTTP {status}")  # one line, many statuses
        except RuntimeError as exc:
            return exc

    verdicts = [guard.admit(raised(404)).detail for _ in range(1010)]
    assert verdicts == ["full"] * 10 + ["lean"] * 1000
    assert guard.admit(raised(404)).detail == "drop"
    assert guard.admit(raised(401)).detail == "lean"
    assert guard.admit(raised(401)).detail == "drop"
    # Messages with ids in them do not lift the ceiling for good.
    late = [guard.admit(raised(1000 + n)).detail for n in range(100)]
    assert late.count("lean") < 40


def test_another_errors_arrival_ends_an_expired_storm_and_reports_its_drops() -> None:
    clock = Clock()
    guard = StormGuard(limit=1, ceiling=1, window=60, clock=clock)
    storming, other = _caught(_fail_one), _caught(_fail_two)
    assert details(guard, storming, 4) == ["full", "lean", "drop", "drop"]

    clock.now += 60
    assert guard.admit(other).detail == "full"

    [summary] = guard.take_summaries()
    assert (summary.dropped, summary.window) == (2, 60)
    assert "_fail_one" in summary.label
    verdict = guard.admit(storming)
    assert (verdict.detail, verdict.count, verdict.dropped) == ("full", 1, 2)
    assert guard.take_summaries() == []


def test_a_full_table_makes_room_from_expired_windows_before_the_sweep_is_due() -> None:
    clock = Clock()
    guard = StormGuard(limit=1, window=60, clock=clock, max_fingerprints=2)
    first, second, third = _caught(_fail_one), _caught(_fail_two), _caught(_fail_three)
    clock.now += 10
    assert details(guard, first, 2) == ["full", "lean"]
    clock.now += 50
    assert details(guard, second, 2) == ["full", "lean"]

    # 15 s after the last sweep, the first window has expired and the table is full.
    clock.now += 15
    assert details(guard, third, 3) == ["full", "lean", "lean"]
    assert details(guard, first, 1) == ["full"]


def test_the_table_of_fingerprints_stays_bounded_and_untracked_errors_go_full() -> None:
    guard = StormGuard(limit=1, ceiling=1, window=60, clock=Clock(), max_fingerprints=1)
    first, second = _caught(_fail_one), _caught(_fail_two)

    assert details(guard, first, 3) == ["full", "lean", "drop"]
    assert details(guard, second, 3) == ["full"] * 3
    assert [guard.admit(second).count for _ in range(2)] == [0, 0]


def test_a_sub_second_window_is_accepted() -> None:
    clock = Clock()
    guard = StormGuard(limit=1, window=0.5, clock=clock)
    error = _caught(_fail_one)
    assert details(guard, error, 2) == ["full", "lean"]
    clock.now += 0.5
    assert details(guard, error, 1) == ["full"]


def test_a_failing_guard_lets_the_event_through_in_full(
    internal_exceptions: list[BaseException],
) -> None:
    calls: list[float] = []

    def clock() -> float:
        if calls:
            raise OSError("clock unavailable")
        calls.append(1000.0)
        return 1000.0

    guard = StormGuard(limit=1, window=60, clock=clock)

    verdict = admit(guard, sentry_sdk.get_client(), _caught(_fail_one))

    assert verdict == FULL
    assert [str(e) for e in internal_exceptions] == ["clock unavailable"]
    internal_exceptions.clear()


def test_past_the_ceiling_the_drops_are_logged_once_naming_the_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="middleware.storm")
    guard = StormGuard(limit=1, ceiling=1, window=60, clock=Clock())
    error = _caught(_fail_one)
    verdicts = [guard.admit(error) for _ in range(6)]

    assert [v.detail for v in verdicts] == ["full", "lean"] + ["drop"] * 4
    label = verdicts[1].label
    assert "_fail_one" in label
    dropped = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert dropped == [
        f"error storm: more than 1 lean events of {label} in 60 s; "
        "further ones are dropped until the window ends"
    ]


def test_past_the_ceiling_at_most_32_distinct_messages_still_pass() -> None:
    guard = StormGuard(limit=1, ceiling=1, window=60, clock=Clock())

    def raised(n: int) -> BaseException:
        try:
            raise RuntimeError(f"order {n} failed")  # one line, an id in each message
        except RuntimeError as exc:
            return exc

    verdicts = [guard.admit(raised(n)).detail for n in range(100)]
    assert verdicts == ["full"] + ["lean"] * DISTINCT_MESSAGES + ["drop"] * 67


def test_messages_alike_in_their_first_1024_characters_are_one_message() -> None:
    guard = StormGuard(limit=1, ceiling=1, window=60, clock=Clock())

    def raised(tail: str) -> BaseException:
        try:
            raise RuntimeError("x" * 1024 + tail)
        except RuntimeError as exc:
            return exc

    assert details(guard, raised("a"), 2) == ["full", "lean"]
    # The same message as far as the guard reads: not a new one past the ceiling.
    assert details(guard, raised("b"), 1) == ["drop"]


def test_drops_waiting_for_their_report_are_bounded_by_the_table() -> None:
    clock = Clock()
    guard = StormGuard(limit=1, ceiling=1, window=60, clock=clock, max_fingerprints=1)
    first, second = _caught(_fail_one), _caught(_fail_two)
    assert details(guard, first, 4) == ["full", "lean", "drop", "drop"]

    # The first error's drops wait for its next event, and fill the table of waiting
    # drops: the second's are counted in the client reports only.
    clock.now += 60
    assert details(guard, second, 3) == ["full", "lean", "drop"]
    clock.now += 60
    assert guard.admit(second).dropped == 0
    clock.now += 60
    assert guard.admit(first).dropped == 2


def test_the_guard_s_defaults_are_a_ceiling_of_1000_and_1024_fingerprints() -> None:
    guard = StormGuard(limit=1, window=60, clock=Clock())
    error = _caught(_fail_one)
    assert details(guard, error, 1002) == ["full"] + ["lean"] * 1000 + ["drop"]

    kinds = [type(f"Error{n}", (Exception,), {}) for n in range(1024)]
    verdicts = [guard.admit(kind()) for kind in kinds]
    # The storming error holds one place: the last of the others finds the table full.
    assert [v.count for v in verdicts[-2:]] == [1, 0]


def test_the_first_lean_event_is_logged_once_naming_the_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="middleware.storm")
    guard = StormGuard(limit=1, window=60, clock=Clock())
    verdicts = [guard.admit(_caught(_fail_one)) for _ in range(2)]

    assert [r.getMessage() for r in caplog.records] == [
        f"error storm: more than 1 events of {verdicts[1].label} in 60 s; "
        "further ones are sent without local variables or source context"
    ]


def test_a_message_sent_full_still_passes_the_ceiling_once() -> None:
    # Only messages sent lean are known to the ceiling: one seen only in full events
    # is new to it.
    guard = StormGuard(limit=2, ceiling=1, window=60, clock=Clock())

    def raised(status: int) -> BaseException:
        try:
            raise RuntimeError(f"HTTP {status}")  # one line, many statuses
        except RuntimeError as exc:
            return exc

    sent = [guard.admit(raised(s)).detail for s in (500, 404, 500, 500, 404, 404)]
    assert sent == ["full", "full", "lean", "drop", "lean", "drop"]
