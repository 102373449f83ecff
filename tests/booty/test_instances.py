"""Booty as operators run it: several `booty serve` processes, kill -9, hostile bodies."""

from __future__ import annotations

import os
import select
import signal
import socket
import sqlite3
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from tests.booty.postgres import Cluster
from tests.booty.processes import Booty, FakeGitHub, fake_github, serving
from tests.support import wait_until

MB = 1024 * 1024


def _rows(database: str) -> list[sqlite3.Row]:
    db = sqlite3.connect(database)
    db.row_factory = sqlite3.Row
    try:
        return db.execute("SELECT * FROM jobs").fetchall()
    finally:
        db.close()


def _once_each(fake: FakeGitHub, numbers: range, job_ids: dict[int, str]) -> None:
    comments = fake.snapshot()
    assert sorted(comments) == list(numbers)
    for number, bodies in comments.items():
        assert len(bodies) == 1, (number, bodies)
        assert bodies[0].endswith(f"<!-- booty-job:{job_ids[number]} -->")


def test_two_instances_on_one_sqlite_file_run_each_job_once(tmp_path: Path) -> None:
    database = str(tmp_path / "booty.db")
    env = {"BOOTY_DB_PATH": database, "BOOTY_WORKERS": "2"}
    with fake_github(llm_delay=0.2) as fake, serving(fake, tmp_path / "a.log", env) as a:
        job_ids = {n: a.post_issue(n).json()["job_id"] for n in range(1, 21)}
        # The second instance starts while the first still runs jobs.
        with serving(fake, tmp_path / "b.log", env):
            wait_until(lambda: fake.count() >= 20, "20 comments", timeout=60)
            wait_until(
                lambda: all(row["status"] == "succeeded" for row in _rows(database)),
                "every job to succeed",
            )
    _once_each(fake, range(1, 21), job_ids)
    assert {row["attempts"] for row in _rows(database)} == {1}


def test_two_instances_on_one_postgresql_share_the_work(tmp_path: Path, postgres: Cluster) -> None:
    url = postgres.create_database()
    env = {"BOOTY_DATABASE_URL": url, "BOOTY_WORKERS": "2"}
    with (
        fake_github(llm_delay=0.05) as fake,
        serving(fake, tmp_path / "a.log", env) as a,
        serving(fake, tmp_path / "b.log", env) as b,
    ):
        # Every webhook goes to one instance: the other hears of the jobs by NOTIFY.
        job_ids = {n: a.post_issue(n).json()["job_id"] for n in range(1, 51)}
        wait_until(lambda: fake.count() >= 50, "50 comments", timeout=60)

        def finished() -> list[tuple[str, int, str]]:
            with psycopg.connect(url) as db:
                found = db.execute("SELECT status, attempts, owner FROM jobs").fetchall()
            return found if all(status == "succeeded" for status, _, _ in found) else []

        jobs = wait_until(finished, "every job to succeed")
        pids = {a.pid, b.pid}
    _once_each(fake, range(1, 51), job_ids)
    assert len(jobs) == 50
    assert {attempts for _, attempts, _ in jobs} == {1}
    took = {int(owner.split(":")[1]) for _, _, owner in jobs}
    assert took == pids


def test_a_uvicorn_worker_killed_and_restarted_leaves_its_siblings_jobs_alone(
    tmp_path: Path,
) -> None:
    database = str(tmp_path / "booty.db")
    env = {"BOOTY_DB_PATH": database, "BOOTY_WORKERS": "2", "BOOTY_JOB_LEASE": "1"}
    command = [sys.executable, "-m", "uvicorn", "booty.main:app", "--workers", "2"]
    with (
        # Jobs outlast a worker's restart, so the new worker starts while they run.
        fake_github(llm_delay=4.0) as fake,
        serving(fake, tmp_path / "uvicorn.log", env, command=command) as supervisor,
    ):
        wait_until(lambda: len(supervisor.workers()) == 2, "two workers")
        workers = supervisor.workers()
        job_ids = {n: supervisor.post_issue(n).json()["job_id"] for n in range(1, 7)}

        def running_owners() -> set[int]:
            owners = {r["owner"] for r in _rows(database) if r["status"] == "running"}
            return {int(owner.split(":")[1]) for owner in owners}

        # Both workers are running jobs; one of them dies and uvicorn starts another.
        wait_until(lambda: running_owners() == set(workers), "both workers to run jobs")
        os.kill(workers[0], signal.SIGKILL)
        wait_until(lambda: len(set(supervisor.workers()) - set(workers)) == 1, "a new worker")
        wait_until(
            lambda: all(row["status"] == "succeeded" for row in _rows(database)),
            "every job to succeed",
            timeout=60,
        )
    _once_each(fake, range(1, 7), job_ids)


