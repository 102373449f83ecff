"""The durable job queue: one SQLite file, one process.

Every operation runs on a worker thread, one at a time, so the event loop never
waits on the disk and the single connection is never used concurrently.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import anyio
import anyio.to_thread
import sentry_sdk

from middleware.jobs import span

logger = logging.getLogger("booty.queue")

Status = Literal["queued", "running", "succeeded", "failed"]
T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    delivery_id TEXT UNIQUE,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    payload TEXT NOT NULL,
    request_id TEXT,
    sentry_trace TEXT,
    baggage TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    event_id TEXT,
    error TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, seq);
"""


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


def _job(row: sqlite3.Row) -> Job:
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


class Queue:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._limiter = anyio.CapacityLimiter(1)

    async def open(self) -> int:
        """Open the file; jobs left `running` by a crash are queued again. Returns their count."""
        return await self._run("open", self._open)

    async def close(self) -> None:
        if self._db is not None:
            await self._run("close", self._db.close)
            self._db = None

    async def enqueue(
        self,
        kind: str,
        payload: Mapping[str, Any],
        *,
        delivery_id: str | None,
        request_id: str | None,
        trace: Mapping[str, str],
    ) -> tuple[str, bool]:
        """Commit a job; returns its id and False when `delivery_id` was already queued."""
        job_id = uuid.uuid4().hex
        values = (job_id, delivery_id, kind, json.dumps(dict(payload)), request_id)
        trace_values = (trace.get("sentry-trace"), trace.get("baggage"))
        found, created = await self._run("INSERT jobs", self._insert, values, trace_values)
        if created:
            self._crumb(found, "queued", kind=kind)
        return found, created

    async def claim(self) -> Job | None:
        """Take the oldest queued job and mark it running."""
        return await self._run("UPDATE jobs (claim)", self._claim)

    async def finish(
        self, job_id: str, status: Status, *, event_id: str | None = None, error: str | None = None
    ) -> None:
        await self._run("UPDATE jobs (finish)", self._update, job_id, status, event_id, error)
        self._crumb(job_id, status)

    async def requeue(self, job_id: str) -> None:
        await self._run("UPDATE jobs (requeue)", self._update, job_id, "queued", None, None)
        self._crumb(job_id, "queued again")

    async def get(self, job_id: str) -> Job | None:
        return await self._run("SELECT jobs", self._get, job_id)

    async def _run(self, name: str, fn: Callable[..., T], *args: Any) -> T:
        with span("db", name) as db_span:
            if db_span is not None:
                db_span.set_data("db.system", "sqlite")
            return await anyio.to_thread.run_sync(fn, *args, limiter=self._limiter)

    def _crumb(self, job_id: str, status: str, **data: str) -> None:
        sentry_sdk.add_breadcrumb(
            category="queue",
            message=f"job {job_id} {status}",
            data={"job_id": job_id, "status": status, **data},
        )

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the queue is not open")
        return self._db

    def _open(self) -> int:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        # FULL: a job answered with 202 survives a power cut, not only a crash.
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA busy_timeout=5000")
        db.executescript(SCHEMA)
        self._db = db
        cursor = db.execute(
            "UPDATE jobs SET status = 'queued', updated_at = ? WHERE status = 'running'",
            (time.time(),),
        )
        return cursor.rowcount

    def _insert(
        self, values: tuple[Any, ...], trace_values: tuple[str | None, str | None]
    ) -> tuple[str, bool]:
        now = time.time()
        cursor = self.db.execute(
            "INSERT INTO jobs (id, delivery_id, kind, payload, request_id, sentry_trace, baggage,"
            " status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?)"
            " ON CONFLICT (delivery_id) DO NOTHING",
            (*values, *trace_values, now, now),
        )
        if cursor.rowcount == 1:
            return values[0], True
        row = self.db.execute("SELECT id FROM jobs WHERE delivery_id = ?", (values[1],)).fetchone()
        return row["id"], False

    def _claim(self) -> Job | None:
        row = self.db.execute(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1, updated_at = ?"
            " WHERE seq = (SELECT seq FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 1)"
            " RETURNING *",
            (time.time(),),
        ).fetchone()
        return None if row is None else _job(row)

    def _update(
        self, job_id: str, status: Status, event_id: str | None, error: str | None
    ) -> None:
        self.db.execute(
            "UPDATE jobs SET status = ?, event_id = ?, error = ?, updated_at = ? WHERE id = ?",
            (status, event_id, error, time.time(), job_id),
        )

    def _get(self, job_id: str) -> Job | None:
        row = self.db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else _job(row)
