"""middleware_spans: a span per middleware of the app's stack while a transaction records."""

from __future__ import annotations

from typing import Any

import sentry_sdk
from starlette.routing import Router
from starlette.types import ASGIApp, Receive, Scope, Send


class MiddlewareSpan:
    """A span around one middleware of the app's stack, while a transaction records."""

    def __init__(self, app: ASGIApp, name: str) -> None:
        self.app = app
        self.name = name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or sentry_sdk.get_current_span() is None:
            await self.app(scope, receive, send)
            return
        with sentry_sdk.start_span(
            op="middleware.starlette", name=self.name, origin="auto.http.request_context"
        ) as span:
            span.set_tag("starlette.middleware_name", self.name)
            await self.app(scope, receive, send)


def add_middleware_spans(stack: ASGIApp) -> ASGIApp:
    """The app's middleware stack (its own and Starlette's) with a span around each.

    Built once from the stack Starlette built, through each middleware's `app`
    attribute down to the router, where the sdk patches every middleware class
    of the process.
    """
    node: Any = stack
    while True:
        inner = getattr(node, "app", None)
        if inner is None or isinstance(inner, Router) or not callable(inner):
            break
        node.app = MiddlewareSpan(inner, type(inner).__name__)
        node = inner
    if isinstance(stack, Router):
        return stack
    return MiddlewareSpan(stack, type(stack).__name__)
