"""An attacker's probe of a real service: planted secrets, then grep what left the process.

`booty serve` (uvicorn) and a real envelope server; every planted value of the corpus
is looked for in the raw envelope bytes and in the service's own stdout and stderr.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx

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
    Planted,
)

FILTERED = "[Filtered]"
NEEDLES = sorted({n for p in [*CORPUS, *QUERY_KEYS] for n in p.all_needles} | {CLIENT_IP, EMAIL})


@dataclass
class Output:
    stdout: str = ""
    stderr: str = ""


@contextmanager
def serving(command: list[str], env: dict[str, str], port: int, logs: Path) -> Iterator[Output]:
    """The server's output goes to files: a pipe left unread would block it mid-traceback."""
    output = Output()
    stdout, stderr = logs / "stdout.txt", logs / "stderr.txt"
    with stdout.open("w") as out, stderr.open("w") as err:
        server = subprocess.Popen(
            command, env=env, stdout=out, stderr=err, cwd=Path(__file__).parents[2]
        )
    try:

        def healthy() -> bool:
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            except httpx.TransportError:
                return server.poll() is not None
            return True

        wait_until(healthy, "the server to listen", timeout=20)
        assert server.poll() is None, stderr.read_text()
        yield output
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)
        output.stdout, output.stderr = stdout.read_text(), stderr.read_text()


def _env(envelope_server: EnvelopeServer, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        **SECRET_ENV_VALUES,
        "SENTRY_DSN": envelope_server.dsn,
        # Transactions and their spans carry the request too.
        "SENTRY_TRACES_SAMPLE_RATE": "1.0",
        # So do Sentry logs.
        "SENTRY_ENABLE_LOGS": "true",
        "BOOTY_DB_PATH": str(tmp_path / "e2e.db"),
    }


def _probe_query() -> str:
    planted = [f"p{i}={quote(p.text, safe='')}" for i, p in enumerate(CORPUS) if len(p.text) < 200]
    return "&".join([*planted, *(p.text for p in QUERY_KEYS), "page=2"])


def _probe_headers() -> dict[str, str]:
    headers = {f"X-Probe-{i}": p.text for i, p in enumerate(CORPUS)}
    headers.update({name: CLIENT_IP for name in CLIENT_IP_HEADERS})
    headers.update({name: EMAIL for name in EMAIL_HEADERS})
    return headers


def _assert_nothing_planted_left(sent: bytes, output: Output) -> None:
    for needle in NEEDLES:
        assert needle.encode() not in sent, f"in an envelope: {needle[-60:]}"
        assert needle not in output.stdout, f"on stdout: {needle[-60:]}"
        assert needle not in output.stderr, f"on stderr: {needle[-60:]}"


def _sent(envelope_server: EnvelopeServer) -> bytes:
    with envelope_server._lock:
        return b"".join(envelope_server.bodies)


def test_booty_serve_lets_no_planted_value_out(
    envelope_server: EnvelopeServer, tmp_path: Path
) -> None:
    port = free_port()
    command = [sys.executable, "-m", "booty.cli", "serve", "--port", str(port)]
    with serving(command, _env(envelope_server, tmp_path), port, tmp_path) as output:
        response = httpx.get(
            f"http://127.0.0.1:{port}/internal/sentry-test?{_probe_query()}",
            headers={"Authorization": f"Bearer {INTERNAL_TOKEN}", **_probe_headers()},
        )
        assert response.status_code == 500
        wait_until(lambda: envelope_server.events, "the event")
        wait_until(lambda: envelope_server.items("transaction"), "the transaction")
        wait_until(lambda: envelope_server.items("log"), "Sentry logs")

    request_id = response.headers["x-request-id"]
    [event] = envelope_server.events
    assert envelope_server.items("transaction")
    assert envelope_server.items("log")
    assert event["tags"]["request_id"] == request_id
    [access] = [line for line in output.stdout.splitlines() if "/internal/sentry-test" in line]
    assert f'"GET /internal/sentry-test?p0={FILTERED}&p1={FILTERED}' in access
    # What is no secret stays for the operator.
    assert f"&{FILTERED}={FILTERED}&page=2 HTTP/1.1" in access
    assert access.split()[1].startswith("127.0.0.1:")
    assert access.endswith(f"[request_id={request_id}]")
    assert "Exception in ASGI application" in output.stderr
    _assert_nothing_planted_left(_sent(envelope_server), output)


def test_a_traceback_under_uvicorn_carries_filtered_messages(
    envelope_server: EnvelopeServer, tmp_path: Path
) -> None:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "tests.support.leaky:app",
        "--port",
        str(port),
    ]
    planted: list[Planted] = [p for p in CORPUS if len(p.text) < 200]
    # One error, many times: the storm guard would stop building its events. The
    # journal keeps client addresses unless told not to.
    env = {
        **_env(envelope_server, tmp_path),
        "SENTRY_STORM_LIMIT": "0",
        "SENTRY_LOCAL_LOGS_CLIENT_ADDRESS": "false",
    }
    with serving(command, env, port, tmp_path) as output:
        for p in planted:
            # Plain uvicorn trusts X-Forwarded-For from 127.0.0.1: the scope's client
            # becomes the planted address.
            response = httpx.get(
                f"http://127.0.0.1:{port}/reject",
                params={"value": p.text},
                headers={name: CLIENT_IP for name in CLIENT_IP_HEADERS},
            )
            assert response.status_code == 500
        wait_until(lambda: len(envelope_server.events) == len(planted), "the events")

    tracebacks = output.stderr.count("Exception in ASGI application")
    assert tracebacks == len(planted), output.stderr[-2000:]
    assert output.stderr.count(f"RuntimeError: rejected {FILTERED}") >= len(planted) - 2
    _assert_nothing_planted_left(_sent(envelope_server), output)
