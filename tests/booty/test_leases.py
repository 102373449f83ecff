"""The worker keeps its lease, gives a job up once, and a retry finds what it already did."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio
import pytest
import sentry_sdk

from booty.queue import Job, Queue
from booty.worker import Worker
from middleware import JobScope
from tests.booty.queues import Store
from tests.booty.support import (
    SHA,
    FakeApis,
    booty,
    comment_bodies,
    issue_event,
    post_event,
    pr_event,
    rows,
    wait_done,
)
from tests.support import CapturingTransport, SentryInit


def _worker(queue: Queue, handler: object) -> Worker:
    return Worker(queue, {"pipeline": handler}, poll_interval=0.02)  # type: ignore[dict-item]


async def test_a_job_longer_than_its_lease_runs_once(store: Store) -> None:
    # Two processes on one store; the job takes four leases.
    owner, sibling = await store.open(lease=0.3), await store.open(lease=0.3)
    runs: list[str] = []
    started, done = anyio.Event(), anyio.Event()

    async def handler(job: Job, scope: JobScope) -> None:
        runs.append(job.id)
        started.set()
        await anyio.sleep(1.2)
        done.set()

    job_id, _ = await owner.enqueue("pipeline", {}, delivery_id=None, request_id=None, trace={})
    async with _worker(owner, handler).running():
        with anyio.fail_after(5):
            await started.wait()
        async with _worker(sibling, handler).running():
            with anyio.fail_after(5):
                await done.wait()
            await anyio.sleep(0.1)
    assert runs == [job_id]
    job = await sibling.get(job_id)
    assert job is not None and (job.status, job.attempts) == ("succeeded", 1)


async def test_a_lost_lease_stops_the_job_and_leaves_the_row_alone(store: Store) -> None:
    queue = await store.open(lease=0.3)
    started, stopped = anyio.Event(), anyio.Event()
    finished: list[str] = []

    async def handler(job: Job, scope: JobScope) -> None:
        started.set()
        try:
            await anyio.sleep(5)
        except anyio.get_cancelled_exc_class():
            stopped.set()
            raise
        finished.append(job.id)

    job_id, _ = await queue.enqueue("pipeline", {}, delivery_id=None, request_id=None, trace={})
    async with _worker(queue, handler).running():
        with anyio.fail_after(5):
            await started.wait()
        # Another process took the job over (this one stalled past its lease).
        store.execute("UPDATE jobs SET owner = 'elsewhere' WHERE id = %s", job_id)
        with anyio.fail_after(2):
            await stopped.wait()
    assert finished == []
    job = await queue.get(job_id)
    assert job is not None and job.status == "running"


async def test_used_attempts_give_one_event_and_never_run(
    store: Store, sentry_init: SentryInit
) -> None:
    capture = sentry_init()
    # The queue's breadcrumbs stay in this test.
    with sentry_sdk.isolation_scope():
        job_id, ran = await _run_exhausted(store)
    assert ran == []
    (event,) = capture.events
    (exception,) = event["exception"]["values"]
    assert exception["type"] == "AttemptsExhausted"
    assert job_id in exception["value"] and "3 times" in exception["value"]
    assert event["tags"]["job_id"] == job_id
    assert event["tags"]["request_id"] == "r-1"
    job = await store.opened[0].get(job_id)
    assert job is not None
    assert (job.status, job.attempts, job.event_id, job.error) == (
        "failed",
        3,
        event["event_id"],
        "AttemptsExhausted",
    )


async def _run_exhausted(store: Store) -> tuple[str, list[str]]:
    queue = await store.open(lease=60, max_attempts=3)
    job_id, _ = await queue.enqueue(
        "pipeline", {"repository": "octo/repo"}, delivery_id=None, request_id="r-1", trace={}
    )
    # Three processes started it and died.
    store.execute(
        "UPDATE jobs SET status = 'running', attempts = 3, owner = 'dead', lease_until = 0"
        " WHERE id = %s",
        job_id,
    )
    ran: list[str] = []

    async def handler(job: Job, scope: JobScope) -> None:
        ran.append(job.id)

    for _ in range(2):  # a later start finds nothing to do
        async with _worker(queue, handler).running():
            await anyio.sleep(0.2)
    return job_id, ran


def _die_after_effects(database: str, job_id: str) -> None:
    """The row as a SIGKILL leaves it: running, under a lease that has run out."""
    db = sqlite3.connect(database)
    db.execute(
        "UPDATE jobs SET status = 'running', owner = 'dead', lease_until = 0 WHERE id = ?",
        (job_id,),
    )
    db.commit()
    db.close()


@pytest.mark.parametrize("kind", ["pipeline", "verifier"])
async def test_a_retry_after_the_effect_does_not_repeat_it(
    apis: FakeApis, capture: CapturingTransport, tmp_path: Path, kind: str
) -> None:
    database = str(tmp_path / "booty.db")
    event, payload = (
        ("issues", issue_event()) if kind == "pipeline" else ("pull_request", pr_event())
    )
    async with booty(capture) as client:
        job_id = (await post_event(client, event, payload)).json()["job_id"]
        await wait_done(client, job_id)
    _die_after_effects(database, job_id)
    async with booty(capture) as client:
        job = await wait_done(client, job_id)
    assert (job["status"], job["attempts"]) == ("succeeded", 2)
    if kind == "pipeline":
        (body,) = comment_bodies(apis.comment)
        assert body.endswith(f"<!-- booty-job:{job_id} -->")
        assert apis.comments.call_count == 1
    else:
        (status,) = apis.status.calls
        assert status.request.url.path.endswith(SHA)
        assert apis.statuses.call_count == 1
    assert apis.chat.call_count == (1 if kind == "pipeline" else 0)
    assert capture.events == []


async def test_a_retry_before_the_effect_posts_it_once(
    apis: FakeApis, capture: CapturingTransport, tmp_path: Path
) -> None:
    database = str(tmp_path / "booty.db")
    async with booty(capture) as client:
        job_id = (await post_event(client, "issues", issue_event())).json()["job_id"]
        await wait_done(client, job_id)
    # As if the first process died before its comment reached GitHub.
    apis.comment.calls.clear()
    _die_after_effects(database, job_id)
    async with booty(capture) as client:
        job = await wait_done(client, job_id)
    assert (job["status"], job["attempts"]) == ("succeeded", 2)
    assert len(comment_bodies(apis.comment)) == 1
    assert [row["status"] for row in rows(database)] == ["succeeded"]
