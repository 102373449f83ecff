from __future__ import annotations

from pathlib import Path

import pytest

from booty.main import create_app
from tests.support import CapturingTransport, running

TOKEN = "internal-token-0123456789"


async def test_health_answers_json() -> None:
    async with running(create_app()) as client:
        response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["x-request-id"]


async def test_sentry_test_route_gives_500_and_one_event(capture: CapturingTransport) -> None:
    async with running(create_app(sentry_transport=capture)) as client:
        response = await client.get("/internal/sentry-test")
    assert response.status_code == 500
    (event,) = capture.events
    body = response.json()
    assert body == {
        "detail": "Internal Server Error",
        "request_id": response.headers["x-request-id"],
        "event_id": event["event_id"],
    }
    (exception,) = event["exception"]["values"]
    assert (exception["type"], exception["value"]) == ("RuntimeError", "Sentry test error")
    assert event["tags"]["request_id"] == body["request_id"]


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x", TOKEN]
)
async def test_sentry_test_route_with_token_hides_from_everyone_else(
    capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch, authorization: str | None
) -> None:
    monkeypatch.setenv("BOOTY_INTERNAL_TOKEN", TOKEN)
    headers = {} if authorization is None else {"Authorization": authorization}
    async with running(create_app(sentry_transport=capture)) as client:
        response = await client.get("/internal/sentry-test", headers=headers)
    assert response.status_code == 404
    assert capture.events == []


async def test_sentry_test_route_with_the_right_token(
    capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOOTY_INTERNAL_TOKEN", TOKEN)
    monkeypatch.setenv("SENTRY_ENVIRONMENT", "production")
    async with running(create_app(sentry_transport=capture)) as client:
        response = await client.get(
            "/internal/sentry-test", headers={"Authorization": f"Bearer {TOKEN}"}
        )
    assert response.status_code == 500
    (event,) = capture.events
    assert event["environment"] == "production"
    assert TOKEN.encode() not in capture.serialized()


async def test_sentry_test_route_is_closed_in_production_without_a_token(
    capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTRY_ENVIRONMENT", "production")
    async with running(create_app(sentry_transport=capture)) as client:
        response = await client.get("/internal/sentry-test")
    assert response.status_code == 404
    assert capture.events == []


async def test_sentry_test_route_without_sentry_has_no_event_id() -> None:
    async with running(create_app()) as client:
        response = await client.get("/internal/sentry-test")
    assert response.status_code == 500
    assert response.json() == {
        "detail": "Internal Server Error",
        "request_id": response.headers["x-request-id"],
    }


async def test_booty_frames_are_in_app_wherever_it_starts(
    capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # not the checkout: the sdk's cwd guess finds nothing
    async with running(create_app(sentry_transport=capture)) as client:
        await client.get("/internal/sentry-test")
    (event,) = capture.events
    frames = event["exception"]["values"][-1]["stacktrace"]["frames"]
    (raiser,) = [f for f in frames if f.get("function") == "sentry_test"]
    assert raiser["module"] == "booty.main"
    assert raiser["in_app"] is True
