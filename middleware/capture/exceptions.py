"""Exactly-once capture of unhandled exceptions.

DedupeIntegration only drops a second event for the *same exception object*, and
only in the context that captured it; the error log records a request or job
makes are held back until it ends (see deferred.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import sentry_sdk
from sentry_sdk.types import Event, Hint

from middleware._runtime import LocalVariables, runtime_for, runtime_of
from middleware._sdk import (
    BaseClient,
    capture_internal_exceptions,
    event_from_exception,
    keep_event,
)
from middleware.capture import storm
from middleware.capture.frames import add_local_variables, add_source_context, finish
from middleware.capture.stack import exception_event, templates_for
from middleware.context import current_state

# Why no event was sent, in words fit for a GitHub comment.
NOT_SENT_OFF = "Sentry is off"
NOT_SENT_STORM = "the error-storm ceiling was reached, so it was counted but not sent"
NOT_SENT_SAMPLE_RATE_ZERO = "SENTRY_SAMPLE_RATE is 0"
NOT_SENT_SAMPLED_OUT = "it was sampled out by SENTRY_SAMPLE_RATE"
NOT_SENT_FILTERED = "the sdk dropped it (a filter, or its transport queue)"


@dataclass(frozen=True)
class Captured:
    """The event id sent for an error, or in plain words why none was."""

    event_id: str | None
    not_sent: str | None = None


def set_local_variables(client: BaseClient, mode: LocalVariables) -> None:
    """Whose frames send their locals in `client`'s unhandled-error events."""
    runtime_for(client).local_variables = mode


def capture_unhandled(exc: BaseException, mechanism: str) -> str | None:
    """Capture `exc` once as unhandled; return the event id (None when not sent)."""
    return capture_failure(exc, mechanism).event_id


def capture_failure(exc: BaseException, mechanism: str) -> Captured:
    """Capture `exc` once as unhandled: its event id, or why nothing was sent."""
    client = sentry_sdk.get_client()
    if not client.is_active():
        return Captured(None, NOT_SENT_OFF)
    runtime = runtime_of(client)
    verdict = storm.admit(None if runtime is None else runtime.guard, client, exc)
    if verdict.detail == "drop":
        return Captured(None, NOT_SENT_STORM)
    options = client.options
    full = verdict.detail == "full"
    mode = "in_app" if runtime is None else runtime.local_variables
    built = None
    with capture_internal_exceptions():
        built = exception_event(
            exc,
            {"type": mechanism, "handled": False},
            options,
            templates_for(runtime, options),
            local_variables=mode if full and options["include_local_variables"] else "none",
            source=full and options["include_source_context"],
        )
    if built is not None:
        event, hint = built
    else:
        event, hint = _sdk_event(exc, mechanism, options, full=full, mode=mode)
    with capture_internal_exceptions():
        finish(event, options["max_value_length"])
    context = verdict.context()
    if context is not None:
        event.setdefault("contexts", {})["storm"] = context
    # The scope's processors add their parts to this same event, the installed
    # modules among them. A lean event goes without them, as without locals and
    # source: they are the same for every event of the process, and the full
    # events of its storm, sent before it, carry them.
    whole = cast(Event, keep_event(event, options, left_out=() if full else ("modules",)))
    event_id = sentry_sdk.get_current_scope().capture_event(whole, hint=hint)
    if event_id is not None:
        return Captured(event_id)
    rate = options.get("sample_rate")
    if rate == 0:
        return Captured(None, NOT_SENT_SAMPLE_RATE_ZERO)
    if rate is not None and rate < 1:
        return Captured(None, NOT_SENT_SAMPLED_OUT)
    return Captured(None, NOT_SENT_FILTERED)


def _sdk_event(
    exc: BaseException,
    mechanism: str,
    options: dict[str, Any],
    *,
    full: bool,
    mode: LocalVariables,
) -> tuple[Event, Hint]:
    """The event as the sdk builds it, with locals and source context added after."""
    event, hint = event_from_exception(
        exc,
        client_options={
            **options,
            "include_source_context": False,
            "include_local_variables": False,
        },
        mechanism={"type": mechanism, "handled": False},
    )
    if full:
        with capture_internal_exceptions():
            if mode != "none" and options["include_local_variables"]:
                add_local_variables(event, exc, options, in_app_only=mode == "in_app")
        if options["include_source_context"]:
            with capture_internal_exceptions():
                add_source_context(event, options["max_value_length"])
    return event, hint


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
