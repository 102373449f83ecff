"""The variants under test: the same two routes behind each request stack.

A variant is built in a fresh process (`build(name)`), because the stock
sdk integration patches Starlette's classes for the rest of the process.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DSN = "https://bench0123456789abcdef@sentry.invalid/1"


class SinkTransport(Transport):
    """A real client's transport that encodes each envelope and drops it.

    The encoding is the CPU the HTTP transport spends per envelope (on its
    worker thread, under the same GIL); the network is left out.
    """

    def __init__(self) -> None:
        super().__init__()
        self.envelopes = 0

    def capture_envelope(self, envelope: Envelope) -> None:
        envelope.serialize_into(io.BytesIO())
        self.envelopes += 1


class DatabaseDown(ConnectionError):
    pass


def query(table: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    retries = 3
    raise DatabaseDown(f"database is down while reading {table} ({retries} retries, {rows})")


def add_routes(app: FastAPI) -> None:
    @app.get("/ok")
    async def ok() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/fail")
    async def fail() -> dict[str, str]:
        query("jobs")
        return {"status": "unreachable"}


def bare() -> FastAPI:
    app = FastAPI()
    add_routes(app)
    return app


def stock() -> FastAPI:
    import sentry_sdk

    # What a user gets from the docs: default (auto-enabled) integrations, errors only.
    sentry_sdk.init(dsn=DSN, transport=SinkTransport(), traces_sample_rate=0.0)
    return bare()


def correlation_id() -> FastAPI:
    from asgi_correlation_id import CorrelationIdMiddleware

    app = bare()
    app.add_middleware(CorrelationIdMiddleware)
    return app


_ID: ContextVar[str | None] = ContextVar("bench_request_id", default=None)


class IdOnly:
    """What the issue allows Sentry off to cost, and no more: a request id from
    Booty's generator, its contextvar and the X-Request-ID header. No incoming
    id is read, nothing is captured: the floor of any layer that gives each
    request an id, measured on the same machine in the same run.
    """

    def __init__(self, app: ASGIApp) -> None:
        from middleware.request.ids import RandomIds

        self.app = app
        self.ids = RandomIds()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = self.ids()
        header = (b"x-request-id", request_id.encode("latin-1"))
        token = _ID.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _ID.reset(token)


def id_only() -> FastAPI:
    # Outside everything the app builds, where instrument() puts Booty's layer.
    app = bare()
    build = app.build_middleware_stack
    app.build_middleware_stack = lambda: IdOnly(build())  # type: ignore[method-assign]
    return app


def booty() -> FastAPI:
    from middleware import SentryLifespan, instrument

    app = FastAPI(lifespan=SentryLifespan(transport=SinkTransport()))
    instrument(app)
    add_routes(app)
    return app


def booty_spooled() -> FastAPI:
    """Booty's stack with the sdk's own transport replaced by the spooling one."""
    from middleware import SentryLifespan, instrument

    app = FastAPI(lifespan=SentryLifespan())
    instrument(app)
    add_routes(app)
    return app


@dataclass(frozen=True)
class Variant:
    name: str
    label: str
    factory: Callable[[], FastAPI]
    env: dict[str, str] = field(default_factory=dict)
    # The stock integration patches Starlette for the whole process, bare apps included.
    patches_starlette: bool = False


_ENABLED = {"SENTRY_DSN": DSN}

VARIANTS = {
    v.name: v
    for v in [
        Variant("bare", "bare FastAPI", bare),
        Variant(
            "stock", "stock sentry-sdk integration, errors only", stock, patches_starlette=True
        ),
        Variant("correlation-id", "asgi-correlation-id (no Sentry)", correlation_id),
        Variant("id-only", "request id, contextvar and header only (no Sentry)", id_only),
        Variant("booty-off", "Booty's stack, Sentry disabled", booty),
        Variant("booty", "Booty's stack, enabled, errors only", booty, _ENABLED),
        Variant(
            "booty-spool",
            "Booty's stack, enabled, errors only, spooling transport",
            booty_spooled,
            # Nothing is sent on this path; the spool only has to exist.
            {**_ENABLED, "SENTRY_SPOOL_DIR": str(Path(tempfile.gettempdir()) / "bench-spool")},
        ),
        Variant(
            "booty-t0.1",
            "Booty's stack, enabled, traces 0.1",
            booty,
            {**_ENABLED, "SENTRY_TRACES_SAMPLE_RATE": "0.1"},
        ),
        Variant(
            "booty-t1.0",
            "Booty's stack, enabled, traces 1.0",
            booty,
            {**_ENABLED, "SENTRY_TRACES_SAMPLE_RATE": "1.0"},
        ),
        Variant(
            "booty-noguard",
            "Booty's stack, enabled, storm guard off (every event full)",
            booty,
            {**_ENABLED, "SENTRY_STORM_LIMIT": "0"},
        ),
        Variant(
            "booty-lean",
            "Booty's stack, enabled, every event past the first lean",
            booty,
            {**_ENABLED, "SENTRY_STORM_LIMIT": "1", "SENTRY_STORM_CEILING": "0"},
        ),
    ]
}


def build(name: str) -> FastAPI:
    return VARIANTS[name].factory()
