"""Queues on one store (a SQLite file or a PostgreSQL database), as processes open them."""

from __future__ import annotations

import sqlite3

import psycopg

from booty.queue import DEFAULT_RETENTION, Queue, SQLiteQueue
from booty.queue.postgres import PostgresQueue


class Store:
    """Where the queues of one test live, and raw SQL on it for what no API does."""

    def __init__(self, backend: str, location: str) -> None:
        self.backend = backend
        self.location = location
        self.opened: list[Queue] = []

    async def open(
        self, *, lease: float = 60.0, max_attempts: int = 3, retention: float = DEFAULT_RETENTION
    ) -> Queue:
        queue, _ = await self.start(lease=lease, max_attempts=max_attempts, retention=retention)
        return queue

    async def start(
        self, *, lease: float = 60.0, max_attempts: int = 3, retention: float = DEFAULT_RETENTION
    ) -> tuple[Queue, int]:
        """A queue as a starting process opens it, and the count of jobs it took back."""
        queue: Queue
        options = {"lease": lease, "max_attempts": max_attempts, "retention": retention}
        if self.backend == "sqlite":
            queue = SQLiteQueue(self.location, **options)  # type: ignore[arg-type]
        else:
            queue = PostgresQueue(self.location, **options)  # type: ignore[arg-type]
        taken = await queue.open()
        self.opened.append(queue)
        return queue, taken

    def execute(self, sql: str, *args: object) -> None:
        if self.backend == "sqlite":
            db = sqlite3.connect(self.location)
            db.execute(sql.replace("%s", "?"), args)
            db.commit()
            db.close()
        else:
            with psycopg.connect(self.location, autocommit=True) as pg:
                pg.execute(sql, args)
