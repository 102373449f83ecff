"""Release health: one session per request, sent as the sdk's request-mode aggregates."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from fastapi import FastAPI, HTTPException

from middleware import SentryLifespan, instrument
from tests.support import CapturingTransport, EnvelopeServer, running

RELEASE = "booty@1.2.3"


def health_app(transport: CapturingTransport | None = None) -> FastAPI:
    app = FastAPI(lifespan=SentryLifespan(transport=transport))
    instrument(app)

    @app.get("/ok")
    async def ok() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    @app.get("/unavailable")
    async def unavailable() -> None:
        raise HTTPException(503, "down")

    @app.get("/logged")
    async def logged() -> dict[str, str]:
        try:
            raise ValueError("logged")
        except ValueError:
            logging.getLogger("tests.sessions").exception("handled, and logged")
        return {"status": "degraded"}

    return app


def totals(sessions: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in sessions:
        for aggregate in item["aggregates"]:
            for status in ("exited", "errored", "crashed", "abnormal"):
                counts[status] = counts.get(status, 0) + aggregate.get(status, 0)
    return {k: v for k, v in counts.items() if v}


async def exercise(app: FastAPI) -> None:
    async with running(app) as client:
        for path in ("/ok", "/ok", "/nope", "/boom", "/unavailable", "/logged"):
            await client.get(path)


async def test_each_request_is_one_session_aggregated_per_minute(
    capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTRY_RELEASE", RELEASE)
    monkeypatch.setenv("SENTRY_ENVIRONMENT", "staging")
    await exercise(health_app(capture))
    sessions = capture.items("sessions")
    assert sessions, "no session aggregates were sent"
    assert {tuple(sorted(s["attrs"].items())) for s in sessions} == {
        (("environment", "staging"), ("release", RELEASE))
    }
    # A 404 is a healthy session; the 5xx and the crash are unhandled; a logged
    # exception makes its session errored.
    assert totals(sessions) == {"exited": 3, "crashed": 2, "errored": 1}
    for item in sessions:
        for aggregate in item["aggregates"]:
            assert aggregate["started"].endswith(":00.000000Z")
    assert len(capture.events) == 3


async def test_session_tracking_is_off_with_the_setting(
    capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTRY_RELEASE", RELEASE)
    monkeypatch.setenv("SENTRY_AUTO_SESSION_TRACKING", "false")
    await exercise(health_app(capture))
    assert capture.items("sessions") == []
    assert len(capture.events) == 3


async def test_no_sessions_without_a_release(capture: CapturingTransport) -> None:
    await exercise(health_app(capture))
    assert capture.items("sessions") == []


async def test_the_envelope_server_accepts_the_aggregates(
    envelope_server: EnvelopeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTRY_DSN", envelope_server.dsn)
    monkeypatch.setenv("SENTRY_RELEASE", RELEASE)
    await exercise(health_app())
    envelope_server.wait_for(lambda: bool(envelope_server.items("sessions")))
    assert totals(envelope_server.items("sessions")) == {"exited": 3, "crashed": 2, "errored": 1}
    assert len(envelope_server.events) == 3
