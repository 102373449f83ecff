"""The client's address behind a trusted proxy that sends only X-Real-IP."""

from __future__ import annotations

import pytest

from tests.middleware.request.test_request_data import pii_app
from tests.support import CapturingTransport, running


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
