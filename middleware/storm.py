"""The error-storm guard: bound what one repeating error costs.

Building an event (frames, local variables, source context, serialisation,
scrubbing) takes milliseconds of event-loop time. When a dependency dies and
every request fails, the first few events of that error are all anyone reads,
and the sdk's transport queue overflows anyway, dropping events at random. So
past `limit` events of one fingerprint (exception type plus innermost in-app
frame) inside a window, the event is not built at all: it is counted as lost
in the sdk's client reports (reason "backpressure"). A warning is logged when a
storm starts; when its window has passed, one summary with the count is logged
and put as a breadcrumb on the next event sent (the same error's or another's).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import CodeType, FrameType

import sentry_sdk

from middleware._sdk import (
    BaseClient,
    capture_internal_exceptions,
    record_lost_event,
    set_in_app_in_frames,
)

logger = logging.getLogger("middleware.storm")

# Sentry's discard reason for telemetry dropped because the process is overloaded.
DISCARD_REASON = "backpressure"
BREADCRUMB_CATEGORY = "sentry.storm"

Fingerprint = tuple[type[BaseException], CodeType | None, int]


@dataclass(frozen=True)
class Summary:
    label: str
    suppressed: int
    window: float

    def __str__(self) -> str:
        return (
            f"error storm over: {self.suppressed} more events of {self.label} "
            f"were counted but not sent (window {self.window:g} s)"
        )


@dataclass
class _Window:
    label: str
    opened: float
    count: int = 0
    suppressed: int = 0


class StormGuard:
    """Admit at most `limit` errors per fingerprint per `window` seconds."""

    def __init__(
        self,
        *,
        limit: int,
        window: float,
        in_app_include: Sequence[str] = (),
        in_app_exclude: Sequence[str] = (),
        project_root: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_fingerprints: int = 1024,
    ) -> None:
        if limit < 1 or window <= 0 or max_fingerprints < 1:
            raise ValueError("limit and max_fingerprints must be >= 1, window > 0")
        self.limit = limit
        self.window = window
        self.clock = clock
        self.max_fingerprints = max_fingerprints
        self._include = list(in_app_include)
        self._exclude = list(in_app_exclude)
        # The sdk's default project root, so that frames are in-app where Sentry says so.
        self._project_root = os.getcwd() if project_root is None else project_root
        self._in_app: dict[CodeType, bool] = {}
        self._windows: dict[Fingerprint, _Window] = {}
        self._ended: list[Summary] = []
        self._swept = clock()
        self._lock = threading.Lock()

    def admit(self, exc: BaseException) -> bool:
        """True when an event for `exc` should be built and sent."""
        key, frame = self.fingerprint(exc)
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
                    # Too many distinct errors to track: never suppress one untracked.
                    return True
                current = self._windows[key] = _Window(_label(key, frame), now)
            current.count += 1
            if current.count <= self.limit:
                return True
            current.suppressed += 1
            if current.suppressed == 1:
                logger.warning(
                    "error storm: more than %d events of %s in %g s; "
                    "further ones are counted, not sent, until the window ends",
                    self.limit,
                    current.label,
                    self.window,
                )
            return False

    def take_summaries(self) -> list[Summary]:
        """The storms that ended since the last call (each reported once)."""
        with self._lock:
            ended, self._ended = self._ended, []
        return ended

    def fingerprint(self, exc: BaseException) -> tuple[Fingerprint, FrameType | None]:
        """The exception type plus the innermost in-app frame (else the innermost)."""
        entries = []
        tb = exc.__traceback__
        while tb is not None:
            entries.append(tb)
            tb = tb.tb_next
        if not entries:
            return (type(exc), None, 0), None
        # From the inside out: the in-app frame is usually a step or two from the raise.
        chosen = entries[-1]
        known = self._in_app
        for entry in reversed(entries):
            in_app = known.get(entry.tb_frame.f_code)
            if in_app is None:
                in_app = self._learn(entry.tb_frame)
            if in_app:
                chosen = entry
                break
        return (type(exc), chosen.tb_frame.f_code, chosen.tb_lineno), chosen.tb_frame

    def _learn(self, frame: FrameType) -> bool:
        if len(self._in_app) > 4096:
            self._in_app.clear()
        code = frame.f_code
        # The sdk's own rule, so the fingerprint names the frame Sentry shows as in-app.
        marked = {"module": frame.f_globals.get("__name__"), "abs_path": _abs(code)}
        set_in_app_in_frames([marked], self._exclude, self._include, self._project_root)
        in_app = self._in_app[code] = marked.get("in_app") is True
        return in_app

    def _sweep(self, now: float) -> None:
        self._swept = now
        for key, old in list(self._windows.items()):
            if now - old.opened >= self.window:
                self._close(key, old)

    def _close(self, key: Fingerprint, old: _Window) -> None:
        del self._windows[key]
        if old.suppressed:
            self._ended.append(Summary(old.label, old.suppressed, self.window))


def _abs(code: CodeType) -> str | None:
    return os.path.abspath(code.co_filename) if code.co_filename else None


def _label(key: Fingerprint, frame: FrameType | None) -> str:
    exc_type, code, lineno = key
    if frame is None or code is None:
        return exc_type.__qualname__
    module = frame.f_globals.get("__name__") or code.co_filename
    return f"{exc_type.__qualname__} at {module}:{lineno} in {code.co_name}"


_guards: weakref.WeakKeyDictionary[BaseClient, StormGuard] = weakref.WeakKeyDictionary()


def install(client: BaseClient, guard: StormGuard | None) -> None:
    """Guard `client`'s unhandled-error captures with `guard` (None removes it)."""
    if guard is None:
        _guards.pop(client, None)
    else:
        _guards[client] = guard


def guard_for(client: BaseClient) -> StormGuard | None:
    return _guards.get(client)


def install_from_settings(client: BaseClient, *, limit: int, window: float) -> None:
    """Install a guard built from SENTRY_STORM_LIMIT/WINDOW; limit 0 disables it."""
    if limit == 0:
        install(client, None)
        return
    options = client.options
    install(
        client,
        StormGuard(
            limit=limit,
            window=window,
            in_app_include=options.get("in_app_include") or (),
            in_app_exclude=options.get("in_app_exclude") or (),
            project_root=options.get("project_root"),
        ),
    )


def admit(client: BaseClient, exc: BaseException) -> bool:
    """Whether to build an event for `exc`; a suppressed one is recorded as lost."""
    guard = _guards.get(client)
    if guard is None:
        return True
    with capture_internal_exceptions():
        if not guard.admit(exc):
            record_lost_event(client, DISCARD_REASON, "error")
            return False
        for summary in guard.take_summaries():
            logger.warning("%s", summary)
            # On the event about to be sent, so the storm is visible in Sentry too.
            sentry_sdk.add_breadcrumb(
                category=BREADCRUMB_CATEGORY,
                level="warning",
                message=str(summary),
                data={"suppressed": summary.suppressed, "window": summary.window},
            )
    return True
