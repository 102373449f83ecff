from __future__ import annotations

from pathlib import Path

import pytest

from booty.queue import Queue
from tests.booty.support import rows

TRACE = {"sentry-trace": "771a43a4192642f0b136d5159a501700-b0e6f15b45c36b12-1"}


async def _open(path: Path) -> Queue:
    queue = Queue(path)
    await queue.open()
    return queue


async def test_jobs_are_taken_in_order_and_finished(tmp_path: Path) -> None:
    queue = await _open(tmp_path / "q.db")
    first, _ = await queue.enqueue(
        "pipeline", {"n": 1}, delivery_id=None, request_id="r1", trace=TRACE
    )
    second, _ = await queue.enqueue(
        "verifier", {"n": 2}, delivery_id=None, request_id=None, trace={}
    )
    one = await queue.claim()
    two = await queue.claim()
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
    await queue.finish(first, "failed", event_id="e" * 32, error="LLMError")
    job = await queue.get(first)
    assert job is not None
    assert (job.status, job.event_id, job.error) == ("failed", "e" * 32, "LLMError")
    assert await queue.get("unknown") is None
    await queue.close()


async def test_a_redelivery_is_the_same_job(tmp_path: Path) -> None:
    queue = await _open(tmp_path / "q.db")
    job_id, created = await queue.enqueue(
        "pipeline", {}, delivery_id="d-1", request_id=None, trace={}
    )
    again, created_again = await queue.enqueue(
        "verifier", {}, delivery_id="d-1", request_id=None, trace={}
    )
    assert (again, created, created_again) == (job_id, True, False)
    assert len(rows(str(tmp_path / "q.db"))) == 1
    await queue.close()


async def test_reopening_takes_back_jobs_left_running(tmp_path: Path) -> None:
    queue = await _open(tmp_path / "q.db")
    job_id, _ = await queue.enqueue("pipeline", {}, delivery_id=None, request_id=None, trace=TRACE)
    await queue.enqueue("pipeline", {}, delivery_id=None, request_id=None, trace={})
    assert (await queue.claim()) is not None
    await queue.close()  # as a crash would leave it: one running, one queued

    reopened = Queue(tmp_path / "q.db")
    assert await reopened.open() == 1
    job = await reopened.claim()
    assert job is not None
    assert (job.id, job.attempts, job.trace) == (job_id, 2, TRACE)
    await reopened.close()


async def test_a_closed_queue_refuses_work(tmp_path: Path) -> None:
    queue = Queue(tmp_path / "q.db")
    with pytest.raises(RuntimeError, match="not open"):
        await queue.claim()
