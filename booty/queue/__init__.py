"""The durable job queue: one contract, two backends.

SQLite (the default) is one file for one host, shared safely by any number of
processes there; PostgreSQL (`BOOTY_DATABASE_URL=postgresql://...`) is for more
than one host.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from booty.queue.base import DEFAULT_RETENTION, REPLAY_WINDOW, Job, Queue, Status, is_job_id
from booty.queue.sqlite import SQLiteQueue

__all__ = [
    "DEFAULT_RETENTION",
    "REPLAY_WINDOW",
    "Job",
    "Queue",
    "SQLiteQueue",
    "Status",
    "is_job_id",
    "open_queue",
    "redact_database_url",
]


def open_queue(
    database_url: str | None,
    db_path: str,
    *,
    lease: float,
    max_attempts: int,
    retention: float = DEFAULT_RETENTION,
) -> Queue:
    """The queue the settings select (not yet opened)."""
    if database_url is not None:
        from booty.queue.postgres import PostgresQueue

        return PostgresQueue(
            database_url, lease=lease, max_attempts=max_attempts, retention=retention
        )
    return SQLiteQueue(db_path, lease=lease, max_attempts=max_attempts, retention=retention)


def redact_database_url(url: str) -> str:
    """The URL to show: its password and its query (which may hold one) filtered."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    user = parts.username
    login = "" if user is None else user + (":[Filtered]" if parts.password is not None else "")
    shown = f"{parts.scheme}://{login}{'@' if login else ''}{host}{parts.path}"
    return shown + ("?[Filtered]" if parts.query else "")
