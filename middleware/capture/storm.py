"""The error-storm guard: bound what one repeating error costs.

Building an event at full detail (local variables, source context) holds the
event loop far longer than a request does. When a dependency dies and every request
fails, the first few events of that error are all anyone reads, but every
occurrence should still be counted where people look: in Sentry. So past
`limit` events of one fingerprint (exception type plus innermost in-app frame)
inside a window, events are sent lean (no local variables, no source context),
with a `storm` context giving the label and the count in the window. Only past
`ceiling` lean events in one window is an event dropped: it is counted as lost
in the sdk's client reports (reason "backpressure"), and the next event sent
for that fingerprint carries `storm.dropped`, because some Sentry-compatible
servers ignore client reports.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from middleware._sdk import BaseClient, capture_internal_exceptions, record_lost_event
from middleware.capture.fingerprint import Fingerprint, Fingerprints, label
from middleware.capture.verdict import FULL, Detail, Summary, Verdict

__all__ = [
    "FULL",
    "Detail",
    "StormGuard",
    "Summary",
    "Verdict",
    "admit",
    "guard_from_settings",
]

logger = logging.getLogger("middleware.storm")

# Sentry's discard reason for telemetry dropped because the process is overloaded.
DISCARD_REASON = "backpressure"


# Distinct messages past the ceiling still sent (lean) per fingerprint and window:
# "HTTP 404" and "HTTP 401" raised on one line are two errors to the reader, but
# messages with ids in them must not lift the ceiling altogether.
DISTINCT_MESSAGES = 32


@dataclass
class _Window:
    label: str
    opened: float
    count: int = 0
    dropped: int = 0
    messages: set[int] = field(default_factory=set)


class StormGuard:
    """Full events up to `limit` per fingerprint per `window` seconds, then lean
    ones up to `ceiling` more (0: no ceiling), then none."""

    def __init__(
        self,
        *,
        limit: int,
        window: float,
        ceiling: int = 1000,
        in_app_include: Sequence[str] = (),
        in_app_exclude: Sequence[str] = (),
        project_root: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_fingerprints: int = 1024,
    ) -> None:
        if limit < 1 or ceiling < 0 or window <= 0 or max_fingerprints < 1:
            raise ValueError("limit and max_fingerprints must be >= 1, ceiling >= 0, window > 0")
        self.limit = limit
        self.window = window
        self.ceiling = ceiling
        self.clock = clock
        self.max_fingerprints = max_fingerprints
        self.fingerprints = Fingerprints(
            in_app_include=in_app_include,
            in_app_exclude=in_app_exclude,
            project_root=project_root,
        )
        self._windows: dict[Fingerprint, _Window] = {}
        # Drops not yet reported on an event; they outlive their window, since the
        # next event of a fingerprint past its ceiling is usually in the next one.
        self._dropped: dict[Fingerprint, int] = {}
        self._ended: list[Summary] = []
        self._swept = clock()
        self._lock = threading.Lock()

    def admit(self, exc: BaseException) -> Verdict:
        """How much of an event to build for `exc`."""
        key, frame = self.fingerprints.of(exc)
        with self._lock:
            now = self.clock()
            current = self._windows.get(key)
            if current is not None and now - current.opened >= self.window:
                self._close(key, current)
                current = None
            if current is None:
                if now - self._swept >= self.window or len(self._windows) >= self.max_fingerprints:
                    self._sweep(now)
                if len(self._windows) >= self.max_fingerprints:
                    # Too many distinct errors to track: never trim or drop one untracked.
                    return FULL
                current = self._windows[key] = _Window(label(key, frame), now)
            current.count += 1
            lean = current.count - self.limit
            if lean > 0 and self.ceiling and lean > self.ceiling:
                if not self._new_message(current, exc):
                    return self._drop(key, current)
            elif lean > 0 and self.ceiling and len(current.messages) < DISTINCT_MESSAGES:
                # The messages sent lean, so that only a new one passes the ceiling.
                current.messages.add(_message_hash(exc))
            if lean == 1:
                logger.warning(
                    "error storm: more than %d events of %s in %g s; "
                    "further ones are sent without local variables or source context",
                    self.limit,
                    current.label,
                    self.window,
                )
            dropped = self._dropped.pop(key, 0)
            detail: Detail = "lean" if lean > 0 else "full"
            return Verdict(detail, current.label, current.count, dropped)

    def _new_message(self, current: _Window, exc: BaseException) -> bool:
        """Whether `exc`'s message is new in the window, while few were (it is then kept)."""
        if len(current.messages) >= DISTINCT_MESSAGES:
            return False
        message = _message_hash(exc)
        if message in current.messages:
            return False
        current.messages.add(message)
        return True

    def _drop(self, key: Fingerprint, current: _Window) -> Verdict:
        current.dropped += 1
        if key in self._dropped or len(self._dropped) < self.max_fingerprints:
            self._dropped[key] = self._dropped.get(key, 0) + 1
        if current.dropped == 1:
            logger.warning(
                "error storm: more than %d lean events of %s in %g s; "
                "further ones are dropped until the window ends",
                self.ceiling,
                current.label,
                self.window,
            )
        return Verdict("drop", current.label, current.count)

    def take_summaries(self) -> list[Summary]:
        """The storms that ended since the last call (each reported once)."""
        with self._lock:
            ended, self._ended = self._ended, []
        return ended

    def _sweep(self, now: float) -> None:
        self._swept = now
        for key, old in list(self._windows.items()):
            if now - old.opened >= self.window:
                self._close(key, old)

    def _close(self, key: Fingerprint, old: _Window) -> None:
        del self._windows[key]
        if old.dropped:
            self._ended.append(Summary(old.label, old.dropped, self.window))


def _message_hash(exc: BaseException) -> int:
    try:
        return hash(str(exc)[:1024])
    except Exception:
        return 0


def guard_from_settings(
    client: BaseClient, *, limit: int, window: float, ceiling: int = 1000
) -> StormGuard | None:
    """A guard built from SENTRY_STORM_* and `client`'s in-app rules; limit 0: none."""
    if limit == 0:
        return None
    options = client.options
    return StormGuard(
        limit=limit,
        window=window,
        ceiling=ceiling,
        in_app_include=options.get("in_app_include") or (),
        in_app_exclude=options.get("in_app_exclude") or (),
        project_root=options.get("project_root"),
    )


def admit(guard: StormGuard | None, client: BaseClient, exc: BaseException) -> Verdict:
    """How much of an event to build for `exc`; a dropped one is recorded as lost."""
    if guard is None:
        return FULL
    verdict = FULL
    with capture_internal_exceptions():
        verdict = guard.admit(exc)
        if verdict.detail == "drop":
            record_lost_event(client, DISCARD_REASON, "error")
        for summary in guard.take_summaries():
            logger.warning("%s", summary)
    return verdict
