"""The PostgreSQL queue: one database shared by instances on any number of hosts.

A claim is `SELECT ... FOR UPDATE SKIP LOCKED`: concurrent claimers pass over
each other's rows instead of waiting on them. Every enqueue sends a NOTIFY in
its transaction, and every instance LISTENs, so an idle worker anywhere wakes
as soon as a job is committed. Times come from the database's clock, so hosts
whose clocks differ still agree on when a lease expires.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import psycopg
from psycopg.rows import dict_row

from booty.queue.base import DEFAULT_RETENTION, Job, Queue, Status, job_from_row

# Serialises schema creation between instances starting at once.
SCHEMA_LOCK = 0x626F6F7479

logger = logging.getLogger("booty.queue")

SCHEMA = """
CREATE OR REPLACE FUNCTION booty_now() RETURNS DOUBLE PRECISION
    LANGUAGE sql VOLATILE AS 'SELECT extract(epoch from clock_timestamp())';
CREATE TABLE IF NOT EXISTS jobs (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    delivery_id TEXT UNIQUE,
    body_sha TEXT,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    payload TEXT NOT NULL,
    request_id TEXT,
    sentry_trace TEXT,
    baggage TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    owner TEXT,
    lease_until DOUBLE PRECISION,
    event_id TEXT,
    error TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, seq);
CREATE INDEX IF NOT EXISTS jobs_body_sha ON jobs (body_sha, created_at);
"""

# The error is base.EXHAUSTED.
CLAIM = """
WITH next AS (
    SELECT seq FROM jobs
    WHERE status = 'queued' OR (status = 'running' AND lease_until < booty_now())
    ORDER BY seq LIMIT 1
    FOR UPDATE SKIP LOCKED
)
UPDATE jobs SET
    status = CASE WHEN attempts >= %(max)s THEN 'failed' ELSE 'running' END,
    error = CASE WHEN attempts >= %(max)s THEN 'AttemptsExhausted' ELSE error END,
    attempts = CASE WHEN attempts >= %(max)s THEN attempts ELSE attempts + 1 END,
    owner = %(owner)s, lease_until = booty_now() + %(lease)s, updated_at = booty_now()
