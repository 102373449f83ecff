from __future__ import annotations

import secrets
from urllib.parse import quote_plus

import httpx
import pytest
from asgi_lifespan import LifespanManager

from booty.main import create_app
from tests.support import EnvelopeServer


@pytest.mark.parametrize("send_default_pii", [False, True])
async def test_no_request_secret_reaches_sentry(
    monkeypatch: pytest.MonkeyPatch, envelope_server: EnvelopeServer, send_default_pii: bool
) -> None:
    internal = secrets.token_urlsafe(24)
    values = {
        "authorization": internal,
        "cookie": secrets.token_hex(16),
        "api_key": secrets.token_hex(16),
        "proxy": secrets.token_hex(16),
        "query_token": secrets.token_hex(16),
        "query_password": secrets.token_hex(16),
    }
    monkeypatch.setenv("SENTRY_DSN", envelope_server.dsn)
    monkeypatch.setenv("SENTRY_SEND_DEFAULT_PII", str(send_default_pii).lower())
    monkeypatch.setenv("BOOTY_INTERNAL_TOKEN", internal)
    app = create_app()

    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://booty") as client:
            response = await client.get(
                "/internal/sentry-test",
                params={
                    "token": values["query_token"],
                    "password": values["query_password"],
                    "page": "2",
                },
                headers={
                    "Authorization": f"Bearer {values['authorization']}",
                    "Cookie": f"session={values['cookie']}; theme=dark",
                    "X-Api-Key": values["api_key"],
                    "Proxy-Authorization": f"Basic {values['proxy']}",
                },
            )
    assert response.status_code == 500

    envelope_server.wait_for(lambda: len(envelope_server.events) == 1)
    received = b"".join(envelope_server.bodies)
    assert b"Sentry test error" in received
    for name, value in values.items():
        for form in {value, quote_plus(value)}:
            assert form.encode() not in received, name
    assert envelope_server.events[0]["request"]["query_string"].endswith("page=2")
    assert b"page=2" in received
