"""The request's state with Sentry on: a RequestState, and the request's event processor."""

from __future__ import annotations

from middleware.context import RequestState
from middleware.request.events import RequestEvents
from middleware.request.middleware import RequestContextMiddleware
from tests.support import app_with


def test_it_starts_as_a_request_state_does() -> None:
    """RequestEvents sets RequestState's fields itself: none may be missed or differ."""
    scope = {"type": "http", "path": "/a", "root_path": "/r", "headers": []}
    layer = RequestContextMiddleware(app_with())
    events, plain = RequestEvents("rid", layer, scope, 1.0), RequestState("rid")
    for slot in RequestState.__slots__:
        assert getattr(events, slot) == getattr(plain, slot), slot
    assert events.deferred_logs is not plain.deferred_logs
    assert (events.path, events.root_path, events.body, events.session) == ("/a", "/r", None, None)
