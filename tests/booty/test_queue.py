"""The queue contract, run against both backends.

Each test opens the queues it needs on one store, as separate processes
would: every queue has its own connection and its own lease owner id.
"""

from __future__ import annotations

import os
import re
import socket
import sqlite3
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest
import sentry_sdk

from booty.queue import Job, Queue, SQLiteQueue
from booty.queue.base import job_from_row
from tests.booty.queues import Store
from tests.support import INCOMING, SentryInit

TRACE = {"sentry-trace": INCOMING["sentry-trace"]}


async def _add(queue: Queue, n: int = 0, **options: object) -> str:
    values: dict[str, object] = {"delivery_id": None, "request_id": None, "trace": {}}
    values.update(options)
    job_id, created = await queue.enqueue("pipeline", {"n": n}, **values)  # type: ignore[arg-type]
    assert created
    return job_id


async def test_jobs_are_taken_in_order_and_finished(store: Store) -> None:
    queue = await store.open()
    first = await _add(queue, 1, request_id="r1", trace=TRACE)
    second, _ = await queue.enqueue(
        "verifier", {"n": 2}, delivery_id=None, request_id=None, trace={}
    )
    one, two = await queue.claim(), await queue.claim()
    assert await queue.claim() is None
    assert one is not None and two is not None
    assert (one.id, one.kind, one.payload, one.status, one.attempts) == (
        first,
        "pipeline",
        {"n": 1},
        "running",
        1,
    )
    assert (one.request_id, one.trace) == ("r1", TRACE)
    assert (two.id, two.request_id, two.trace) == (second, None, {})
    assert await queue.finish(first, "failed", event_id="e" * 32, error="LLMError")
    job = await queue.get(first)
    assert job is not None
    assert (job.status, job.event_id, job.error) == ("failed", "e" * 32, "LLMError")
    assert await queue.get("unknown") is None


async def test_a_redelivery_is_the_same_job(store: Store) -> None:
    queue = await store.open()
    job_id, created = await queue.enqueue(
        "pipeline", {}, delivery_id="d-1", request_id=None, trace={}
    )
    again, created_again = await queue.enqueue(
        "verifier", {}, delivery_id="d-1", request_id=None, trace={}
    )
    assert (again, created, created_again) == (job_id, True, False)
    assert await queue.claim() is not None
    assert await queue.claim() is None


async def test_a_replayed_body_is_the_same_job_for_the_retention(store: Store) -> None:
    queue = await store.open()
    job_id = await _add(queue, body_sha="a" * 64, delivery_id="d-1")
    for delivery in ("d-2", None):
        again = await queue.enqueue(
            "pipeline", {}, delivery_id=delivery, body_sha="a" * 64, request_id=None, trace={}
        )
        assert again == (job_id, False)
    other = await _add(queue, body_sha="b" * 64, delivery_id="d-3")
    assert other != job_id
    # A day later the same body is still a replay.
    store.execute("UPDATE jobs SET created_at = created_at - 86401 WHERE id = %s", job_id)
    again = await queue.enqueue(
        "pipeline", {}, delivery_id="d-4", body_sha="a" * 64, request_id=None, trace={}
    )
    assert again == (job_id, False)
    # Past the retention (30 days) nothing tells it from a new delivery.
    store.execute("UPDATE jobs SET created_at = created_at - 30 * 86400 WHERE id = %s", job_id)
    later = await _add(queue, body_sha="a" * 64, delivery_id="d-5")
    assert later not in (job_id, other)


async def test_finished_jobs_past_the_retention_are_pruned(store: Store) -> None:
    queue = await store.open(retention=3600)
    old_done, old_failed, recent = [await _add(queue, n) for n in range(3)]
    assert [await queue.claim() is not None for _ in range(3)] == [True] * 3
    old_queued = await _add(queue, 3)
    assert await queue.finish(old_done, "succeeded")
    assert await queue.finish(old_failed, "failed", error="LLMError")
    assert await queue.finish(recent, "succeeded")
    for job_id in (old_done, old_failed, old_queued):
        store.execute(
            "UPDATE jobs SET created_at = created_at - 3601, updated_at = updated_at - 3601"
            " WHERE id = %s",
            job_id,
        )
    assert await queue.prune() == 2
    assert await queue.get(old_done) is None and await queue.get(old_failed) is None
    assert await queue.get(old_queued) is not None and await queue.get(recent) is not None


