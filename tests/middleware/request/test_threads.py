"""A sync endpoint's transaction and profile name the thread that ran it, not the event loop."""

from __future__ import annotations

import threading
import time

import pytest
from fastapi import APIRouter, FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from middleware import SentryLifespan, instrument
from tests.oracle import assert_nothing_left
from tests.support import CapturingTransport, running


def worker_thread() -> dict[str, int]:
    # Long enough for the profiler to take the samples a profile needs to be sent.
    time.sleep(0.12)
    return {"thread": threading.get_ident()}


def fastapi_app(transport: CapturingTransport) -> FastAPI:
    app = FastAPI(lifespan=SentryLifespan(transport=transport))
    router = APIRouter()

    @app.get("/direct")
    def direct() -> dict[str, int]:
        return worker_thread()

    @router.get("/items/{item}")
    def routed(item: int) -> dict[str, int]:
        return worker_thread()

    app.include_router(router, prefix="/api")
    instrument(app)
    return app


def starlette_app(transport: CapturingTransport) -> Starlette:
    def endpoint(request: Request) -> JSONResponse:
        return JSONResponse(worker_thread())

    app = Starlette(
        routes=[
            Route("/direct", endpoint),
            Mount("/api", routes=[Route("/items/{item}", endpoint)]),
        ],
        lifespan=SentryLifespan(transport=transport),
    )
    instrument(app)
    return app


@pytest.mark.parametrize("make_app", [fastapi_app, starlette_app])
async def test_a_sync_endpoint_s_transaction_and_profile_name_its_worker_thread(
    capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch, make_app: object
) -> None:
    monkeypatch.setenv("SENTRY_TRACES_SAMPLE_RATE", "1.0")
    monkeypatch.setenv("SENTRY_PROFILES_SAMPLE_RATE", "1.0")
    assert callable(make_app)
    async with running(make_app(capture)) as client:
        ran = [(await client.get(path)).json()["thread"] for path in ("/direct", "/api/items/7")]

    loop_thread = threading.get_ident()
    assert loop_thread not in ran
    transactions = {t["transaction"]: t for t in capture.transactions}
    assert set(transactions) == {"/direct", "/api/items/{item}"}
    for name, thread in zip(("/direct", "/api/items/{item}"), ran, strict=True):
        data = transactions[name]["contexts"]["trace"]["data"]
        assert data["thread.id"] == str(thread), name
    profiled = {
        p["transactions"][0]["name"]: p["transactions"][0]["active_thread_id"]
        for p in capture.items("profile")
    }
    assert profiled == {"/direct": str(ran[0]), "/api/items/{item}": str(ran[1])}
    assert_nothing_left(capture.transactions)


async def test_an_app_that_never_traces_keeps_its_endpoints_as_they_are(
    capture: CapturingTransport,
) -> None:
    app = FastAPI(lifespan=SentryLifespan(transport=capture))

    @app.get("/wrong")
    def wrong() -> int:
        return "not a number"  # type: ignore[return-value]

    instrument(app)
    async with running(app) as client:
        assert (await client.get("/wrong")).status_code == 500

    # FastAPI's error names the endpoint's own file and line, not a wrapper's.
    (event,) = capture.events
    message = event["exception"]["values"][-1]["value"]
    assert f'File "{__file__}"' in message
    assert "middleware/request/threads.py" not in message
