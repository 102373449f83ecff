"""Exactly-once capture of unhandled exceptions.

DedupeIntegration only drops a second event for the *same exception object*, and
only in the context that captured it. Inside a request (or job) error log records
are held back until it ends: a record carrying the exception that ended it
(`logger.exception(...)` then `raise`) is dropped (it stays a breadcrumb), any
other is sent then, in the same scope.
"""

from __future__ import annotations

import linecache
import logging
from typing import Any

import sentry_sdk
from sentry_sdk.types import Event

from middleware import storm
from middleware._sdk import (
    EventHandler,
    LoggingIntegration,
    can_record,
    capture_internal_exceptions,
    event_from_exception,
    set_logging_handler,
    strip_string,
)
from middleware.context import RequestState, current_state

_CONTEXT = 5  # lines before and after, as the sdk sends


def capture_unhandled(exc: BaseException, mechanism: str) -> str | None:
    """Capture `exc` once as unhandled; return the event id (None when not sent)."""
    client = sentry_sdk.get_client()
    if not client.is_active() or not storm.admit(client, exc):
        return None
    options = client.options
    with_source = options["include_source_context"]
    event, hint = event_from_exception(
        exc,
        client_options={**options, "include_source_context": False},
        mechanism={"type": mechanism, "handled": False},
    )
    if with_source:
        with capture_internal_exceptions():
            _add_source_context(event, options["max_value_length"])
    return sentry_sdk.capture_event(event, hint=hint)


def _add_source_context(event: Event, max_length: int | None) -> None:
    """The five lines around each frame's line, read through linecache.

    The sdk asks each module's loader for its whole source on every frame of
    every event, uncached: FastAPI's routing.py alone is ~250 KB, and that made
    source context two thirds of the cost of an event.
    """
    for value in (event.get("exception") or {}).get("values", []):
        for frame in (value.get("stacktrace") or {}).get("frames", []):
            path, lineno = frame.get("abs_path"), frame.get("lineno")
            if not path or not isinstance(lineno, int) or lineno < 1:
                continue
            lines = linecache.getlines(path)
            if len(lines) < lineno:
                continue
            strip = [
                strip_string(line.rstrip("\r\n"), max_length=max_length)
                for line in lines[max(0, lineno - 1 - _CONTEXT) : lineno + _CONTEXT]
            ]
            at = min(lineno - 1, _CONTEXT)
            frame["pre_context"] = strip[:at]
            frame["context_line"] = strip[at]
            frame["post_context"] = strip[at + 1 :]


def capture_error(exc: BaseException, *, mechanism: str = "asgi.framework") -> str | None:
    """Capture an error a framework turned into a response itself, once per request.

    For Litestar's after_exception hook and Quart's got_request_exception signal:
    the error never reaches RequestContextMiddleware. The framework's own log
    record of the same exception object is then not sent a second time.
    """
    state = current_state()
    if state is not None:
        if any(seen is exc for seen in state.captured):
            return None
        state.captured.append(exc)
    return capture_unhandled(exc, mechanism)


def _about(record: logging.LogRecord, errors: list[BaseException]) -> bool:
    # By identity only: a message that merely contains str(exc) ("... returned 503"
    # before `raise KeyError(3)`) is another story and must still be sent.
    if not record.exc_info:
        return False
    logged = record.exc_info[1]
    return any(logged is error for error in errors)


def flush_deferred_logs(state: RequestState, exc: BaseException | None) -> None:
    """Send the held-back error records, minus those carrying an error already sent."""
    records, state.deferred_logs = state.deferred_logs or [], None
    errors = state.captured if exc is None else [*state.captured, exc]
    for record in records:
        if not _about(record, errors):
            _HANDLER.send(record)


class _DeferringEventHandler(EventHandler):
    def emit(self, record: logging.LogRecord) -> Any:
        state = current_state()
        deferred = None if state is None else state.deferred_logs
        if deferred is not None and can_record(self, record):
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
    set_logging_handler(integration, _HANDLER)
    return integration