async def test_a_live_lease_is_never_taken(store: Store) -> None:
    owner = await store.open(lease=0.6)
    sibling = await store.open(lease=0.6)
    job_id = await _add(owner)
    assert (job := await owner.claim()) is not None and job.id == job_id
    # A sibling starting, and claiming, while the owner renews: nothing to take.
    assert (await store.start(lease=0.6))[1] == 0
    with anyio.fail_after(5):
        for _ in range(6):
            await anyio.sleep(0.2)
            assert await owner.renew(job_id)
            assert await sibling.claim() is None
    assert await owner.finish(job_id, "succeeded")
    assert await sibling.claim() is None


async def test_an_expired_lease_is_taken_back_once(store: Store) -> None:
    owner = await store.open(lease=0.3)
    job_id = await _add(owner, trace=TRACE)
    assert await owner.claim() is not None
    await anyio.sleep(0.5)  # the owner died: no renewal
    first, second = await store.open(lease=30), await store.open(lease=30)
    job = await first.claim()
    assert job is not None
    assert (job.id, job.status, job.attempts, job.trace) == (job_id, "running", 2, TRACE)
    assert await second.claim() is None
    # The old owner, had it only stalled, can change nothing any more.
    assert not await owner.renew(job_id)
    assert not await owner.finish(job_id, "succeeded")
    assert not await owner.requeue(job_id)
    assert await first.finish(job_id, "succeeded")
    found = await first.get(job_id)
    assert found is not None and found.status == "succeeded"


async def test_a_starting_process_takes_back_only_expired_leases(store: Store) -> None:
    live = await store.open(lease=60)
    dead = await store.open(lease=0.2)
    kept, lost = await _add(live, 1), await _add(live, 2)
    assert (await live.claim()) is not None
    assert (await dead.claim()) is not None
    await anyio.sleep(0.4)
    starting, taken = await store.start()
    assert taken == 1
    job = await starting.claim()
    assert job is not None and job.id == lost
    assert await starting.claim() is None
    assert await live.renew(kept)


async def test_used_attempts_fail_the_job_once(store: Store) -> None:
    dying = [await store.open(lease=0.1, max_attempts=2) for _ in range(2)]
    job_id = await _add(dying[0])
    for queue in dying:
        job = await queue.claim()
        assert job is not None and job.status == "running"
        await anyio.sleep(0.2)
    last = await store.open(lease=30, max_attempts=2)
    job = await last.claim()
    assert job is not None
    assert (job.id, job.status, job.attempts, job.error) == (
        job_id,
        "failed",
        2,
        "AttemptsExhausted",
    )
    assert await last.finish(job_id, "failed", event_id="e" * 32, error=job.error)
    assert await last.claim() is None
    await anyio.sleep(0.2)
    assert await (await store.open(max_attempts=2)).claim() is None
    found = await last.get(job_id)
    assert found is not None and (found.status, found.event_id) == ("failed", "e" * 32)


async def test_concurrent_claimers_never_share_a_job(store: Store) -> None:
    producer = await store.open()
    expected = {await _add(producer, n) for n in range(60)}
    claimers = [await store.open() for _ in range(4)]
    taken: list[tuple[int, Job]] = []

    async def drain(index: int, queue: Queue) -> None:
        while (job := await queue.claim()) is not None:
            taken.append((index, job))
            await anyio.lowlevel.checkpoint()

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            for index, queue in enumerate(claimers):
                tg.start_soon(drain, index, queue)
    ids = [job.id for _, job in taken]
    assert sorted(ids) == sorted(expected)
    assert len({index for index, _ in taken}) > 1


async def test_a_closed_queue_refuses_work(tmp_path: Path) -> None:
    queue = SQLiteQueue(tmp_path / "q.db")
    with pytest.raises(RuntimeError, match="not open"):
        await queue.claim()


