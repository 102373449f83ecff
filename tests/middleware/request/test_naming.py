"""Every event of a request, and its transaction, carry the route's full template."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import sentry_sdk
from fastapi import APIRouter, FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from middleware import SentryLifespan, instrument
from tests.support import CapturingTransport, running

ENDPOINT = "tests.middleware.request.test_naming.routed_app.<locals>"


def routed_app(transport: CapturingTransport, **options: Any) -> FastAPI:
    """Routes behind two levels of include_router, each with its prefix."""
    app = FastAPI(lifespan=SentryLifespan(transport=transport))
    instrument(app, **options)
    api = APIRouter()
    users = APIRouter(prefix="/users")

    @users.get("/{user_id}/boom")
    async def boom(user_id: int) -> None:
        raise RuntimeError(f"boom {user_id}")

    @users.get("/{user_id}/message")
    async def message(user_id: int) -> dict[str, int]:
        sentry_sdk.capture_message(f"message {user_id}")
        return {"user_id": user_id}

    @users.get("/{user_id}/logged")
    async def logged(user_id: int) -> dict[str, int]:
        try:
            raise ValueError(f"logged {user_id}")
        except ValueError:
            logging.getLogger("tests.naming").exception("failed for a user")
        return {"user_id": user_id}

    @users.get("/{user_id}/custom")
    async def custom(user_id: int) -> None:
        sentry_sdk.get_current_scope().set_transaction_name("custom-x", source="custom")
        sentry_sdk.capture_message("custom message")
        raise RuntimeError("custom boom")

    api.include_router(users)
    app.include_router(api, prefix="/api/v1")
    return app


def names(transport: CapturingTransport) -> set[tuple[str, str]]:
    return {
        (item["transaction"], item["transaction_info"]["source"])
        for item in transport.events + transport.transactions
    }


@pytest.mark.parametrize("traces", ["0", "1.0"])
@pytest.mark.parametrize("kind", ["boom", "message", "logged"])
async def test_every_event_carries_the_route_with_every_router_prefix(
    capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch, traces: str, kind: str
) -> None:
    monkeypatch.setenv("SENTRY_TRACES_SAMPLE_RATE", traces)
    async with running(routed_app(capture)) as client:
        await client.get(f"/api/v1/users/123456/{kind}")
    assert len(capture.events) == 1
    assert len(capture.transactions) == (1 if traces == "1.0" else 0)
    assert names(capture) == {(f"/api/v1/users/{{user_id}}/{kind}", "route")}


@pytest.mark.parametrize("traces", ["0", "1.0"])
@pytest.mark.parametrize("kind", ["boom", "message", "logged"])
async def test_endpoint_style_names_every_event_by_its_function(
    capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch, traces: str, kind: str
) -> None:
    monkeypatch.setenv("SENTRY_TRACES_SAMPLE_RATE", traces)
    async with running(routed_app(capture, transaction_style="endpoint")) as client:
        await client.get(f"/api/v1/users/123456/{kind}")
    assert len(capture.events) == 1
    assert names(capture) == {(f"{ENDPOINT}.{kind}", "component")}


@pytest.mark.parametrize("traces", ["0", "1.0"])
async def test_a_custom_name_the_app_set_is_kept(
    capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch, traces: str
) -> None:
    monkeypatch.setenv("SENTRY_TRACES_SAMPLE_RATE", traces)
    async with running(routed_app(capture)) as client:
        await client.get("/api/v1/users/7/custom")
    assert len(capture.events) == 2
    assert names(capture) == {("custom-x", "custom")}


async def test_mount_prefixes_are_templates_not_the_requested_ids(
    capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTRY_TRACES_SAMPLE_RATE", "1.0")

    async def report(request: Request) -> PlainTextResponse:
        sentry_sdk.capture_message("report")
        return PlainTextResponse("ok")

    inner = Starlette(routes=[Route("/reports/{report_id}", report)])
    app = Starlette(
        routes=[Mount("/orgs/{org_id}", routes=[Mount("/v2", app=inner)])],
        lifespan=SentryLifespan(transport=capture),
    )
    instrument(app)
    async with running(app) as client:
        assert (await client.get("/orgs/acme-991/v2/reports/55")).status_code == 200
    assert names(capture) == {("/orgs/{org_id}/v2/reports/{report_id}", "route")}


async def test_traces_sampler_gets_the_context_the_stock_integration_gives(
    capture: CapturingTransport,
) -> None:
    seen: list[dict[str, Any]] = []

    def sampler(context: dict[str, Any]) -> float:
        seen.append(context)
        # A sampler written for the stock integration matches on the full URL.
        return 1.0 if context["transaction_context"]["name"].startswith("http://test/api/") else 0

    app = routed_app(capture)
    app.router.lifespan_context = SentryLifespan(transport=capture, traces_sampler=sampler)
    async with running(app) as client:
        await client.get("/api/v1/users/5/message?page=2")
        await client.get("/elsewhere")
    first, second = seen
    assert first["asgi_scope"]["path"] == "/api/v1/users/5/message"
    assert first["transaction_context"]["name"] == "http://test/api/v1/users/5/message"
    assert first["transaction_context"]["source"] == "url"
    assert first["transaction_context"]["op"] == "http.server"
    assert first["transaction_context"]["tags"]["asgi.type"] == "http"
    assert first["parent_sampled"] is None
    assert second["transaction_context"]["name"] == "http://test/elsewhere"
    (transaction,) = capture.transactions
    assert transaction["transaction"] == "/api/v1/users/{user_id}/message"


def test_a_bad_transaction_style_fails_at_instrument() -> None:
    with pytest.raises(ValueError, match="transaction_style must be 'url' or 'endpoint'"):
        instrument(FastAPI(), transaction_style="function")  # type: ignore[arg-type]


async def test_a_name_set_outside_any_request_does_not_name_the_requests(
    capture: CapturingTransport,
) -> None:
    # As a worker's or a startup's transaction leaves it on the scope requests fork.
    with sentry_sdk.new_scope() as outside:
        outside.set_transaction_name("startup", source="custom")
        async with running(routed_app(capture)) as client:
            await client.get("/api/v1/users/3/message")
    assert names(capture) == {("/api/v1/users/{user_id}/message", "route")}
