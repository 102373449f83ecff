"""Trace propagation into server-rendered pages: `{{ sentry_trace_meta }}` in Jinja2 templates.

Nothing here imports jinja2: an app without it never loads it. The sdk's
Starlette integration patches Jinja2Templates for every app in the process;
here an app opts in for its own templates with one call.
"""

from __future__ import annotations

from html import escape
from typing import Any

import sentry_sdk


class TraceMeta:
    """The current trace's `<meta>` tags, rendered when (and each time) a template prints it.

    Jinja2 calls `__html__` under autoescape and `str()` without; either way the
    value is the trace of the request being rendered, not of the one that
    registered the global.
    """

    def __html__(self) -> str:
        tags = []
        for name, content in (
            ("sentry-trace", sentry_sdk.get_traceparent()),
            ("baggage", sentry_sdk.get_baggage()),
        ):
            if content:
                tags.append(f'<meta name="{name}" content="{escape(content)}">')
        return "".join(tags)

    __str__ = __html__

    def __repr__(self) -> str:
        return "<sentry_trace_meta>"


def add_sentry_trace_meta(templates: Any) -> None:
    """Give a Starlette/FastAPI `Jinja2Templates` (or a `jinja2.Environment`) the global."""
    env = getattr(templates, "env", templates)
    env.globals["sentry_trace_meta"] = TraceMeta()
