"""The Litestar and Quart recipes' hooks, on the cases their frameworks' own suites showed."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import cast

import pytest
from litestar import Litestar, get
from litestar.exceptions import NotAuthorizedException
from quart import Quart, Response, got_request_exception
from sentry_sdk.integrations.logging import ignore_logger
from starlette.types import ASGIApp

from examples import litestar_app, quart_app
from middleware import RequestContextMiddleware, SentryLifespan
from tests.support import CapturingTransport, running


class Teapot(Exception):
    status_code = 400  # not Litestar's: Litestar answers it with a 500


def litestar(capture: CapturingTransport, *, debug: bool) -> ASGIApp:
    @get("/teapot")
    async def teapot() -> None:
        raise Teapot("a status_code of its own")

    @get("/private")
    async def private() -> None:
        raise NotAuthorizedException()

    @get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    app = Litestar(
        route_handlers=[teapot, private, boom],
        lifespan=[SentryLifespan(transport=capture)],
        after_exception=[litestar_app.capture_server_error],
        debug=debug,
    )
    return RequestContextMiddleware(cast(ASGIApp, app))


async def test_litestar_captures_an_exception_it_answers_with_a_500_whatever_its_status_code(
    capture: CapturingTransport,
) -> None:
    async with running(litestar(capture, debug=False)) as client:
        assert (await client.get("/teapot")).status_code == 500
    (event,) = capture.events
    assert event["exception"]["values"][-1]["type"] == "Teapot"
    assert event["transaction"] == "/teapot"


@pytest.mark.parametrize("debug", [False, True])
async def test_litestar_sends_one_event_per_5xx_and_none_for_4xx_even_in_debug(
    capture: CapturingTransport, debug: bool
) -> None:
    async with running(litestar(capture, debug=debug)) as client:
        assert (await client.get("/private")).status_code == 401
        assert (await client.get("/nowhere")).status_code == 404
        assert (await client.get("/boom")).status_code == 500
    assert [e["exception"]["values"][-1]["type"] for e in capture.events] == ["RuntimeError"]


async def test_quart_sends_one_event_when_after_request_fails(
    capture: CapturingTransport,
) -> None:
    app = Quart(__name__)

    @app.get("/ok")
    async def ok() -> str:
        return "ok"

    @app.after_request
    async def fail(response: Response) -> Response:
        raise RuntimeError("after_request failed")

    @app.while_serving
    async def sentry() -> AsyncGenerator[None, None]:
        async with SentryLifespan(transport=capture)(app):
            yield

    # The recipe, for this app.
    got_request_exception.connect(quart_app.capture_server_error, app)
    ignore_logger(app.logger.name)
    async with running(RequestContextMiddleware(cast(ASGIApp, app))) as client:
        assert (await client.get("/ok")).status_code == 500
    (event,) = capture.events
    assert event["exception"]["values"][-1]["value"] == "after_request failed"
    assert event["transaction"] == "/ok"
