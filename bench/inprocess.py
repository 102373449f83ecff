"""Worker: call one variant's ASGI app directly; print microseconds per request.

    python -m bench.inprocess VARIANT PATH SECONDS_PER_BATCH BATCHES

Times are the process's CPU time (all its threads: the sdk's sending thread
too), not the wall clock: on a shared machine the wall clock also counts the
time the neighbours had the CPU. Prints the least disturbed batch's mean per
request in CPU time and in wall time, the same for a bare FastAPI app measured
in turns with it in the same process (the reference), and the median and p99 of
the individual requests (the event-loop time each one took, everything in a
request being on the loop).

Once every lifespan has started, the process's heap is frozen as Booty's
lifespan does (gc.freeze), whatever the variant: the reference is then bare
FastAPI with its heap frozen, and no variant is credited with the freeze.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import statistics
import sys
import time
from typing import Any

from asgi_lifespan import LifespanManager
from starlette.types import ASGIApp, Message

from bench.apps import bare, build

MIN_REQUESTS = 10

HEADERS = [
    (b"host", b"127.0.0.1:8000"),
    (b"user-agent", b"bench/1.0"),
    (b"accept", b"*/*"),
    (b"accept-encoding", b"gzip, deflate"),
]


def http_scope(path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": HEADERS,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def _receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: Message) -> None:
    return None


class Batch:
    """CPU seconds of each request, and the wall-clock seconds of the whole batch."""

    def __init__(self, samples: list[float], wall: float) -> None:
        self.samples = samples
        self.wall = wall

    @property
    def cpu_mean(self) -> float:
        return statistics.fmean(self.samples)

    @property
    def wall_mean(self) -> float:
        return self.wall / len(self.samples)


async def batch(app: ASGIApp, scope: dict[str, Any], seconds: float) -> Batch:
    """For at least `seconds` of CPU and MIN_REQUESTS requests."""
    samples: list[float] = []
    clock = time.process_time
    started = time.perf_counter()
    end = clock() + seconds
    while True:
        start = clock()
        # The failing route re-raises after its 500, as it does under uvicorn.
        with contextlib.suppress(Exception):
            await app(dict(scope), _receive, _send)
        now = clock()
        samples.append(now - start)
        if now >= end and len(samples) >= MIN_REQUESTS:
            return Batch(samples, time.perf_counter() - started)


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def measure(variant: str, path: str, seconds: float, batches: int) -> dict[str, float]:
    app, reference = build(variant), bare()
    scope = http_scope(path)
    async with LifespanManager(app) as manager, LifespanManager(reference) as ref:
        gc.collect()
        gc.freeze()
        await batch(manager.app, scope, seconds / 2)  # warm-up
        await batch(ref.app, scope, seconds / 2)
        results, refs = [], []
        # Interleaved with a bare app in the same process: what slows one down
        # (a neighbour, the CPU's clock) slows the other, and the ratio stays.
        for _ in range(batches):
            results.append(await batch(manager.app, scope, seconds))
            refs.append(await batch(ref.app, scope, seconds))
    every = [x for r in results for x in r.samples]
    return {
        "us": min(r.cpu_mean for r in results) * 1e6,
        "ref": min(r.cpu_mean for r in refs) * 1e6,
        "wall": min(r.wall_mean for r in results) * 1e6,
        "wall_ref": min(r.wall_mean for r in refs) * 1e6,
        "p50": statistics.median(every) * 1e6,
        "p99": p99(every) * 1e6,
        "requests": len(every),
    }


def main() -> None:
    variant, path, seconds, batches = sys.argv[1:5]
    print(json.dumps(asyncio.run(measure(variant, path, float(seconds), int(batches)))))


if __name__ == "__main__":
    main()
