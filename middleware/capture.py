"""Exactly-once capture of unhandled exceptions.

DedupeIntegration only drops a second event for the *same exception object*, and
only in the context that captured it; the error log records a request or job
makes are held back until it ends (see _deferred.py).
"""

from __future__ import annotations

import linecache
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sentry_sdk
from sentry_sdk.types import Event, Hint

from middleware import storm
from middleware._runtime import LocalVariables, runtime_for, runtime_of
from middleware._sdk import (
    AnnotatedValue,
    BaseClient,
    capture_internal_exceptions,
    event_from_exception,
    iter_stacks,
    keep_serialized,
    serialize_vars,
    set_in_app_in_frames,
    strip_string,
)
from middleware.context import current_state

_CONTEXT = 5  # lines before and after, as the sdk sends

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
    verdict = storm.admit(client, exc)
    if verdict.detail == "drop":
        return Captured(None, NOT_SENT_STORM)
    options = client.options
    # Locals and source context are added below, for the frames that need them.
    event, hint = event_from_exception(
        exc,
        client_options={
            **options,
            "include_source_context": False,
            "include_local_variables": False,
        },
        mechanism={"type": mechanism, "handled": False},
    )
    if verdict.detail == "full":
        with capture_internal_exceptions():
            runtime = runtime_of(client)
            mode = "in_app" if runtime is None else runtime.local_variables
            if mode != "none" and options["include_local_variables"]:
                _add_local_variables(event, exc, options, in_app_only=mode == "in_app")
        if options["include_source_context"]:
            with capture_internal_exceptions():
                _add_source_context(event, options["max_value_length"])
    with capture_internal_exceptions():
        _finish(event, options["max_value_length"])
    context = verdict.context()
    if context is not None:
        event.setdefault("contexts", {})["storm"] = context
    with sentry_sdk.new_scope() as scope:
        # The last processor to run, after the sdk's modules integration.
        scope.add_event_processor(_keep_modules)
        event_id = scope.capture_event(event, hint=hint)
    if event_id is not None:
        return Captured(event_id)
    rate = options.get("sample_rate")
    if rate == 0:
        return Captured(None, NOT_SENT_SAMPLE_RATE_ZERO)
    if rate is not None and rate < 1:
        return Captured(None, NOT_SENT_SAMPLED_OUT)
    return Captured(None, NOT_SENT_FILTERED)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exceptions the sdk reports for `exc`, in its order (walk_exception_chain)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ if current.__suppress_context__ else current.__context__


def _add_local_variables(
    event: Event, exc: BaseException, options: dict[str, Any], *, in_app_only: bool
) -> None:
    """Each chosen frame's locals, through the sdk's own serializer and limits.

    The sdk serialises the locals of every frame; those of Starlette's and
    FastAPI's ~15 frames (ASGI scopes, apps, send/receive) were most of an event's
    cost, and no one reads them.
    """
    values = (event.get("exception") or {}).get("values") or []
    chain = list(_chain(exc))
    if len(values) != len(chain):
        return  # an exception group: the sdk walks it another way
    custom_repr = options.get("custom_repr")
    for value, error in zip(reversed(values), chain, strict=True):
        frames = (value.get("stacktrace") or {}).get("frames") or []
        if in_app_only:
            set_in_app_in_frames(
                frames,
                options.get("in_app_exclude") or [],
                options.get("in_app_include") or [],
                options.get("project_root"),
            )
        for frame, entry in zip(frames, iter_stacks(error.__traceback__), strict=False):
            if in_app_only and frame.get("in_app") is not True:
                continue
            code = entry.tb_frame.f_code
            if frame.get("function") != code.co_name or frame.get("lineno") != entry.tb_lineno:
                return  # not the sdk's frames in the sdk's order: add nothing wrong
            # The sdk trims them in its pass over the whole event, which _finish skips.
            frame["vars"] = serialize_vars(
                dict(entry.tb_frame.f_locals),
                max_value_length=options["max_value_length"],
                custom_repr=custom_repr,
            )


def _finish(event: Event, max_length: int | None) -> None:
    """Trim what the skipped pass would have trimmed, and mark the part as done."""
    exception: Any = event.get("exception")
    if not isinstance(exception, dict):
        return
    for value in exception.get("values") or []:
        text = value.get("value")
        if isinstance(text, str) and max_length is not None and len(text) > max_length:
            value["value"] = _plain(strip_string(text, max_length=max_length))
    # The exception interface is built from plain strings and ints, and its locals are
    # already serialised under the sdk's limits: the client's own walk over its few
    # hundred nodes was most of what a lean event cost, and changed nothing.
    event["exception"] = keep_serialized(exception)  # type: ignore[typeddict-item]


def _keep_modules(event: Event, hint: Hint) -> Event:
    """The installed packages' names and versions are plain strings: no walk needed."""
    modules = event.get("modules")
    if isinstance(modules, dict):
        event["modules"] = keep_serialized(modules)
    return event


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, AnnotatedValue) else value


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
