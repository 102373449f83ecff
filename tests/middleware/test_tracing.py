from __future__ import annotations

import logging
import time
from typing import Any

import pytest
import sentry_sdk
from fastapi import FastAPI

from middleware import SentryLifespan, instrument
from tests.asgi import running
from tests.conftest import CapturingTransport

TRACE_ID = "771a43a4192642f0b136d5159a501700"
PARENT_SPAN_ID = "b0e6f15b45c36b12"
INCOMING = {
    "sentry-trace": f"{TRACE_ID}-{PARENT_SPAN_ID}-1",
    "baggage": f"sentry-trace_id={TRACE_ID},sentry-sample_rate=1.0,sentry-sampled=true",
}


def traced_app(transport: CapturingTransport) -> FastAPI:
    app = FastAPI(lifespan=SentryLifespan(transport=transport))
    instrument(app)

    @app.get("/jobs/{job_id}")
    async def job(job_id: str) -> dict[str, Any]:
        span = sentry_sdk.get_current_span()
        return {"job_id": job_id, "span": None if span is None else span.op}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/boom/{n}")
    async def boom(n: int) -> None:
        raise RuntimeError(f"boom {n}")

    @app.get("/slow")
    def slow() -> dict[str, str]:
        # Sync, so it runs on a worker thread and leaves the profiler's sampler
        # thread the interpreter lock to take its samples.
        time.sleep(0.3)
        return {"status": "done"}

    return app


async def test_no_transaction_and_no_span_at_rate_zero(capture: CapturingTransport) -> None:
    async with running(traced_app(capture)) as client:
        ok = await client.get("/jobs/17")
        await client.get("/boom/1", headers=INCOMING)
    assert ok.json() == {"job_id": "17", "span": None}
    assert capture.transactions == []
    assert len(capture.events) == 1
    assert capture.envelopes and all(
        i.type != "transaction" for e in capture.envelopes for i in e.items
    )


async def test_errors_get_a_trace_of_their_own_or_the_callers(
    capture: CapturingTransport,
) -> None:
    async with running(traced_app(capture)) as client:
        await client.get("/boom/1")
        await client.get("/boom/2")
        await client.get("/boom/3", headers=INCOMING)
    traces = {e["exception"]["values"][0]["value"]: e["contexts"]["trace"] for e in capture.events}
    assert traces["boom 1"]["trace_id"] != traces["boom 2"]["trace_id"]
    assert traces["boom 3"]["trace_id"] == TRACE_ID
    assert traces["boom 3"]["parent_span_id"] == PARENT_SPAN_ID


async def test_error_events_are_named_by_route(capture: CapturingTransport) -> None:
    async with running(traced_app(capture)) as client:
        await client.get("/boom/41")
    (event,) = capture.events
    assert event["transaction"] == "/boom/{n}"
    assert event["transaction_info"] == {"source": "route"}


async def test_one_transaction_per_request_named_by_route(
    capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTRY_TRACES_SAMPLE_RATE", "1.0")
    async with running(traced_app(capture)) as client:
        response = await client.get("/jobs/abc123", headers={"X-Request-ID": "t-1"})
        missing = await client.get("/nope/42")
    assert response.json() == {"job_id": "abc123", "span": "http.server"}
    assert missing.status_code == 404
    found, unmatched = capture.transactions
    assert found["transaction"] == "/jobs/{job_id}"
    assert found["transaction_info"] == {"source": "route"}
    trace = found["contexts"]["trace"]
    assert trace["op"] == "http.server"
    assert trace["status"] == "ok"
    assert trace["data"]["http.response.status_code"] == 200
    assert found["tags"]["request_id"] == "t-1"
    assert "abc123" not in found["transaction"]
    assert unmatched["transaction"] == "<unmatched>"
    assert unmatched["contexts"]["trace"]["status"] == "not_found"


async def test_incoming_trace_headers_are_continued(
    capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTRY_TRACES_SAMPLE_RATE", "1.0")
    async with running(traced_app(capture)) as client:
        await client.get("/boom/7", headers=INCOMING)
    (transaction,) = capture.transactions
    (event,) = capture.events
    trace = transaction["contexts"]["trace"]
    assert trace["trace_id"] == TRACE_ID
    assert trace["parent_span_id"] == PARENT_SPAN_ID
    assert trace["status"] == "internal_error"
    assert event["contexts"]["trace"]["trace_id"] == TRACE_ID
    assert event["contexts"]["trace"]["span_id"] == trace["span_id"]


async def test_an_incoming_unsampled_decision_is_honoured(
    capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTRY_TRACES_SAMPLE_RATE", "1.0")
    async with running(traced_app(capture)) as client:
        await client.get("/jobs/1", headers={"sentry-trace": f"{TRACE_ID}-{PARENT_SPAN_ID}-0"})
    assert capture.transactions == []


async def test_health_is_never_traced(
    capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTRY_TRACES_SAMPLE_RATE", "1.0")
    async with running(traced_app(capture)) as client:
        for _ in range(3):
            assert (await client.get("/health")).status_code == 200
    assert capture.transactions == []


async def test_profiles_are_ignored_with_a_warning_when_tracing_is_off(
    capture: CapturingTransport,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("SENTRY_PROFILES_SAMPLE_RATE", "1.0")
    async with running(traced_app(capture)) as client:
        await client.get("/slow")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len([w for w in warnings if "SENTRY_PROFILES_SAMPLE_RATE" in w]) == 1
    assert capture.items("profile") == []
    assert capture.transactions == []


async def test_sampled_transactions_are_profiled(
    capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTRY_TRACES_SAMPLE_RATE", "1.0")
    monkeypatch.setenv("SENTRY_PROFILES_SAMPLE_RATE", "1.0")
    async with running(traced_app(capture)) as client:
        await client.get("/slow")
    (transaction,) = capture.transactions
    (profile,) = capture.items("profile")
    (profiled,) = profile["transactions"]
    assert profiled["name"] == "/slow"
    assert profiled["trace_id"] == transaction["contexts"]["trace"]["trace_id"]
    assert profile["profile"]["samples"]


async def test_a_share_of_requests_is_traced_at_a_partial_rate(
    capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTRY_TRACES_SAMPLE_RATE", "0.5")
    async with running(traced_app(capture)) as client:
        spans = [(await client.get(f"/jobs/{i}")).json()["span"] for i in range(200)]
    traced = len(capture.transactions)
    # Binomial(200, 0.5): outside 50..150 with odds below one in a trillion.
    assert 50 <= traced <= 150
    assert spans.count("http.server") == traced
    assert spans.count(None) == 200 - traced
    assert {t["transaction"] for t in capture.transactions} == {"/jobs/{job_id}"}
