"""Worker: time the scrubbing of a typical and a pathological event.

    python -m bench.scrub TYPICAL_RUNS PATHOLOGICAL_RUNS

The typical event is a real one: the exception of a failing request through
FastAPI's stack (frames with their local variables), request headers with
credentials, breadcrumbs, tags, serialised as the sdk does. The pathological
one adds what a careless `set_context` brings: wide, deep and long data.
"""

from __future__ import annotations

import asyncio
import copy
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any, cast

import sentry_sdk
from asgi_lifespan import LifespanManager
from sentry_sdk.scrubber import EventScrubber
from sentry_sdk.serializer import serialize
from sentry_sdk.types import Event
from sentry_sdk.utils import event_from_exception

from bench.apps import DSN, SinkTransport, bare
from bench.inprocess import _receive, _send, http_scope
from middleware.scrub.scrubber import Scrubber


async def _failing_request_exception() -> BaseException:
    app = bare()
    async with LifespanManager(app) as manager:
        try:
            await manager.app(http_scope("/fail"), _receive, _send)
        except Exception as exc:
            return exc
    raise RuntimeError("the failing route did not fail")


def typical_event() -> Event:
    sentry_sdk.init(dsn=DSN, transport=SinkTransport(), default_integrations=False)
    exc = asyncio.run(_failing_request_exception())
    built, _ = event_from_exception(exc, client_options=sentry_sdk.get_client().options)
    event: dict[str, Any] = dict(built)
    event["request"] = {
        "method": "GET",
        "url": "http://127.0.0.1:8000/fail",
        "query_string": "page=2&token=abc123",
        "headers": {
            "host": "127.0.0.1:8000",
            "user-agent": "Mozilla/5.0 (X11; Linux x86_64)",
            "accept": "application/json",
            "authorization": "Bearer ghp_0123456789abcdefghijklmnopqrstuvwxyz",
            "cookie": "session=0123456789abcdef; theme=dark",
            "x-api-key": "sk-0123456789abcdef",
            "x-request-id": "0123456789abcdef0123456789abcdef",
        },
    }
    event["breadcrumbs"] = {
        "values": [
            {"category": "httpx", "message": f"GET https://api.github.com/repos/o/r/{i}"}
            for i in range(20)
        ]
    }
    event["tags"] = {"request_id": "0123456789abcdef0123456789abcdef", "tenant_id": "t-42"}
    event["user"] = {"id": "u-1", "ip_address": "203.0.113.7"}
    return cast(Event, json.loads(json.dumps(serialize(event))))


def pathological_event(typical: Event) -> Event:
    event: dict[str, Any] = copy.deepcopy(dict(typical))
    deep: dict[str, Any] = {"password": "hunter2"}
    for i in range(200):
        deep = {"level": i, "token": f"t{i}", "child": deep}
    event["contexts"] = {
        "payload": {
            "wide": {f"key{i}": {"secret": "s", "value": i} for i in range(5000)},
            "rows": [
                {"id": i, "api_key": "k", "name": "x" * 50, "tags": ["a", "b"]}
                for i in range(2000)
            ],
            "blob": "x" * 1_000_000,
            "deep": deep,
        }
    }
    event["extra"] = {"headers": [{"authorization": "Bearer x"} for _ in range(1000)]}
    return cast(Event, event)


def booty_scrub(scrubber: Scrubber) -> Callable[[Event], object]:
    """What the sdk runs per event: the event scrubber, then before_send."""

    def scrub(event: Event) -> object:
        scrubber.event_scrubber.scrub_event(event)
        return scrubber.before_send(event, {})

    return scrub


def timed(
    scrubs: dict[str, tuple[Callable[[Event], object], Event]], runs: int
) -> dict[str, float]:
    """Median microseconds of CPU and of wall clock per event, the scrubs run in turns.

    In turns, so that a neighbour that takes the CPU for a while slows every
    scrub alike; each one gets a fresh copy of its event.
    """
    cpu: dict[str, list[float]] = {name: [] for name in scrubs}
    wall: dict[str, list[float]] = {name: [] for name in scrubs}
    for _ in range(runs):
        for name, (scrub, event) in scrubs.items():
            fresh = copy.deepcopy(event)
            start, start_wall = time.process_time(), time.perf_counter()
            scrub(fresh)
            cpu[name].append(time.process_time() - start)
            wall[name].append(time.perf_counter() - start_wall)
    return {
        **{name: statistics.median(v) * 1e6 for name, v in cpu.items()},
        **{f"{name}-wall": statistics.median(v) * 1e6 for name, v in wall.items()},
    }


def main() -> None:
    typical_runs, pathological_runs = int(sys.argv[1]), int(sys.argv[2])
    typical = typical_event()
    pathological = pathological_event(typical)
    sdk_default = EventScrubber().scrub_event
    booty = booty_scrub(Scrubber(secrets=["ghp_0123456789abcdefghijklmnopqrstuvwxyz"]))
    results = {
        **timed(
            {"sdk-typical": (sdk_default, typical), "booty-typical": (booty, typical)},
            typical_runs,
        ),
        **timed(
            {
                "sdk-pathological": (sdk_default, pathological),
                "booty-pathological": (booty, pathological),
            },
            pathological_runs,
        ),
    }
    print(json.dumps(results))


if __name__ == "__main__":
    main()
