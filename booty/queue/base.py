"""The queue contract every backend keeps.

A claimed job is leased: its row names the claiming process (`owner`) and a
`lease_until` time the owner keeps pushing forward while the job runs. A job is
claimable when it is queued, or when it is running under a lease that expired
(its owner died). Every write after the claim names the owner, so a process
that lost its lease can no longer change the job. A finished job keeps its
owner, so the table tells which process ran it.
"""

from __future__ import annotations

import json
import os
import re
import socket
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import anyio
import sentry_sdk

from middleware import span

Status = Literal["queued", "running", "succeeded", "failed"]

# Finished jobs and their body digests are kept this long (BOOTY_JOB_RETENTION): a
# signed body seen again within it is a replay of the same job. GitHub's payloads
# carry no signed timestamp, so an older replay cannot be told from a new delivery.
DEFAULT_RETENTION = 30 * 86400.0
REPLAY_WINDOW = DEFAULT_RETENTION
# The error recorded on a job whose attempts were all used by processes that died.
EXHAUSTED = "AttemptsExhausted"


@dataclass(frozen=True)
class Job:
    id: str
    kind: str
    status: Status
    payload: dict[str, Any]
    request_id: str | None
    trace: dict[str, str]
    attempts: int
    event_id: str | None
    error: str | None
    created_at: float
    updated_at: float


_JOB_ID = re.compile(r"[0-9a-f]{32}")


def is_job_id(value: str) -> bool:
    """Whether `value` can be a job's id at all (they are uuid4().hex)."""
    return _JOB_ID.fullmatch(value) is not None


def new_owner() -> str:
    """This process's lease owner id: readable in the table, unique across restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Queue(ABC):
    system: ClassVar[str]

    def __init__(
        self, *, lease: float, max_attempts: int, retention: float = DEFAULT_RETENTION
    ) -> None:
        if lease <= 0 or max_attempts < 1 or retention <= 0:
            raise ValueError("lease and retention must be positive and max_attempts at least 1")
        self.lease = lease
        self.max_attempts = max_attempts
        self.retention = retention
        self.owner = new_owner()

    async def open(self) -> int:
        """Connect; jobs whose lease expired are queued again. Returns their count."""
        with self._span("open"):
            return await self._open()

    async def close(self) -> None:
        await self._close()

    async def enqueue(
        self,
        kind: str,
        payload: Mapping[str, Any],
        *,
        delivery_id: str | None,
        request_id: str | None,
        trace: Mapping[str, str],
        body_sha: str | None = None,
    ) -> tuple[str, bool]:
        """Commit a job; returns its id and False when it is a redelivery or a replay.

        A redelivery has a `delivery_id` already queued; a replay has a `body_sha`
        (the signed body's digest) queued less than `retention` seconds ago.
        """
        row = {
            "id": uuid.uuid4().hex,
            "delivery_id": delivery_id,
            "body_sha": body_sha,
            "kind": kind,
            "payload": dict(payload),
            "request_id": request_id,
            "sentry_trace": trace.get("sentry-trace"),
            "baggage": trace.get("baggage"),
        }
        with self._span("INSERT jobs"):
            found, created = await self._insert(row)
        if created:
            self._crumb(found, "queued", kind=kind)
        return found, created

    async def claim(self) -> Job | None:
        """Lease the oldest claimable job to this process.

        The job comes back `running`, or `failed` when its attempts were all used:
        then it is already marked failed, for the caller to report once.
        """
        with self._span("UPDATE jobs (claim)"):
            return await self._claim()

    async def renew(self, job_id: str) -> bool:
        """Push this process's lease forward; False when the lease was lost."""
        with self._span("UPDATE jobs (renew)"):
            return await self._renew(job_id)

    async def finish(
        self, job_id: str, status: Status, *, event_id: str | None = None, error: str | None = None
    ) -> bool:
        with self._span("UPDATE jobs (finish)"):
            done = await self._set(job_id, status, event_id, error)
        self._crumb(job_id, status)
        return done

    async def prune(self) -> int:
        """Delete the jobs that finished more than `retention` seconds ago; their count."""
        with self._span("DELETE jobs (prune)"):
            return await self._prune()

    async def requeue(self, job_id: str) -> bool:
        with self._span("UPDATE jobs (requeue)"):
            done = await self._set(job_id, "queued", None, None)
        self._crumb(job_id, "queued again")
        return done

    async def get(self, job_id: str) -> Job | None:
        with self._span("SELECT jobs"):
            return await self._get(job_id)

    async def watch(self, wake: Callable[[], None]) -> None:
        """Call `wake` whenever another process commits a job; runs until cancelled.

        The default has no way to hear other processes: their jobs wait for the
        worker's poll interval.
        """
        await anyio.sleep_forever()

    @contextmanager
    def _span(self, name: str) -> Iterator[None]:
        with span("db", name) as db_span:
            if db_span is not None:
                db_span.set_data("db.system", self.system)
            yield

    def _crumb(self, job_id: str, status: str, **data: str) -> None:
        sentry_sdk.add_breadcrumb(
            category="queue",
            message=f"job {job_id} {status}",
            data={"job_id": job_id, "status": status, **data},
        )

    @abstractmethod
    async def _open(self) -> int: ...

    @abstractmethod
    async def _close(self) -> None: ...

    @abstractmethod
    async def _insert(self, row: dict[str, Any]) -> tuple[str, bool]: ...

    @abstractmethod
    async def _claim(self) -> Job | None: ...

    @abstractmethod
    async def _renew(self, job_id: str) -> bool: ...

    @abstractmethod
    async def _set(
        self, job_id: str, status: Status, event_id: str | None, error: str | None
    ) -> bool: ...

    @abstractmethod
    async def _get(self, job_id: str) -> Job | None: ...

    @abstractmethod
    async def _prune(self) -> int: ...


def job_from_row(row: Mapping[str, Any]) -> Job:
    trace = {
        name: row[column]
        for name, column in (("sentry-trace", "sentry_trace"), ("baggage", "baggage"))
        if row[column]
    }
    return Job(
        id=row["id"],
        kind=row["kind"],
        status=row["status"],
        payload=json.loads(row["payload"]),
        request_id=row["request_id"],
        trace=trace,
        attempts=row["attempts"],
        event_id=row["event_id"],
        error=row["error"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
