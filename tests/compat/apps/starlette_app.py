"""Starlette through instrument(); a Mount at /sub."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from middleware import SentryLifespan, get_request_id, instrument
from tests.compat.apps.common import init_without_lifespan

init_without_lifespan()


async def ok(request: Request) -> JSONResponse:
    return JSONResponse({"request_id": get_request_id()})


async def boom(request: Request) -> JSONResponse:
    raise RuntimeError("boom")


async def sub_boom(request: Request) -> JSONResponse:
    raise RuntimeError("boom under the mount")


app = Starlette(
    routes=[
        Route("/ok", ok),
        Route("/boom", boom),
        Mount("/sub", routes=[Route("/boom", sub_boom)]),
    ],
    lifespan=SentryLifespan(),
)
instrument(app)
