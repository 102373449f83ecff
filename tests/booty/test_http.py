from __future__ import annotations

import httpx
import respx
from pydantic import SecretStr

from booty.http import make_client
from middleware.jobs.scope import job_scope


@respx.mock
async def test_outbound_calls_carry_the_current_request_id() -> None:
    route = respx.get("https://api.test/x").respond(200)
    async with make_client("https://api.test", token=None, timeout=1) as client:
        await client.get("/x")
        with job_scope("pipeline", "job-1", request_id="req-1"):
            await client.get("/x")
            await client.get("/x", headers={"X-Request-ID": "callers-own"})
    sent = [call.request.headers.get("x-request-id") for call in route.calls]
    assert sent == [None, "req-1", "callers-own"]
    assert "authorization" not in route.calls[0].request.headers


@respx.mock
async def test_the_token_is_a_bearer_header() -> None:
    route = respx.get("https://api.test/x").respond(200)
    async with make_client("https://api.test", token=SecretStr("t0k"), timeout=1) as client:
        response = await client.get("/x")
    assert isinstance(response, httpx.Response)
    assert route.calls[0].request.headers["authorization"] == "Bearer t0k"
