"""The in-process worker loop: N slots take jobs from the queue, each in its own job scope."""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import anyio
import sentry_sdk
from anyio.abc import TaskGroup

from booty.config import BootySettings
from booty.github import GitHub
from booty.llm import LLM
from booty.pipeline import run_pipeline
from booty.queue import Job, Queue, open_queue
from booty.verifier import run_verifier
from middleware import JobScope, WorkerMonitor, job_scope

logger = logging.getLogger("booty.worker")

MECHANISM = "booty.worker"
Handler = Callable[[Job, JobScope], Awaitable[None]]


class UnknownJobKind(Exception):
    pass


class AttemptsExhausted(Exception):
    """A job's every attempt ended with its process gone: it is failed, not run again."""


class Worker:
    def __init__(
        self,
        queue: Queue,
        handlers: Mapping[str, Handler],
        *,
        concurrency: int = 1,
        grace: float = 10.0,
        poll_interval: float = 5.0,
        retry_delay: float = 1.0,
        monitor: WorkerMonitor | None = None,
        prune_interval: float = 3600.0,
    ) -> None:
        self.queue = queue
        self.monitor = monitor or WorkerMonitor(None)
        self.handlers = dict(handlers)
        self.concurrency = concurrency
        self.grace = grace
        self.poll_interval = poll_interval
        self.retry_delay = retry_delay
        self.prune_interval = prune_interval
        # One token per committed job: a wake-up sent while every slot is busy is
        # kept, so no job waits for the poll interval.
        self._wake_send, self._wake_receive = anyio.create_memory_object_stream[None](math.inf)
        self._stopping = False
        self._slots_left = concurrency
        self._all_stopped = anyio.Event()
        self._tg: TaskGroup | None = None

    def notify(self) -> None:
        """A job was committed: wake an idle slot."""
        # When stopping, the job simply stays queued for the next start.
        with suppress(anyio.ClosedResourceError):
            self._wake_send.send_nowait(None)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Worker]:
        async with anyio.create_task_group() as tg:
            self._tg = tg
            # Checks in from this event loop: a blocked loop or a dead worker stops checking in.
            tg.start_soon(self.monitor.heartbeat)
            for _ in range(self.concurrency):
                tg.start_soon(self._slot)
            # Other processes' jobs: wake a slot as soon as the queue hears of them.
            tg.start_soon(self.queue.watch, self.notify)
            tg.start_soon(self._prune)
            try:
                yield self
            finally:
                await self._stop(tg)

    async def _stop(self, tg: TaskGroup) -> None:
        self._stopping = True
        self._wake_send.close()
        logger.info("stopping: running jobs have %ss to finish", self.grace)
        with anyio.move_on_after(self.grace):
            await self._all_stopped.wait()
        # Jobs still running past the grace are cancelled and queued again.
        tg.cancel_scope.cancel()
        self._wake_receive.close()

    async def _slot(self) -> None:
        try:
            while not self._stopping:
                try:
                    job = await self.queue.claim()
                    if job is None:
                        await self._idle()
                    else:
                        await self._run(job)
                except Exception:
                    # A queue failure outside any job (the disk, a lock): report and retry.
                    logger.exception("the worker loop failed; retrying")
                    await anyio.sleep(self.retry_delay)
        finally:
            self._slots_left -= 1
            if not self._slots_left:
                self._all_stopped.set()

    async def _prune(self) -> None:
        """Delete finished jobs past their retention, at start and then every interval."""
        while not self._stopping:
            try:
                pruned = await self.queue.prune()
                if pruned:
                    logger.info("%d finished job(s) past their retention deleted", pruned)
            except Exception:
                logger.exception("pruning finished jobs failed; retrying later")
            await anyio.sleep(self.prune_interval)

    async def _idle(self) -> None:
        with anyio.move_on_after(self.poll_interval):
            with suppress(anyio.EndOfStream):
                await self._wake_receive.receive()

    async def _run(self, job: Job) -> None:
        with job_scope(
            job.kind,
            job.id,
            request_id=job.request_id,
            trace=job.trace,
            tags=_tags(job),
            data=lambda: _data(job),
            mechanism=MECHANISM,
            reraise=False,
            # Jobs hold issue text, prompts and answers in their variables.
            drop_local_variables=True,
        ) as scope:
            if job.status == "failed":
                await self._give_up(job, scope)
                return
            sentry_sdk.add_breadcrumb(
                category="queue",
                message=f"job {job.id} running",
                data={"job_id": job.id, "status": "running", "attempt": job.attempts},
            )
            try:
                with self._leased(job) as held:
                    handler = self.handlers.get(job.kind)
                    if handler is None:
                        raise UnknownJobKind(job.kind)
                    await handler(job, scope)
                if held.cancelled_caught:
                    # Another process holds the job now: it is theirs to finish.
                    return
            except Exception as exc:
                event_id = scope.capture(exc)
                await self.queue.finish(
                    job.id, "failed", event_id=event_id, error=type(exc).__name__
                )
                raise
            except anyio.get_cancelled_exc_class():
                with anyio.CancelScope(shield=True):
                    await self.queue.requeue(job.id)
                raise
            await self.queue.finish(job.id, "succeeded")

    async def _give_up(self, job: Job, scope: JobScope) -> None:
        exc = AttemptsExhausted(
            f"job {job.id} was started {job.attempts} times and its process never finished it;"
            " it is failed and will not run again"
        )
        # The record carries the exception, so the job's one event is this capture's.
        logger.error("%s", exc, exc_info=exc)
        event_id = scope.capture(exc)
        await self.queue.finish(job.id, "failed", event_id=event_id, error=job.error)

    @contextmanager
    def _leased(self, job: Job) -> Iterator[anyio.CancelScope]:
        """Renew the job's lease while the block runs; cancel the block if it is lost."""
        held = anyio.CancelScope()
        renewing = anyio.CancelScope()
        if self._tg is not None:
            self._tg.start_soon(self._renew, job.id, held, renewing)
        try:
            with held:
                yield held
        finally:
            renewing.cancel()

    async def _renew(
        self, job_id: str, held: anyio.CancelScope, renewing: anyio.CancelScope
    ) -> None:
        with renewing:
            while True:
                await anyio.sleep(self.queue.lease / 3)
                try:
                    kept = await self.queue.renew(job_id)
                except Exception:
                    # One failed renewal is not a lost lease: two more come before it expires.
                    logger.exception("job %s: the lease could not be renewed", job_id)
                    continue
                if not kept:
                    logger.warning("job %s: the lease was lost; stopping the job", job_id)
                    held.cancel()
                    return


