"""A Starlette app that puts the planted corpus where servers and handlers log it."""

from __future__ import annotations

import logging
import os
import sys

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from middleware import SentryLifespan, init_from_environment, instrument
from tests.support.corpus import CORPUS, SECRET_ENV_VALUES

SECRET_ENV = tuple(SECRET_ENV_VALUES)

if os.environ.get("COMPAT_INIT_AT_IMPORT") == "1":
    init_from_environment(secret_env=SECRET_ENV)


async def ok(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def boom(request: Request) -> PlainTextResponse:
    planted = CORPUS[int(request.path_params["index"])]
    raise RuntimeError(f"upstream refused token {planted.text}")


async def late(request: Request) -> PlainTextResponse:
    """A handler added long after startup, as an app's own logging setup may be."""
    logger = logging.getLogger("app.late")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("late: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    for planted in CORPUS:
        logger.warning("refused %s", planted.text)
    try:
        raise ValueError(f"bad value {CORPUS[0].text}")
    except ValueError:
        logger.exception("failed")
    return PlainTextResponse("logged")


async def refuse(websocket: WebSocket) -> None:
    await websocket.close()


app = Starlette(
    routes=[
        Route("/ok", ok),
        Route("/boom/{index:int}", boom),
        Route("/late", late),
        WebSocketRoute("/ws", refuse),
    ],
    lifespan=SentryLifespan(secret_env=SECRET_ENV),
)
instrument(app)
