"""The SQLite queue: one file on one host, shared by any number of processes.

Every operation runs on a worker thread, one at a time, so the event loop never
waits on the disk and the connection is never used concurrently. Processes
sharing the file are kept apart by SQLite's write lock: a claim is one UPDATE,
and the replay check and its INSERT are one IMMEDIATE transaction.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from booty.queue.base import DEFAULT_RETENTION, Job, Queue, Status, job_from_row

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
# Columns added for leases and replays; ALTER TABLE brings older files up to date.
ADDED = {"owner": "TEXT", "lease_until": "REAL", "body_sha": "TEXT"}
INDEXES = "CREATE INDEX IF NOT EXISTS jobs_body_sha ON jobs (body_sha, created_at);"

# The error is base.EXHAUSTED.
CLAIM = """
UPDATE jobs SET
    status = CASE WHEN attempts >= :max THEN 'failed' ELSE 'running' END,
    error = CASE WHEN attempts >= :max THEN 'AttemptsExhausted' ELSE error END,
    attempts = CASE WHEN attempts >= :max THEN attempts ELSE attempts + 1 END,
    owner = :owner, lease_until = :until, updated_at = :now
WHERE seq = (SELECT seq FROM jobs WHERE
    status = 'queued' OR (status = 'running' AND lease_until < :now) ORDER BY seq LIMIT 1)
RETURNING *
"""


class SQLiteQueue(Queue):
    system = "sqlite"

    def __init__(
        self,
        path: str | Path,
        *,
        lease: float = 60.0,
        max_attempts: int = 3,
        retention: float = DEFAULT_RETENTION,
    ) -> None:
        super().__init__(lease=lease, max_attempts=max_attempts, retention=retention)
        self.path = Path(path)
        self._db: sqlite3.Connection | None = None
        self._limiter = anyio.CapacityLimiter(1)

    async def _close(self) -> None:
        if self._db is not None:
            await self._run(self._db.close)
            self._db = None

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await anyio.to_thread.run_sync(fn, *args, limiter=self._limiter)

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the queue is not open")
        return self._db

    async def _open(self) -> int:
        return await self._run(self._open_sync)

    def _open_sync(self) -> int:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA busy_timeout=10000")
        db.execute("PRAGMA journal_mode=WAL")
        # FULL: a job answered with 202 survives a power cut, not only a crash.
        db.execute("PRAGMA synchronous=FULL")
        db.execute("BEGIN IMMEDIATE")
        try:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            columns = {row["name"] for row in db.execute("PRAGMA table_info(jobs)")}
            for name, kind in ADDED.items():
                if name not in columns:
                    db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {kind}")
            db.execute(INDEXES)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            db.close()
            raise
        self._db = db
        # Only jobs whose owner stopped renewing: a live sibling keeps its own.
        cursor = db.execute(
            "UPDATE jobs SET status = 'queued', owner = NULL, updated_at = :now"
            " WHERE status = 'running' AND (lease_until IS NULL OR lease_until < :now)",
            {"now": time.time()},
        )
        return cursor.rowcount

    async def _insert(self, row: dict[str, Any]) -> tuple[str, bool]:
        return await self._run(self._insert_sync, row)

    def _insert_sync(self, row: dict[str, Any]) -> tuple[str, bool]:
        now = time.time()
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            found = db.execute(
                "SELECT id FROM jobs WHERE delivery_id = :delivery_id"
                " OR (body_sha = :body_sha AND created_at > :since) ORDER BY seq LIMIT 1",
                {**row, "since": now - self.retention},
            ).fetchone()
            if found is None:
                db.execute(
                    "INSERT INTO jobs (id, delivery_id, body_sha, kind, payload, request_id,"
                    " sentry_trace, baggage, status, created_at, updated_at) VALUES (:id,"
                    " :delivery_id, :body_sha, :kind, :payload, :request_id, :sentry_trace,"
                    " :baggage, 'queued', :now, :now)",
                    {**row, "payload": json.dumps(row["payload"]), "now": now},
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return (row["id"], True) if found is None else (found["id"], False)

    async def _claim(self) -> Job | None:
        return await self._run(self._claim_sync)

    def _claim_sync(self) -> Job | None:
        now = time.time()
        values = {
            "now": now,
            "until": now + self.lease,
            "owner": self.owner,
            "max": self.max_attempts,
        }
        row = self.db.execute(CLAIM, values).fetchone()
        return None if row is None else job_from_row(row)

    async def _renew(self, job_id: str) -> bool:
        return await self._run(self._renew_sync, job_id)

    def _renew_sync(self, job_id: str) -> bool:
        cursor = self.db.execute(
            "UPDATE jobs SET lease_until = ? WHERE id = ? AND owner = ? AND status = 'running'",
            (time.time() + self.lease, job_id, self.owner),
        )
        return cursor.rowcount == 1

    async def _set(
        self, job_id: str, status: Status, event_id: str | None, error: str | None
    ) -> bool:
        return await self._run(self._set_sync, job_id, status, event_id, error)

    def _set_sync(
        self, job_id: str, status: Status, event_id: str | None, error: str | None
    ) -> bool:
        cursor = self.db.execute(
            "UPDATE jobs SET status = ?, event_id = ?, error = ?, updated_at = ?,"
            " owner = CASE WHEN ? = 'queued' THEN NULL ELSE owner END, lease_until = NULL"
            " WHERE id = ? AND owner = ?",
            (status, event_id, error, time.time(), status, job_id, self.owner),
        )
        return cursor.rowcount == 1

    async def _get(self, job_id: str) -> Job | None:
        return await self._run(self._get_sync, job_id)

    def _get_sync(self, job_id: str) -> Job | None:
        row = self.db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else job_from_row(row)

    async def _prune(self) -> int:
        return await self._run(self._prune_sync)

    def _prune_sync(self) -> int:
        cursor = self.db.execute(
            "DELETE FROM jobs WHERE status IN ('succeeded', 'failed') AND updated_at < ?",
            (time.time() - self.retention,),
        )
        return cursor.rowcount
