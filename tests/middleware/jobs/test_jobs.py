from __future__ import annotations

import contextlib
import logging
from typing import Any

import anyio
import pytest
import sentry_sdk

from middleware.context import RequestIdFilter, get_request_id
from middleware.jobs.scope import job_scope, span, trace_headers
from tests.support import INCOMING, PARENT_SPAN_ID, TRACE_ID, CapturingTransport, SentryInit

logger = logging.getLogger("tests.jobs")


@pytest.fixture
def sentry(sentry_init: SentryInit) -> CapturingTransport:
    return sentry_init()


class Boom(Exception):
    pass


def test_failure_is_captured_once_with_mechanism_and_tags(sentry: CapturingTransport) -> None:
    with (
        pytest.raises(Boom),
        job_scope(
            "build",
            "j1",
            request_id="req-1",
            tags={"repo": "a/b", "skip": None},
            mechanism="x.jobs",
        ) as job,
    ):
        raise Boom("it broke")
    (event,) = sentry.events
    assert event["event_id"] == job.event_id
    assert job.error is not None and str(job.error) == "it broke"
    assert event["tags"] == {
        "job_id": "j1",
        "job_kind": "build",
        "request_id": "req-1",
        "repo": "a/b",
    }
    (exception,) = event["exception"]["values"]
    assert exception["mechanism"] == {"type": "x.jobs", "handled": False}
    assert event["contexts"]["job"] == {"id": "j1", "kind": "build"}


def test_reraise_false_swallows_after_capture(sentry: CapturingTransport) -> None:
    with job_scope("build", "j1", reraise=False) as job:
        raise Boom("swallowed")
    assert [e["event_id"] for e in sentry.events] == [job.event_id]
    # Without an originating request the job is its own: no request_id tag.
    assert "request_id" not in sentry.events[0]["tags"]


def test_explicit_capture_then_raise_gives_one_event(sentry: CapturingTransport) -> None:
    with pytest.raises(Boom), job_scope("build", "j1") as job:
        try:
            raise Boom("reported")
        except Boom as exc:
            first = job.capture(exc)
            assert job.capture(exc) == first
            raise
    assert [e["event_id"] for e in sentry.events] == [first]


def test_success_sends_nothing_and_data_is_never_built(sentry: CapturingTransport) -> None:
    calls: list[int] = []

    def data() -> dict[str, Any]:
        calls.append(1)
        return {}

    with job_scope("build", "j1", data=data) as job:
        sentry_sdk.add_breadcrumb(message="working")
    assert job.event_id is None and job.error is None
    assert sentry.events == [] and calls == []


def test_job_data_is_attached_when_an_event_is_built(sentry: CapturingTransport) -> None:
    with job_scope("build", "j1", data=lambda: {"attempt": 2}, reraise=False):
        raise Boom
    assert sentry.events[0]["contexts"]["job"] == {"id": "j1", "kind": "build", "attempt": 2}


def test_breadcrumbs_tags_and_trace_stay_inside_the_job(sentry: CapturingTransport) -> None:
    # The enclosing scope plays the worker loop's (or a request's).
    with sentry_sdk.isolation_scope():
        sentry_sdk.add_breadcrumb(message="before the job")
        with job_scope("build", "j1", reraise=False):
            sentry_sdk.add_breadcrumb(message="inside the job")
            sentry_sdk.set_tag("inside", "yes")
            raise Boom
        sentry_sdk.capture_message("after the job")
    job_event, after = sentry.events
    assert [c["message"] for c in job_event["breadcrumbs"]["values"]] == ["inside the job"]
    assert [c["message"] for c in after["breadcrumbs"]["values"]] == ["before the job"]
    assert "inside" not in after.get("tags", {}) and "job_id" not in after.get("tags", {})
    assert job_event["contexts"]["trace"]["trace_id"] != after["contexts"]["trace"]["trace_id"]


async def test_concurrent_jobs_keep_their_own_scope(sentry: CapturingTransport) -> None:
    arrived = 0
    everyone_in = anyio.Event()

    async def job(n: int) -> None:
        nonlocal arrived
        with job_scope("build", f"j{n}", request_id=f"r{n}", reraise=False):
            sentry_sdk.add_breadcrumb(message=f"step of {n}")
            arrived += 1
            if arrived == 10:
                everyone_in.set()
            await everyone_in.wait()
            sentry_sdk.add_breadcrumb(message=f"last step of {n}")
            raise Boom(str(n))

    async with anyio.create_task_group() as tg:
        for n in range(10):
            tg.start_soon(job, n)
    assert len(sentry.events) == 10
    traces = set()
    for event in sentry.events:
        n = event["exception"]["values"][0]["value"]
        assert event["tags"]["job_id"] == f"j{n}" and event["tags"]["request_id"] == f"r{n}"
        crumbs = [c["message"] for c in event["breadcrumbs"]["values"]]
        assert crumbs == [f"step of {n}", f"last step of {n}"]
        traces.add(event["contexts"]["trace"]["trace_id"])
    assert len(traces) == 10


