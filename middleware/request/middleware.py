"""Request ID + one isolated Sentry scope per request, exactly-once capture."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Collection, Mapping
from contextlib import nullcontext
from types import MappingProxyType

import sentry_sdk
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from middleware._runtime import current
from middleware._sdk import (
    BaseClient,
    ScopeTokens,
    Transaction,
    active_client,
    fork_scopes,
    has_tracing_enabled,
    named,
    restore_scopes,
    start_trace,
)
from middleware.capture import capture_unhandled, flush_deferred_logs
from middleware.context import RequestState, _current, current_state, is_valid_request_id
from middleware.request.data import BodyCopy, BodySize, RequestDataOptions
from middleware.request.disconnects import client_went_away
from middleware.request.errors import error_response
from middleware.request.events import RequestEvents
from middleware.request.ids import RandomIds
from middleware.request.sessions import ReleaseHealth
from middleware.request.spans import add_middleware_spans
from middleware.request.tracing import DEFAULT_METHODS, TracingOptions, fresh_name
from middleware.request.trust import continued_headers

logger = logging.getLogger("middleware.request")

MECHANISM = "asgi.request_context"
# What _read_headers looks for in a request's headers.
_ID, _TRACE, _LENGTH, _CHUNKED = range(4)
_HEADER_KINDS: Mapping[bytes, int] = MappingProxyType(
    {
        b"sentry-trace": _TRACE,
        b"baggage": _TRACE,
        b"content-length": _LENGTH,
        b"transfer-encoding": _CHUNKED,
    }
)
_HTTP1 = ("1.0", "1.1")


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        header_name: str = "X-Request-ID",
        generator: Callable[[], str] | None = None,
        validator: Callable[[str], bool] = is_valid_request_id,
        untraced_paths: Collection[str] = ("/health",),
        http_methods_to_capture: Collection[str] = DEFAULT_METHODS,
        transaction_style: str = "url",
        max_request_body_size: BodySize = "medium",
        trusted_proxies: Collection[str] = (),
        json_500: bool = True,
        middleware_spans: bool = False,
    ) -> None:
        self.app = add_middleware_spans(app) if middleware_spans else app
        self.header_name = header_name
        self.header_key = header_name.lower().encode("latin-1")
        # The request ID's own header wins, whatever its name.
        self.header_kinds = {**_HEADER_KINDS, self.header_key: _ID}
        # None: uuid4().hex strings (RandomIds).
        self.generator = generator or RandomIds()
        self.validator = validator
        self.tracing = TracingOptions.build(
            untraced_paths=untraced_paths,
            http_methods_to_capture=http_methods_to_capture,
            transaction_style=transaction_style,
        )
        self.data_options = RequestDataOptions(max_request_body_size, tuple(trusted_proxies))
        self.body_limit = self.data_options.body_limit
        # Whether an error nothing answered gets the JSON 500 with the ids.
        self.json_500 = json_500
        # Whether the first request has looked for the lifespan's runtime.
        self.lifespan_checked = False
        self.sessions = ReleaseHealth()
        # Called before the first transaction: instrument() marks the app's sync
        # endpoints then, so an app that never traces keeps them untouched.
        self.before_first_transaction: Callable[[], None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return

        client = active_client()
        if client is None:
            # Sentry off: the request ID, its contextvar and the header. A scope
            # forked for each request would be read by no one.
            request_id, replaced = self._request_id(scope)
            state = RequestState(request_id)
            token = _current.set(state)
            try:
                if replaced or not self.lifespan_checked:
                    self._arrived(request_id, replaced)
                await self._call(scope, receive, send, state)
            finally:
                _current.reset(token)
            return

        request_id, replaced, trace_headers, announced = self._read_headers(scope)
        # With Sentry on, the request's state also holds what its events will say.
        events = RequestEvents(request_id, self, scope, time.time())
        token = _current.set(events)
        tokens: ScopeTokens | None = None
        try:
            if replaced or not self.lifespan_checked:
                self._arrived(request_id, replaced)
            # The request in a scope of its own: sentry_sdk.isolation_scope(), entered by hand.
            # What only an event needs is read from the request when one is built.
            sentry_scope, current_scope, tokens = fork_scopes(("request_id", request_id), events)
            if named(current_scope):
                fresh_name(current_scope)
            if (
                self.body_limit
                and scope["type"] == "http"
                # HTTP/1 announces a body in its headers (Content-Length other than
                # 0, or Transfer-Encoding); HTTP/2 and 3 may send one without either.
                and (announced or scope.get("http_version") not in _HTTP1)
            ):
                events.body = BodyCopy(self.body_limit)
                receive = events.body.wrap(receive)
            events.session = session = self.sessions.track(client)
            # The fork has a trace of its own; a trusted caller's replaces it.
            if trace_headers:
                trace_headers = continued_headers(scope, trace_headers, client)
                if trace_headers:
                    start_trace(sentry_scope, trace_headers)
            options = client.options
            traced = has_tracing_enabled(options)
            if not traced and session is None:
                # Errors only, without release health: nothing to wrap the app in.
                await self._call(scope, receive, send, events)
                return
            with session or nullcontext():
                sampled = traced and self.tracing.sampled(
                    scope, events.request_path, sentry_scope, options
                )
                if sampled is False:
                    await self._call(scope, receive, send, events)
                    return
                if self.before_first_transaction is not None:
                    self.before_first_transaction()
                    self.before_first_transaction = None
                path = events.request_path
                with self.tracing.transaction(scope, path, trace_headers, sampled) as tx:
                    await self._call(scope, receive, send, events, tx)
        finally:
            if tokens is not None:
                restore_scopes(tokens)
            _current.reset(token)

    def _arrived(self, request_id: str, replaced: bool) -> None:
        """What the first request, or one whose id was replaced, says; in its context."""
        if replaced:
            # Never reflect the raw value: it may be an injection attempt.
            logger.warning("invalid %s header replaced with %s", self.header_name, request_id)
        if not self.lifespan_checked:
            # Once, not per request: a lifespan runs before the first request.
            self.lifespan_checked = True
            if current() is None:
                self._warn_without_lifespan(sentry_sdk.get_client())

    def _warn_without_lifespan(self, client: BaseClient) -> None:
        # Once: neither SentryLifespan nor init_from_environment() ran, so SENTRY_*
        # went unvalidated and log lines unscrubbed. A server without lifespan
        # (daphne) gets here with Sentry off: say so rather than drop every error.
        if os.environ.get("SENTRY_DSN") and not client.is_active():
            logger.warning(
                "SENTRY_DSN is set but Sentry was never initialised: this server ran no "
                "lifespan; call middleware.init_from_environment() when the app is imported"
            )
            return
        logger.warning(
            "requests arrive without SentryLifespan: SENTRY_* is not validated and log "
            "lines are not scrubbed; give the app lifespan=SentryLifespan(...), or call "
            "middleware.init_from_environment() when the app is imported"
        )

    async def _call(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        state: RequestState,
        transaction: Transaction | None = None,
    ) -> None:
        response_started = False
        key = self.header_key
        header = (key, state.request_id.encode("latin-1"))

        async def send_wrapper(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                # MutableHeaders' rule (one such header, raw keys compared as
                # sent), without building its object on every response.
                headers = message.get("headers", ())
                for name, _ in headers:
                    if name == key:
                        headers = [item for item in headers if item[0] != key]
                        break
                message["headers"] = [*headers, header]
                if transaction is not None:
                    transaction.set_http_status(message["status"])
            await send(message)

        exc: BaseException | None = None
        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as error:
            exc = error
            event_id = self._capture(scope, error, state)
            if self.json_500 and not response_started and scope["type"] == "http":
                await error_response(state.request_id, event_id)(scope, receive, send_wrapper)
            raise
        finally:
            flush_deferred_logs(state, exc)

    def _capture(self, scope: Scope, error: Exception, state: RequestState) -> str | None:
        """Capture `error` once per request: server_error() may have captured it already."""
        if client_went_away(error) or any(seen is error for seen in state.captured):
            return None
        state.captured.append(error)
        return capture_unhandled(error, MECHANISM)

    async def server_error(self, request: Request, exc: Exception) -> Response:
        """Starlette's 500 handler for an app without one: the JSON 500, with the ids.

        ServerErrorMiddleware answers before the error reaches this layer, so
        the event the body quotes is captured here; the layer then sees the
        same error re-raised and does not capture it again.
        """
        state = current_state()
        if state is None:  # pragma: no cover - this layer wraps the app that calls it
            return PlainTextResponse("Internal Server Error", status_code=500)
        return error_response(state.request_id, self._capture(request.scope, exc, state))

    def _read_headers(self, scope: Scope) -> tuple[str, bool, dict[str, str], bool]:
        """The request ID (and whether a bad one was replaced), any trace headers, and
        whether the headers announce a body."""
        incoming: bytes | None = None
        trace_headers: dict[str, str] = {}
        body = False
        kinds = self.header_kinds
        for key, value in scope.get("headers", ()):
            # One dict look-up for the headers no one here reads: nearly all of them.
            kind = kinds.get(key)
            if kind is None:
                continue
            if kind == _ID:
                incoming = value if incoming is None else incoming
            elif kind == _TRACE:
                trace_headers[key.decode("latin-1")] = value.decode("latin-1")
            elif kind == _LENGTH:
                body = body or value.strip() != b"0"
            else:
                body = True
        if incoming is None:
            return self.generator(), False, trace_headers, body
        return *self._checked(incoming), trace_headers, body

    def _request_id(self, scope: Scope) -> tuple[str, bool]:
        """The request ID, and whether a bad one was replaced: all Sentry off needs."""
        key = self.header_key
        for name, value in scope.get("headers", ()):
            if name == key:
                return self._checked(value)  # the first one, as _read_headers takes
        return self.generator(), False

    def _checked(self, incoming: bytes) -> tuple[str, bool]:
        """The caller's request ID if the validator takes it, else a new one (and True)."""
        candidate = incoming.decode("latin-1")
        if self.validator(candidate):
            return candidate, False
        return self.generator(), True
