"""Drive an ASGI app in memory, the way every test here does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Scope

from middleware import SentryLifespan, instrument
from tests.support.sentry import CapturingTransport

# httpx's own send, taken before sentry-sdk's HttpxIntegration wraps it (conftest
# imports this module before any test starts the sdk).
_HTTPX_SEND = httpx.AsyncClient.send
if _HTTPX_SEND.__module__ != "httpx._client":
    raise RuntimeError("tests.support.asgi must be imported before sentry-sdk patches httpx")


class AsgiClient(httpx.AsyncClient):
    """An httpx client the sdk does not instrument, for driving an app in memory.

    The app runs inside the client's call, so an instrumented test client would
    make its own span the app's parent and its trace headers the app's trace,
    and leave a breadcrumb on every request's events: nothing a real client does.
    """

    send = _HTTPX_SEND


def app_with(*routes: BaseRoute, transport: CapturingTransport | None = None) -> FastAPI:
    """A FastAPI app with the plugin and only the routes a test needs."""
    app = FastAPI(routes=list(routes), lifespan=SentryLifespan(transport=transport))
    instrument(app)
    return app


@asynccontextmanager
async def running(
    app: ASGIApp,
    *,
    base_url: str = "http://test",
    shutdown_timeout: float = 5,
    root_path: str = "",
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan started, an httpx client on it, stopped on exit."""
    async with LifespanManager(app, shutdown_timeout=shutdown_timeout) as manager:
        transport = httpx.ASGITransport(
            app=manager.app, raise_app_exceptions=False, root_path=root_path
        )
        async with AsgiClient(transport=transport, base_url=base_url) as client:
            yield client


def websocket_scope(path: str, *, request_id: bytes) -> Scope:
    return {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"x-request-id", request_id)],
        "scheme": "ws",
        "server": ("test", 80),
        "client": ("127.0.0.1", 1234),
        "subprotocols": [],
        "state": {},
    }
