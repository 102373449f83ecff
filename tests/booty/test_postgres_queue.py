"""What only the PostgreSQL queue does: wake other instances, survive a dropped connection."""

from __future__ import annotations

import anyio
import psycopg
import pytest

from booty.queue.postgres import PostgresQueue
from tests.booty.postgres import Cluster


def _drop_connections(url: str) -> int:
    """Terminate every other session on the queue's database, as a server restart would."""
    with psycopg.connect(url, autocommit=True) as db:
        rows = db.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return len(rows)


async def test_a_job_queued_anywhere_wakes_every_listener(postgres: Cluster) -> None:
    url = postgres.create_database()
    here, there = PostgresQueue(url), PostgresQueue(url)
    await here.open()
    await there.open()
    send, woken = anyio.create_memory_object_stream[None](100)
    try:
        async with send, woken, anyio.create_task_group() as tg:
            tg.start_soon(there.watch, lambda: send.send_nowait(None))
            with anyio.fail_after(10):
                await woken.receive()  # listening: one look for what it missed
                await here.enqueue("pipeline", {}, delivery_id=None, request_id=None, trace={})
                await woken.receive()
                # A server restart drops both connections: the listener listens again.
                assert _drop_connections(url) >= 2
                await woken.receive()
                with pytest.raises(psycopg.OperationalError):
                    await here.get("x")
                await here.enqueue("pipeline", {}, delivery_id=None, request_id=None, trace={})
                await woken.receive()
            tg.cancel_scope.cancel()
    finally:
        await here.close()
        await there.close()


async def test_a_dropped_connection_fails_one_statement_then_reconnects(
    postgres: Cluster,
) -> None:
    url = postgres.create_database()
    queue = PostgresQueue(url)
    await queue.open()
    try:
        job_id, _ = await queue.enqueue(
            "pipeline", {}, delivery_id=None, request_id=None, trace={}
        )
        assert _drop_connections(url) == 1
        with pytest.raises(psycopg.OperationalError):
            await queue.claim()
        job = await queue.claim()
        assert job is not None and job.id == job_id
    finally:
        await queue.close()
