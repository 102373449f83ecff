"""Release health: one session per request, aggregated as the sdk does for servers."""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

from sentry_sdk.types import Event

from middleware._sdk import BaseClient, pending_sessions, session_aggregate

Attrs = tuple[tuple[str, str], ...]


class ReleaseHealth:
    """Counts a session per request into the sdk's own aggregates for servers.

    The sdk's request sessions (track_session) build a Session object (a uuid4,
    datetimes, the user) and take a lock per request, several times the budget
    for this; only the counts per minute and status ever leave the process, so
    a request adds one to the count the sdk's flusher will send.
    """

    def __init__(self) -> None:
        self.client: BaseClient | None = None
        self.attrs: Attrs | None = None
        self.pending: object = None
        self.minute = -1
        self.counts: dict[str, Any] = {}

    def track(self, client: BaseClient) -> RequestSession | None:
        """The request's session, or None when session tracking is off or there is no release.

        Every event of the request goes through the session's `processor`.
        """
        if client is not self.client:
            self.client, self.attrs, self.pending = client, _attrs(client), None
        if self.attrs is None:
            return None
        return RequestSession(self, int(time.time()) // 60)

    def count(self, minute: int, status: str) -> None:
        client, attrs = self.client, self.attrs
        if client is None or attrs is None:  # pragma: no cover - track() set both
            return
        pending = pending_sessions(client)
        if pending is not self.pending or minute != self.minute:
            # A new minute, or the flusher sent the counts: find (or start) the new ones.
            self.counts = session_aggregate(client, attrs, minute)
            self.pending, self.minute = pending, minute
        self.counts[status] = self.counts.get(status, 0) + 1


def _attrs(client: BaseClient) -> Attrs | None:
    options = client.options
    release = options.get("release")
    # The sdk discards sessions without a release: Sentry files them under one.
    if not options.get("auto_session_tracking") or not release:
        return None
    attrs = {"release": str(release)}
    if options.get("environment") is not None:
        attrs["environment"] = str(options["environment"])
    return tuple(sorted(attrs.items()))


class RequestSession:
    """Exited, errored (an error event was sent) or crashed (an unhandled error)."""

    __slots__ = ("health", "minute", "status")

    def __init__(self, health: ReleaseHealth, minute: int) -> None:
        self.health = health
        self.minute = minute
        self.status = "exited"

    def processor(self, event: Event) -> None:
        # The sdk's rule (_update_session_from_event): an event with an exception
        # makes the session errored, and an unhandled one crashed.
        for error in (event.get("exception") or {}).get("values") or ():
            mechanism = error.get("mechanism") if isinstance(error, dict) else None
            if isinstance(mechanism, dict) and mechanism.get("handled") is False:
                self.status = "crashed"
                break
            if self.status == "exited":
                self.status = "errored"

    def __enter__(self) -> RequestSession:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # An error that left the app is unhandled, even when the storm guard dropped its event.
        if isinstance(error, Exception):
            self.status = "crashed"
        self.health.count(self.minute, self.status)
