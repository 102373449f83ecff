"""A Starlette app whose own lifespan fails at startup."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette

from middleware import SentryLifespan, instrument


@asynccontextmanager
async def broken_startup(app: Starlette) -> AsyncIterator[None]:
    raise ConnectionError("database unreachable at startup")
    yield


app = Starlette(lifespan=SentryLifespan(broken_startup))
instrument(app)
