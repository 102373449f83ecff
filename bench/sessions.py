"""What release health costs a request: session tracking off against on.

    python -m bench.sessions [--seconds S] [--rounds N]

One process, one FastAPI app behind the middleware with SENTRY_RELEASE set,
each variant inside its own lifespan (the same sink transport that encodes
envelopes), rounds interleaved, the least disturbed batch kept. Times are the
process's CPU time per request, which also counts the sdk's flusher thread. The
baseline is tracking off on the same route, measured in the same run; the
budget for tracking is 5 µs a request.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time

from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from starlette.types import ASGIApp

from bench.apps import DSN, SinkTransport, add_routes
from bench.inprocess import _receive, _send, http_scope
from middleware import SentryLifespan, instrument

PATHS = ("/ok", "/fail")


async def batch(app: ASGIApp, path: str, seconds: float) -> float:
    """Mean CPU seconds per request over one batch of at least `seconds`."""
    scope = http_scope(path)
    clock = time.process_time
    count = 0
    start = clock()
    end = start + seconds
    while True:
        # The failing route re-raises after its 500, as it does under uvicorn.
        with contextlib.suppress(Exception):
            await app(dict(scope), _receive, _send)
        count += 1
        now = clock()
        if now >= end and count >= 20:
            return (now - start) / count


def build(transport: SinkTransport) -> FastAPI:
    app = FastAPI(lifespan=SentryLifespan(transport=transport))
    instrument(app)
    add_routes(app)
    return app


async def measure(tracking: bool, path: str, seconds: float) -> float:
    os.environ["SENTRY_AUTO_SESSION_TRACKING"] = "true" if tracking else "false"
    app = build(SinkTransport())
    async with LifespanManager(app) as manager:
        await batch(manager.app, path, seconds / 4)  # warm-up
        return await batch(manager.app, path, seconds)


async def main(seconds: float, rounds: int) -> None:
    os.environ["SENTRY_DSN"] = DSN
    os.environ["SENTRY_ENVIRONMENT"] = "bench"
    os.environ["SENTRY_RELEASE"] = "bench@1.0.0"
    variants = [(tracking, path) for path in PATHS for tracking in (False, True)]
    best: dict[tuple[bool, str], float] = {}
    for r in range(rounds):
        k = r % len(variants)
        for variant in variants[k:] + variants[:k]:
            took = await measure(*variant, seconds)
            best[variant] = min(best.get(variant, took), took)

    print(f"{'route':>5}  {'off µs':>7}  {'on µs':>7}  {'ratio':>5}  {'µs a request':>12}")
    for path in PATHS:
        off, on = best[(False, path)], best[(True, path)]
        print(
            f"{path:>5}  {off * 1e6:>7.1f}  {on * 1e6:>7.1f}  {on / off:>5.3f}"
            f"  {(on - off) * 1e6:>12.2f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.seconds, args.rounds))
