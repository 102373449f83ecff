"""The parts of an error event that capture builds itself, instead of the sdk.

Locals only for the frames that need them, source context through linecache,
and the exception interface marked as already serialised.
"""

from __future__ import annotations

import linecache
from collections.abc import Iterator
from typing import Any

from sentry_sdk.types import Event

from middleware._sdk import (
    AnnotatedValue,
    iter_stacks,
    keep_serialized,
    serialize_vars,
    set_in_app_in_frames,
    strip_string,
)

_CONTEXT = 5  # lines before and after, as the sdk sends


def chain(exc: BaseException) -> Iterator[BaseException]:
    """The exceptions the sdk reports for `exc`, in its order (walk_exception_chain)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ if current.__suppress_context__ else current.__context__


def add_local_variables(
    event: Event, exc: BaseException, options: dict[str, Any], *, in_app_only: bool
) -> None:
    """Each chosen frame's locals, through the sdk's own serializer and limits.

    The sdk serialises the locals of every frame; those of Starlette's and
    FastAPI's ~15 frames (ASGI scopes, apps, send/receive) were most of an event's
    cost, and no one reads them.
    """
    values = (event.get("exception") or {}).get("values") or []
    errors = list(chain(exc))
    if len(values) != len(errors):
        return  # an exception group: the sdk walks it another way
    custom_repr = options.get("custom_repr")
    for value, error in zip(reversed(values), errors, strict=True):
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
            # The sdk trims them in its pass over the whole event, which finish() skips.
            frame["vars"] = serialize_vars(
                dict(entry.tb_frame.f_locals),
                max_value_length=options["max_value_length"],
                custom_repr=custom_repr,
            )


def finish(event: Event, max_length: int | None) -> None:
    """Trim what the skipped pass would have trimmed, and mark the part as done."""
    exception: Any = event.get("exception")
    if not isinstance(exception, dict):
        return
    values = exception.get("values") or []
    if any(isinstance(value.get("stacktrace"), AnnotatedValue) for value in values):
        return  # a stack past the sdk's limit: its serializer writes the annotation
    for value in values:
        text = value.get("value")
        if isinstance(text, str) and max_length is not None and len(text) > max_length:
            value["value"] = _plain(strip_string(text, max_length=max_length))
    # The exception interface is built from plain strings and ints, and its locals are
    # already serialised under the sdk's limits: the client's own walk over its few
    # hundred nodes was most of what a lean event cost, and changed nothing.
    event["exception"] = keep_serialized(exception)  # type: ignore[typeddict-item]


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, AnnotatedValue) else value


def add_source_context(event: Event, max_length: int | None) -> None:
    """The five lines around each frame's line, read through linecache."""
    for value in (event.get("exception") or {}).get("values", []):
        for frame in (value.get("stacktrace") or {}).get("frames", []):
            source_context(frame, max_length)


def source_context(frame: dict[str, Any], max_length: int | None) -> None:
    """The five lines around the frame's line, read through linecache.

    The sdk asks each module's loader for its whole source on every frame of
    every event, uncached, and FastAPI's modules are large; linecache reads each
    file once (bench/README.md has the figures).
    """
    path, lineno = frame.get("abs_path"), frame.get("lineno")
    if not path or not isinstance(lineno, int) or lineno < 1:
        return
    lines = linecache.getlines(path)
    if len(lines) < lineno:
        return
    around = [
        line.rstrip("\r\n") for line in lines[max(0, lineno - 1 - _CONTEXT) : lineno + _CONTEXT]
    ]
    # A line of at most a quarter of the limit in characters is within it in
    # bytes too, and the sdk's trim returns it as it is.
    strip = (
        around
        if max_length is None or max(map(len, around), default=0) * 4 <= max_length
        else [_plain(strip_string(line, max_length=max_length)) for line in around]
    )
    at = min(lineno - 1, _CONTEXT)
    frame["pre_context"] = strip[:at]
    frame["context_line"] = strip[at]
    frame["post_context"] = strip[at + 1 :]
