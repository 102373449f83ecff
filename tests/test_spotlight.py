"""Booty under uvicorn sends its errors to a real Spotlight sidecar (scripts/dev's set-up)."""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from tests.support import EnvelopeServer, free_port, wait_until

ROOT = Path(__file__).resolve().parent.parent
SPOTLIGHT = ROOT / "node_modules" / ".bin" / "spotlight"
DEADLINE = 30.0

pytestmark = [
    pytest.mark.spotlight,
    pytest.mark.skipif(shutil.which("node") is None, reason="Node is not installed"),
    pytest.mark.skipif(
        not SPOTLIGHT.exists(), reason="Spotlight is not installed: run `npm ci` at the repo root"
    ),
]


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def start(args: list[str], **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(args, cwd=ROOT, text=True, start_new_session=True, **kwargs)


def stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def sidecar() -> Iterator[int]:
    port = free_port()
    server = start(
        [str(SPOTLIGHT), "server", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(
            lambda: answers(f"http://127.0.0.1:{port}/health"), "spotlight server", DEADLINE
        )
        yield port
    finally:
        stop(server)


def booty(env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    environ = {**os.environ, **env}
    args = [sys.executable, "-m", "uvicorn", "booty.main:app", "--port", str(port)]
    process = start(args, env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return process, f"http://127.0.0.1:{port}"


def tail_errors(port: int, event_id: str) -> dict[str, Any]:
    """The error `spotlight tail errors -f json` prints for `event_id`."""
    tail = start(
        [str(SPOTLIGHT), "tail", "errors", "-f", "json", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    lines: queue.Queue[str] = queue.Queue()

    def read(stream: IO[str]) -> None:
        for line in stream:
            lines.put(line)

    assert tail.stdout is not None
    reader = threading.Thread(target=read, args=(tail.stdout,), daemon=True)
    reader.start()
    deadline = time.monotonic() + DEADLINE
    try:
        while True:
            try:
                line = lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                raise AssertionError(f"spotlight tail never printed event {event_id}") from None
            error: dict[str, Any] = json.loads(line)
            if error.get("event_id") == event_id:
                return error
    finally:
        stop(tail)
        reader.join(timeout=10)
        tail.stdout.close()


@pytest.mark.parametrize("mode", ["dsn-to-sidecar", "dsn-and-spotlight"])
def test_an_error_from_booty_shows_up_in_spotlight_tail(
    sidecar: int, envelope_server: EnvelopeServer, mode: str
) -> None:
    env: dict[str, str] = {}
    if mode == "dsn-to-sidecar":
        # scripts/dev without a SENTRY_DSN: the sidecar is the DSN.
        env["SENTRY_DSN"] = f"http://booty-local-dev@127.0.0.1:{sidecar}/0"
    else:
        # scripts/dev with a SENTRY_DSN: Sentry gets the event, Spotlight a copy.
        env["SENTRY_DSN"] = envelope_server.dsn
        env["SENTRY_SPOTLIGHT"] = f"http://127.0.0.1:{sidecar}/stream"
    process, url = booty(env)
    try:
        wait_until(lambda: answers(f"{url}/health"), "booty", DEADLINE)
        response = httpx.get(f"{url}/internal/sentry-test", timeout=10)
    finally:
        stop(process)

    assert response.status_code == 500
    body = response.json()
    error = tail_errors(sidecar, body["event_id"])
    assert error["exception_type"] == "RuntimeError"
    assert error["exception_value"] == "Sentry test error"
    assert error["request_id"] == response.headers["x-request-id"] == body["request_id"]
    assert error["environment"] == "development"
    if mode == "dsn-and-spotlight":
        assert [e["event_id"] for e in envelope_server.events] == [body["event_id"]]
