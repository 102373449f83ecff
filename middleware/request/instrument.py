"""Mount the request layer on a Starlette or FastAPI app."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp

from middleware.capture import capture_unhandled
from middleware.context import is_valid_request_id
from middleware.request.data import BodySize
from middleware.request.errors import is_async
from middleware.request.middleware import RequestContextMiddleware
from middleware.request.threads import mark_sync_endpoints
from middleware.request.tracing import DEFAULT_METHODS, TransactionStyle, checked_style

MECHANISM = "asgi.http_exception"
DEFAULT_FAILED_STATUS_CODES = frozenset(range(500, 600))

Handler = Callable[..., Any]


async def _starlette_default(request: Request, exc: Exception) -> Response:
    """Starlette's own answer to an HTTPException (ExceptionMiddleware.http_exception)."""
    if not isinstance(exc, HTTPException):  # pragma: no cover - registered for it
        raise exc
    if exc.status_code in {204, 304}:
        return Response(status_code=exc.status_code, headers=exc.headers)
    return PlainTextResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)


class _Capturing:
    """An exception handler that first captures a failed HTTPException, then answers."""

    def __init__(self, inner: Handler, codes: frozenset[int]) -> None:
        self.inner = inner
        self.codes = codes
        self.inner_is_async = is_async(inner)

    async def __call__(self, request: Request, exc: Exception) -> Any:
        if isinstance(exc, HTTPException) and exc.status_code in self.codes:
            capture_unhandled(exc, MECHANISM)
        if self.inner_is_async:
            return await self.inner(request, exc)
        return await run_in_threadpool(self.inner, request, exc)


class _CapturingHandlers(dict[Any, Handler]):
    """The app's exception handlers, each one also capturing failed HTTPExceptions.

    Starlette turns HTTPException into a response inside ExceptionMiddleware, so
    it never reaches a middleware: its handler is the one place to see it. Every
    handler is wrapped as it is registered, so a handler added after instrument()
    (for HTTPException, a subclass or a status code) still captures. Exception and
    500 stay as they are: their error re-raises into RequestContextMiddleware.
    """

    def __init__(self, handlers: Iterable[tuple[Any, Handler]], codes: frozenset[int]) -> None:
        super().__init__()
        self.codes = codes
        for key, value in handlers:
            self[key] = value

    def __setitem__(self, key: Any, value: Handler) -> None:
        if key not in (500, Exception) and not isinstance(value, _Capturing):
            value = _Capturing(value, self.codes)
        super().__setitem__(key, value)

    def setdefault(self, key: Any, default: Handler | None = None) -> Handler:
        if key not in self and default is not None:
            self[key] = default
        return self[key]

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value


def capture_server_errors(
    app: Starlette, *, failed_request_status_codes: Collection[int] = DEFAULT_FAILED_STATUS_CODES
) -> None:
    """Capture every HTTPException whose status is a failure once, then answer as before."""
    codes = frozenset(failed_request_status_codes)
    handlers = dict(app.exception_handlers)
    handlers.setdefault(HTTPException, _starlette_default)
    app.exception_handlers = _CapturingHandlers(handlers.items(), codes)


def instrument(
    app: Starlette,
    *,
    header_name: str = "X-Request-ID",
    generator: Callable[[], str] | None = None,
    validator: Callable[[str], bool] = is_valid_request_id,
    untraced_paths: Collection[str] = ("/health",),
    failed_request_status_codes: Collection[int] = DEFAULT_FAILED_STATUS_CODES,
    max_request_body_size: BodySize = "medium",
    trusted_proxies: Collection[str] = (),
    http_methods_to_capture: Collection[str] = DEFAULT_METHODS,
    transaction_style: TransactionStyle = "url",
    json_500: bool = True,
    middleware_spans: bool = False,
) -> None:
    """Put RequestContextMiddleware outside everything `app` builds; capture failed HTTPExceptions.

    The layer wraps the app's whole middleware stack, ServerErrorMiddleware
    included, whenever add_middleware() is called: the app's own error handling
    (its Exception/500 handler, the debug traceback page, the re-raise) runs
    inside the request, with X-Request-ID and get_request_id(). When the app
    has no such handler and debug is off, the answer is the JSON 500 with the
    request and event ids, unless `json_500` is False.
    """
    checked_style(transaction_style)  # now, not at the first request
    if app.middleware_stack is not None:
        raise RuntimeError("instrument() must be called before the app starts")
    capture_server_errors(app, failed_request_status_codes=failed_request_status_codes)
    build = app.build_middleware_stack

    def build_middleware_stack() -> ASGIApp:
        stack = build()
        layer = RequestContextMiddleware(
            stack,
            header_name=header_name,
            generator=generator,
            validator=validator,
            untraced_paths=untraced_paths,
            http_methods_to_capture=http_methods_to_capture,
            transaction_style=transaction_style,
            max_request_body_size=max_request_body_size,
            trusted_proxies=trusted_proxies,
            json_500=json_500,
            middleware_spans=middleware_spans,
        )
        layer.before_first_transaction = lambda: mark_sync_endpoints(app.routes)
        # Starlette's own 500 answer, for an app with no handler of its own.
        errors = stack if isinstance(stack, ServerErrorMiddleware) else None
        if json_500 and errors is not None and errors.handler is None and not errors.debug:
            errors.handler = layer.server_error
        return layer

    # On this instance only, as FastAPI overrides it for its class: Starlette
    # calls it once, at the first request or lifespan, after every add_middleware().
    app.build_middleware_stack = build_middleware_stack  # type: ignore[method-assign]
