"""Exactly-once capture of unhandled exceptions.

DedupeIntegration only drops a second event for the *same exception object*.
`logger.error(str(e))` followed by `raise` still gives two events, so inside a
request (or job) error log records are held back until it ends: a record about
the exception that ended it is dropped (it stays a breadcrumb), any other is
sent then, in the same scope.
"""

from __future__ import annotations

import logging
from typing import Any

import sentry_sdk
from sentry_sdk.integrations.logging import EventHandler, LoggingIntegration
from sentry_sdk.utils import event_from_exception

from middleware import storm
from middleware.context import RequestState, current_state


def capture_unhandled(exc: BaseException, mechanism: str) -> str | None:
    """Capture `exc` once as unhandled; return the event id (None when not sent)."""
    client = sentry_sdk.get_client()
    if not client.is_active() or not storm.admit(client, exc):
        return None
    event, hint = event_from_exception(
        exc, client_options=client.options, mechanism={"type": mechanism, "handled": False}
    )
    return sentry_sdk.capture_event(event, hint=hint)


def _about(record: logging.LogRecord, exc: BaseException) -> bool:
    if record.exc_info and record.exc_info[1] is exc:
        return True
    text = str(exc)
    return bool(text) and text in record.getMessage()


def flush_deferred_logs(state: RequestState, exc: BaseException | None) -> None:
    """Send the held-back error records, minus those about `exc`."""
    records, state.deferred_logs = state.deferred_logs or [], None
    for record in records:
        if exc is None or not _about(record, exc):
            _HANDLER.send(record)


class _DeferringEventHandler(EventHandler):
    def emit(self, record: logging.LogRecord) -> Any:
        state = current_state()
        deferred = None if state is None else state.deferred_logs
        if deferred is not None and self._can_record(record):
            self.format(record)  # now: its args may change before the request ends
            deferred.append(record)
            return None
        return super().emit(record)

    def send(self, record: logging.LogRecord) -> None:
        super().emit(record)


_HANDLER = _DeferringEventHandler(level=logging.ERROR)


def logging_integration() -> LoggingIntegration:
    """The sdk's LoggingIntegration, with error events deferred inside requests and jobs."""
    integration = LoggingIntegration(level=logging.INFO, event_level=logging.ERROR)
    # The sdk has no hook for this; its handler is set in __init__ and used as is.
    integration._handler = _HANDLER
    return integration
