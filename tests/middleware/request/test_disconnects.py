"""A client that hangs up is no error: no event, and nothing raised for the server to log."""

from __future__ import annotations

import pytest
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette
from starlette.requests import Request
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


async def test_a_body_cut_halfway_makes_no_event_and_raises_nothing(
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
        if error:
            with pytest.raises(WebSocketDisconnect):
                await app(scope, receive, send)
        else:
            await app(scope, receive, send)
    if error:
        (event,) = capture.events
        assert event["tags"]["request_id"] == "ws-close-1"
        assert event["exception"]["values"][-1]["type"] == "WebSocketDisconnect"
    else:
        assert capture.events == []
