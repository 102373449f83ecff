"""The request's one event processor: what each of its events says about the request."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sentry_sdk
from sentry_sdk.types import Event, Hint
from starlette.types import Scope

from middleware.context import RequestState
from middleware.request.data import BodyCopy, add_request_data, full_path
from middleware.request.routes import Entry
from middleware.request.sessions import RequestSession

if TYPE_CHECKING:
    from middleware.request.middleware import RequestContextMiddleware


class RequestEvents(RequestState):
    """The state of a request Sentry records: its id, and what each of its events
    says about it (request data, the request's name, its session's status).

    One object per request, added to its isolation scope as its one event
    processor, holds what the request started with; everything else (the path it
    asked for, its headers, its route) is worked out when an event is built,
    which most requests never do. It is the request's RequestState too: one
    object built per request rather than two.
    """

    __slots__ = ("app", "body", "layer", "path", "root_path", "scope", "session", "started")

    def __init__(
        self, request_id: str, layer: RequestContextMiddleware, scope: Scope, started: float
    ) -> None:
        # RequestState's fields, set here rather than through its __init__: this
        # runs on every request.
        self.request_id = request_id
        self.job_id = None
        self.deferred_logs = []
        self.captured = []
        self.layer = layer
        self.scope = scope
        # Before any Mount rewrites path and root_path in this same scope.
        self.app: Any = scope.get("app")
        self.path: str = scope.get("path") or "/"
        self.root_path: str = scope.get("root_path") or ""
        self.started = started
        # Set by the layer once it has looked at the request.
        self.body: BodyCopy | None = None
        self.session: RequestSession | None = None

    @property
    def request_path(self) -> str:
        """The full path the client asked for (data.request_path, as the request started)."""
        return full_path(self.path, self.root_path)

    def __call__(self, event: Event, hint: Hint) -> Event:
        options = sentry_sdk.get_client().options
        add_request_data(
            event,
            self.scope,
            path=self.request_path,
            started=self.started,
            options=self.layer.data_options,
            body=self.body,
            send_default_pii=bool(options.get("send_default_pii")),
        )
        entry = Entry(self.app, self.path, self.root_path)
        self.layer.tracing.name_event(event, self.scope, entry)
        if self.session is not None:
            self.session.processor(event)
        return event
