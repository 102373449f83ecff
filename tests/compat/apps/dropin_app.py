"""FastAPI with an Exception handler of its own, and a webhook whose body a client may cut."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from middleware import SentryLifespan, get_request_id, instrument

app = FastAPI(lifespan=SentryLifespan())
instrument(app)


@app.exception_handler(Exception)
async def handler(request: Request, exc: Exception) -> Response:
    return JSONResponse({"handled": True, "request_id": get_request_id()}, status_code=503)


@app.get("/ok")
async def ok() -> dict[str, str | None]:
    return {"request_id": get_request_id()}


@app.get("/handled")
async def handled() -> None:
    raise RuntimeError("answered by the app's own handler")


@app.post("/webhook")
async def webhook(request: Request) -> Response:
    await request.body()
    return Response(status_code=204)
