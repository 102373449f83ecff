"""Fixtures on a real sentry_sdk client: in-memory envelopes and a real envelope server."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sentry_sdk
import sentry_sdk.utils
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

import middleware.lifespan
from tests.oracle import assert_nothing_left

FAKE_DSN = "https://publickey0123456789abcdef@sentry.invalid/42"


def items_of(envelopes: list[Envelope], kind: str) -> list[dict[str, Any]]:
    """The decoded payloads of the envelopes' items of one type ("event", "transaction")."""
    return [
        json.loads(item.get_bytes())
        for envelope in envelopes
        for item in envelope.items
        if item.type == kind
    ]


class CapturingTransport(Transport):
    """Keeps every envelope the real client would send."""

    def __init__(self) -> None:
        super().__init__()
        self.envelopes: list[Envelope] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope)

    def items(self, kind: str) -> list[dict[str, Any]]:
        return items_of(self.envelopes, kind)

    @property
    def events(self) -> list[dict[str, Any]]:
        return self.items("event")

    @property
    def transactions(self) -> list[dict[str, Any]]:
        return self.items("transaction")

    def serialized(self) -> bytes:
        return b"".join(envelope.serialize() for envelope in self.envelopes)


@pytest.fixture(autouse=True)
def _restore_sentry() -> Iterator[None]:
    """Restore the global sdk client and the plugin's process state after each test."""
    client = sentry_sdk.get_global_scope().client
    yield
    current = sentry_sdk.get_global_scope().client
    if current is not client:
        current.close(timeout=0)
        sentry_sdk.get_global_scope().set_client(client)
    middleware.lifespan._owner = None


@pytest.fixture(autouse=True)
def internal_exceptions(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[BaseException]]:
    """Fail the test when the sdk swallowed an error of ours (a broken hook or processor)."""
    errors: list[BaseException] = []
    original = sentry_sdk.utils.capture_internal_exception

    def capture(exc_info: Any) -> None:
        errors.append(exc_info[1])
        original(exc_info)

    monkeypatch.setattr(sentry_sdk.utils, "capture_internal_exception", capture)
    yield errors
    assert not errors, f"the sdk swallowed internal errors: {errors!r}"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Each test starts from the embedded defaults, whatever the host has set."""
    import os

    for name in list(os.environ):
        if name.startswith(("SENTRY_", "GITHUB_", "LLM_", "BOOTY_")) or name in {
            "CIRCLE_SHA1",
            "SOURCE_VERSION",
            "HEROKU_SLUG_COMMIT",
            "HEROKU_BUILD_COMMIT",
        }:
            monkeypatch.delenv(name)
    monkeypatch.setenv("BOOTY_DB_PATH", str(tmp_path / "booty.db"))


@pytest.fixture
def capture(monkeypatch: pytest.MonkeyPatch) -> Iterator[CapturingTransport]:
    """A DSN in the environment and a transport that keeps envelopes in memory.

    On teardown every event and transaction kept must give Sentry's own server-side
    scrubber nothing left to remove.
    """
    monkeypatch.setenv("SENTRY_DSN", FAKE_DSN)
    transport = CapturingTransport()
    yield transport
    assert_nothing_left(transport.events + transport.transactions, keep_ips=_sends_pii())


def _sends_pii() -> bool:
    import os

    return os.environ.get("SENTRY_SEND_DEFAULT_PII", "").strip().lower() in {"1", "true", "yes"}


class EnvelopeServer:
    """A real HTTP server on 127.0.0.1 that accepts envelopes as Sentry does."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.headers: list[dict[str, str]] = []
        self.status = 200
        self.response_headers: dict[str, str] = {}
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = self.rfile.read(length)
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                with server._lock:
                    server.bodies.append(body)
                    server.headers.append(dict(self.headers))
                self.send_response(server.status)
                for key, value in server.response_headers.items():
                    self.send_header(key, value)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.dsn = f"http://publickey0123456789abcdef@127.0.0.1:{self.port}/42"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def items(self, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            bodies = list(self.bodies)
        return items_of([Envelope.deserialize(body) for body in bodies], kind)

    @property
    def events(self) -> list[dict[str, Any]]:
        return self.items("event")

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError("the envelope server did not receive the expected items")
            time.sleep(0.01)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def envelope_server() -> Iterator[EnvelopeServer]:
    """Checked on teardown like `capture`."""
    server = EnvelopeServer()
    yield server
    server.close()
    assert_nothing_left(server.events + server.items("transaction"), keep_ips=_sends_pii())
