"""Mount the request layer on a Starlette or FastAPI app."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from middleware.capture import capture_unhandled
from middleware.request_context import RequestContextMiddleware

MECHANISM = "asgi.http_exception"


def capture_server_errors(app: Starlette) -> None:
    """Capture every HTTPException with status >= 500 once, then answer as before.

    Starlette turns HTTPException into a response inside ExceptionMiddleware, so
    it never reaches a middleware; wrapping the handler is the one place to see it.
    """
    inner = app.exception_handlers.get(HTTPException)

    async def handler(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, HTTPException):  # pragma: no cover - registered for it
            raise exc
        if exc.status_code >= 500:
            capture_unhandled(exc, MECHANISM)
        if inner is not None:
            response = await inner(request, exc)
            return response  # type: ignore[no-any-return]
        # Starlette's own default for HTTPException (ExceptionMiddleware.http_exception).
        if exc.status_code in {204, 304}:
            return Response(status_code=exc.status_code, headers=exc.headers)
        return PlainTextResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)

    app.add_exception_handler(HTTPException, handler)


def instrument(app: Starlette, **options: Any) -> None:
    """Add RequestContextMiddleware and 5xx HTTPException capture to `app`."""
    app.add_middleware(RequestContextMiddleware, **options)
    capture_server_errors(app)
