"""FastAPI through instrument(); a sub-app mounted at /sub."""

from __future__ import annotations

from fastapi import FastAPI

from middleware import SentryLifespan, get_request_id, instrument
from tests.compat.apps.common import init_without_lifespan

init_without_lifespan()

app = FastAPI(lifespan=SentryLifespan())
instrument(app)
sub = FastAPI()


@app.get("/ok")
async def ok() -> dict[str, str | None]:
    return {"request_id": get_request_id()}


@app.get("/boom")
async def boom() -> None:
    raise RuntimeError("boom")


@sub.get("/boom")
async def sub_boom() -> None:
    raise RuntimeError("boom in the sub-app")


app.mount("/sub", sub)
