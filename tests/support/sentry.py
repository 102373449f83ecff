"""A real sentry_sdk transport that keeps envelopes, and a real envelope server."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from middleware import init_sentry, load_sentry_config
from tests.support.wait import wait_until

FAKE_DSN = "https://publickey0123456789abcdef@sentry.invalid/42"


def init_capturing(
    transport: CapturingTransport, *, secret_env: Iterable[str] = ()
) -> CapturingTransport:
    """The sdk initialised from the environment by the plugin's own init_sentry."""
    init_sentry(load_sentry_config(), secret_env=secret_env, transport=transport)
    return transport


class SentryInit(Protocol):
    """The `sentry_init` fixture: the sdk initialised from the environment, as the plugin does.

    Keyword variables (SENTRY_TRACES_SAMPLE_RATE="1") are set for the test first; the
    transport it returns keeps what the client sends.
    """

    def __call__(
        self, *, secret_env: Iterable[str] = (), **environment: str
    ) -> CapturingTransport: ...


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


class EnvelopeServer:
    """A real HTTP server on 127.0.0.1 that accepts envelopes as Sentry does.

    `delay` holds each answer that many seconds, so that a client's queue is
    still full when its process is told to stop.
    """

    def __init__(self, delay: float = 0.0, port: int = 0) -> None:
        self.bodies: list[bytes] = []
        self.headers: list[dict[str, str]] = []
        self.status = 200
        self.response_headers: dict[str, str] = {}
        # The most requests it was answering at once.
        self.most_in_flight = 0
        self._in_flight = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = self.rfile.read(length)
                if len(body) < length:
                    # The client went away mid-request (a SIGKILL): as Sentry would,
                    # take nothing; there is no one to answer.
                    return
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                with server._lock:
                    server._in_flight += 1
                    server.most_in_flight = max(server.most_in_flight, server._in_flight)
                if delay:
                    time.sleep(delay)
                with server._lock:
                    server._in_flight -= 1
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

        # A given port: Sentry coming back where a client has been failing to reach it.
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
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

    def received(self) -> int:
        """How many envelopes arrived."""
        with self._lock:
            return len(self.bodies)

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        wait_until(predicate, "the envelope server to receive the expected items", timeout)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
