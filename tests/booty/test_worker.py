from __future__ import annotations

import json
import logging
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import respx
import sentry_sdk

from booty.queue import Job, SQLiteQueue
from booty.worker import Worker
from middleware.jobs.scope import JobScope
from tests.booty.support import (
    GITHUB,
    ISSUE_BODY,
    MODEL,
    PLAN,
    REPO,
    SECRETS,
    FakeApis,
    booty,
    comment_bodies,
    configure,
    issue_event,
    post_event,
    pr_event,
    rows,
    sign,
    wait_done,
)
from tests.support import FAKE_DSN, CapturingTransport, SentryInit


async def test_twenty_concurrent_failing_jobs_keep_their_own_scope(
    router: respx.MockRouter,
    capture: CapturingTransport,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Twenty identical failures are a storm: the guard would keep the first ten.
    configure(monkeypatch, BOOTY_WORKERS="20", SENTRY_STORM_LIMIT="20")
    in_flight = 0
    all_in = anyio.Event()

    async def issue(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight
        in_flight += 1
        if in_flight == 20:
            all_in.set()
        # Every job is inside its scope at once before any of them fails.
        with anyio.fail_after(5):
            await all_in.wait()
        return httpx.Response(500)

    issues = re.escape(f"{GITHUB}/repos/{REPO}/issues/")
    router.get(url__regex=issues + r"\d+$").mock(side_effect=issue)
    comments = router.post(url__regex=issues + r"\d+/comments$").respond(201, json={})
    async with booty(capture) as client:
        responses = [await post_event(client, "issues", issue_event(n)) for n in range(1, 21)]
        jobs = [await wait_done(client, r.json()["job_id"]) for r in responses]

    assert all(job["status"] == "failed" for job in jobs)
    assert len(capture.events) == 20
    events = {event["tags"]["issue_number"]: event for event in capture.events}
    all_ids = {job["id"] for job in jobs} | {r.headers["x-request-id"] for r in responses}
    for n, (job, response) in enumerate(zip(jobs, responses, strict=True), start=1):
        event = events[str(n)]
        own = {job["id"], response.headers["x-request-id"]}
        assert event["tags"]["job_id"] == job["id"]
        assert event["tags"]["request_id"] == response.headers["x-request-id"]
        assert event["event_id"] == job["event_id"]
        crumbs = json.dumps(event["breadcrumbs"]["values"])
        assert [i for i in all_ids - own if i in crumbs] == []
        assert job["id"] in crumbs
        issue_urls = set(re.findall(r"/issues/(\d+)", crumbs))
        assert issue_urls <= {str(n)}
        assert [
            c["data"]["issue"]
            for c in event["breadcrumbs"]["values"]
            if c.get("category") == "pipeline"
        ] == [n]
    assert comments.call_count == 20


@contextmanager
def on_log(name: str, needle: str, event: anyio.Event) -> Iterator[None]:
    class Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if needle in record.getMessage():
                event.set()

    handler = Handler()
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


async def test_shutdown_lets_a_running_job_finish_within_the_grace(
    apis: FakeApis, capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BOOTY_SHUTDOWN_GRACE", "10")
    started, stopping = anyio.Event(), anyio.Event()

    async def issue(request: httpx.Request) -> httpx.Response:
        started.set()
        await stopping.wait()
        return httpx.Response(200, json={"title": "t", "body": "b"})

    apis.issue.side_effect = issue
    with on_log("booty.worker", "stopping", stopping):
        async with booty(capture) as client:
            response = await post_event(client, "issues", issue_event())
            await started.wait()
    # The job was still running when the shutdown began, and it was let finish.
    (row,) = rows(str(tmp_path / "booty.db"))
    assert (row["id"], row["status"]) == (response.json()["job_id"], "succeeded")
    assert apis.comment.call_count == 1


@pytest.mark.parametrize("end", ["shutdown-past-grace", "crash"])
async def test_a_job_survives_a_restart(
    apis: FakeApis,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    end: str,
) -> None:
    monkeypatch.setenv("SENTRY_DSN", FAKE_DSN)
    monkeypatch.setenv("SENTRY_TRACES_SAMPLE_RATE", "1")
    monkeypatch.setenv("BOOTY_SHUTDOWN_GRACE", "0")
    database = str(tmp_path / "booty.db")
    started = anyio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        started.set()
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    apis.issue.side_effect = hang
    first = CapturingTransport()
    async with booty(first) as client:
        running = await post_event(client, "issues", issue_event(), delivery="running")
        waiting = await post_event(
            client, "issues", issue_event(action="reopened"), delivery="waiting"
        )
        job_id = running.json()["job_id"]
        await started.wait()
    # Past the grace the running job was stopped; both are queued for the next start.
    found = {row["id"]: row for row in rows(database)}
    assert {row["status"] for row in found.values()} == {"queued"}
    row = found[job_id]
    if end == "crash":
        db = sqlite3.connect(database)
        db.execute("UPDATE jobs SET status = 'running' WHERE id = ?", (job_id,))
        db.commit()
        db.close()

    apis.issue.side_effect = None
    second = CapturingTransport()
    async with booty(second) as client:
        job = await wait_done(client, job_id)
        other = await wait_done(client, waiting.json()["job_id"])
    assert job["status"] == "succeeded" and job["attempts"] == 2
    assert other["status"] == "succeeded" and other["attempts"] == 1
    assert len(comment_bodies(apis.comment)) == 2
    assert first.events == second.events == []
    # The trace stored with the job is continued by the second process.
    trace_id, parent = row["sentry_trace"].split("-")[:2]
    (transaction,) = [
        t
        for t in second.transactions
        if t["transaction"] == "pipeline" and t["tags"]["job_id"] == job_id
    ]
    assert transaction["contexts"]["trace"]["trace_id"] == trace_id
    assert transaction["contexts"]["trace"]["parent_span_id"] == parent


async def test_secrets_never_reach_sentry(
    apis: FakeApis, capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTRY_TRACES_SAMPLE_RATE", "1")
    # Failures whose answers echo what was sent, as a careless API might.
    apis.chat.side_effect = lambda request: httpx.Response(
        401, json={"error": f"bad key {request.headers['authorization']}"}
    )
    apis.pull.side_effect = lambda request: httpx.Response(
        500, json={"error": f"bad token {request.headers['authorization']}"}
    )
    async with booty(capture) as client:
        pipeline = await post_event(client, "issues", issue_event())
        verifier = await post_event(client, "pull_request", pr_event())
        for response in (pipeline, verifier):
            await wait_done(client, response.json()["job_id"])
    assert len(capture.events) == 2
    assert capture.transactions
    serialized = capture.serialized()
    for secret in SECRETS:
        assert secret.encode() not in serialized


async def test_a_job_is_one_transaction_with_its_spans(
    apis: FakeApis, capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SENTRY_TRACES_SAMPLE_RATE", "1")
    async with booty(capture) as client:
        response = await post_event(client, "issues", issue_event())
        await wait_done(client, response.json()["job_id"])
    (row,) = rows(str(tmp_path / "booty.db"))
    trace_id, parent_span_id = row["sentry_trace"].split("-")[:2]
    (job,) = [t for t in capture.transactions if t["contexts"]["trace"]["op"] == "queue.task"]
    trace = job["contexts"]["trace"]
    assert job["transaction"] == "pipeline"
    assert (trace["trace_id"], trace["parent_span_id"]) == (trace_id, parent_span_id)
    assert trace["status"] == "ok"
    # sentry-sdk 2.59 and later send gen_ai spans apart, as a v2 "span" item of the
    # same envelope; earlier ones keep them in the transaction.
    chats = [_v2_span(item) for batch in capture.items("span") for item in batch["items"]] + [
        s for s in job["spans"] if s["op"] == "gen_ai.chat"
    ]
    spans = {(s["op"], s["description"]): s for s in job["spans"] if s["op"] != "gen_ai.chat"}
    base = f"{GITHUB}/repos/{REPO}/issues/7"
    assert set(spans) == {
        ("http.client", f"GET {base}"),
        ("http.client", f"POST {base}/comments"),
        ("db", "UPDATE jobs (finish)"),
    }
    assert all(s["parent_span_id"] == trace["span_id"] for s in job["spans"])
    assert all(s["trace_id"] == trace_id for s in job["spans"])
    (chat,) = chats
    assert (chat["description"], chat["op"]) == (f"chat {MODEL}", "gen_ai.chat")
    assert (chat["trace_id"], chat["parent_span_id"]) == (trace_id, trace["span_id"])
    assert chat["data"]["gen_ai.request.model"] == MODEL
    assert chat["data"]["gen_ai.usage.input_tokens"] == 42
    assert chat["data"]["gen_ai.usage.output_tokens"] == 17
    assert spans[("db", "UPDATE jobs (finish)")]["data"]["db.system"] == "sqlite"
    assert spans[("http.client", f"GET {base}")]["data"]["http.response.status_code"] == 200
    serialized = capture.serialized()
    assert ISSUE_BODY.encode() not in serialized and PLAN.encode() not in serialized


async def test_no_transaction_with_tracing_off(
    apis: FakeApis, capture: CapturingTransport
) -> None:
    apis.chat.side_effect = [httpx.Response(500)]
    async with booty(capture) as client:
        for payload in (issue_event(), pr_event()):
            event = "issues" if "issue" in payload else "pull_request"
            response = await post_event(client, event, payload)
            await wait_done(client, response.json()["job_id"])
    assert len(capture.events) == 1
    assert capture.transactions == []


class FlakyQueue(SQLiteQueue):
    """A queue whose disk fails once, then serves one job."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.claims = 0

    async def claim(self) -> Job | None:
        self.claims += 1
        if self.claims == 1:
            raise sqlite3.OperationalError("disk I/O error")
        return await super().claim()


async def test_the_loop_survives_a_queue_failure(sentry_init: SentryInit, tmp_path: Path) -> None:
    capture = sentry_init()
    with sentry_sdk.isolation_scope():
        await _run_flaky(tmp_path / "q.db")
    (event,) = capture.events
    assert event["logentry"]["message"] == "the worker loop failed; retrying"
    assert event["exception"]["values"][-1]["type"] == "OperationalError"


async def _run_flaky(path: Path) -> None:
    queue = FlakyQueue(path)
    await queue.open()
    ran = anyio.Event()

    async def handler(job: Job, scope: JobScope) -> None:
        ran.set()

    worker = Worker(queue, {"pipeline": handler}, retry_delay=0, poll_interval=0.01)
    job_id, _ = await queue.enqueue("pipeline", {}, delivery_id=None, request_id=None, trace={})
    async with worker.running():
        with anyio.fail_after(5):
            await ran.wait()
    job = await queue.get(job_id)
    await queue.close()
    assert job is not None and job.status == "succeeded"


async def test_the_trace_runs_from_the_incoming_header_through_the_request_into_the_job(
    apis: FakeApis, capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTRY_TRACES_SAMPLE_RATE", "1")
    trace_id, caller_span = "5c0ffee5c0ffee5c0ffee5c0ffee5c0f", "abad1deaabad1dea"
    body = json.dumps(issue_event()).encode()
    async with booty(capture) as client:
        response = await client.post(
            "/webhooks/github",
            content=body,
            headers={
                "X-GitHub-Event": "issues",
                "X-Hub-Signature-256": sign(body),
                "sentry-trace": f"{trace_id}-{caller_span}-1",
            },
        )
        await wait_done(client, response.json()["job_id"])
    named = {t["transaction"]: t for t in capture.transactions}
    request, job = named["/webhooks/github"], named["pipeline"]
    request_trace, job_trace = request["contexts"]["trace"], job["contexts"]["trace"]
    assert (request_trace["op"], job_trace["op"]) == ("http.server", "queue.task")
    assert (request_trace["trace_id"], request_trace["parent_span_id"]) == (trace_id, caller_span)
    # The job is a child of the request that queued it, in the same trace.
    assert (job_trace["trace_id"], job_trace["parent_span_id"]) == (
        trace_id,
        request_trace["span_id"],
    )
    (insert,) = [s for s in request["spans"] if s["op"] == "db"]
    assert insert["description"] == "INSERT jobs"
    assert insert["parent_span_id"] == request_trace["span_id"]
    assert {s["trace_id"] for s in job["spans"]} == {trace_id}


def _v2_span(item: dict[str, Any]) -> dict[str, Any]:
    """A v2 span item in the shape of a transaction's span."""
    data = {key: value["value"] for key, value in item["attributes"].items()}
    return {
        "op": data["sentry.op"],
        "description": item["name"],
        "trace_id": item["trace_id"],
        "parent_span_id": item["parent_span_id"],
        "data": data,
    }


async def test_the_worker_checks_in_as_the_booty_monitor(
    apis: FakeApis, capture: CapturingTransport
) -> None:
    async with booty(capture):
        pass
    statuses = [(item["monitor_slug"], item["status"]) for item in capture.items("check_in")]
    assert statuses == [("booty", "in_progress"), ("booty", "ok")]


async def test_sentry_worker_monitor_off_sends_no_check_in(
    apis: FakeApis, capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTRY_WORKER_MONITOR", "off")
    async with booty(capture):
        pass
    assert capture.items("check_in") == []


async def test_the_worker_prunes_finished_jobs_past_their_retention(tmp_path: Path) -> None:
    queue = SQLiteQueue(tmp_path / "q.db", retention=3600)
    await queue.open()
    old, _ = await queue.enqueue("pipeline", {}, delivery_id=None, request_id=None, trace={})
    assert await queue.claim() is not None
    assert await queue.finish(old, "succeeded")
    db = sqlite3.connect(tmp_path / "q.db")
    db.execute("UPDATE jobs SET updated_at = updated_at - 3601")
    db.commit()
    db.close()
    worker = Worker(queue, {}, poll_interval=0.01, prune_interval=0.01)
    async with worker.running():
        with anyio.fail_after(5):
            for _ in range(500):  # the prune loop runs every 10 ms
                if await queue.get(old) is None:
                    break
                await anyio.sleep(0.01)
    assert await queue.get(old) is None
    await queue.close()