@pytest.mark.parametrize("moment", ["during-the-comment-post", "during-the-llm-call"])
def test_kill_9_then_restart_leaves_one_comment(tmp_path: Path, moment: str) -> None:
    database = str(tmp_path / "booty.db")
    env = {"BOOTY_DB_PATH": database, "BOOTY_JOB_LEASE": "1"}
    with fake_github(llm_delay=30 if moment == "during-the-llm-call" else 0) as fake:
        if moment == "during-the-comment-post":
            fake.hold_comment.set()
        first = Booty(fake, tmp_path / "first.log", env)
        try:
            job_id = first.post_issue(7).json()["job_id"]
            reached = fake.comment_held if moment == "during-the-comment-post" else fake.llm_called
            assert reached.wait(20)
        finally:
            first.kill()
        fake.llm_delay = 0
        fake.release.set()
        with serving(fake, tmp_path / "second.log", env):
            wait_until(
                lambda: [r["status"] for r in _rows(database)] == ["succeeded"],
                "the job to be taken back and finished",
            )
    (row,) = _rows(database)
    assert (row["id"], row["attempts"]) == (job_id, 2)
    assert row["owner"].split(":")[1] != str(first.pid)
    _once_each(fake, range(7, 8), {7: job_id})


def _send(port: int, total: int, *, chunked: bool) -> tuple[int, int]:
    """POST `total` bytes without a signature; the answer's status and the bytes sent."""
    head = "POST /webhooks/github HTTP/1.1\r\nHost: booty\r\nX-GitHub-Event: issues\r\n"
    head += "Transfer-Encoding: chunked\r\n" if chunked else f"Content-Length: {total}\r\n"
    chunk = b"x" * 65536
    frame = b"%x\r\n%b\r\n" % (len(chunk), chunk) if chunked else chunk
    sent = 0
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head.encode() + b"\r\n")
        while sent < total:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break  # answered before the end of the body
            try:
                sock.sendall(frame)
            except OSError:
                break
            sent += len(chunk)
        else:
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        sock.settimeout(10)
        answer = sock.recv(4096)
    return int(answer.split()[1]), sent


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
def test_a_100_mb_unsigned_body_is_413_and_peak_memory_stays_flat(
    tmp_path: Path, chunked: bool
) -> None:
    with fake_github() as fake, serving(fake, tmp_path / "a.log") as booty:
        # Warm up: the first request loads what every request needs.
        assert booty.post_issue(1).status_code == 202
        before = booty.peak_rss()
        status, sent = _send(booty.port, 100 * MB, chunked=chunked)
        after = booty.peak_rss()
    assert after - before < 30 * MB, (before, after)
    assert status == 413
    assert sent < 100 * MB


def test_four_100_mb_unsigned_bodies_at_once_keep_peak_memory_flat(tmp_path: Path) -> None:
    with fake_github() as fake, serving(fake, tmp_path / "a.log") as booty:
        assert booty.post_issue(1).status_code == 202
        before = booty.peak_rss()
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda _: _send(booty.port, 100 * MB, chunked=True), range(4)))
        after = booty.peak_rss()
    assert after - before < 30 * MB, (before, after)
    assert [status for status, _ in answers] == [413] * 4