def test_request_id_is_set_for_logs_and_reset(
    sentry: CapturingTransport, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.handler.addFilter(RequestIdFilter())
    with job_scope("build", "j1", request_id="req-9"):
        assert get_request_id() == "req-9"
        logger.warning("inside")
    with job_scope("build", "j2"):
        assert get_request_id() == "j2"
    assert get_request_id() is None
    (record,) = [r for r in caplog.records if r.getMessage() == "inside"]
    assert record.__dict__["request_id"] == "req-9"


def test_log_then_raise_inside_a_job_gives_one_event(sentry: CapturingTransport) -> None:
    with job_scope("build", "j1", reraise=False):
        try:
            raise Boom("disk full")
        except Boom:
            logger.exception("disk full")
            logger.error("an unrelated error")
            raise
    messages = [e.get("logentry", {}).get("message") for e in sentry.events]
    assert len(sentry.events) == 2
    assert messages.count("an unrelated error") == 1
    assert all(e["tags"]["job_id"] == "j1" for e in sentry.events)


def test_cancellation_is_not_an_error(sentry: CapturingTransport) -> None:
    async def main() -> None:
        with anyio.move_on_after(0), job_scope("build", "j1"):
            await anyio.sleep(1)

    anyio.run(main)
    assert sentry.events == []


def test_stored_trace_is_continued_with_tracing_off(sentry: CapturingTransport) -> None:
    with job_scope("build", "j1", trace=INCOMING, reraise=False):
        with span("db", "SELECT") as inner:
            assert inner is None
        raise Boom
    (event,) = sentry.events
    assert event["contexts"]["trace"]["trace_id"] == TRACE_ID
    assert sentry.transactions == []


@pytest.fixture
def traced(sentry_init: SentryInit) -> CapturingTransport:
    return sentry_init(SENTRY_TRACES_SAMPLE_RATE="1")


@pytest.mark.parametrize(("fails", "reraise"), [(False, False), (True, False), (True, True)])
def test_one_transaction_per_job_continuing_the_stored_trace(
    traced: CapturingTransport, fails: bool, reraise: bool
) -> None:
    with contextlib.suppress(Boom), job_scope("build", "j1", trace=INCOMING, reraise=reraise):
        with span("db", "INSERT jobs") as db:
            assert db is not None
            with span("http.client", "GET https://example.test/") as http:
                assert http is not None
        if fails:
            raise Boom
    (transaction,) = traced.transactions
    trace = transaction["contexts"]["trace"]
    assert transaction["transaction"] == "build"
    assert transaction["transaction_info"] == {"source": "task"}
    assert trace["op"] == "queue.task"
    assert trace["trace_id"] == TRACE_ID and trace["parent_span_id"] == PARENT_SPAN_ID
    assert trace["status"] == ("internal_error" if fails else "ok")
    db_span, http_span = sorted(transaction["spans"], key=lambda s: s["op"])
    assert (db_span["op"], db_span["description"]) == ("db", "INSERT jobs")
    assert db_span["parent_span_id"] == trace["span_id"]
    assert http_span["parent_span_id"] == db_span["span_id"]
    if fails:
        assert traced.events[0]["contexts"]["trace"]["span_id"] == trace["span_id"]


def test_trace_headers_are_what_a_job_continues(traced: CapturingTransport) -> None:
    with sentry_sdk.start_transaction(op="http.server", name="/webhooks/github") as request:
        stored = trace_headers()
    with job_scope("build", "j1", trace=stored):
        pass
    job = next(t for t in traced.transactions if t["transaction"] == "build")
    assert stored["sentry-trace"].startswith(f"{request.trace_id}-{request.span_id}")
    assert "baggage" in stored
    assert job["contexts"]["trace"]["trace_id"] == request.trace_id
    assert job["contexts"]["trace"]["parent_span_id"] == request.span_id


@pytest.mark.parametrize("rate", ["0", None])
def test_no_transaction_and_no_span_with_tracing_off(
    sentry_init: SentryInit, monkeypatch: pytest.MonkeyPatch, rate: str | None
) -> None:
    if rate is not None:
        monkeypatch.setenv("SENTRY_TRACES_SAMPLE_RATE", rate)
    capture = sentry_init()
    with job_scope("build", "j1"):
        assert sentry_sdk.get_current_span() is None
        with span("db", "x") as inner:
            assert inner is None
    assert capture.transactions == []


@pytest.mark.parametrize("drop", [False, True])
def test_local_variables_can_be_kept_out_of_job_events(
    sentry: CapturingTransport, drop: bool
) -> None:
    with job_scope("build", "j1", reraise=False, drop_local_variables=drop):
        # Built at run time: a literal would show in the frame's source context.
        prompt = "-".join(["private", "prompt", "text"])
        raise Boom(str(len(prompt)))
    (frame,) = sentry.events[0]["exception"]["values"][0]["stacktrace"]["frames"][-1:]
    assert ("vars" in frame) is not drop
    assert (prompt.encode() in sentry.serialized()) is not drop
