"""Who made a request: the client's address behind trusted proxies, and its user."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.authentication import AuthCredentials, AuthenticationBackend
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection
from starlette.routing import Route

from middleware import SentryLifespan, instrument
from tests.middleware.request.test_request_data import boom, pii_app
from tests.support import CapturingTransport, running
from tests.support.raw import http_scope, raw_request


@pytest.mark.parametrize(
    ("trusted", "headers", "expected"),
    [
        # nginx with `proxy_set_header X-Real-IP $remote_addr;` and nothing else.
        (("127.0.0.1",), {"X-Real-IP": "203.0.113.9"}, "203.0.113.9"),
        (("127.0.0.1",), {"X-Real-IP": "2001:db8::7"}, "2001:db8::7"),
        # X-Forwarded-For, when the proxy sends it, names the hops: it wins.
        (
            ("127.0.0.1",),
            {"X-Real-IP": "198.51.100.1", "X-Forwarded-For": "203.0.113.9"},
            "203.0.113.9",
        ),
        # Not an address: the peer, never the header's text.
        (("127.0.0.1",), {"X-Real-IP": "evil<script>"}, "127.0.0.1"),
        # From a peer that is not a trusted proxy, anyone could have set it.
        ((), {"X-Real-IP": "203.0.113.9"}, "127.0.0.1"),
        (("10.0.0.0/8",), {"X-Real-IP": "203.0.113.9"}, "127.0.0.1"),
    ],
)
async def test_x_real_ip_is_read_only_from_a_trusted_proxy(
    capture: CapturingTransport,
    monkeypatch: pytest.MonkeyPatch,
    trusted: tuple[str, ...],
    headers: dict[str, str],
    expected: str,
) -> None:
    monkeypatch.setenv("SENTRY_SEND_DEFAULT_PII", "true")
    async with running(pii_app(capture, trusted_proxies=trusted)) as client:
        await client.get("/boom", headers=headers)
    (event,) = capture.events
    assert event["user"]["ip_address"] == expected
    assert event["request"]["env"] == {"REMOTE_ADDR": expected}


@pytest.mark.parametrize("trusted", [(), ("127.0.0.1",)])
async def test_a_request_from_no_known_client_has_no_address(
    capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch, trusted: tuple[str, ...]
) -> None:
    # A server on a Unix socket names no client.
    monkeypatch.setenv("SENTRY_SEND_DEFAULT_PII", "true")
    app = pii_app(capture, trusted_proxies=trusted)
    scope = http_scope(
        leave_out=["client"], headers=[(b"host", b"test"), (b"x-real-ip", b"203.0.113.9")]
    )
    await raw_request(app, scope, raises="boom")
    (event,) = capture.events
    assert "ip_address" not in event["user"]
    assert "env" not in event["request"]


class Backend(AuthenticationBackend):
    """Whatever an authentication backend puts in the scope as its user."""

    def __init__(self, user: object) -> None:
        self.user = user

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, Any]:
        return AuthCredentials(["authenticated"]), self.user


@pytest.mark.parametrize(
    ("user", "reported"),
    [
        # Not a Starlette user: nothing says it was authenticated.
        (SimpleNamespace(identity="u-1", display_name="ada"), {}),
        # Authenticated, with an id and no name.
        (SimpleNamespace(is_authenticated=True, identity="u-1"), {"id": "u-1"}),
    ],
)
async def test_a_user_is_reported_only_as_far_as_it_says(
    capture: CapturingTransport,
    monkeypatch: pytest.MonkeyPatch,
    user: object,
    reported: dict[str, str],
) -> None:
    monkeypatch.setenv("SENTRY_SEND_DEFAULT_PII", "true")
    app = Starlette(
        routes=[Route("/boom", boom)],
        middleware=[Middleware(AuthenticationMiddleware, backend=Backend(user))],
        lifespan=SentryLifespan(transport=capture),
    )
    instrument(app)
    async with running(app) as client:
        await client.get("/boom")
    (event,) = capture.events
    assert event["user"] == {**reported, "ip_address": "127.0.0.1"}
