"""Every error reaches Sentry: a real uvicorn `booty.main:app` and a real envelope server."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.e2e.server import Booty, burst, serve
from tests.support import EnvelopeServer, free_port, wait_until
from tests.support.corpus import (
    CLIENT_IP,
    CLIENT_IP_HEADERS,
    CORPUS,
    EMAIL,
    EMAIL_HEADERS,
    INTERNAL_TOKEN,
    QUERY_KEYS,
    SECRET_ENV_VALUES,
)

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


# Delivery that survives a far Sentry, a kill, an outage: envelopes spooled on disk.
SHUTDOWN_TIMEOUT = 2.0


def _spooled_env(dsn: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "SENTRY_DSN": dsn,
        "SENTRY_SPOOL_DIR": str(tmp_path / "spool"),
        "SENTRY_SHUTDOWN_TIMEOUT": str(SHUTDOWN_TIMEOUT),
        "BOOTY_DB_PATH": str(tmp_path / "delivery.db"),
        **extra,
    }


def _event_ids(server: EnvelopeServer) -> list[str]:
    return [e["event_id"] for e in server.events]


def _wait_for_events(server: EnvelopeServer, expected: set[str], timeout: float) -> None:
    wait_until(lambda: expected <= set(_event_ids(server)), "every event", timeout, interval=0.2)


def _answered_ids(responses: list[httpx.Response]) -> set[str]:
    assert [r.status_code for r in responses] == [500] * len(responses)
    return {r.json()["event_id"] for r in responses}


def _spool_files(tmp_path: Path) -> list[Path]:
    return [p for p in (tmp_path / "spool").iterdir() if not p.name.startswith(".")]


def test_a_far_sentry_then_sigterm_then_a_restart_delivers_every_event_once(
    tmp_path: Path,
) -> None:
    far = EnvelopeServer(delay=0.1)
    try:
        env = _spooled_env(far.dsn, tmp_path)
        with serve("booty.main:app", env, tmp_path) as first:
            expected = _answered_ids(burst(first.base, [FAIL] * 200, clients=32))
            asked = time.monotonic()
            first.stop()
            stopped = time.monotonic() - asked
        assert stopped <= SHUTDOWN_TIMEOUT + 1
        with serve("booty.main:app", env, tmp_path):
            _wait_for_events(far, expected, timeout=60)
            wait_until(lambda: not _spool_files(tmp_path), "an empty spool", 10)
        ids = _event_ids(far)
        assert set(ids) == expected
        assert len(ids) - len(expected) <= 2  # at most 1% sent twice
    finally:
        far.close()


def test_answered_failures_survive_a_sigkill(tmp_path: Path) -> None:
    far = EnvelopeServer(delay=0.1)
    try:
        env = _spooled_env(far.dsn, tmp_path)
        with serve("booty.main:app", env, tmp_path) as first:
            expected = _answered_ids(burst(first.base, [FAIL] * 60, clients=30))
            first.process.kill()
            first.process.wait(timeout=10)
        with serve("booty.main:app", env, tmp_path):
            _wait_for_events(far, expected, timeout=60)
        assert set(_event_ids(far)) == expected
    finally:
        far.close()


def test_errors_while_sentry_is_down_arrive_once_it_is_back(tmp_path: Path) -> None:
    port = free_port()
    env = _spooled_env(f"http://publickey0123456789abcdef@127.0.0.1:{port}/42", tmp_path)
    with serve("booty.main:app", env, tmp_path) as booty:
        expected = _answered_ids(burst(booty.base, [FAIL] * 50, clients=25))
        time.sleep(3)
        back = EnvelopeServer(port=port)
        try:
            _wait_for_events(back, expected, timeout=60)
        finally:
            booty.stop()
            back.close()
    assert set(_event_ids(back)) == expected


def test_a_bounded_spool_drops_the_oldest_and_says_so_once_sentry_is_back(
    tmp_path: Path,
) -> None:
    port = free_port()
    dsn = f"http://publickey0123456789abcdef@127.0.0.1:{port}/42"
    env = _spooled_env(dsn, tmp_path, SENTRY_SPOOL_MAX_MB="1")
    with serve("booty.main:app", env, tmp_path) as booty:
        expected = _answered_ids(burst(booty.base, [FAIL] * 400, clients=32))
        assert sum(p.stat().st_size for p in _spool_files(tmp_path)) <= 1024 * 1024
        back = EnvelopeServer(port=port)
        try:
            wait_until(lambda: not _spool_files(tmp_path), "an empty spool", 60, interval=0.2)
            booty.stop()  # its last flush sends the client report
        finally:
            back.close()
    delivered = set(_event_ids(back))
    assert delivered < expected
    dropped = sum(e.get("contexts", {}).get("spool", {}).get("dropped", 0) for e in back.events)
    lost = {
        (entry["reason"], entry["category"]): entry["quantity"]
        for report in back.items("client_report")
        for entry in report["discarded_events"]
    }
    # Every event is delivered or counted lost in a client report; the worker's
    # cron check-ins count too, in their own category.
    assert len(delivered) + lost[("cache_overflow", "error")] == 400
    # The same count rides on the events delivered, for servers that ignore
    # client reports.
    assert dropped == lost[("cache_overflow", "error")]


def test_two_workers_then_sigterm_then_a_restart_deliver_every_event_once(
    tmp_path: Path,
) -> None:
    far = EnvelopeServer(delay=0.1)
    try:
        env = _spooled_env(far.dsn, tmp_path)
        with serve("booty.main:app", env, tmp_path, args=("--workers", "2")) as first:
            expected = _answered_ids(burst(first.base, [FAIL] * 200, clients=32))
            first.stop()
        with serve("booty.main:app", env, tmp_path, args=("--workers", "2")):
            _wait_for_events(far, expected, timeout=60)
            wait_until(lambda: not _spool_files(tmp_path), "an empty spool", 10)
        ids = _event_ids(far)
        assert set(ids) == expected
        assert len(ids) - len(expected) <= 2
    finally:
        far.close()


def test_the_spool_holds_scrubbed_envelopes_only(tmp_path: Path) -> None:
    port = free_port()  # Sentry is down: every envelope stays on disk
    env = _spooled_env(
        f"http://publickey0123456789abcdef@127.0.0.1:{port}/42",
        tmp_path,
        **SECRET_ENV_VALUES,
        SENTRY_TRACES_SAMPLE_RATE="1.0",
        SENTRY_ENABLE_LOGS="true",
    )
    planted = [p for p in CORPUS if len(p.text) < 200]
    query = "&".join(
        [
            *(f"p{i}={quote(p.text, safe='')}" for i, p in enumerate(planted)),
            *(p.text for p in QUERY_KEYS),
        ]
    )
    headers = {f"X-Probe-{i}": p.text for i, p in enumerate(CORPUS)}
    headers.update({name: CLIENT_IP for name in CLIENT_IP_HEADERS})
    headers.update({name: EMAIL for name in EMAIL_HEADERS})
    with serve("booty.main:app", env, tmp_path) as booty:
        response = httpx.get(
            f"{booty.base}{FAIL}?{query}",
            headers={"Authorization": f"Bearer {INTERNAL_TOKEN}", **headers},
        )
        assert response.status_code == 500
        booty.stop()
    spool = tmp_path / "spool"
    files = _spool_files(tmp_path)
    spooled = b"".join(p.read_bytes() for p in files)
    assert response.json()["event_id"].encode() in spooled
    assert b'"type":"transaction"' in spooled
    assert spool.stat().st_mode & 0o777 == 0o700
    assert {p.stat().st_mode & 0o777 for p in files} == {0o600}
    needles = {n for p in [*CORPUS, *QUERY_KEYS] for n in p.all_needles} | {CLIENT_IP, EMAIL}
    for needle in sorted(needles):
        assert needle.encode() not in spooled, f"in the spool: {needle[-60:]}"
