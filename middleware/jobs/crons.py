"""The worker loop as a Sentry cron monitor.

A stalled or dead worker raises no error: jobs just pile up. The heartbeat runs
as a task on the worker's own event loop, so a loop that is blocked, or a worker
that has stopped, stops checking in, and Sentry reports the monitor as timed out
(a run left in progress past `max_runtime`) and missed (no new run within the
schedule plus `checkin_margin`). The sdk's `sentry_sdk.crons` sends the
check-ins; the monitor is created or updated from the config each run carries.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import anyio
from sentry_sdk.crons import MonitorStatus

from middleware.config import SentrySettings, is_monitor_slug, is_production, load_settings
from middleware.jobs.checkins import Run, minutes, monitor_config, send_checkin

logger = logging.getLogger("middleware.crons")

OFF = "off"


class WorkerMonitor:
    """Check-ins for one worker loop: `async with monitor.running(): ...`.

    `slug` None disables every method. `every` is the heartbeat in seconds;
    `checkin_margin` and `max_runtime` are minutes, as Sentry counts them. A run
    lasts one heartbeat, so `max_runtime` defaults to a minute more than that.
    """

    def __init__(
        self,
        slug: str | None,
        *,
        every: float = 60.0,
        checkin_margin: int = 1,
        max_runtime: int | None = None,
    ) -> None:
        if slug is not None and not is_monitor_slug(slug):
            raise ValueError(f"{slug!r} is not a monitor slug: 1 to 50 of a-z, 0-9, '-', '_'")
        if not every > 0 or not math.isfinite(every):
            raise ValueError("every must be a positive number of seconds")
        if max_runtime is None:
            max_runtime = minutes(every) + 1
        if checkin_margin < 1:
            raise ValueError("checkin_margin is at least 1 minute")
        if max_runtime * 60 <= every:
            raise ValueError("max_runtime must be longer than a heartbeat (every)")
        self.slug = slug
        self.every = every
        self.checkin_margin = checkin_margin
        self.max_runtime = max_runtime
        self.config = monitor_config(every, checkin_margin=checkin_margin, max_runtime=max_runtime)
        self._run: Run | None = None
        self._bad_kinds: set[str] = set()

    @classmethod
    def from_settings(
        cls,
        settings: SentrySettings,
        *,
        service: str,
        every: float = 60.0,
        checkin_margin: int = 1,
        max_runtime: int | None = None,
    ) -> WorkerMonitor:
        """SENTRY_WORKER_MONITOR names the monitor; unset, the service does; `off` disables it."""
        slug = settings.worker_monitor or service
        return cls(
            None if slug == OFF else slug,
            every=every,
            checkin_margin=checkin_margin,
            max_runtime=max_runtime,
        )

    @classmethod
    def from_env(cls, *, service: str, every: float = 60.0) -> WorkerMonitor:
        """As from_settings, read from the environment (the lifespan reports bad values)."""
        production = is_production(os.environ.get("SENTRY_ENVIRONMENT"))
        settings, _ = load_settings(SentrySettings, production=production)
        return cls.from_settings(settings, service=service, every=every)

    @property
    def enabled(self) -> bool:
        return self.slug is not None

    def start(self) -> None:
        """The loop has started: open the first run, carrying the monitor config."""
        if self.slug is None or self._run is not None:
            return
        started = time.monotonic()
        check_in_id = send_checkin(self.slug, MonitorStatus.IN_PROGRESS, config=self.config)
        self._run = Run(self.slug, check_in_id, started)

    def beat(self) -> None:
        """Close the current run as ok and open the next one."""
        if self._run is None:
            self.start()
            return
        self._run.close(MonitorStatus.OK)
        self._run = None
        self.start()

    def stop(self, *, failed: bool = False) -> None:
        """Close the current run: ok on a clean stop, error when the loop crashed."""
        run, self._run = self._run, None
        if run is not None:
            run.close(MonitorStatus.ERROR if failed else MonitorStatus.OK)

    async def heartbeat(self) -> None:
        """Check in now and then every `every` seconds, on a fixed schedule, until cancelled."""
        if self.slug is None:
            return
        self.start()
        failed = True
        try:
            deadline = anyio.current_time()
            while True:
                deadline += self.every
                # After a blocked loop, skip the beats it missed instead of sending them all.
                deadline = max(deadline, anyio.current_time())
                await anyio.sleep_until(deadline)
                self.beat()
        except anyio.get_cancelled_exc_class():
            failed = False
            raise
        finally:
            self.stop(failed=failed)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[WorkerMonitor]:
        """Run `heartbeat` beside the body; a crash of the body closes the run as error.

        A worker that has a task group of its own can start `heartbeat` in it instead.
        """
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self.heartbeat)
                try:
                    yield self
                except Exception:
                    self.stop(failed=True)
                    raise
                finally:
                    tg.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            # The task group wraps the body's exception; the caller gets it as raised.
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from None
            raise

    @contextmanager
    def job(
        self, kind: str, *, every: float | None = None, max_runtime: int | None = None
    ) -> Iterator[None]:
        """Report one run of a job kind on the monitor `<slug>-<kind>`.

        With `every` (seconds: how often this kind is expected to run) the
        monitor is upserted from code, `max_runtime` (minutes: how long one run
        may take, Sentry's default 30) with it; without `every`, create the
        monitor in Sentry. A run still in progress past its maximum runtime
        shows a job that hangs while the loop itself keeps beating.
        """
        slug = self.job_slug(kind)
        if slug is None:
            yield
            return
        config = None
        if every is not None:
            config = monitor_config(
                every,
                checkin_margin=self.checkin_margin,
                max_runtime=max_runtime,
            )
        started = time.monotonic()
        run = Run(slug, send_checkin(slug, MonitorStatus.IN_PROGRESS, config=config), started)
        try:
            yield
        except BaseException:
            run.close(MonitorStatus.ERROR)
            raise
        run.close(MonitorStatus.OK)

    def job_slug(self, kind: str) -> str | None:
        if self.slug is None:
            return None
        slug = f"{self.slug}-{kind.strip().lower()}"
        if not is_monitor_slug(slug):
            if kind not in self._bad_kinds:
                self._bad_kinds.add(kind)
                logger.warning(
                    "job kind %r: no check-ins, %r is not a monitor slug", kind, slug[:60]
                )
            return None
        return slug