async def test_an_older_file_gains_the_lease_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE jobs (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,"
        " delivery_id TEXT UNIQUE, kind TEXT NOT NULL, status TEXT NOT NULL, payload TEXT"
        " NOT NULL, request_id TEXT, sentry_trace TEXT, baggage TEXT, attempts INTEGER NOT"
        " NULL DEFAULT 0, event_id TEXT, error TEXT, created_at REAL NOT NULL, updated_at"
        " REAL NOT NULL)"
    )
    db.execute(
        "INSERT INTO jobs (id, kind, status, payload, attempts, created_at, updated_at)"
        " VALUES ('old', 'pipeline', 'running', '{}', 1, 0, 0)"
    )
    db.commit()
    db.close()
    queue = SQLiteQueue(path)
    assert await queue.open() == 1
    job = await queue.claim()
    assert job is not None and (job.id, job.attempts) == ("old", 2)
    await queue.close()


async def test_a_requeued_job_is_out_of_its_former_owners_hands(store: Store) -> None:
    owner = await store.open()
    job_id = await _add(owner)
    assert (job := await owner.claim()) is not None and job.id == job_id

    assert await owner.requeue(job_id)

    # The former owner can neither finish nor keep a job it gave back.
    assert not await owner.finish(job_id, "succeeded")
    assert not await owner.renew(job_id)
    found = await owner.get(job_id)
    assert found is not None and (found.status, found.attempts) == ("queued", 1)
    sibling = await store.open()
    taken = await sibling.claim()
    assert taken is not None and (taken.id, taken.status, taken.attempts) == (
        job_id,
        "running",
        2,
    )
    assert await sibling.finish(job_id, "succeeded")


async def test_the_trace_and_its_baggage_come_back_with_the_job(store: Store) -> None:
    queue = await store.open()
    job_id = await _add(queue, trace=INCOMING)
    only_trace = await _add(queue, 2, trace=TRACE)

    claimed, second = await queue.claim(), await queue.claim()

    assert claimed is not None and (claimed.id, claimed.trace) == (job_id, INCOMING)
    assert second is not None and (second.id, second.trace) == (only_trace, TRACE)
    stored = await queue.get(job_id)
    assert stored is not None and stored.trace == INCOMING


async def test_each_change_of_a_job_leaves_a_breadcrumb_on_the_next_event(
    store: Store, sentry_init: SentryInit
) -> None:
    capture = sentry_init()
    queue = await store.open()
    with sentry_sdk.isolation_scope():
        job_id = await _add(queue)
        assert await queue.claim() is not None
        assert await queue.requeue(job_id)
        assert await queue.claim() is not None
        assert await queue.finish(job_id, "succeeded")
        sentry_sdk.capture_message("after the job")

    (event,) = capture.events
    crumbs = [c for c in event["breadcrumbs"]["values"] if c.get("category") == "queue"]
    assert [c["message"] for c in crumbs] == [
        f"job {job_id} queued",
        f"job {job_id} queued again",
        f"job {job_id} succeeded",
    ]
    assert crumbs[0]["data"] == {"job_id": job_id, "status": "queued", "kind": "pipeline"}
    assert crumbs[2]["data"] == {"job_id": job_id, "status": "succeeded"}


async def test_each_operation_is_a_database_span_of_the_running_transaction(
    store: Store, sentry_init: SentryInit
) -> None:
    capture = sentry_init(SENTRY_TRACES_SAMPLE_RATE="1")
    with sentry_sdk.isolation_scope(), sentry_sdk.start_transaction(name="job"):
        queue = await store.open(retention=1.0)
        job_id = await _add(queue)
        assert await queue.claim() is not None
        assert await queue.renew(job_id)
        assert await queue.requeue(job_id)
        assert await queue.claim() is not None
        assert await queue.finish(job_id, "succeeded")
        assert await queue.get(job_id) is not None
        assert await queue.prune() == 0

    (transaction,) = capture.transactions
    spans = [(s["op"], s["description"], s["data"]["db.system"]) for s in transaction["spans"]]
    assert spans == [
        ("db", name, store.backend)
        for name in (
            "open",
            "INSERT jobs",
            "UPDATE jobs (claim)",
            "UPDATE jobs (renew)",
            "UPDATE jobs (requeue)",
            "UPDATE jobs (claim)",
            "UPDATE jobs (finish)",
            "SELECT jobs",
            "DELETE jobs (prune)",
        )
    ]


