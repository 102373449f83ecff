"""The request id: kept when valid, replaced when not, echoed once, in logs and websockets."""

from __future__ import annotations

import logging
import uuid

import pytest
from fastapi import HTTPException, WebSocket
from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import Message

from middleware import RequestContextMiddleware, RequestIdFilter, get_request_id
from tests.support import CapturingTransport, app_with, running, websocket_scope

logger = logging.getLogger("tests.app")


async def ok() -> dict[str, str | None]:
    return {"request_id": get_request_id()}


async def ws(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(get_request_id() or "")
    await websocket.close()


@pytest.mark.parametrize(
    "incoming",
    [
        "3b1f7e2a-55c4-4d2e-9a8f-0c1d2e3f4a5b",
        "5f3a9c7e1b2d4f6a8c0e2b4d6f8a0c2e",  # nginx $request_id
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",  # traceparent
        "req:1.2_3",
        "x" * 128,
    ],
)
async def test_valid_incoming_request_id_is_kept(incoming: str) -> None:
    async with running(app_with(APIRoute("/ok", ok))) as client:
        response = await client.get("/ok", headers={"X-Request-ID": incoming})
    assert response.headers["x-request-id"] == incoming
    assert response.json() == {"request_id": incoming}


@pytest.mark.parametrize(
    "incoming", ["", "x" * 129, "has space", "semi;colon", "<script>", "caf\u00e9", "a/b"]
)
async def test_invalid_request_id_is_replaced_and_never_reflected(
    incoming: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(app_with(APIRoute("/ok", ok))) as client:
        response = await client.get("/ok", headers={b"X-Request-ID": incoming.encode()})
    new = response.headers["x-request-id"]
    assert new != incoming
    assert len(new) == 32 and uuid.UUID(hex=new).version == 4
    (warning,) = [r for r in caplog.records if r.name == "middleware.request"]
    assert new in warning.getMessage()
    if incoming:
        assert incoming not in warning.getMessage()


async def test_request_id_is_generated_when_absent() -> None:
    async with running(app_with(APIRoute("/ok", ok))) as client:
        first = (await client.get("/ok")).headers["x-request-id"]
        second = (await client.get("/ok")).headers["x-request-id"]
    assert first != second


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/ok", 200),
        ("/missing", 404),
        ("/items/not-a-number", 422),
        ("/boom", 500),
        ("/http-404", 404),
        ("/http-500", 500),
    ],
)
async def test_request_id_is_echoed_on_every_response(
    capture: CapturingTransport, path: str, status: int
) -> None:
    async def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    async def boom() -> None:
        raise RuntimeError("boom")

    async def http_404() -> None:
        raise HTTPException(status_code=404)

    async def http_500() -> None:
        raise HTTPException(status_code=500, detail="broken")

    app = app_with(
        APIRoute("/ok", ok),
        APIRoute("/items/{item_id}", item),
        APIRoute("/boom", boom),
        APIRoute("/http-404", http_404),
        APIRoute("/http-500", http_500),
        transport=capture,
    )
    async with running(app) as client:
        response = await client.get(path, headers={"X-Request-ID": "echo-me"})
    assert response.status_code == status
    assert response.headers.get_list("x-request-id") == ["echo-me"]


async def test_an_existing_header_from_the_app_is_replaced_not_duplicated() -> None:
    async def handler(request: Request) -> PlainTextResponse:
        return PlainTextResponse("hi", headers={"X-Request-ID": "set-by-the-app"})

    app = Starlette(routes=[Route("/", handler)])
    app.add_middleware(RequestContextMiddleware)
    async with running(app) as client:
        response = await client.get("/", headers={"X-Request-ID": "from-client"})
    assert response.headers.get_list("x-request-id") == ["from-client"]


async def test_request_id_contextvar_is_reset_after_the_request() -> None:
    async with running(app_with(APIRoute("/ok", ok))) as client:
        await client.get("/ok")
        assert get_request_id() is None


async def test_log_filter_adds_the_request_id(caplog: pytest.LogCaptureFixture) -> None:
    caplog.handler.addFilter(RequestIdFilter())

    async def handler(request: Request) -> PlainTextResponse:
        logger.warning("inside")
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/", handler)])
    app.add_middleware(RequestContextMiddleware)
    async with running(app) as client:
        await client.get("/", headers={"X-Request-ID": "log-me"})
    logger.warning("outside")
    ids = {r.getMessage(): getattr(r, "request_id", None) for r in caplog.records}
    assert ids["inside"] == "log-me"
    assert ids["outside"] == "-"


@pytest.fixture(params=["sentry off", "sentry on"])
def sentry(request: pytest.FixtureRequest) -> CapturingTransport | None:
    """The request layer reads the id on two paths: with Sentry off, and with it on."""
    if request.param == "sentry off":
        return None
    transport: CapturingTransport = request.getfixturevalue("capture")
    return transport


async def test_the_replacement_warning_carries_the_new_request_id(
    caplog: pytest.LogCaptureFixture, sentry: CapturingTransport | None
) -> None:
    caplog.handler.addFilter(RequestIdFilter())
    async with running(app_with(APIRoute("/ok", ok), transport=sentry)) as client:
        response = await client.get("/ok", headers={"X-Request-ID": "bad value"})
    (warning,) = [r for r in caplog.records if r.name == "middleware.request"]
    assert getattr(warning, "request_id", None) == response.headers["x-request-id"]


async def test_only_the_first_request_id_header_counts(sentry: CapturingTransport | None) -> None:
    async with running(app_with(APIRoute("/ok", ok), transport=sentry)) as client:
        response = await client.get(
            "/ok", headers=[("X-Request-ID", "first-1"), ("X-Request-ID", "second-2")]
        )
        replaced = await client.get(
            "/ok", headers=[("X-Request-ID", "bad value"), ("X-Request-ID", "second-2")]
        )
    assert response.headers.get_list("x-request-id") == ["first-1"]
    assert response.json() == {"request_id": "first-1"}
    # The first one is the request's, bad or not: a second cannot stand in for it.
    assert replaced.headers["x-request-id"] not in ("bad value", "second-2")
    assert replaced.json() == {"request_id": replaced.headers["x-request-id"]}


async def test_custom_header_generator_and_validator() -> None:
    async def handler(request: Request) -> PlainTextResponse:
        return PlainTextResponse(get_request_id() or "")

    app = Starlette(routes=[Route("/", handler)])
    app.add_middleware(
        RequestContextMiddleware,
        header_name="X-Correlation-ID",
        generator=lambda: "generated",
        validator=lambda value: value.startswith("ok-"),
    )
    async with running(app) as client:
        kept = await client.get("/", headers={"X-Correlation-ID": "ok-1"})
        replaced = await client.get("/", headers={"X-Correlation-ID": "nope"})
    assert (kept.text, kept.headers["x-correlation-id"]) == ("ok-1", "ok-1")
    assert (replaced.text, replaced.headers["x-correlation-id"]) == ("generated", "generated")


async def test_websocket_gets_its_own_request_id_and_scope() -> None:
    app = app_with(APIWebSocketRoute("/ws", ws))
    messages: list[Message] = []
    inbox = [{"type": "websocket.connect"}]

    async def receive() -> Message:
        return inbox.pop(0) if inbox else {"type": "websocket.disconnect", "code": 1000}

    async def send(message: Message) -> None:
        messages.append(message)

    scope = websocket_scope("/ws", request_id=b"ws-1")
    await app(scope, receive, send)
    assert [m.get("text") for m in messages if m["type"] == "websocket.send"] == ["ws-1"]
