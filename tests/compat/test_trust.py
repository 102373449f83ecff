"""A real server process: a forged incoming trace forces no sampling and sets no envelope field."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sentry_sdk.envelope import Envelope

from tests.compat.support import Served
from tests.support import PARENT_SPAN_ID, TRACE_ID

TARGET = "tests.compat.apps.logs_app:app"
FORGED = {
    "sentry-trace": f"{TRACE_ID}-{PARENT_SPAN_ID}-1",
    "baggage": f"sentry-trace_id={TRACE_ID},sentry-sampled=true,sentry-sample_rate=1.0,"
    "sentry-public_key=foreignkey,sentry-release=foreign-6.6.6,sentry-environment=foreign",
}


@pytest.mark.parametrize(("sources", "continued"), [(None, False), ("127.0.0.1", True)])
async def test_a_forged_trace_under_uvicorn_in_production(
    tmp_path: Path, sources: str | None, continued: bool
) -> None:
    env = {
        "SENTRY_ENVIRONMENT": "production",
        "SENTRY_RELEASE": "booty-1.0",
        "SENTRY_TRACES_SAMPLE_RATE": "0.000001",
    }
    if sources is not None:
        env["SENTRY_TRUSTED_TRACE_SOURCES"] = sources
    served = Served("uvicorn", TARGET, tmp_path / "log", delay=0, extra_env=env)
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            await served.wait_ready(client)
            response = await client.get(f"{served.base_url}/boom/0", headers=FORGED)
            assert response.status_code == 500
        served.terminate()
        envelopes = served.envelopes
        events = envelopes.events
        transactions = envelopes.items("transaction")
        parsed = [Envelope.deserialize(body) for body in envelopes.bodies]
        # Events and transactions; client reports carry no trace.
        trace_headers = [
            e.headers.get("trace") for e in parsed if e.get_event() or e.get_transaction_event()
        ]
        output = served.log.read_text(errors="replace")
    finally:
        served.close()

    (event,) = events
    assert (event["contexts"]["trace"]["trace_id"] == TRACE_ID) is continued
    assert len(transactions) == (1 if continued else 0)
    assert trace_headers
    for header in trace_headers:
        assert header is not None
        assert (header["environment"], header["release"]) == ("production", "booty-1.0")
        assert header["public_key"] != "foreignkey"
        assert header["sample_rate"] == "1e-06"  # the local rate, not the caller's 1.0
    assert "foreign" not in output
