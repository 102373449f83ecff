"""Error log records held back until the request or job that logged them ends.

A record carrying the exception that ended it (`logger.exception(...)` then
`raise`) is dropped (it stays a breadcrumb): the request layer's own event
already tells that story. Any other is sent then, in the same scope.
"""

from __future__ import annotations

import logging
from typing import Any

from middleware._sdk import EventHandler, LoggingIntegration, can_record, set_logging_handler
from middleware.context import RequestState, current_state


class DeferringEventHandler(EventHandler):
    """The sdk's event handler, deferring records made inside a request or job."""

    def emit(self, record: logging.LogRecord) -> Any:
        state = current_state()
        deferred = None if state is None else state.deferred_logs
        if deferred is not None and can_record(self, record):
            self.format(record)  # now: its args may change before the request ends
            deferred.append((self.send, record))
            return None
        return super().emit(record)

    def send(self, record: logging.LogRecord) -> None:
        super().emit(record)


def logging_integration(handler: DeferringEventHandler) -> LoggingIntegration:
    """The sdk's LoggingIntegration, with error events deferred inside requests and jobs."""
    integration = LoggingIntegration(level=logging.INFO, event_level=logging.ERROR)
    set_logging_handler(integration, handler)
    return integration


def _about(record: logging.LogRecord, errors: list[BaseException]) -> bool:
    # By identity only: a message that merely contains str(exc) ("... returned 503"
    # before `raise KeyError(3)`) is another story and must still be sent.
    if not record.exc_info:
        return False
    logged = record.exc_info[1]
    return any(logged is error for error in errors)


def flush_deferred_logs(state: RequestState, exc: BaseException | None) -> None:
    """Send the held-back error records, minus those carrying an error already sent."""
    # Ended: a task that outlives the request or job logs straight through.
    records, state.deferred_logs = state.deferred_logs, None
    if not records:
        return  # nearly every request: nothing was held back
    errors = state.captured if exc is None else [*state.captured, exc]
    for send, record in records:
        if not _about(record, errors):
            send(record)
