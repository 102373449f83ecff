from __future__ import annotations

import functools
from typing import Any

import pytest
from fastapi import FastAPI, HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from middleware import SentryLifespan, get_request_id, instrument
from tests.support import CapturingTransport, running


def app_with_routes(transport: CapturingTransport, **options: Any) -> FastAPI:
    app = FastAPI(lifespan=SentryLifespan(transport=transport))
    instrument(app, **options)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    @app.get("/status/{code}")
    async def status(code: int) -> None:
        raise HTTPException(status_code=code, detail=f"status {code}")

    return app


@pytest.mark.parametrize("sync", [False, True])
async def test_the_apps_own_exception_handler_answers_with_the_request_id(
    capture: CapturingTransport, sync: bool
) -> None:
    app = app_with_routes(capture)
    seen: list[str | None] = []

    def body(exc: Exception) -> dict[str, str | None]:
        seen.append(get_request_id())
        return {"error": type(exc).__name__, "request_id": get_request_id()}

    if sync:

        @app.exception_handler(Exception)
        def handler(request: Request, exc: Exception) -> Response:
            return JSONResponse(body(exc), status_code=503)
    else:

        @app.exception_handler(Exception)
        async def async_handler(request: Request, exc: Exception) -> Response:
            return JSONResponse(body(exc), status_code=503)

    async with running(app) as client:
        response = await client.get("/boom", headers={"X-Request-ID": "own-1"})
    assert response.status_code == 503
    assert response.json() == {"error": "RuntimeError", "request_id": "own-1"}
    assert response.headers["x-request-id"] == "own-1"
    assert seen == ["own-1"]  # called once, inside the request
    (event,) = capture.events
    assert event["tags"]["request_id"] == "own-1"
    assert event["exception"]["values"][-1]["type"] == "RuntimeError"


async def test_a_500_status_handler_counts_as_the_apps_own(capture: CapturingTransport) -> None:
    app = app_with_routes(capture)

    @app.exception_handler(500)
    async def handler(request: Request, exc: Exception) -> Response:
        return JSONResponse({"sorry": True}, status_code=500)

    async with running(app) as client:
        response = await client.get("/boom")
    assert response.json() == {"sorry": True}
    assert len(capture.events) == 1


async def test_the_json_500_is_the_answer_only_when_the_app_has_no_handler(
    capture: CapturingTransport,
) -> None:
    async with running(app_with_routes(capture)) as client:
        response = await client.get("/boom", headers={"X-Request-ID": "none-1"})
    (event,) = capture.events
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "detail": "Internal Server Error",
        "request_id": "none-1",
        "event_id": event["event_id"],
    }


async def test_a_failing_app_handler_falls_back_to_the_json_500(
    capture: CapturingTransport,
) -> None:
    app = app_with_routes(capture)

    @app.exception_handler(Exception)
    async def handler(request: Request, exc: Exception) -> Response:
        raise KeyError("the handler is broken too")

    async with running(app) as client:
        response = await client.get("/boom")
    assert response.status_code == 500
    assert response.json()["detail"] == "Internal Server Error"
    # One event: the handler's error, chained to the route's.
    (event,) = capture.events
    assert [v["type"] for v in event["exception"]["values"]] == ["RuntimeError", "KeyError"]


@pytest.mark.parametrize("key", [HTTPException, 503])
async def test_5xx_http_exceptions_are_captured_whatever_order_handlers_were_registered_in(
    capture: CapturingTransport, key: Any
) -> None:
    app = app_with_routes(capture)  # instrument() runs first, the handler comes after

    @app.exception_handler(key)
    async def handler(request: Request, exc: Exception) -> Response:
        return JSONResponse({"custom": True}, status_code=503)

    async with running(app) as client:
        response = await client.get("/status/503", headers={"X-Request-ID": "late-1"})
    assert response.json() == {"custom": True}
    (event,) = capture.events
    assert event["tags"]["request_id"] == "late-1"
    assert event["exception"]["values"][-1]["type"] == "HTTPException"
    assert event["exception"]["values"][-1]["mechanism"]["type"] == "asgi.http_exception"


async def test_an_http_exception_handler_registered_before_instrument_still_answers(
    capture: CapturingTransport,
) -> None:
    app = FastAPI(lifespan=SentryLifespan(transport=capture))

    @app.exception_handler(HTTPException)
    async def handler(request: Request, exc: Exception) -> Response:
        return JSONResponse({"early": True}, status_code=502)

    instrument(app)

    @app.get("/fail")
    async def fail() -> None:
        raise HTTPException(status_code=502)

    async with running(app) as client:
        response = await client.get("/fail")
    assert response.status_code == 502
    assert response.json() == {"early": True}
    assert len(capture.events) == 1


@pytest.mark.parametrize(
    ("codes", "status", "captured"),
    [
        (None, 500, True),
        (None, 503, True),
        (None, 429, False),
        (None, 404, False),
        ({429, *range(500, 600)}, 429, True),
        ({429, *range(500, 600)}, 502, True),
        ({429, *range(500, 600)}, 404, False),
        ({502}, 500, False),
    ],
)
async def test_failed_request_status_codes(
    capture: CapturingTransport, codes: set[int] | None, status: int, captured: bool
) -> None:
    options = {} if codes is None else {"failed_request_status_codes": codes}
    async with running(app_with_routes(capture, **options)) as client:
        response = await client.get(f"/status/{status}")
    assert response.status_code == status
    assert len(capture.events) == (1 if captured else 0)


async def test_a_decorated_handler_is_still_wrapped(capture: CapturingTransport) -> None:
    app = app_with_routes(capture)

    def logged(handler: Any) -> Any:
        @functools.wraps(handler)
        async def wrapper(request: Request, exc: Exception) -> Response:
            return await handler(request, exc)  # type: ignore[no-any-return]

        return wrapper

    @app.exception_handler(HTTPException)
    @logged
    async def handler(request: Request, exc: Exception) -> Response:
        return JSONResponse({"decorated": True}, status_code=502)

    async with running(app) as client:
        response = await client.get("/status/502")
    assert response.json() == {"decorated": True}
    assert len(capture.events) == 1
