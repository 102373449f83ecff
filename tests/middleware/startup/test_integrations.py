"""The sdk's own integrations stay on beside the request layer: breadcrumbs and spans."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated, Any

import httpx
import pytest
import respx
import sentry_sdk
from asgi_lifespan import LifespanManager
from fastapi import FastAPI, Header
from pydantic import BaseModel
from sqlalchemy import create_engine, text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from middleware import SentryLifespan, init_sentry, instrument, load_sentry_config
from tests.support import CapturingTransport, run_python, running

SECRET = "plainvalue-7c1d0f4e9b2a"
UPSTREAM = "https://upstream.invalid/items"


def build_app(transport: CapturingTransport) -> Starlette:
    engine = create_engine("sqlite://")

    async def failing(request: Request) -> JSONResponse:
        async with httpx.AsyncClient() as client:
            await client.get(UPSTREAM, params={"api_key": SECRET, "page": "2"})
        with engine.connect() as connection:
            connection.execute(text(f"SELECT 1 WHERE 'token' != '{SECRET}'"))
        raise RuntimeError("failed after the upstream call and the query")

    app = Starlette(
        routes=[Route("/failing", failing)],
        lifespan=SentryLifespan(transport=transport, secret_env=["UPSTREAM_TOKEN"]),
    )
    instrument(app)
    return app


@pytest.fixture
def upstream(monkeypatch: pytest.MonkeyPatch) -> Iterator[respx.MockRouter]:
    monkeypatch.setenv("UPSTREAM_TOKEN", SECRET)
    with respx.mock(assert_all_called=True) as router:
        router.get(UPSTREAM).mock(return_value=httpx.Response(200, json=[]))
        yield router


@pytest.mark.usefixtures("upstream")
async def test_http_and_db_calls_leave_scrubbed_breadcrumbs_on_the_one_event(
    capture: CapturingTransport,
) -> None:
    async with running(build_app(capture)) as client:
        response = await client.get("/failing")
    assert response.status_code == 500
    (event,) = capture.events
    crumbs = event["breadcrumbs"]["values"]
    (http,) = [c for c in crumbs if c.get("category") == "httplib"]
    assert http["data"]["url"] == UPSTREAM
    # The sdk names it "status_code" before 2.6x and "http.response.status_code" after.
    assert 200 in (http["data"].get("status_code"), http["data"].get("http.response.status_code"))
    assert http["data"]["http.query"] == "[Filtered]"
    (query,) = [c for c in crumbs if c.get("category") == "query"]
    assert query["message"].startswith("SELECT 1 WHERE 'token' != ")
    assert SECRET.encode() not in capture.serialized()


@pytest.mark.usefixtures("upstream")
async def test_http_and_db_calls_are_spans_of_the_request_under_tracing(
    capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTRY_TRACES_SAMPLE_RATE", "1")
    async with running(build_app(capture)) as client:
        await client.get("/failing")
    (event,) = capture.events
    (transaction,) = capture.transactions
    assert event["contexts"]["trace"]["trace_id"] == transaction["contexts"]["trace"]["trace_id"]
    ops = {span["op"] for span in transaction["spans"]}
    assert {"http.client", "db"} <= ops
    (call,) = [s for s in transaction["spans"] if s["op"] == "http.client"]
    assert call["description"] == f"GET {UPSTREAM}"
    assert SECRET.encode() not in capture.serialized()


def test_the_sdks_framework_integrations_are_off_and_the_rest_on(
    capture: CapturingTransport,
) -> None:
    client = init_sentry(load_sentry_config(), transport=capture)
    enabled = set(client.integrations)
    assert {"httpx", "sqlalchemy", "stdlib", "logging"} <= enabled
    assert not enabled & {"starlette", "fastapi", "litestar", "quart"}
    assert sentry_sdk.get_client() is client


# The sdk sets an integration up once per process, so this runs in a fresh one.
EARLIER_CLIENT = """
import asyncio, json, os
import sentry_sdk
from starlette.applications import Starlette
from starlette.routing import Route
from middleware import SentryLifespan, instrument
from tests.support import CapturingTransport, running

# An earlier client with the defaults (a bare sentry_sdk.init() gives them) sets
# the stock Starlette integration up, patching Starlette.__call__ for the process.
sentry_sdk.Client("https://key@example.invalid/1").close(timeout=0)
os.environ.update(SENTRY_DSN="https://key@example.invalid/1", SENTRY_SEND_DEFAULT_PII="true")

async def failing(request):
    raise RuntimeError("failed once")

