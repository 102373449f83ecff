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
from sentry_sdk.client import BaseClient
from sentry_sdk.integrations._wsgi_common import _filter_headers
from sentry_sdk.integrations.logging import EventHandler, LoggingIntegration
from sentry_sdk.tracing import Span, Transaction, TransactionSource
from sentry_sdk.tracing_utils import has_tracing_enabled
from sentry_sdk.utils import (
    BadDsn,
    Dsn,
    capture_internal_exceptions,
    event_from_exception,
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
    "can_record",
    "capture_internal_exceptions",
    "event_from_exception",
    "filter_headers",
    "has_tracing_enabled",
    "parent_sampled",
    "record_lost_event",
    "safe_repr",
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
