"""The one module that touches sentry-sdk beyond its documented API.

Everything else in `middleware/` uses `sentry_sdk`'s top-level functions, its
`types`, `transport.Transport`, `scrubber`, `crons` and the logging
integration's `ignore_logger`, which the sdk documents. What it does not
document lives here, each name with a contract test in
tests/middleware/test_sdk.py, so that an sdk upgrade breaks this file loudly
instead of six modules quietly.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import sentry_sdk
from sentry_sdk._types import AnnotatedValue
from sentry_sdk.client import BaseClient, NonRecordingClient
from sentry_sdk.consts import EndpointType
from sentry_sdk.envelope import Envelope, Item
from sentry_sdk.integrations._wsgi_common import _filter_headers
from sentry_sdk.integrations.logging import EventHandler, LoggingIntegration
from sentry_sdk.serializer import serialize
from sentry_sdk.tracing import Span, Transaction, TransactionSource
from sentry_sdk.tracing_utils import has_tracing_enabled
from sentry_sdk.transport import HttpTransport
from sentry_sdk.utils import (
    BadDsn,
    Dsn,
    capture_internal_exceptions,
    event_from_exception,
    iter_stacks,
    safe_repr,
    set_in_app_in_frames,
    strip_string,
)

__all__ = [
    "AnnotatedValue",
    "BadDsn",
    "BaseClient",
    "Dsn",
    "EventHandler",
    "LoggingIntegration",
    "Span",
    "Transaction",
    "TransactionSource",
    "attach",
    "attached",
    "can_record",
    "capture_internal_exceptions",
    "event_from_exception",
    "filter_headers",
    "handle_response",
    "has_tracing_enabled",
    "http_sender",
    "inactive_client",
    "is_rate_limited",
    "iter_stacks",
    "keep_serialized",
    "parent_sampled",
    "pending_client_report",
    "post_envelope",
    "prepare_envelope",
    "record_lost_event",
    "safe_repr",
    "serialize_vars",
    "set_in_app_in_frames",
    "set_logging_handler",
    "start_trace",
    "strip_string",
]


def filter_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The sdk's own header filter for request data (auth and cookies without PII)."""
    # With use_annotated_value=False every value is a plain string.
    return {k: str(v) for k, v in _filter_headers(headers, use_annotated_value=False).items()}


def set_logging_handler(integration: LoggingIntegration, handler: EventHandler) -> None:
    """Replace the integration's event handler: the sdk offers no hook for it."""
    integration._handler = handler


def can_record(handler: EventHandler, record: logging.LogRecord) -> bool:
    """The handler's own rule: not the sdk's own loggers, not an ignored logger."""
    return bool(handler._can_record(record))


def record_lost_event(client: BaseClient, reason: str, category: str) -> None:
    """Count a dropped event in the client reports, as the sdk does for its own drops."""
    if client.transport is not None:
        client.transport.record_lost_event(reason, data_category=category)  # type: ignore[arg-type]


def start_trace(scope: sentry_sdk.Scope, headers: Mapping[str, Any] | None) -> None:
    """Give a forked scope its own trace: the caller's (headers), else a new one.

    A forked isolation scope shares its parent's propagation context.
    """
    if headers and "sentry-trace" in headers:
        scope.generate_propagation_context(dict(headers))
    else:
        scope.set_new_propagation_context()


def parent_sampled(scope: sentry_sdk.Scope) -> bool | None:
    """The incoming trace's sampling decision, if the caller sent one."""
    sampled: bool | None = scope.get_active_propagation_context().parent_sampled
    return sampled


def serialize_vars(
    local_variables: dict[str, Any],
    *,
    max_value_length: int | None,
    custom_repr: Any = None,
) -> Any:
    """A frame's locals as the sdk sends them: its depth, breadth and length limits, safe_repr."""
    return serialize(
        local_variables,
        is_vars=True,
        custom_repr=custom_repr,
        max_value_length=max_value_length,
    )


class _Serialized(dict[str, Any]):
    # `__sentry_repr__` is the serializer's hook for an object's own form: the
    # client's walk over the event returns it as is instead of visiting each node.
    def __sentry_repr__(self) -> dict[str, Any]:
        return dict(self)


def keep_serialized(part: Mapping[str, Any]) -> dict[str, Any]:
    """An event part already in its wire form, which the client's serializer keeps as is."""
    return _Serialized(part)


# Our own attribute on the sdk's client object: the sdk offers no slot for an
# integration's per-client state, and a registry keyed by client would be
# module state. The client lives exactly as long as what hangs on it.
_RUNTIME_ATTRIBUTE = "_middleware_runtime"


def attached(client: BaseClient) -> Any:
    """What `attach` put on `client`, or None."""
    return getattr(client, _RUNTIME_ATTRIBUTE, None)


def attach(client: BaseClient, value: object) -> None:
    setattr(client, _RUNTIME_ATTRIBUTE, value)


def inactive_client() -> BaseClient:
    """A client that sends nothing, as the global scope holds before sentry_sdk.init."""
    return NonRecordingClient()


class _Sender(HttpTransport):
    """The sdk's HTTP transport as a sender only: its pool, rate limits and client reports."""

    connections = 1

    def _get_pool_options(self) -> dict[str, Any]:
        options: dict[str, Any] = super()._get_pool_options()
        # urllib3 keeps one connection per host by default: a second sending
        # thread would open and discard one for every envelope.
        options["maxsize"] = self.connections
        return options


def http_sender(options: dict[str, Any], connections: int) -> HttpTransport:
    """An HttpTransport whose pool keeps `connections` connections to Sentry."""
    sender: type[_Sender] = type("HttpSender", (_Sender,), {"connections": connections})
    return sender(options)


def prepare_envelope(
    sender: HttpTransport, envelope: Envelope
) -> tuple[Envelope, bytes, dict[str, str]] | None:
    """What the sdk would send: rate-limited items dropped (and counted), a pending
    client report added, the body compressed; None when nothing is left to send."""
    prepared = sender._prepare_envelope(envelope)
    if prepared is None:
        return None
    envelope, body, headers = prepared
    return envelope, body.getvalue(), headers


def post_envelope(sender: HttpTransport, body: bytes, headers: dict[str, str]) -> Any:
    """POST a prepared envelope with the sdk's auth header; raises on a network error."""
    sender._update_headers(headers)
    return sender._request("POST", EndpointType.ENVELOPE, body, headers)


def handle_response(sender: HttpTransport, response: Any, envelope: Envelope) -> None:
    """The sdk's reading of Sentry's answer: rate limits, and losses for a 4xx or 5xx."""
    try:
        sender._handle_response(response=response, envelope=envelope)
    finally:
        response.close()


def is_rate_limited(sender: HttpTransport, category: str) -> bool:
    """Whether Sentry asked for no more of `category` (or of anything) for now."""
    return bool(sender._check_disabled(category))


def pending_client_report(sender: HttpTransport, *, force: bool) -> Item | None:
    """The counted losses as a client report item, when one is due (or `force`)."""
    item: Item | None = sender._fetch_pending_client_report(force=force, interval=60)
    return item