async def main():
    capture = CapturingTransport()
    lifespan = SentryLifespan(transport=capture)
    app = Starlette(routes=[Route("/failing", failing)], lifespan=lifespan)
    instrument(app)
    async with running(app) as client:
        await client.get("/failing", headers={"X-Real-IP": "203.0.113.9"})
        enabled = sorted(sentry_sdk.get_client().integrations)
    print(json.dumps({"enabled": enabled, "events": capture.events}))

asyncio.run(main())
"""


def test_a_framework_integration_an_earlier_client_set_up_stays_off() -> None:
    out = run_python(EARLIER_CLIENT)
    result = json.loads(out.splitlines()[-1])
    # One event, ours: the stock middleware would add a second, and take the
    # client's address from a header any client can send.
    (event,) = result["events"]
    assert event["exception"]["values"][0]["mechanism"]["type"] == "asgi.request_context"
    assert event["request"]["env"] == {"REMOTE_ADDR": "127.0.0.1"}
    assert not set(result["enabled"]) & {"starlette", "fastapi"}


# The sdk keeps, per process, which integrations it set up; so a fresh process.
RESTARTS = """
import asyncio, importlib.abc, json, os, sys
import sentry_sdk
from sentry_sdk.integrations.sqlalchemy import SqlalchemyIntegration
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette
from middleware import SentryLifespan
from tests.support import CapturingTransport

class Looks(importlib.abc.MetaPathFinder):
    # Asked only for a module not loaded yet: one an init imports (again).
    def __init__(self):
        self.names = []
    def find_spec(self, name, path=None, target=None):
        if name.startswith("sentry_sdk.integrations."):
            self.names.append(name)
        return None

# An earlier client that did not look for the auto-enabling integrations.
earlier = sentry_sdk.Client("https://key@example.invalid/1", auto_enabling_integrations=False)
earlier.close(timeout=0)
os.environ["SENTRY_DSN"] = "https://key@example.invalid/1"

async def start(app):
    looks = Looks()
    sys.meta_path.insert(0, looks)
    try:
        async with LifespanManager(app):
            enabled = sorted(sentry_sdk.get_client().integrations)
    finally:
        sys.meta_path.remove(looks)
    return {"enabled": enabled, "looked": looks.names}

async def main():
    app = Starlette(lifespan=SentryLifespan(transport=CapturingTransport()))
    other = Starlette(lifespan=SentryLifespan(
        transport=CapturingTransport(), disabled_integrations=[SqlalchemyIntegration()]
    ))
    print(json.dumps([await start(app), await start(app), await start(other)]))

asyncio.run(main())
"""


def test_a_restart_sets_up_the_same_integrations_without_importing_them_again() -> None:
    out = run_python(RESTARTS)
    first, again, other = json.loads(out.splitlines()[-1])
    # The first start looks, though an earlier client did not: the libraries found.
    assert {"httpx", "sqlalchemy", "stdlib", "logging"} <= set(first["enabled"])
    assert "sentry_sdk.integrations.aiohttp" in first["looked"]
    # Later ones set the same up, and import no integration of a missing library again.
    assert again == {"enabled": first["enabled"], "looked": []}
    # An app's disabled_integrations still holds.
    assert other["enabled"] == [i for i in first["enabled"] if i != "sqlalchemy"]
    assert other["looked"] == []


class StrictHeaders(BaseModel):
    model_config = {"extra": "forbid"}
    host: str


def strict_app(transport: CapturingTransport, **options: Any) -> FastAPI:
    app = FastAPI(lifespan=SentryLifespan(transport=transport, **options))
    instrument(app)

    @app.get("/strict")
    async def strict(headers: Annotated[StrictHeaders, Header()]) -> dict[str, str]:
        return {}

    return app


@pytest.mark.parametrize(("targets", "status"), [(None, 422), ([], 200)])
async def test_the_test_client_s_requests_carry_trace_headers_unless_told_not_to(
    capture: CapturingTransport, targets: list[str] | None, status: int
) -> None:
    # docs/migrating.md: the sdk's httpx integration adds sentry-trace and baggage
    # to the app's own test-client requests, which a strict header model refuses.
    options = {} if targets is None else {"trace_propagation_targets": targets}
    # A plain httpx client, as an app's own tests use (tests.support's is not instrumented).
    async with LifespanManager(strict_app(capture, **options)) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            client.headers.clear()  # httpx's own defaults: only Host is left
            response = await client.get("/strict")
    assert response.status_code == status, response.text
