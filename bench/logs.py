"""What SENTRY_ENABLE_LOGS costs a request that logs: logs off against logs on.

    python -m bench.logs [--seconds S] [--rounds N]

One process, one FastAPI app behind the middleware, a route that logs 1 or 10
INFO lines with a parameter. Each round runs every variant in turn, each inside
its own lifespan (Sentry initialised with logs off or on, the same sink
transport that encodes envelopes), and keeps the least disturbed batch. Times
are the process's CPU time, which also counts the sdk's batcher thread that
encodes the log items. The baseline is logs off with the same number of lines,
measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import time

from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from starlette.types import ASGIApp

from bench.apps import DSN, SinkTransport
from bench.inprocess import _receive, _send, http_scope
from middleware import SentryLifespan, instrument

logger = logging.getLogger("bench.logs")


def build(transport: SinkTransport) -> FastAPI:
    app = FastAPI(lifespan=SentryLifespan(transport=transport))
    instrument(app)

    @app.get("/log/{lines}")
    async def log(lines: int) -> dict[str, str]:
        for i in range(lines):
            logger.info("job %s: step %d done", "j-42", i)
        return {"status": "ok"}

    return app


async def batch(app: ASGIApp, path: str, seconds: float) -> float:
    """Mean CPU seconds per request over one batch of at least `seconds`."""
    scope = http_scope(path)
    clock = time.process_time
    count = 0
    start = clock()
    end = start + seconds
    while True:
        await app(dict(scope), _receive, _send)
        count += 1
        now = clock()
        if now >= end and count >= 20:
            return (now - start) / count


async def measure(logs: bool, lines: int, seconds: float) -> float:
    os.environ["SENTRY_ENABLE_LOGS"] = "true" if logs else "false"
    transport = SinkTransport()
    app = build(transport)
    async with LifespanManager(app) as manager:
        path = f"/log/{lines}"
        await batch(manager.app, path, seconds / 4)  # warm-up
        return await batch(manager.app, path, seconds)


async def main(seconds: float, rounds: int) -> None:
    os.environ["SENTRY_DSN"] = DSN
    os.environ["SENTRY_ENVIRONMENT"] = "bench"
    logging.getLogger().setLevel(logging.INFO)
    variants = [(logs, lines) for lines in (1, 10) for logs in (False, True)]
    best: dict[tuple[bool, int], float] = {}
    for r in range(rounds):
        k = r % len(variants)
        for variant in variants[k:] + variants[:k]:
            took = await measure(*variant, seconds)
            best[variant] = min(best.get(variant, took), took)

    print(f"{'lines':>5}  {'logs off µs':>11}  {'logs on µs':>10}  {'ratio':>5}  {'µs a line':>9}")
    for lines in (1, 10):
        off, on = best[(False, lines)], best[(True, lines)]
        print(
            f"{lines:>5}  {off * 1e6:>11.1f}  {on * 1e6:>10.1f}  {on / off:>5.2f}"
            f"  {(on - off) / lines * 1e6:>9.1f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.seconds, args.rounds))
