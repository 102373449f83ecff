"""Worker: delivery to a far Sentry, and what the spool adds to an event.

    python -m bench.delivery EVENTS WRITES

- Delivery rate: EVENTS typical events captured at once, sent to an envelope
  sink on 127.0.0.1 that answers each envelope after 100 ms (a hosted Sentry's
  round trip), by the sdk's own transport and by the spooling transport
  (SENTRY_SEND_CONCURRENCY=4); events per second until the last arrived.
- Spool write: the median time of one capture_envelope of a typical event, by
  the spooling transport (serialise, write, rename, hand to a sender) and by
  the sdk's (hand to its thread), Sentry unreachable in both so that no
  sending competes; the difference is what the spool adds to an event.
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import sentry_sdk
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import HttpTransport, Transport

from bench.scrub import typical_event
from middleware.delivery import spool_transport

RTT = 0.1


class Sink:
    def __init__(self) -> None:
        self.received = 0
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                time.sleep(RTT)
                with sink.lock:
                    sink.received += 1
                self.send_response(200)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.dsn = f"http://bench0123456789abcdef@127.0.0.1:{self.httpd.server_address[1]}/1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _client(dsn: str, transport: type[Transport]) -> sentry_sdk.Client:
    return sentry_sdk.Client(
        dsn, transport=transport, transport_queue_size=10_000, default_integrations=False
    )


def rate(transport: type[Transport] | None, events: int) -> float:
    sink = Sink()
    client = _client(sink.dsn, transport or HttpTransport)
    event = typical_event()
    try:
        start = time.perf_counter()
        for _ in range(events):
            client.capture_event(dict(event))  # type: ignore[arg-type]
        while sink.received < events and time.perf_counter() - start < 120:
            time.sleep(0.01)
        return sink.received / (time.perf_counter() - start)
    finally:
        client.close(timeout=0)
        sink.close()


def capture_us(transport: Transport, envelope: Envelope, writes: int) -> float:
    samples = []
    for _ in range(writes):
        start = time.perf_counter()
        transport.capture_envelope(envelope)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e6


def main() -> None:
    events, writes = int(sys.argv[1]), int(sys.argv[2])
    spool = Path(tempfile.mkdtemp(prefix="bench-spool-"))
    try:
        spooled = spool_transport(spool / "rate", max_mb=64, concurrency=4)
        results = {"sdk-rate": rate(None, events), "spool-rate": rate(spooled, events)}
        unreachable = "http://bench0123456789abcdef@127.0.0.1:9/1"
        envelope = Envelope()
        envelope.add_event(typical_event())
        options = _client(unreachable, HttpTransport).options
        sdk = HttpTransport(options)
        spooling = spool_transport(spool / "write", max_mb=1024, concurrency=4)(options)
        results["sdk-capture"] = capture_us(sdk, envelope, writes)
        results["spool-capture"] = capture_us(spooling, envelope, writes)
        sdk.kill()
        spooling.kill()
        print(json.dumps(results))
    finally:
        shutil.rmtree(spool, ignore_errors=True)


if __name__ == "__main__":
    main()