def _tags(job: Job) -> dict[str, object]:
    keys = ("repository", "issue_number", "pr_number")
    return {key: job.payload[key] for key in keys if key in job.payload}


def _data(job: Job) -> dict[str, Any]:
    return {"attempt": job.attempts, "queued_at": job.created_at, **job.payload}


@dataclass(frozen=True)
class Services:
    queue: Queue
    worker: Worker


@asynccontextmanager
async def start_worker(settings: BootySettings) -> AsyncIterator[Services]:
    """Open the queue, take back jobs whose owner died, run the loop until exit."""
    url = settings.booty_database_url
    queue = open_queue(
        None if url is None else url.get_secret_value(),
        str(settings.booty_db_path),
        lease=settings.booty_job_lease,
        max_attempts=settings.booty_max_attempts,
        retention=settings.booty_job_retention * 86400,
    )
    recovered = await queue.open()
    if recovered:
        logger.info("%d job(s) whose owner stopped renewing are queued again", recovered)
    github = GitHub(settings.github_api_url, settings.github_token)
    llm = LLM(settings.llm_api_url, settings.llm_api_key, settings.llm_model)

    async def pipeline(job: Job, scope: JobScope) -> None:
        await run_pipeline(job, scope, github, llm)

    async def verifier(job: Job, scope: JobScope) -> None:
        await run_verifier(job, github)

    worker = Worker(
        queue,
        {"pipeline": pipeline, "verifier": verifier},
        concurrency=settings.booty_workers,
        grace=settings.booty_shutdown_grace,
        monitor=WorkerMonitor.from_env(service="booty"),
    )
    try:
        async with worker.running():
            yield Services(queue, worker)
    finally:
        await github.aclose()
        await llm.aclose()
        await queue.close()
