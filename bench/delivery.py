"""Worker: delivery to a far Sentry, and what the spool adds to an event.

    python -m bench.delivery EVENTS WRITES

- Delivery rate: EVENTS typical events captured at once, sent to an envelope
  sink on 127.0.0.1 that answers each envelope after 100 ms (a hosted Sentry's
  round trip) from a process of its own, by the sdk's own transport and by the spooling transport
  (SENTRY_SEND_CONCURRENCY=4); events per second until the last arrived.
- Spool write: the median time of one capture_envelope of a typical event, by
  the spooling transport (serialise, write, rename, hand to a sender) and by
  the sdk's (hand to its thread), Sentry unreachable in both so that no
  sending competes; the difference is what the spool adds to an event. Beside
  them, in turn, the file system's own cost of one such file (create, write,
  rename): on a shared disk it swings tenfold, and the spool cannot pay less.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import sentry_sdk
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import HttpTransport, Transport

from bench.scrub import typical_event
from middleware.delivery import spool_transport

RTT = 0.1


SINK = """
import sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

received = 0
lock = threading.Lock()

class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        global received
        self.rfile.read(int(self.headers.get("content-length", 0)))
        time.sleep(float(sys.argv[1]))
        with lock:
            received += 1
        self._answer(b"{}")

    def do_GET(self):
        with lock:
            self._answer(str(received).encode())

    def _answer(self, body):
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


class Sink:
    """An envelope sink in a process of its own, so that it takes no GIL from the sender."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", SINK, str(RTT)], stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())
        self.dsn = f"http://bench0123456789abcdef@127.0.0.1:{self.port}/1"

    def received(self) -> int:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/") as answer:
            return int(answer.read())

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


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
        while (received := sink.received()) < events and time.perf_counter() - start < 120:
            time.sleep(0.05)
        return received / (time.perf_counter() - start)
    finally:
        client.close(timeout=0)
        sink.close()


def file_write(directory: Path, data: bytes, serial: int) -> None:
    """One envelope's file and nothing else: what any spool of a file per envelope pays."""
    temporary = f"{directory}/.{serial}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, data)
    os.close(fd)
    os.rename(temporary, f"{directory}/{serial}")


def captures(
    sdk: Transport, spooling: Transport, envelope: Envelope, floor: Path, writes: int
) -> dict[str, float]:
    """Median microseconds of each, taken in turn so that a busy disk slows all alike."""
    floor.mkdir()
    data = envelope.serialize()
    samples: dict[str, list[float]] = {"sdk-capture": [], "spool-capture": [], "file-write": []}
    for serial in range(writes):
        start = time.perf_counter()
        sdk.capture_envelope(envelope)
        middle = time.perf_counter()
        spooling.capture_envelope(envelope)
        end = time.perf_counter()
        file_write(floor, data, serial)
        samples["file-write"].append(time.perf_counter() - end)
        samples["sdk-capture"].append(middle - start)
        samples["spool-capture"].append(end - middle)
    return {name: statistics.median(times) * 1e6 for name, times in samples.items()}


def main() -> None:
    events, writes = int(sys.argv[1]), int(sys.argv[2])
    # Beside the checkout, as a service's state directory would be: /tmp on some
    # machines is another, slower file system.
    spool = Path(tempfile.mkdtemp(prefix=".bench-spool-", dir=Path(__file__).parent.parent))
    try:
        spooled = spool_transport(spool / "rate", max_mb=64, concurrency=4)
        results = {"sdk-rate": rate(None, events), "spool-rate": rate(spooled, events)}
        unreachable = "http://bench0123456789abcdef@127.0.0.1:9/1"
        envelope = Envelope()
        envelope.add_event(typical_event())
        options = _client(unreachable, HttpTransport).options
        sdk = HttpTransport(options)
        spooling = spool_transport(spool / "write", max_mb=1024, concurrency=4)(options)
        results.update(captures(sdk, spooling, envelope, spool / "floor", writes))
        sdk.kill()
        spooling.kill()
        print(json.dumps(results))
    finally:
        shutil.rmtree(spool, ignore_errors=True)


if __name__ == "__main__":
    main()
