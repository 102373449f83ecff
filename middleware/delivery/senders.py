"""The sending threads, and the one that feeds them what the spool holds."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from sentry_sdk.envelope import Envelope

from middleware._sdk import capture_internal_exceptions
from middleware.delivery.spool import Spool

# Sentry's SDK development guide (offline caching): a small delay between
# cached envelopes, so that a spool emptied at once trips no abuse filter.
CACHED_PACE = 0.1
# Retries after a network error: 1 s, doubling, at most this.
MAX_BACKOFF = 10.0
# How often the spool is read for envelopes other processes left.
POLL = 5.0


class Job(NamedTuple):
    name: str | None  # None: not on disk (the spool could not be written)
    envelope: Envelope | None  # None: read it from disk


Send = Callable[[Path | None, Envelope | None], bool]


class Senders:
    def __init__(
        self,
        spool: Spool,
        *,
        send: Send,
        concurrency: int,
        queue_size: int,
        healthy: Callable[[], bool],
    ) -> None:
        self.spool = spool
        self._send = send
        self._concurrency = concurrency
        self._queue_size = queue_size
        self._healthy = healthy
        self._jobs: deque[Job] = deque()
        self._queued: set[str] = set()
        self._in_flight = 0
        self._changed = threading.Condition()
        self._wake = threading.Event()
        self._stopping = False
        self._threads: list[threading.Thread] = []
        self._retry_at = 0.0
        self._backoff = 0.0
        self._deadline: float | None = None
        # How long a send takes, so that a flush starts none it cannot finish.
        self._duration = 0.0

    def submit(self, job: Job) -> None:
        with self._changed:
            if job.name is not None and (
                len(self._jobs) >= self._queue_size or time.monotonic() < self._retry_at
            ):
                # On disk: the drain sends it later. While Sentry is unreachable no
                # sender would send it, and waking one costs the capture a thread switch.
                return
            self._enqueue(job)
            self._start_threads()

    def start_draining(self) -> None:
        # A first look at once, in the background: startup does not wait for it.
        self._wake.set()
        threading.Thread(target=self._drain, name="sentry-spool-drain", daemon=True).start()

    def flush(self, timeout: float) -> None:
        end = time.monotonic() + timeout
        with self._changed:
            self._deadline = end
            self._changed.notify_all()
            try:
                while (self._jobs and self._sendable()) or self._in_flight:
                    left = end - time.monotonic()
                    if left <= 0:
                        break
                    self._changed.wait(left)
            finally:
                self._deadline = None
                self._changed.notify_all()

    def stop(self) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        self._wake.set()

    def _enqueue(self, job: Job) -> None:
        if job.name is not None:
            self._queued.add(job.name)
        self._jobs.append(job)
        self._changed.notify()

    def _start_threads(self) -> None:
        while len(self._threads) < self._concurrency:
            thread = threading.Thread(target=self._run, name="sentry-sender", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _sendable(self) -> bool:
        """Whether a send started now ends before the flush's deadline, if any."""
        if self._deadline is None:
            return True
        return time.monotonic() + max(2 * self._duration, 0.05) < self._deadline

    def _next(self) -> Job | None:
        with self._changed:
            while not self._stopping and not (self._jobs and self._sendable()):
                self._changed.wait()
            if self._stopping:
                return None
            job = self._jobs.popleft()
            if job.name is not None:
                self._queued.discard(job.name)
            self._in_flight += 1
            return job

    def _run(self) -> None:
        while (job := self._next()) is not None:
            try:
                with capture_internal_exceptions():
                    self._attempt(job)
            finally:
                with self._changed:
                    self._in_flight -= 1
                    self._changed.notify_all()

    def _attempt(self, job: Job) -> None:
        if time.monotonic() < self._retry_at and job.name is not None:
            return  # Sentry is unreachable: the envelope waits on disk
        claimed = None
        if job.name is not None:
            claimed = self.spool.claim(job.name)
            if claimed is None:
                return  # another process has it
        started = time.monotonic()
        try:
            reached = self._send(claimed, job.envelope)
        except BaseException:
            if claimed is not None:
                self.spool.release(claimed)
            raise
        if not reached:
            if claimed is not None:
                self.spool.release(claimed)
            self._unreachable()
            return
        if claimed is not None:
            self.spool.remove(claimed)
        self._reached(time.monotonic() - started)

    def _unreachable(self) -> None:
        with self._changed:
            self._backoff = min(max(1.0, self._backoff * 2), MAX_BACKOFF)
            self._retry_at = time.monotonic() + self._backoff

    def _reached(self, duration: float) -> None:
        with self._changed:
            self._duration = (
                duration if not self._duration else 0.8 * self._duration + 0.2 * duration
            )
            if self._backoff:
                self._backoff = 0.0
                self._retry_at = 0.0
                self._wake.set()

    def _drain(self) -> None:
        """Feed the senders the spool's ready envelopes, oldest first, paced."""
        while not self._stopping:
            wait = max(self._retry_at - time.monotonic(), 0.0) or POLL
            self._wake.wait(wait)
            self._wake.clear()
            if self._stopping:
                return
            with capture_internal_exceptions():
                self._feed()

    def _feed(self) -> None:
        for name in self.spool.ready():
            if self._stopping or time.monotonic() < self._retry_at or not self._healthy():
                return
            with self._changed:
                if name in self._queued:
                    continue
                while not self._stopping and len(self._jobs) >= self._concurrency:
                    self._changed.wait(1.0)
                self._enqueue(Job(name, None))
                self._start_threads()
            time.sleep(CACHED_PACE)
