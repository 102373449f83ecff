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

from middleware import SentryLifespan, instrument, load_sentry_config, storm
from middleware.settings import ConfigError
from middleware.storm import StormGuard
from tests.conftest import CapturingTransport, EnvelopeServer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _query_database() -> None:
    raise ConnectionError("database is down")


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


@asynccontextmanager
async def serve(app: FastAPI, guard: StormGuard | None = None) -> AsyncIterator[httpx.AsyncClient]:
    async with LifespanManager(app) as manager:
        if guard is not None:
            storm.install(sentry_sdk.get_client(), guard)
        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


def exception_types(events: list[dict[str, Any]]) -> list[str]:
    return [event["exception"]["values"][-1]["type"] for event in events]


def storm_crumbs(event: dict[str, Any]) -> list[dict[str, Any]]:
    crumbs = event.get("breadcrumbs", {}).get("values", [])
    return [c for c in crumbs if c.get("category") == storm.BREADCRUMB_CATEGORY]


async def test_first_events_arrive_whole_and_the_rest_are_counted_as_lost(
    monkeypatch: pytest.MonkeyPatch, envelope_server: EnvelopeServer
) -> None:
    monkeypatch.setenv("SENTRY_DSN", envelope_server.dsn)
    guard = StormGuard(limit=3, window=60, clock=Clock())
    responses = []
    async with serve(build_app(), guard) as client:
        for _ in range(10):
            responses.append(await client.get("/fail"))

    assert [r.status_code for r in responses] == [500] * 10
    sent = [r.json() for r in responses[:3]]
    assert all("event_id" in body for body in sent)
    assert all("event_id" not in r.json() for r in responses[3:])
    envelope_server.wait_for(lambda: len(envelope_server.items("client_report")) >= 1)
    envelope_server.wait_for(lambda: len(envelope_server.events) >= 3)

    events = envelope_server.events
    assert sorted(e["event_id"] for e in events) == sorted(b["event_id"] for b in sent)
    assert sorted(e["tags"]["request_id"] for e in events) == sorted(
        r.headers["x-request-id"] for r in responses[:3]
    )
    for event in events:
        [value] = event["exception"]["values"]
        assert value["type"] == "ConnectionError"
        assert value["mechanism"]["handled"] is False
        frames = value["stacktrace"]["frames"]
        assert frames[-1]["function"] == "_query_database"
        assert "raise ConnectionError" in frames[-1]["context_line"]
        assert event["request"]["method"] == "GET"
    lost = [d for r in envelope_server.items("client_report") for d in r["discarded_events"]]
    assert lost == [{"reason": "backpressure", "category": "error", "quantity": 7}]


async def test_a_different_error_in_the_middle_of_a_storm_still_arrives(
    capture: CapturingTransport,
) -> None:
    guard = StormGuard(limit=2, window=60, clock=Clock())
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
        "KeyError",
        "ConnectionError",
    ]
    assert capture.events[3]["tags"]["request_id"] == other_place.headers["x-request-id"]


async def test_a_library_error_is_told_apart_by_its_innermost_in_app_frame(
    capture: CapturingTransport,
) -> None:
    guard = StormGuard(limit=1, window=60, clock=Clock())
    async with serve(build_app(capture), guard) as client:
        for _ in range(3):
            await client.get("/json-a")
        for _ in range(3):
            await client.get("/json-b")

    functions = [
        [f["function"] for f in e["exception"]["values"][-1]["stacktrace"]["frames"]]
        for e in capture.events
    ]
    assert exception_types(capture.events) == ["JSONDecodeError", "JSONDecodeError"]
    assert "_parse" in functions[0]
    assert "_parse" not in functions[1]


