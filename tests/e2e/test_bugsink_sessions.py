"""Bugsink, a real Sentry-compatible server, accepts the request layer's session aggregates."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sentry_sdk.utils import Dsn

from tests.e2e.bugsink import Bugsink, running_bugsink
from tests.middleware.request.test_sessions import RELEASE, exercise, health_app, totals
from tests.support import CapturingTransport, wait_until


@pytest.fixture
def bugsink(tmp_path: Path) -> Iterator[Bugsink]:
    home = tmp_path / "bugsink"
    home.mkdir()
    with running_bugsink(home) as server:
        yield server


async def test_bugsink_accepts_the_session_aggregates_and_the_events_beside_them(
    bugsink: Bugsink, capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTRY_RELEASE", RELEASE)
    await exercise(health_app(capture))
    assert totals(capture.items("sessions")) == {"exited": 3, "crashed": 2, "errored": 1}
    dsn = Dsn(bugsink.dsn)
    url = f"{bugsink.url}/api/{dsn.project_id}/envelope/?sentry_key={dsn.public_key}"
    async with httpx.AsyncClient(timeout=30) as client:
        answers = [
            (await client.post(url, content=envelope.serialize())).status_code
            for envelope in capture.envelopes
        ]
    kinds = {item.type for envelope in capture.envelopes for item in envelope.items}
    assert "sessions" in kinds
    assert answers == [200] * len(capture.envelopes)
    wait_until(lambda: len(bugsink.stored()["events"]) == 3, "Bugsink to store 3 events", 60)
