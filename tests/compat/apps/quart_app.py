"""Quart through the README's recipe; a Blueprint at /sub."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, cast

from quart import Blueprint, Quart, got_request_exception
from starlette.types import ASGIApp

from middleware import RequestContextMiddleware, SentryLifespan, capture_error, get_request_id
from tests.compat.apps.common import init_without_lifespan

init_without_lifespan()

quart_app = Quart(__name__)
sub = Blueprint("sub", __name__, url_prefix="/sub")


@quart_app.get("/ok")
async def ok() -> dict[str, str | None]:
    return {"request_id": get_request_id()}


@quart_app.get("/boom")
async def boom() -> str:
    raise RuntimeError("boom")


@sub.get("/boom")
async def sub_boom() -> str:
    raise RuntimeError("boom in the blueprint")


quart_app.register_blueprint(sub)


# The recipe: Sentry starts and flushes with the server...
@quart_app.while_serving
async def sentry() -> AsyncGenerator[None, None]:
    async with SentryLifespan()(quart_app):
        yield


# ...Quart answers errors itself, so capture them from its signal...
async def capture_server_error(sender: Quart, exception: BaseException, **extra: Any) -> None:
    capture_error(exception, mechanism="quart")


got_request_exception.connect(capture_server_error, quart_app)
# ...and wrap the whole app, so the signal fires inside the request's scope.
app = RequestContextMiddleware(cast(ASGIApp, quart_app))
