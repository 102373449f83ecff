"""Booty against Bugsink, a real Sentry-compatible server: what it stores is what counts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.bugsink import Bugsink, running_bugsink
from tests.e2e.server import burst, serve
from tests.support import wait_until

RELEASE = "booty@1.2.3"
PLANTED_TOKEN = "ghp_PlantedToken0123456789abcdefABCDEF01"
PLANTED_QUERY = "planted-query-secret-0123456789abcdef"
PLANTED_HEADER = "planted-bearer-0123456789abcdefABCDEF"
FAIL = f"/internal/sentry-test?api_key={PLANTED_QUERY}"
DISTINCT = ["/e2e/key", "/e2e/zero", "/e2e/ledger"]


@pytest.fixture
def bugsink(tmp_path: Path) -> Iterator[Bugsink]:
    home = tmp_path / "bugsink"
    home.mkdir()
    with running_bugsink(home) as server:
        yield server


def booty_env(bugsink: Bugsink, tmp_path: Path) -> dict[str, str]:
    return {
        "SENTRY_DSN": bugsink.dsn,
        "SENTRY_RELEASE": RELEASE,
        "GITHUB_TOKEN": PLANTED_TOKEN,
        "BOOTY_DB_PATH": str(tmp_path / "booty.db"),
        # Bugsink on SQLite takes one write at a time: on a busy machine concurrent
        # envelopes can fail with "database is locked", a 500, which is not retried.
        "SENTRY_SEND_CONCURRENCY": "1",
    }


def wait_stored(bugsink: Bugsink, count: int, timeout: float = 90) -> dict[str, Any]:
    def enough() -> dict[str, Any] | None:
        stored = bugsink.stored()
        return stored if len(stored["events"]) >= count else None

    return wait_until(enough, f"Bugsink to store {count} events", timeout, interval=1)


def test_a_burst_and_three_distinct_errors_are_stored_whole(
    bugsink: Bugsink, tmp_path: Path
) -> None:
    with serve("tests.e2e.app:app", booty_env(bugsink, tmp_path), tmp_path) as booty:
        responses = burst(
            booty.base,
            [FAIL] * 100 + DISTINCT,
            headers={"Authorization": f"Bearer {PLANTED_HEADER}"},
        )
        # Booty keeps running: this is about the burst, the next test about shutdown.
        stored = wait_stored(bugsink, 103)
    assert [r.status_code for r in responses] == [500] * 103
    events = stored["events"]
    assert len(events) == 103
    assert sorted(e["event_id"] for e in events) == sorted(r.json()["event_id"] for r in responses)
    assert sorted(e["data"]["tags"]["request_id"] for e in events) == sorted(
        r.headers["x-request-id"] for r in responses
    )
    issues = sorted(stored["issues"], key=lambda i: -i["count"])
    assert [(i["type"], i["count"]) for i in issues][:1] == [("RuntimeError", 100)]
    assert sorted(i["type"] for i in issues[1:]) == [
        "KeyError",
        "LedgerError",
        "ZeroDivisionError",
    ]
    assert [i["count"] for i in issues[1:]] == [1, 1, 1]
    assert stored["releases"] == [RELEASE]
    assert {e["release"] for e in events} == {RELEASE}
    database = bugsink.database_bytes()
    for secret in (PLANTED_TOKEN, PLANTED_QUERY, PLANTED_HEADER):
        assert secret.encode() not in database
        assert all(secret not in str(e["data"]) for e in events)


def test_sigterm_right_after_a_burst_loses_nothing(bugsink: Bugsink, tmp_path: Path) -> None:
    env = booty_env(bugsink, tmp_path)
    # Bugsink digests each event inside its ingest request (the local template's
    # eager tasks), tens of milliseconds each, one at a time from the sdk's thread:
    # the flush needs more than the default 2 s that a hosted Sentry does not.
    env["SENTRY_SHUTDOWN_TIMEOUT"] = "10"
    with serve("tests.e2e.app:app", env, tmp_path) as booty:
        responses = burst(booty.base, [FAIL] * 50)
        started = time.monotonic()
        stderr = booty.stop()
        assert time.monotonic() - started < 10
    assert "Application shutdown complete" in stderr
    # Everything was flushed before Booty exited: nothing arrives later.
    stored = bugsink.stored()
    assert sorted(e["event_id"] for e in stored["events"]) == sorted(
        r.json()["event_id"] for r in responses
    )


def test_a_burst_then_sigterm_then_a_restart_stores_every_event(
    bugsink: Bugsink, tmp_path: Path
) -> None:
    # Bugsink digests one event at a time, tens of milliseconds each: a far Sentry.
    # With the default 2 s flush the first process leaves events in its spool.
    env = {**booty_env(bugsink, tmp_path), "SENTRY_SPOOL_DIR": str(tmp_path / "spool")}
    with serve("tests.e2e.app:app", env, tmp_path) as booty:
        responses = burst(booty.base, [FAIL] * 200)
        started = time.monotonic()
        booty.stop()
        assert time.monotonic() - started < 2 + 1
    with serve("tests.e2e.app:app", env, tmp_path):
        stored = wait_stored(bugsink, 200)
    assert [r.status_code for r in responses] == [500] * 200
    assert sorted(e["event_id"] for e in stored["events"]) == sorted(
        r.json()["event_id"] for r in responses
    )
