"""Every app on every server, as real subprocesses: one request layer, the same answers.

Each cell runs two server processes side by side: one plain (request ids, one
event per error, 50 concurrent errors, a mount, the flush on SIGTERM) and one
behind a root path.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from middleware.context import is_valid_request_id
from tests.compat.support import APP_MODULES, SERVER_MODULES, Served, require
from tests.oracle import assert_nothing_left

SERVERS = list(SERVER_MODULES)
APPS = list(APP_MODULES)
CONCURRENT = 50


def by_request_id(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        found.setdefault(event.get("tags", {}).get("request_id", "-"), []).append(event)
    return found


async def plain_checks(served: Served, client: httpx.AsyncClient) -> int:
    """Drive the plain server; return how many envelopes had arrived at SIGTERM."""
    base = served.base_url
    kept = await client.get(f"{base}/ok", headers={"X-Request-ID": "compat-keep-1"})
    assert kept.status_code == 200, served.tail()
    assert kept.headers["x-request-id"] == "compat-keep-1"
    assert kept.json() == {"request_id": "compat-keep-1"}

    replaced = await client.get(f"{base}/ok", headers={"X-Request-ID": "not valid!"})
    new_id = replaced.headers["x-request-id"]
    assert new_id != "not valid!" and is_valid_request_id(new_id)
    assert replaced.json() == {"request_id": new_id}

    one = await client.get(f"{base}/boom", headers={"X-Request-ID": "compat-one"})
    assert one.status_code == 500
    assert one.headers["x-request-id"] == "compat-one"
    mounted = await client.get(f"{base}/sub/boom", headers={"X-Request-ID": "compat-mount"})
    assert mounted.status_code == 500
    assert mounted.headers["x-request-id"] == "compat-mount"

    responses = await asyncio.gather(
        *(
            client.get(f"{base}/boom", headers={"X-Request-ID": f"compat-c-{i}"})
            for i in range(CONCURRENT)
        )
    )
    assert [r.status_code for r in responses] == [500] * CONCURRENT
    assert {r.headers["x-request-id"] for r in responses} == {
        f"compat-c-{i}" for i in range(CONCURRENT)
    }
    return served.envelopes.received()


def root_path_requests(server: str, app: str) -> dict[str, str]:
    """Request id -> the path the client sends, behind a root path of /pfx."""
    if server == "uvicorn":
        # uvicorn puts the root path into path itself: the proxy took /pfx off.
        return {"compat-root": "/boom"}
    # The others pass path through: the proxy may keep /pfx (the ASGI spec's form)...
    requests = {"compat-root": "/pfx/boom"}
    if app != "quart":
        # ...or take it off; Quart answers 404 to a path outside its root path.
        requests["compat-root-stripped"] = "/boom"
    return requests


async def root_path_checks(
    served: Served, client: httpx.AsyncClient, requests: dict[str, str]
) -> None:
    for request_id, path in requests.items():
        response = await client.get(
            f"{served.base_url}{path}", headers={"X-Request-ID": request_id}
        )
        assert response.status_code == 500, (path, served.tail())


@pytest.mark.parametrize("app", APPS)
@pytest.mark.parametrize("server", SERVERS)
async def test_cell(server: str, app: str, tmp_path: Path) -> None:
    require(SERVER_MODULES[server])
    require(APP_MODULES[app])
    target = f"tests.compat.apps.{app}_app:app"
    rooted = root_path_requests(server, app)
    plain = Served(server, target, tmp_path / "plain.log")
    prefixed = Served(server, target, tmp_path / "prefixed.log", root_path="/pfx", delay=0)
    try:
        # Servers close a connection whose request raised: no keep-alive, no stale reuse.
        limits = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:
            await asyncio.gather(plain.wait_ready(client), prefixed.wait_ready(client))
            at_sigterm, _ = await asyncio.gather(
                plain_checks(plain, client), root_path_checks(prefixed, client, rooted)
            )
        for served in (plain, prefixed):
            # Exit codes differ (uvicorn 0, granian and daphne their own); exiting counts.
            served.terminate()
        events = plain.envelopes.events
        prefixed_events = prefixed.envelopes.events
    finally:
        plain.close()
        prefixed.close()

    expected = {"compat-one", "compat-mount", *(f"compat-c-{i}" for i in range(CONCURRENT))}
    found = by_request_id(events)
    counts = Counter({rid: len(found.get(rid, [])) for rid in expected})
    assert set(found) == expected, (sorted(set(found) - expected), plain.tail())
    assert set(counts.values()) == {1}, counts.most_common(3)
    # The flush on SIGTERM: events were still queued when the signal came.
    assert at_sigterm < len(events)

    (one,) = found["compat-one"]
    assert one["request"]["url"] == f"{plain.base_url}/boom"
    (mounted,) = found["compat-mount"]
    assert mounted["request"]["url"] == f"{plain.base_url}/sub/boom"

    found = by_request_id(prefixed_events)
    assert set(found) == set(rooted)
    for request_id in rooted:
        (event,) = found[request_id]
        assert event["request"]["url"] == f"{prefixed.base_url}/pfx/boom"
    assert_nothing_left(events + prefixed_events)