async def test_a_job_that_cannot_be_stored_leaves_the_queue_working(store: Store) -> None:
    queue = await store.open()
    with pytest.raises(TypeError, match="not JSON serializable"):
        await queue.enqueue(
            "pipeline", {"when": object()}, delivery_id=None, request_id=None, trace={}
        )
    job_id = await _add(queue)
    job = await queue.claim()
    assert job is not None and job.id == job_id


async def test_a_closed_queue_refuses_work_and_closes_again_quietly(tmp_path: Path) -> None:
    queue = SQLiteQueue(tmp_path / "q.db")
    await queue.open()
    await queue.close()
    with pytest.raises(RuntimeError, match="not open"):
        await queue.claim()
    await queue.close()


def test_a_job_is_read_from_a_plain_mapping_as_psycopg_gives_it() -> None:
    # PostgreSQL's rows are dicts keyed by the exact column name (SQLite's are not).
    row = {
        "id": "a" * 32,
        "kind": "pipeline",
        "status": "running",
        "payload": '{"n": 1}',
        "request_id": "r1",
        "sentry_trace": INCOMING["sentry-trace"],
        "baggage": INCOMING["baggage"],
        "attempts": 2,
        "event_id": None,
        "error": None,
        "created_at": 1.0,
        "updated_at": 2.0,
    }
    assert job_from_row(row) == Job(
        id="a" * 32,
        kind="pipeline",
        status="running",
        payload={"n": 1},
        request_id="r1",
        trace=INCOMING,
        attempts=2,
        event_id=None,
        error=None,
        created_at=1.0,
        updated_at=2.0,
    )


async def test_a_file_of_another_application_is_refused_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as other:
        other.execute("CREATE TABLE jobs (name TEXT)")
    other.close()
    queue = SQLiteQueue(path)

    with pytest.raises(sqlite3.OperationalError, match="no such column: status"):
        await queue.open()

    with sqlite3.connect(path) as other:
        assert [r[1] for r in other.execute("PRAGMA table_info(jobs)")] == ["name"]
    other.close()
    with pytest.raises(RuntimeError, match="not open"):
        await queue.claim()


@pytest.mark.parametrize(
    "options",
    [
        {"lease": 0},
        {"max_attempts": 0},
        {"retention": 0},
        {"lease": -1, "max_attempts": 0, "retention": -1},
    ],
)
def test_meaningless_queue_options_are_refused(tmp_path: Path, options: dict[str, float]) -> None:
    with pytest.raises(
        ValueError, match=r"^lease and retention must be positive and max_attempts at least 1$"
    ):
        SQLiteQueue(tmp_path / "q.db", **options)  # type: ignore[arg-type]


def test_the_smallest_queue_options_are_accepted(tmp_path: Path) -> None:
    queue = SQLiteQueue(tmp_path / "q.db", lease=0.5, max_attempts=1, retention=0.5)
    assert (queue.lease, queue.max_attempts, queue.retention) == (0.5, 1, 0.5)


def test_the_lease_owner_names_the_host_and_the_process() -> None:
    host, pid, nonce = SQLiteQueue("unused.db").owner.rsplit(":", 2)
    assert (host, pid) == (socket.gethostname(), str(os.getpid()))
    assert re.fullmatch(r"[0-9a-f]{8}", nonce)


async def test_one_queue_serves_many_tasks_at_once(store: Store) -> None:
    queue = await store.open()
    added: list[str] = []

    async def add(n: int) -> None:
        added.append(await _add(queue, n))

    async with anyio.create_task_group() as tasks:
        for n in range(30):
            tasks.start_soon(add, n)
    claimed = [await queue.claim() for _ in range(31)]

    assert claimed[-1] is None
    assert sorted(job.id for job in claimed if job is not None) == sorted(added)
