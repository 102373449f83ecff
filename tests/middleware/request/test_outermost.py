"""instrument() wraps the app's whole stack: the app's own error handling runs inside a request."""

from __future__ import annotations

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from middleware import RequestContextMiddleware, SentryLifespan, get_request_id, instrument
from tests.support import CapturingTransport, SentryInit, running


async def boom(request: Request) -> Response:
    raise RuntimeError("boom")


def starlette_app(transport: CapturingTransport, *, debug: bool = False) -> Starlette:
    return Starlette(
        debug=debug,
        routes=[Route("/boom", boom)],
        lifespan=SentryLifespan(transport=transport),
    )


class Failing:
    """A middleware that fails before the app runs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raise RuntimeError("the middleware failed")
        await self.app(scope, receive, send)


class Outside:
    """What a layer outside the app sees: the response it sends, the error it raises."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.started: list[Message] = []
        self.raised: list[BaseException] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def recording(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.started.append(message)
            await send(message)

        try:
            await self.app(scope, receive, recording)
        except Exception as exc:
            self.raised.append(exc)
            raise


async def test_the_apps_exception_handler_answers_inside_the_request_and_the_error_propagates(
    capture: CapturingTransport,
) -> None:
    app = FastAPI(lifespan=SentryLifespan(transport=capture))
    instrument(app)
    seen: list[str | None] = []

    @app.exception_handler(Exception)
    async def handler(request: Request, exc: Exception) -> Response:
        seen.append(get_request_id())
        return JSONResponse({"handled": type(exc).__name__}, status_code=503)

    app.add_route("/boom", boom)
    outside = Outside(app)
    async with LifespanManager(outside):
        # As Starlette's TestClient does by default: the app's error reaches the caller.
        transport = httpx.ASGITransport(app=outside, raise_app_exceptions=True)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            with pytest.raises(RuntimeError, match="boom"):
                await client.get("/boom", headers={"X-Request-ID": "handled-1"})
    assert seen == ["handled-1"]
    (started,) = outside.started
    assert started["status"] == 503
    assert (b"x-request-id", b"handled-1") in started["headers"]
    assert [type(exc) for exc in outside.raised] == [RuntimeError]
    (event,) = capture.events
    assert event["tags"]["request_id"] == "handled-1"
    assert event["exception"]["values"][-1]["type"] == "RuntimeError"


async def test_debug_keeps_starlettes_traceback_page(capture: CapturingTransport) -> None:
    app = starlette_app(capture, debug=True)
    instrument(app)
    async with running(app) as client:
        response = await client.get(
            "/boom", headers={"X-Request-ID": "debug-1", "Accept": "text/html"}
        )
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert "RuntimeError" in response.text
    assert response.headers["x-request-id"] == "debug-1"
    assert len(capture.events) == 1


@pytest.mark.parametrize("added", ["before", "after"])
async def test_an_error_in_any_middleware_is_captured_once_with_the_request_id(
    capture: CapturingTransport, added: str
) -> None:
    app = starlette_app(capture)
    if added == "before":
        app.add_middleware(Failing)
    instrument(app)
    if added == "after":
        app.add_middleware(Failing)
    async with running(app) as client:
        response = await client.get("/boom", headers={"X-Request-ID": f"mw-{added}"})
    (event,) = capture.events
    assert response.status_code == 500
    assert response.headers["x-request-id"] == f"mw-{added}"
    assert response.json() == {
        "detail": "Internal Server Error",
        "request_id": f"mw-{added}",
        "event_id": event["event_id"],
    }
    assert event["tags"]["request_id"] == f"mw-{added}"
    assert event["exception"]["values"][-1]["value"] == "the middleware failed"


async def test_the_json_500_can_be_turned_off(capture: CapturingTransport) -> None:
    app = starlette_app(capture)
    instrument(app, json_500=False)
    async with running(app) as client:
        response = await client.get("/boom", headers={"X-Request-ID": "plain-1"})
    assert response.status_code == 500
    assert response.text == "Internal Server Error"  # Starlette's own
    assert response.headers["x-request-id"] == "plain-1"
    assert len(capture.events) == 1


def test_instrument_refuses_an_app_that_already_started() -> None:
    app = Starlette()
    app.middleware_stack = app.build_middleware_stack()
    with pytest.raises(RuntimeError, match="before the app starts"):
        instrument(app)


async def test_a_response_start_without_headers_gets_the_request_id() -> None:
    async def bare(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 204})
        await send({"type": "http.response.body", "body": b""})

    transport = httpx.ASGITransport(app=RequestContextMiddleware(bare))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/", headers={"X-Request-ID": "no-headers-1"})
    assert response.status_code == 204
    assert response.headers["x-request-id"] == "no-headers-1"


async def test_a_scope_without_headers_is_served_and_its_error_captured(
    sentry_init: SentryInit,
) -> None:
    capture = sentry_init()

    async def failing(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("failed without headers")

    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "server": ("test", 80),
    }
    with pytest.raises(RuntimeError, match="failed without headers"):
        await RequestContextMiddleware(failing)(scope, receive, send)
    assert sent[0]["status"] == 500
    (event,) = capture.events
    assert event["request"]["method"] == "GET"
    assert event["tags"]["request_id"] == dict(sent[0]["headers"])[b"x-request-id"].decode()
