"""The answer to an unhandled error: the app's own handler, else a JSON 500."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Scope

logger = logging.getLogger("middleware.request")

ExceptionHandlers = Mapping[Any, Callable[..., Any]]


async def app_response(
    handlers: ExceptionHandlers | None, scope: Scope, exc: Exception
) -> Response | None:
    """The app's own Exception/500 handler's response, built inside the request.

    Starlette calls that handler from ServerErrorMiddleware, outside the request
    layer: too late for X-Request-ID, get_request_id() or a response of its own.
    """
    handler = None
    for key, value in (handlers or {}).items():
        if key in (500, Exception):  # the same choice as Starlette.build_middleware_stack
            handler = value
    if handler is None:
        return None
    request = Request(scope)
    try:
        if is_async(handler):
            response = await handler(request, exc)
        else:
            response = await run_in_threadpool(handler, request, exc)
    except Exception:
        logger.exception("the app's exception handler failed")
        return None
    return response if isinstance(response, Response) else None


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
