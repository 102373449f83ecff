"""One request as a server could send it, key by key: what httpx cannot send.

httpx's ASGITransport always gives a Host header, a scheme, a client and one
body message with both optional keys; servers may leave keys out (the ASGI
spec gives their defaults), cut a body off, or name no client at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from starlette.types import ASGIApp, Message


def http_scope(
    path: str = "/boom", *, leave_out: Iterable[str] = (), **keys: Any
) -> dict[str, Any]:
    """An HTTP scope for `path`, with `keys` changed and the keys in `leave_out` left out."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"test")],
        "server": ("test", 80),
        "client": ("127.0.0.1", 5000),
        "state": {},
        **keys,
    }
    for key in leave_out:
        del scope[key]
    return scope


async def raw_request(
    app: ASGIApp,
    scope: dict[str, Any],
    messages: Sequence[Message] = ({"type": "http.request"},),
    *,
    raises: str,
) -> list[Message]:
    """Send `messages`, then http.disconnect; the app must raise `raises`. What it sent."""
    pending = list(messages)
    sent: list[Message] = []

    async def receive() -> Message:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    async with LifespanManager(app) as manager:
        with pytest.raises(RuntimeError, match=raises):
            await manager.app(scope, receive, send)
    return sent
