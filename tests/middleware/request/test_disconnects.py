"""A client that hangs up is no error: no event, and no traceback in the server's log."""

from __future__ import annotations

import logging

import pytest
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Message, Scope
from starlette.websockets import WebSocket, WebSocketDisconnect

from middleware import SentryLifespan, instrument
from tests.support import CapturingTransport, websocket_scope


async def webhook(request: Request) -> Response:
    await request.body()
    return Response(status_code=204)


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.receive_text()


def app_with_routes(transport: CapturingTransport) -> Starlette:
    app = Starlette(
        routes=[Route("/webhook", webhook, methods=["POST"]), WebSocketRoute("/ws", echo)],
        lifespan=SentryLifespan(transport=transport),
    )
    instrument(app)
    return app


def post_scope() -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/webhook",
        "raw_path": b"/webhook",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-length", b"1000")],
        "server": ("test", 80),
        "client": ("127.0.0.1", 1234),
    }


async def test_a_body_cut_halfway_makes_no_event_and_propagates_as_in_starlette(
    capture: CapturingTransport,
) -> None:
    app = app_with_routes(capture)
    inbox: list[Message] = [
        {"type": "http.request", "body": b'{"half": ', "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> Message:
        return inbox.pop(0)

    async def send(message: Message) -> None:
        pass

    async with LifespanManager(app):
        with pytest.raises(ClientDisconnect):
            await app(post_scope(), receive, send)
    assert capture.events == []


@pytest.mark.parametrize(
    ("code", "error"), [(1000, False), (1001, False), (1006, True), (1011, True)]
)
async def test_only_an_abnormal_websocket_close_is_an_error(
    capture: CapturingTransport, code: int, error: bool
) -> None:
    app = app_with_routes(capture)
    inbox: list[Message] = [{"type": "websocket.connect"}]

    async def receive() -> Message:
        return inbox.pop(0) if inbox else {"type": "websocket.disconnect", "code": code}

    async def send(message: Message) -> None:
        pass

    scope = websocket_scope("/ws", request_id=b"ws-close-1")
    async with LifespanManager(app):
        with pytest.raises(WebSocketDisconnect):
            await app(scope, receive, send)
    if error:
        (event,) = capture.events
        assert event["tags"]["request_id"] == "ws-close-1"
        assert event["exception"]["values"][-1]["type"] == "WebSocketDisconnect"
    else:
        assert capture.events == []


@pytest.mark.parametrize(
    ("error", "logged"),
    [
        (ClientDisconnect(), False),
        (WebSocketDisconnect(1000), False),
        (WebSocketDisconnect(1001), False),
        (WebSocketDisconnect(1006), True),
        (RuntimeError("a real error"), True),
    ],
)
@pytest.mark.parametrize("server_logger", ["uvicorn.error", "hypercorn.error"])
async def test_the_server_logs_no_traceback_for_a_client_that_went_away(
    capture: CapturingTransport,
    caplog: pytest.LogCaptureFixture,
    error: Exception,
    logged: bool,
    server_logger: str,
) -> None:
    async with LifespanManager(app_with_routes(capture)):
        with caplog.at_level(logging.ERROR, logger=server_logger):
            logging.getLogger(server_logger).error("Exception in ASGI application", exc_info=error)
    seen = [r for r in caplog.records if r.getMessage() == "Exception in ASGI application"]
    assert len(seen) == (1 if logged else 0)