FROM next WHERE jobs.seq = next.seq
RETURNING jobs.*
"""


class PostgresQueue(Queue):
    system = "postgresql"

    def __init__(
        self,
        url: str,
        *,
        lease: float = 60.0,
        max_attempts: int = 3,
        retention: float = DEFAULT_RETENTION,
    ) -> None:
        super().__init__(lease=lease, max_attempts=max_attempts, retention=retention)
        self.url = url
        self._db: psycopg.AsyncConnection[dict[str, Any]] | None = None
        # One connection, one statement at a time: psycopg connections are not
        # for concurrent use, and queue statements are short.
        self._lock = anyio.Lock()

    @asynccontextmanager
    async def _using(self) -> AsyncIterator[psycopg.AsyncConnection[dict[str, Any]]]:
        """The connection, to this task alone; a broken one is replaced first.

        The statement that found the connection broken (the server restarted,
        or dropped it) has failed; the next one reconnects.
        """
        async with self._lock:
            if self._db is None:
                raise RuntimeError("the queue is not open")
            if self._db.broken or self._db.closed:
                self._db = await self._connect()
            yield self._db

    async def _connect(self) -> psycopg.AsyncConnection[dict[str, Any]]:
        return await psycopg.AsyncConnection.connect(
            self.url, autocommit=True, row_factory=dict_row, connect_timeout=10
        )

    async def _open(self) -> int:
        db = await self._connect()
        try:
            async with db.transaction():
                await db.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
                await db.execute(SCHEMA)
            cursor = await db.execute(
                "UPDATE jobs SET status = 'queued', owner = NULL, updated_at = booty_now()"
                " WHERE status = 'running' AND (lease_until IS NULL OR lease_until < booty_now())"
            )
        except BaseException:
            await db.close()
            raise
        self._db = db
        return cursor.rowcount

    async def _close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def _insert(self, row: dict[str, Any]) -> tuple[str, bool]:
        values = {**row, "payload": json.dumps(row["payload"]), "window": self.retention}
        async with self._using() as db, db.transaction():
            # Two replays of one body arriving at once must not both insert.
            if row["body_sha"] is not None:
                await db.execute("SELECT pg_advisory_xact_lock(hashtext(%(body_sha)s))", values)
            cursor = await db.execute(
                "SELECT id FROM jobs WHERE delivery_id = %(delivery_id)s OR (body_sha ="
                " %(body_sha)s AND created_at > booty_now() - %(window)s) ORDER BY seq LIMIT 1",
                values,
            )
            found = await cursor.fetchone()
            if found is not None:
                return found["id"], False
            cursor = await db.execute(
                "INSERT INTO jobs (id, delivery_id, body_sha, kind, payload, request_id,"
                " sentry_trace, baggage, status, created_at, updated_at) VALUES (%(id)s,"
                " %(delivery_id)s, %(body_sha)s, %(kind)s, %(payload)s, %(request_id)s,"
                " %(sentry_trace)s, %(baggage)s, 'queued', booty_now(), booty_now())"
                " ON CONFLICT (delivery_id) DO NOTHING",
                values,
            )
            if cursor.rowcount == 0:
                # A redelivery committed between the SELECT and the INSERT.
                cursor = await db.execute(
                    "SELECT id FROM jobs WHERE delivery_id = %(delivery_id)s", values
                )
                again = await cursor.fetchone()
                if again is None:
                    raise RuntimeError("the conflicting job vanished")
                return again["id"], False
            await db.execute("NOTIFY booty_jobs")
        return row["id"], True

    async def _claim(self) -> Job | None:
        values = {"max": self.max_attempts, "owner": self.owner, "lease": self.lease}
        async with self._using() as db:
            cursor = await db.execute(CLAIM, values)
            row = await cursor.fetchone()
        return None if row is None else job_from_row(row)

    async def _renew(self, job_id: str) -> bool:
        async with self._using() as db:
            cursor = await db.execute(
                "UPDATE jobs SET lease_until = booty_now() + %s"
                " WHERE id = %s AND owner = %s AND status = 'running'",
                (self.lease, job_id, self.owner),
            )
        return cursor.rowcount == 1

    async def _set(
        self, job_id: str, status: Status, event_id: str | None, error: str | None
    ) -> bool:
        async with self._using() as db:
            cursor = await db.execute(
                "UPDATE jobs SET status = %s, event_id = %s, error = %s, updated_at = booty_now(),"
                " owner = CASE WHEN %s = 'queued' THEN NULL ELSE owner END, lease_until = NULL"
                " WHERE id = %s AND owner = %s",
                (status, event_id, error, status, job_id, self.owner),
            )
            if status == "queued":
                await db.execute("NOTIFY booty_jobs")
        return cursor.rowcount == 1

    async def _get(self, job_id: str) -> Job | None:
        async with self._using() as db:
            cursor = await db.execute("SELECT * FROM jobs WHERE id = %s", (job_id,))
            row = await cursor.fetchone()
        return None if row is None else job_from_row(row)

    async def _prune(self) -> int:
        async with self._using() as db:
            cursor = await db.execute(
                "DELETE FROM jobs WHERE status IN ('succeeded', 'failed')"
                " AND updated_at < booty_now() - %s",
                (self.retention,),
            )
        return cursor.rowcount

    async def watch(self, wake: Callable[[], None]) -> None:
        """LISTEN on a connection of its own; reconnect after a failure, a second apart."""
        while True:
            try:
                listener = await self._connect()
            except psycopg.Error:
                await anyio.sleep(1)
                continue
            try:
                await listener.execute("LISTEN booty_jobs")
                # Jobs committed while nobody listened: look once now.
                wake()
                async for _ in listener.notifies():
                    wake()
            except psycopg.Error as exc:
                logger.warning("LISTEN failed (%s); listening again in 1 s", type(exc).__name__)
                await anyio.sleep(1)
            finally:
                with anyio.CancelScope(shield=True):
                    await listener.close()
