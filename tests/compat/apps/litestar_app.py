"""Litestar through the README's recipe; a Router at /sub."""

from __future__ import annotations

from typing import cast

from litestar import Litestar, Router, get
from litestar.exceptions import HTTPException
from litestar.types import Scope
from starlette.types import ASGIApp

from middleware import RequestContextMiddleware, SentryLifespan, capture_error, get_request_id
from tests.compat.apps.common import init_without_lifespan

init_without_lifespan()


@get("/ok")
async def ok() -> dict[str, str | None]:
    return {"request_id": get_request_id()}


@get("/boom")
async def boom() -> None:
    raise RuntimeError("boom")


@get("/boom")
async def sub_boom() -> None:
    raise RuntimeError("boom under the router")


# The recipe (examples/litestar_app.py): Litestar answers errors itself, so
# capture those it answers with a 5xx in its hook...
async def capture_server_error(exc: Exception, scope: Scope) -> None:
    if isinstance(exc, HTTPException) and exc.status_code < 500:
        return
    capture_error(exc, mechanism="litestar")


litestar_app = Litestar(
    route_handlers=[ok, boom, Router(path="/sub", route_handlers=[sub_boom])],
    lifespan=[SentryLifespan()],
    after_exception=[capture_server_error],
)
# ...and wrap the whole app, so the hook runs inside the request's scope.
app = RequestContextMiddleware(cast(ASGIApp, litestar_app))
