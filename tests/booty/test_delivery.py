"""Every error reaches Sentry: a real uvicorn `booty.main:app` and a real envelope server."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import EnvelopeServer


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Booty:
    def __init__(self, process: subprocess.Popen[bytes], base: str, log: Path) -> None:
        self.process = process
        self.base = base
        self.log = log

    def stop(self) -> str:
        """SIGTERM, as systemd sends it; the server's stderr."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)
        return self.log.read_text()


@pytest.fixture
def booty(envelope_server: EnvelopeServer, tmp_path: Any) -> Iterator[Booty]:
    port = _free_port()
    env = {
        **os.environ,
        "SENTRY_DSN": envelope_server.dsn,
        "BOOTY_DB_PATH": str(tmp_path / "delivery.db"),
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "booty.main:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
    ]
    # A file, not a pipe: uvicorn logs a traceback per error, and a full pipe blocks it.
    log = tmp_path / "stderr.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(command, env=env, stderr=stderr)
    server = Booty(process, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(f"{server.base}/health").status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            raise AssertionError(f"booty did not start: {server.stop()}")
        time.sleep(0.05)
    try:
        yield server
    finally:
        server.stop()


async def _burst(base: str, count: int, clients: int) -> list[httpx.Response]:
    """`count` failing requests from `clients` concurrent connections, each with its own id."""
    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
        return await asyncio.gather(
            *(
                client.get(
                    "/internal/sentry-test",
                    # uvicorn closes a connection whose app raised, even after its 500.
                    headers={"X-Request-ID": uuid.uuid4().hex, "Connection": "close"},
                )
                for _ in range(count)
            )
        )


def _wait_for_bodies(server: EnvelopeServer, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len(server.bodies) < count and time.monotonic() < deadline:
        time.sleep(0.05)


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
    responses = asyncio.run(_burst(booty.base, 400, clients=32))
    _wait_for_bodies(envelope_server, 400, timeout=30)
    booty.stop()
    events = _check_one_event_per_request(envelope_server, responses)
    assert len(events) == 400
    assert {e["exception"]["values"][-1]["value"] for e in events} == {"Sentry test error"}
    # The first ten of the storm at full detail, the rest lean but counted.
    assert sum("storm" not in e.get("contexts", {}) for e in events) == 10
    assert max(e["contexts"].get("storm", {}).get("count", 0) for e in events) == 400


def test_30_errors_then_sigterm_delivers_30(booty: Booty, envelope_server: EnvelopeServer) -> None:
    responses = asyncio.run(_burst(booty.base, 30, clients=30))
    stderr = booty.stop()  # at once: whatever is still queued goes out in the shutdown flush
    assert "Application shutdown complete" in stderr
    events = _check_one_event_per_request(envelope_server, responses)
    assert len(events) == 30
