"""What a lifespan start costs: SentryLifespan's own time, against a bare lifespan.

    python -m bench.lifespan [--starts N]

One process starts and stops the same FastAPI app N times, as a test suite
does with one app per test: first with a bare lifespan (the baseline), then
with SentryLifespan, Sentry off and on (a real client with the sink
transport). The figure is the time from the lifespan's start to the app's own
startup being done, minus the bare one's; the first start is shown apart,
since it also freezes the startup heap, once per process. Times are the
process's CPU time; the target is at most 20 ms per start.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from bench.apps import DSN, SinkTransport
from middleware import SentryLifespan

TARGET_MS = 20.0


@asynccontextmanager
async def own(app: Any) -> AsyncIterator[None]:
    yield


async def starts(lifespan: Any, count: int) -> list[float]:
    """CPU milliseconds from each start to the app's startup done."""
    app = FastAPI(lifespan=lifespan)
    times: list[float] = []
    for _ in range(count):
        context = app.router.lifespan_context(app)
        started = time.process_time()
        await context.__aenter__()
        times.append((time.process_time() - started) * 1000)
        await context.__aexit__(None, None, None)
    return times


def line(name: str, times: list[float], bare: float) -> str:
    first, rest = times[0], times[1:]
    median = statistics.median(rest) - bare
    worst = max(rest) - bare
    verdict = "met" if median <= TARGET_MS else "MISSED"
    return (
        f"| {name} | {first - bare:.1f} | {median:.1f} | {worst:.1f} "
        f"| <= {TARGET_MS:.0f} ms: {verdict} |"
    )


async def main(count: int) -> None:
    gc.collect()
    bare = statistics.median((await starts(own, count))[1:])
    for name in list(os.environ):
        if name.startswith("SENTRY_"):
            del os.environ[name]
    off = await starts(SentryLifespan(own), count)
    os.environ["SENTRY_DSN"] = DSN
    on = await starts(SentryLifespan(own, transport=SinkTransport()), count)
    print(f"bare lifespan start: {bare:.2f} ms CPU (median of {count - 1})")
    print("| variant | first start (ms) | median (ms) | max (ms) | target |")
    print("|---|---:|---:|---:|---|")
    print(line("SentryLifespan, Sentry off", off, bare))
    print(line("SentryLifespan, Sentry on", on, bare))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.lifespan")
    parser.add_argument("--starts", type=int, default=50)
    asyncio.run(main(parser.parse_args().starts))
