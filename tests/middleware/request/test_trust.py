"""Incoming traces are continued only from trusted networks, never with their envelope fields."""

from __future__ import annotations

import pytest
from sentry_sdk.utils import Dsn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from middleware import SentryLifespan, instrument
from tests.support import PARENT_SPAN_ID, TRACE_ID, CapturingTransport, running

ORG_DSN = "https://publickey0123456789abcdef@o123.ingest.sentry.invalid/42"
# What an attacker sends: a sampled trace, with the organisation id read from the DSN.
FORGED = {
    "sentry-trace": f"{TRACE_ID}-{PARENT_SPAN_ID}-1",
    "baggage": f"sentry-trace_id={TRACE_ID},sentry-sampled=true,sentry-sample_rate=1.0,"
    "sentry-public_key=foreignkey,sentry-release=foreign@6.6.6,"
    "sentry-environment=foreign,sentry-org_id=123,other=kept",
}


async def boom(request: Request) -> None:
    raise RuntimeError("boom")


def app(transport: CapturingTransport) -> Starlette:
    app = Starlette(routes=[Route("/boom", boom)], lifespan=SentryLifespan(transport=transport))
    instrument(app)
    return app


@pytest.fixture
def org_dsn(capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch) -> CapturingTransport:
    monkeypatch.setenv("SENTRY_DSN", ORG_DSN)
    # The sdk reads the organisation from its transport's DSN, as HttpTransport sets it.
    capture.parsed_dsn = Dsn(ORG_DSN)
    # Low enough that only a continued, sampled trace gives a transaction.
    monkeypatch.setenv("SENTRY_TRACES_SAMPLE_RATE", "0.000001")
    monkeypatch.setenv("SENTRY_RELEASE", "booty-1.0")
    return capture


def trace_header(capture: CapturingTransport) -> dict[str, str]:
    (header,) = [e.headers["trace"] for e in capture.envelopes if e.get_event() is not None]
    return dict(header)


async def forged_request(
    transport: CapturingTransport,
    monkeypatch: pytest.MonkeyPatch,
    environment: str,
    sources: str | None,
) -> None:
    """A failing request carrying a foreign trace, from 127.0.0.1."""
    monkeypatch.setenv("SENTRY_ENVIRONMENT", environment)
    if sources is not None:
        monkeypatch.setenv("SENTRY_TRUSTED_TRACE_SOURCES", sources)
    async with running(app(transport)) as client:
        await client.get("/boom", headers=FORGED)


@pytest.mark.parametrize(
    ("environment", "sources"),
    [("production", None), ("production", "10.0.0.0/8"), ("development", "none")],
)
async def test_an_untrusted_caller_s_trace_is_not_continued(
    org_dsn: CapturingTransport,
    monkeypatch: pytest.MonkeyPatch,
    environment: str,
    sources: str | None,
) -> None:
    await forged_request(org_dsn, monkeypatch, environment, sources)

    (event,) = org_dsn.events
    assert event["contexts"]["trace"]["trace_id"] != TRACE_ID
    assert org_dsn.transactions == []  # the caller forced no sampling
    header = trace_header(org_dsn)
    assert header["trace_id"] != TRACE_ID
    assert (header["environment"], header["release"]) == (environment, "booty-1.0")
    assert header["public_key"] != "foreignkey"
    assert header["sample_rate"] == "1e-06"


@pytest.mark.parametrize(
    ("environment", "sources"),
    [("production", "127.0.0.1"), ("production", "127.0.0.0/8,::1"), ("development", None)],
)
async def test_a_trusted_caller_s_trace_is_continued_with_local_envelope_fields(
    org_dsn: CapturingTransport,
    monkeypatch: pytest.MonkeyPatch,
    environment: str,
    sources: str | None,
) -> None:
    await forged_request(org_dsn, monkeypatch, environment, sources)

    (event,) = org_dsn.events
    assert event["contexts"]["trace"]["trace_id"] == TRACE_ID
    assert len(org_dsn.transactions) == 1
    traced = [
        envelope
        for envelope in org_dsn.envelopes
        if any(item.type in ("event", "transaction") for item in envelope.items)
    ]
    assert len(traced) == 2
    for envelope in traced:
        header = envelope.headers["trace"]
        assert header["trace_id"] == TRACE_ID
        assert header["public_key"] != "foreignkey"  # ours, which the scrubber hides
        assert (header["environment"], header["release"]) == (environment, "booty-1.0")
        assert header["sample_rate"] == "1e-06"  # ours, not the caller's 1.0


async def test_an_invalid_trace_source_refuses_production(
    capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    from middleware import ConfigError, load_sentry_config

    monkeypatch.setenv("SENTRY_ENVIRONMENT", "production")
    monkeypatch.setenv("SENTRY_TRUSTED_TRACE_SOURCES", "10.0.0.0/8,intranet")
    with pytest.raises(ConfigError, match="SENTRY_TRUSTED_TRACE_SOURCES"):
        load_sentry_config()
