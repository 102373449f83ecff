"""Every error reaches Sentry: a real uvicorn `booty.main:app` and a real envelope server."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.server import Booty, burst, serve
from tests.support import EnvelopeServer, wait_until

FAIL = "/internal/sentry-test"


@pytest.fixture
def booty(envelope_server: EnvelopeServer, tmp_path: Path) -> Iterator[Booty]:
    env = {"SENTRY_DSN": envelope_server.dsn, "BOOTY_DB_PATH": str(tmp_path / "delivery.db")}
    with serve("booty.main:app", env, tmp_path) as server:
        yield server


def _wait_for_bodies(server: EnvelopeServer, count: int, timeout: float) -> None:
    # Time to deliver before stopping, not an assertion: stop() flushes what is still
    # queued, and the caller counts what arrived.
    with contextlib.suppress(AssertionError):
        wait_until(lambda: len(server.bodies) >= count, "envelopes", timeout, interval=0.05)


def _check_one_event_per_request(
    server: EnvelopeServer, responses: list[httpx.Response]
) -> list[dict[str, Any]]:
    assert [r.status_code for r in responses] == [500] * len(responses)
    events = server.events
    sent_ids = sorted(r.headers["x-request-id"] for r in responses)
    assert sorted(e["tags"]["request_id"] for e in events) == sent_ids
    assert sorted(e["event_id"] for e in events) == sorted(r.json()["event_id"] for r in responses)
    assert server.items("client_report") == []
    return events


def test_a_burst_of_400_concurrent_failures_gives_400_events(
    booty: Booty, envelope_server: EnvelopeServer
) -> None:
    responses = burst(booty.base, [FAIL] * 400, clients=32)
    _wait_for_bodies(envelope_server, 400, timeout=30)
    booty.stop()
    events = _check_one_event_per_request(envelope_server, responses)
    assert len(events) == 400
    assert {e["exception"]["values"][-1]["value"] for e in events} == {"Sentry test error"}
    # The first ten of the storm at full detail, the rest lean but counted.
    assert sum("storm" not in e.get("contexts", {}) for e in events) == 10
    assert max(e["contexts"].get("storm", {}).get("count", 0) for e in events) == 400


def test_30_errors_then_sigterm_delivers_30(booty: Booty, envelope_server: EnvelopeServer) -> None:
    responses = burst(booty.base, [FAIL] * 30, clients=30)
    stderr = booty.stop()  # at once: whatever is still queued goes out in the shutdown flush
    assert "Application shutdown complete" in stderr
    events = _check_one_event_per_request(envelope_server, responses)
    assert len(events) == 30
