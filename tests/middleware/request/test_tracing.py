from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
import sentry_sdk
from fastapi import FastAPI
from sentry_sdk.utils import Dsn

from middleware import SentryLifespan, instrument
from tests.support import INCOMING, PARENT_SPAN_ID, TRACE_ID, CapturingTransport, running


def traced_app(
    transport: CapturingTransport,
    *,
    traces_sampler: Callable[[dict[str, Any]], float | bool] | None = None,
    **options: Any,
) -> FastAPI:
    app = FastAPI(lifespan=SentryLifespan(transport=transport, traces_sampler=traces_sampler))
    instrument(app, **options)

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
    # Sentry extrapolates from the rate each was sampled at, not 1.0.
    rates = [
        envelope.headers["trace"]["sample_rate"]
        for envelope in capture.envelopes
        if any(item.type == "transaction" for item in envelope.items)
    ]
    assert rates == ["0.5"] * traced


async def test_traces_sampler_decides_with_the_asgi_scope_in_its_context(
    capture: CapturingTransport,
) -> None:
    seen: list[dict[str, Any]] = []

    def sampler(context: dict[str, Any]) -> float:
        seen.append(context)
        return 1.0 if context["asgi_scope"]["path"].startswith("/jobs/") else 0.0

    async with running(traced_app(capture, traces_sampler=sampler)) as client:
        await client.get("/jobs/1")
        await client.get("/boom/2")
    (transaction,) = capture.transactions
    assert transaction["transaction"] == "/jobs/{job_id}"
    assert [c["asgi_scope"]["path"] for c in seen] == ["/jobs/1", "/boom/2"]
    assert len(capture.events) == 1


@pytest.mark.parametrize(
    ("methods", "method", "traced"),
    [
        (None, "GET", True),
        (None, "OPTIONS", False),
        (None, "HEAD", False),
        (("GET", "options"), "OPTIONS", True),
        (("POST",), "GET", False),
    ],
)
async def test_options_and_head_are_untraced_by_default(
    capture: CapturingTransport,
    monkeypatch: pytest.MonkeyPatch,
    methods: tuple[str, ...] | None,
    method: str,
    traced: bool,
) -> None:
    monkeypatch.setenv("SENTRY_TRACES_SAMPLE_RATE", "1.0")
    options: dict[str, Any] = {} if methods is None else {"http_methods_to_capture": methods}
    async with running(traced_app(capture, **options)) as client:
        await client.request(method, "/jobs/1")
    assert len(capture.transactions) == (1 if traced else 0)


@pytest.mark.parametrize(
    ("style", "name", "source"),
    [
        ("url", "/boom/{n}", "route"),
        (
            "endpoint",
            "tests.middleware.request.test_tracing.traced_app.<locals>.boom",
            "component",
        ),
    ],
)
async def test_transaction_style(
    capture: CapturingTransport,
    monkeypatch: pytest.MonkeyPatch,
    style: str,
    name: str,
    source: str,
) -> None:
    monkeypatch.setenv("SENTRY_TRACES_SAMPLE_RATE", "1.0")
    async with running(traced_app(capture, transaction_style=style)) as client:
        await client.get("/boom/3")
    (transaction,) = capture.transactions
    (event,) = capture.events
    for item in (transaction, event):
        assert item["transaction"] == name
        assert item["transaction_info"] == {"source": source}


ORG_DSN = "https://publickey0123456789abcdef@o123.ingest.sentry.invalid/42"


def foreign(baggage_org: str | None) -> dict[str, str]:
    org = "" if baggage_org is None else f",sentry-org_id={baggage_org}"
    return {
        "sentry-trace": f"{TRACE_ID}-{PARENT_SPAN_ID}-1",
        "baggage": f"sentry-trace_id={TRACE_ID},sentry-sampled=true,sentry-sample_rate=1.0,"
        f"sentry-public_key=foreignkey,sentry-release=foreign@6.6.6{org}",
    }


@pytest.mark.parametrize(
    ("baggage_org", "continued"), [(None, False), ("999", False), ("123", True)]
)
async def test_a_trace_is_continued_only_from_the_same_organisation(
    capture: CapturingTransport,
    monkeypatch: pytest.MonkeyPatch,
    baggage_org: str | None,
    continued: bool,
) -> None:
    monkeypatch.setenv("SENTRY_DSN", ORG_DSN)
    # The sdk reads the organisation from its transport's DSN, as HttpTransport sets it.
    capture.parsed_dsn = Dsn(ORG_DSN)
    # Low enough that only a continued, sampled trace gives a transaction.
    monkeypatch.setenv("SENTRY_TRACES_SAMPLE_RATE", "0.000001")
    async with running(traced_app(capture)) as client:
        await client.get("/boom/1", headers=foreign(baggage_org))
    (event,) = capture.events
    (header,) = [e.headers["trace"] for e in capture.envelopes if e.get_event() is not None]
    assert (event["contexts"]["trace"]["trace_id"] == TRACE_ID) is continued
    assert len(capture.transactions) == (1 if continued else 0)
    if not continued:
        # Ours (the scrubber hides its value), never the caller's; no caller's release.
        assert header["public_key"] != "foreignkey"
        assert "release" not in header
        assert header["trace_id"] != TRACE_ID
