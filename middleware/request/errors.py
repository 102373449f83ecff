"""What an unhandled error becomes: the library's JSON 500, or nothing when the client left."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse
from starlette.websockets import WebSocketDisconnect

# A client that closes a WebSocket normally (1000) or goes away (1001, a tab
# closed) is no error; any other code (1006 abnormal, 1011 server error) is.
NORMAL_CLOSE_CODES = frozenset({1000, 1001})


def client_went_away(exc: BaseException) -> bool:
    """Whether `exc` only says the client hung up: no event, nothing to log.

    Starlette raises ClientDisconnect when the client leaves while the app reads
    the body (a webhook cut halfway), and WebSocketDisconnect when a socket
    closes; an unauthenticated client can raise either at will.
    """
    if isinstance(exc, ClientDisconnect):
        return True
    return isinstance(exc, WebSocketDisconnect) and exc.code in NORMAL_CLOSE_CODES


def error_response(request_id: str, event_id: str | None) -> JSONResponse:
    """The answer when the app has no handler: ids the caller can quote."""
    payload: dict[str, str] = {"detail": "Internal Server Error", "request_id": request_id}
    if event_id is not None:
        payload["event_id"] = event_id
    return JSONResponse(payload, status_code=500)


def is_async(handler: Callable[..., Any]) -> bool:
    while isinstance(handler, functools.partial):
        handler = handler.func
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
        getattr(handler, "__call__", None)  # noqa: B004 - an object with async __call__
    )
