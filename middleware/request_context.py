"""Request ID + one isolated Sentry scope per request, exactly-once capture."""

from __future__ import annotations

import json
import logging
import os
import random
import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlunsplit

import sentry_sdk
from sentry_sdk.types import Event, Hint
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from middleware._sdk import (
    Transaction,
    TransactionSource,
    filter_headers,
    has_tracing_enabled,
    parent_sampled,
    start_trace,
)
from middleware.capture import capture_unhandled, flush_deferred_logs
from middleware.context import RequestState, _current, is_valid_request_id

logger = logging.getLogger("middleware.request")

MECHANISM = "asgi.request_context"
_TRACE_HEADERS = frozenset({b"sentry-trace", b"baggage"})


def _new_request_id() -> str:
    """uuid.uuid4().hex, without building a UUID object (a third of the cost)."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # RFC 4122 variant
    return raw.hex()


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        header_name: str = "X-Request-ID",
        generator: Callable[[], str] = _new_request_id,
        validator: Callable[[str], bool] = is_valid_request_id,
        untraced_paths: Collection[str] = ("/health",),
    ) -> None:
        self.app = app
        self.header_name = header_name
        self.header_key = header_name.lower().encode("latin-1")
        self.generator = generator
        self.validator = validator
        self.untraced_paths = frozenset(untraced_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return

        request_id, replaced, trace_headers = self._read_headers(scope)
        state = RequestState(request_id)
        token = _current.set(state)
        if replaced:
            # Never reflect the raw value: it may be an injection attempt.
            logger.warning("invalid %s header replaced with %s", self.header_name, request_id)
        try:
            with sentry_sdk.isolation_scope() as sentry_scope:
                # A fork keeps the parent's breadcrumbs (startup logs, the server's
                # own context): a request's story starts with the request.
                sentry_scope.clear_breadcrumbs()
                sentry_scope.set_tag("request_id", request_id)
                client = sentry_scope.get_client()
                if not client.is_active():
                    await self._call(scope, receive, send, state)
                    return
                sentry_scope.add_event_processor(_request_data(scope, time.time()))
                # A fork shares its parent's trace: each request gets its own, or the caller's.
                start_trace(sentry_scope, trace_headers)
                if self._sampled(scope, sentry_scope, client.options):
                    await self._call_traced(scope, receive, send, state, trace_headers)
                    return
                await self._call(scope, receive, send, state)
        finally:
            _current.reset(token)

    def _sampled(
        self, scope: Scope, sentry_scope: sentry_sdk.Scope, options: dict[str, Any]
    ) -> bool:
        """Decide before building anything: the unsampled share costs no transaction.

        The sdk decides inside start_transaction, after building a Transaction and
        its span for every request; at a 0.1 rate that is most of the cost.
        """
        if not has_tracing_enabled(options) or scope["path"] in self.untraced_paths:
            return False
        parent = parent_sampled(sentry_scope)
        if parent is not None:
            return parent
        rate = options.get("traces_sample_rate") or 0.0
        return random.random() < rate  # noqa: S311 - sampling, not security

    async def _call_traced(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        state: RequestState,
        trace_headers: dict[str, str],
    ) -> None:
        transaction = sentry_sdk.continue_trace(
            trace_headers,
            op="http.server",
            name=scope["path"],
            source=TransactionSource.URL,
            origin="auto.http.request_context",
        )
        transaction.sampled = True  # decided in _sampled
        with sentry_sdk.start_transaction(
            transaction, custom_sampling_context={"asgi_scope": scope}
        ):
            try:
                await self._call(scope, receive, send, state, transaction)
            finally:
                transaction.name = _route_name(scope)
                transaction.source = TransactionSource.ROUTE

    async def _call(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        state: RequestState,
        transaction: Transaction | None = None,
    ) -> None:
        response_started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                MutableHeaders(scope=message)[self.header_name] = state.request_id
                if transaction is not None:
                    transaction.set_http_status(message["status"])
            await send(message)

        exc: BaseException | None = None
        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as error:
            exc = error
            sentry_sdk.get_current_scope().set_transaction_name(
                _route_name(scope), source=TransactionSource.ROUTE
            )
            event_id = capture_unhandled(error, MECHANISM)
            if not response_started and scope["type"] == "http":
                await _send_500(send_wrapper, state.request_id, event_id)
            raise
        finally:
            flush_deferred_logs(state, exc)

    def _read_headers(self, scope: Scope) -> tuple[str, bool, dict[str, str]]:
        """The request ID (and whether a bad one was replaced) and any trace headers."""
        incoming: bytes | None = None
        trace_headers: dict[str, str] = {}
        for key, value in scope["headers"]:
            if key == self.header_key:
                incoming = value if incoming is None else incoming
            elif key in _TRACE_HEADERS:
                trace_headers[key.decode("latin-1")] = value.decode("latin-1")
        if incoming is None:
            return self.generator(), False, trace_headers
        candidate: str = incoming.decode("latin-1")
        if self.validator(candidate):
            return candidate, False, trace_headers
        return self.generator(), True, trace_headers


def _route_name(scope: Scope) -> str:
    """The route template (/jobs/{job_id}), never the raw URL with its ids."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else "<unmatched>"


async def _send_500(send: Send, request_id: str, event_id: str | None) -> None:
    payload: dict[str, str] = {"detail": "Internal Server Error", "request_id": request_id}
    if event_id is not None:
        payload["event_id"] = event_id
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _request_data(scope: Scope, started: float) -> Callable[[Event, Hint], Event]:
    """An event processor: request data and the request's opening breadcrumb.

    Both are built only when an event is, which keeps the cost per request to
    one closure; Scope.add_breadcrumb would cost more than the rest of this layer.
    """

    def processor(event: Event, hint: Hint) -> Event:
        headers: dict[str, str] = {}
        for key, value in scope["headers"]:
            name = key.decode("latin-1")
            text = value.decode("latin-1")
            headers[name] = f"{headers[name]}, {text}" if name in headers else text
        host = headers.get("host") or _server(scope)
        scheme = scope.get("scheme", "http")
        method = scope.get("method", "GET" if scope["type"] == "http" else "WEBSOCKET")
        request: dict[str, Any] = {
            "method": method,
            "url": urlunsplit((scheme, host, scope.get("root_path", "") + scope["path"], "", "")),
            "query_string": scope.get("query_string", b"").decode("latin-1"),
            "headers": filter_headers(headers),
        }
        event.setdefault("request", request)
        crumbs = event.get("breadcrumbs")
        if event.get("type") != "transaction" and isinstance(crumbs, dict):
            crumbs.setdefault("values", []).insert(
                0,
                {
                    "type": "http",
                    "category": "request",
                    "message": f"{method} {scope['path']}",
                    "timestamp": datetime.fromtimestamp(started, UTC),
                },
            )
        return event

    return processor


def _server(scope: Scope) -> str:
    server = scope.get("server")
    if not server:
        return "localhost"
    host, port = server[0], server[1]
    return host if port in (None, 80, 443) else f"{host}:{port}"