async def test_the_window_reopens_with_a_summary_on_the_next_event(
    capture: CapturingTransport, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    guard = StormGuard(limit=2, window=60, clock=clock)
    caplog.set_level(logging.WARNING, logger="middleware.storm")
    async with serve(build_app(capture), guard) as client:
        for _ in range(6):
            await client.get("/fail")
        clock.now += 59.9
        await client.get("/fail")
        assert len(capture.events) == 2
        clock.now += 0.1
        reopened = [await client.get("/fail") for _ in range(4)]

    assert [("event_id" in r.json()) for r in reopened] == [True, True, False, False]
    assert len(capture.events) == 4
    first, second = capture.events[2:]
    [crumb] = storm_crumbs(first)
    assert crumb["data"] == {"suppressed": 5, "window": 60}
    assert "ConnectionError at tests.middleware.test_storm:" in crumb["message"]
    assert storm_crumbs(second) == []
    summaries = [r.getMessage() for r in caplog.records if "storm over" in r.getMessage()]
    assert summaries == [crumb["message"]]
    starts = [r.getMessage() for r in caplog.records if "more than 2 events" in r.getMessage()]
    assert len(starts) == 2  # one as each window starts to suppress


async def test_a_storm_that_stops_is_summarised_on_another_errors_event(
    capture: CapturingTransport,
) -> None:
    clock = Clock()
    guard = StormGuard(limit=1, window=10, clock=clock)
    async with serve(build_app(capture), guard) as client:
        for _ in range(4):
            await client.get("/fail")
        clock.now += 10
        await client.get("/other-type")

    assert exception_types(capture.events) == ["ConnectionError", "KeyError"]
    [crumb] = storm_crumbs(capture.events[1])
    assert crumb["data"]["suppressed"] == 3
    assert "ConnectionError" in crumb["message"]


async def test_settings_configure_the_guard(
    capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTRY_STORM_LIMIT", "2")
    monkeypatch.setenv("SENTRY_STORM_WINDOW", "30")
    async with serve(build_app(capture)) as client:
        guard = storm.guard_for(sentry_sdk.get_client())
        for _ in range(4):
            await client.get("/fail")

    assert guard is not None
    assert (guard.limit, guard.window) == (2, 30)
    assert len(capture.events) == 2


async def test_the_default_guard_keeps_the_first_ten(capture: CapturingTransport) -> None:
    async with serve(build_app(capture)) as client:
        for _ in range(12):
            await client.get("/fail")

    assert len(capture.events) == 10


async def test_limit_zero_disables_the_guard(
    capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTRY_STORM_LIMIT", "0")
    async with serve(build_app(capture)) as client:
        assert storm.guard_for(sentry_sdk.get_client()) is None
        for _ in range(15):
            await client.get("/fail")

    assert len(capture.events) == 15


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SENTRY_STORM_LIMIT", "-1"),
        ("SENTRY_STORM_LIMIT", "many"),
        ("SENTRY_STORM_WINDOW", "0"),
        ("SENTRY_STORM_WINDOW", "86401"),
        ("SENTRY_STORM_WINDOW", "nan"),
    ],
)
def test_invalid_storm_settings_fail_open_elsewhere_and_closed_in_production(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    config = load_sentry_config()
    assert [p.variable for p in config.problems] == [name]
    assert (config.settings.storm_limit, config.settings.storm_window) == (10, 60)

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


def test_errors_past_the_tracking_limit_are_never_suppressed() -> None:
    guard = StormGuard(limit=1, window=60, clock=Clock(), max_fingerprints=2)
    first, second, third = _caught(_fail_one), _caught(_fail_two), _caught(_fail_three)
    assert [guard.admit(first), guard.admit(first)] == [True, False]
    assert [guard.admit(second), guard.admit(second)] == [True, False]
    assert [guard.admit(third) for _ in range(3)] == [True, True, True]


def test_an_exception_never_raised_has_a_type_only_fingerprint() -> None:
    guard = StormGuard(limit=1, window=60, clock=Clock())
    assert [guard.admit(RuntimeError("a")), guard.admit(RuntimeError("b"))] == [True, False]
    assert guard.admit(KeyError("a"))


@pytest.mark.parametrize(
    "options",
    [
        {"limit": 0, "window": 1},
        {"limit": 1, "window": 0},
        {"limit": 1, "window": 1, "max_fingerprints": 0},
    ],
)
def test_the_guard_refuses_meaningless_options(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        StormGuard(**options)
