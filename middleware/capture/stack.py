"""An unhandled error's exception interface, built in one pass over its tracebacks.

What the sdk's event_from_exception sends, with each frame's fixed part (file,
module, function, in-app) taken from the sdk once per code object and kept: the
sdk works it out again for every frame of every event, then marks in-app in a
second walk, and capture added locals and source context in a third.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import CodeType, FrameType, TracebackType
from typing import Any

from sentry_sdk.types import Event, Hint

from middleware._runtime import LocalVariables, Runtime
from middleware._sdk import (
    MAX_STACK_FRAMES,
    exception_value,
    frame_template,
    frames_from_code_alone,
    hidden_by_code,
    serialize_vars,
    set_in_app_in_frames,
    should_hide_frame,
)
from middleware.capture.frames import chain, source_context

# Code objects whose frame template is kept; past it the memory starts over.
_KNOWN_CODES = 4096


class FrameTemplates:
    """Each code object's frame as the sdk builds it, in-app decided by `options`' rules."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.rules = _rules(options)
        self._known: dict[tuple[int, object], tuple[CodeType, dict[str, Any], bool | None]] = {}

    def fits(self, options: dict[str, Any]) -> bool:
        return _rules(options) == self.rules

    def of(self, frame: FrameType) -> dict[str, Any] | None:
        """`frame`'s template (shared, to be copied, never changed); None: a hidden frame."""
        code = frame.f_code
        # By id: a code object hashes its contents on every lookup. The entry holds
        # the code, so that the id is not reused while it is kept.
        known = self._known.get((id(code), frame.f_globals.get("__name__")))
        if known is None or known[0] is not code:
            known = self._learn(frame)
        _, template, hidden = known
        if hidden is None:
            hidden = should_hide_frame(frame)
        return None if hidden else template

    def _learn(self, frame: FrameType) -> tuple[CodeType, dict[str, Any], bool | None]:
        if len(self._known) >= _KNOWN_CODES:
            self._known.clear()
        template = frame_template(frame)
        exclude, include, root = self.rules
        set_in_app_in_frames([template], list(exclude), list(include), root)
        code = frame.f_code
        known = self._known[(id(code), frame.f_globals.get("__name__"))] = (
            code,
            template,
            hidden_by_code(frame),
        )
        return known


def templates_for(runtime: Runtime | None, options: dict[str, Any]) -> FrameTemplates:
    """The templates kept on `runtime` for `options`' in-app rules (new ones if none fit)."""
    templates = None if runtime is None else runtime.frame_templates
    if templates is None or not templates.fits(options):
        templates = FrameTemplates(options)
        if runtime is not None:
            runtime.frame_templates = templates
    return templates


def _rules(options: dict[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...], str | None]:
    return (
        tuple(options.get("in_app_exclude") or ()),
        tuple(options.get("in_app_include") or ()),
        options.get("project_root"),
    )


def exception_event(
    exc: BaseException,
    mechanism: dict[str, Any],
    options: dict[str, Any],
    templates: FrameTemplates,
    *,
    local_variables: LocalVariables,
    source: bool,
) -> tuple[Event, Hint] | None:
    """The sdk's event and hint for `exc`, locals and source context as asked.

    `local_variables` "none" sends no locals, "in_app" those of in-app frames
    only. None where the sdk builds the interface another way: an exception
    group, a stack past the sdk's frame limit, the data_collection or
    add_full_stack options, or no traceback.
    """
    tb = exc.__traceback__
    if tb is None or isinstance(exc, BaseExceptionGroup) or not frames_from_code_alone(options):
        return None
    values = []
    for error in chain(exc):
        value = exception_value(error, options, mechanism)
        frames = _frames(error.__traceback__, options, templates, local_variables, source)
        if frames is None:
            return None
        if frames:
            value["stacktrace"] = {"frames": frames}
        values.append(value)
    values.reverse()
    event: Event = {"level": "error", "exception": {"values": values}}
    return event, {"exc_info": (type(exc), exc, tb)}


def _frames(
    tb: TracebackType | None,
    options: dict[str, Any],
    templates: FrameTemplates,
    local_variables: LocalVariables,
    source: bool,
) -> Sequence[dict[str, Any]] | None:
    max_length = options["max_value_length"]
    custom_repr = options.get("custom_repr")
    of = templates.of
    frames: list[dict[str, Any]] = []
    entry = tb
    while entry is not None:
        code_frame, lineno, entry = entry.tb_frame, entry.tb_lineno, entry.tb_next
        template = of(code_frame)
        if template is None:
            continue
        if len(frames) == MAX_STACK_FRAMES:
            return None  # the sdk sends no stack trace then
        frame = {**template, "lineno": lineno}
        frames.append(frame)
        if local_variables == "none" and not source:
            continue  # a lean event's frame
        if source:
            source_context(frame, max_length)
        if local_variables == "all" or (
            local_variables == "in_app" and template.get("in_app") is True
        ):
            # Trimmed here: the client's pass over the event skips the interface.
            frame["vars"] = serialize_vars(
                dict(code_frame.f_locals),
                max_value_length=max_length,
                custom_repr=custom_repr,
            )
    return frames
