from __future__ import annotations

import gc
import io
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import sentry_sdk
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import middleware
import middleware.startup.lifespan
from middleware import ConfigError, SentryLifespan, instrument
from tests.support import CapturingTransport, EnvelopeServer, running

AppLifespan = Any


def build_app(
    transport: CapturingTransport | None = None, app_lifespan: AppLifespan = None
) -> Starlette:
    async def boom(request: Request) -> JSONResponse:
        raise RuntimeError("boom")

    async def unavailable(request: Request) -> JSONResponse:
        raise HTTPException(status_code=503, detail="down for maintenance")

    async def ok(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    app = Starlette(
        routes=[Route("/boom", boom), Route("/unavailable", unavailable), Route("/ok", ok)],
        lifespan=SentryLifespan(app_lifespan, transport=transport),
    )
    instrument(app)
    return app


async def test_disabled_line_is_logged_once_per_process(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    for _ in range(3):
        async with running(build_app()) as client:
            assert (await client.get("/ok")).status_code == 200
    lines = [r.getMessage() for r in caplog.records if "Sentry disabled" in r.getMessage()]
    assert lines == ["Sentry disabled — no DSN configured (environment=development)"]


async def test_http_exception_5xx_is_captured_once(capture: CapturingTransport) -> None:
    async with running(build_app(capture)) as client:
        response = await client.get("/unavailable")
    assert response.status_code == 503
    assert response.text == "down for maintenance"
    (event,) = capture.events
    (exception,) = event["exception"]["values"]
    assert exception["type"] == "HTTPException"
    assert exception["mechanism"] == {"type": "asgi.http_exception", "handled": False}
    assert event["tags"]["request_id"] == response.headers["x-request-id"]


async def test_tags_set_during_lifespan_do_not_leak_into_requests(
    capture: CapturingTransport,
) -> None:
    @asynccontextmanager
    async def app_lifespan(app: Starlette) -> AsyncIterator[None]:
        sentry_sdk.set_tag("startup_only", "yes")
        sentry_sdk.add_breadcrumb(message="starting up")
        yield

    async with running(build_app(capture, app_lifespan)) as client:
        await client.get("/boom")
    (event,) = capture.events
    assert "startup_only" not in event["tags"]
    crumbs = [c.get("message") for c in event["breadcrumbs"]["values"]]
    assert "starting up" not in crumbs


async def test_sentry_is_initialised_before_the_apps_own_startup(
    capture: CapturingTransport,
) -> None:
    seen: list[bool] = []

    @asynccontextmanager
    async def app_lifespan(app: Starlette) -> AsyncIterator[dict[str, str]]:
        seen.append(sentry_sdk.get_client().is_active())
        yield {"answer": "42"}
        seen.append(sentry_sdk.get_client().is_active())

    async with running(build_app(capture, app_lifespan)):
        pass
    assert seen == [True, True]
    assert not sentry_sdk.get_client().is_active()


async def test_shutdown_flushes_after_the_apps_own_shutdown(
    monkeypatch: pytest.MonkeyPatch, envelope_server: EnvelopeServer
) -> None:
    monkeypatch.setenv("SENTRY_DSN", envelope_server.dsn)

    @asynccontextmanager
    async def app_lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        sentry_sdk.capture_message("shutting down")

    async with running(build_app(app_lifespan=app_lifespan)) as client:
        await client.get("/boom")
    # No wait: the lifespan's shutdown returned only after the flush.
    messages = sorted(
        e.get("message") or e["exception"]["values"][0]["value"] for e in envelope_server.events
    )
    assert messages == ["boom", "shutting down"]


async def test_two_apps_in_one_process_share_one_client(capture: CapturingTransport) -> None:
    previous = sentry_sdk.get_global_scope().client
    first, second = build_app(capture), build_app(capture)
    async with running(first) as client_a:
        client = sentry_sdk.get_client()
        async with running(second) as client_b:
            assert sentry_sdk.get_client() is client
            await client_b.get("/boom")
        assert sentry_sdk.get_client() is client and client.is_active()
        await client_a.get("/boom")
    assert sentry_sdk.get_global_scope().client is previous
    assert len(capture.events) == 2


async def test_a_second_app_with_other_options_is_refused_by_name(
    capture: CapturingTransport,
) -> None:
    other = CapturingTransport()
    async with running(build_app(capture)) as http:
        client = sentry_sdk.get_client()
        with pytest.raises(RuntimeError, match="another transport: one process has one"):
            async with LifespanManager(build_app(other)):
                pass
        assert sentry_sdk.get_client() is client and client.is_active()
        await http.get("/boom")
    assert len(capture.events) == 1
    assert other.events == []


async def test_a_lifespan_after_another_has_ended_starts_with_its_own_options(
    capture: CapturingTransport,
) -> None:
    async with running(build_app(CapturingTransport())):
        pass
    async with running(build_app(capture)) as http:
        await http.get("/boom")
    assert len(capture.events) == 1


async def test_app_state_from_the_apps_lifespan_reaches_requests(
    capture: CapturingTransport,
) -> None:
    @asynccontextmanager
    async def app_lifespan(app: Starlette) -> AsyncIterator[dict[str, str]]:
        yield {"answer": "42"}

    async def answer(request: Request) -> JSONResponse:
        return JSONResponse({"answer": request.state.answer})

    app = build_app(capture, app_lifespan)
    app.router.routes.append(Route("/answer", answer))
    async with running(app) as client:
        assert (await client.get("/answer")).json() == {"answer": "42"}


async def test_the_startup_heap_is_frozen_once_per_process(capture: CapturingTransport) -> None:
    @asynccontextmanager
    async def startup(app: Starlette) -> AsyncIterator[None]:
        yield

    app = Starlette(lifespan=SentryLifespan(startup, transport=capture))
    async with LifespanManager(app):
        frozen = gc.get_freeze_count()
        assert frozen > 1000  # the imports and the startup, not one object
        # A full collection no longer walks them.
        gc.collect()
        assert gc.get_freeze_count() == frozen
    assert gc.get_freeze_count() == frozen  # for the life of the process
    made_since = [{"n": n} for n in range(5000)]
    # A later start (the next test's app) neither collects nor freezes again.
    async with LifespanManager(Starlette(lifespan=SentryLifespan(startup, transport=capture))):
        assert gc.get_freeze_count() == frozen
    assert len(made_since) == 5000


@pytest.mark.parametrize("kind", ["on_startup", "on_event"])
async def test_without_a_lifespan_of_its_own_the_routers_handlers_run(
    capture: CapturingTransport, kind: str
) -> None:
    ran: list[str] = []

    async def started() -> None:
        ran.append("startup")

    def stopped() -> None:
        ran.append("shutdown")

    if kind == "on_startup":
        app = FastAPI(
            lifespan=SentryLifespan(transport=capture), on_startup=[started], on_shutdown=[stopped]
        )
    else:
        app = FastAPI(lifespan=SentryLifespan(transport=capture))
        # What the deprecated @app.on_event("startup") does.
        app.router.add_event_handler("startup", started)
        app.router.add_event_handler("shutdown", stopped)
    async with LifespanManager(app):
        assert ran == ["startup"]
    assert ran == ["startup", "shutdown"]


async def _async_cm_state(app: Any) -> AsyncIterator[dict[str, Any]]:
    yield {"form": "asynccontextmanager"}


async def _async_generator_state(app: Any) -> AsyncIterator[dict[str, Any]]:
    yield {"form": "async generator"}


def _generator_state(app: Any) -> Iterator[dict[str, Any]]:
    yield {"form": "generator"}


@pytest.mark.parametrize(
    ("lifespan", "form"),
    [
        (asynccontextmanager(_async_cm_state), "asynccontextmanager"),
        (_async_generator_state, "async generator"),
        (_generator_state, "generator"),
    ],
)
async def test_every_lifespan_form_starlette_takes_is_taken(
    capture: CapturingTransport, lifespan: Any, form: str
) -> None:
    async def which(request: Request) -> JSONResponse:
        return JSONResponse({"form": request.state.form})

    app = Starlette(
        routes=[Route("/", which)], lifespan=SentryLifespan(lifespan, transport=capture)
    )
    instrument(app)
    async with running(app) as client:
        response = await client.get("/")
    assert response.json() == {"form": form}


async def test_a_startup_crash_in_the_apps_lifespan_is_captured_once_and_flushed(
    monkeypatch: pytest.MonkeyPatch, envelope_server: EnvelopeServer
) -> None:
    monkeypatch.setenv("SENTRY_DSN", envelope_server.dsn)

    @asynccontextmanager
    async def app_lifespan(app: Starlette) -> AsyncIterator[None]:
        raise ConnectionError("database unreachable")
        yield

    with pytest.raises(ConnectionError):
        async with running(build_app(app_lifespan=app_lifespan)):
            pass
    # No wait: the failed startup returned only after the flush.
    (event,) = envelope_server.events
    (exception,) = event["exception"]["values"]
    assert exception["type"] == "ConnectionError"
    assert exception["mechanism"] == {"type": "asgi.lifespan.startup", "handled": False}


async def test_an_error_after_startup_is_not_called_a_startup_crash(
    capture: CapturingTransport,
) -> None:
    @asynccontextmanager
    async def app_lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        raise ConnectionError("at shutdown")

    with pytest.raises(ConnectionError):
        async with running(build_app(capture, app_lifespan)) as client:
            await client.get("/ok")
    assert capture.events == []


@pytest.mark.parametrize("name", middleware.startup.lifespan.SERVER_LOGGERS)
async def test_the_servers_own_error_loggers_make_no_second_event(
    capture: CapturingTransport, name: str
) -> None:
    async with running(build_app(capture)):
        try:
            raise RuntimeError("already captured by the request layer")
        except RuntimeError:
            logging.getLogger(name).exception("Exception in ASGI application")
    assert capture.events == []


def test_init_from_environment_starts_sentry_without_a_lifespan(
    capture: CapturingTransport,
) -> None:
    assert middleware.init_from_environment(transport=capture) is True
    client = sentry_sdk.get_client()
    assert client.is_active()
    app = Starlette(routes=[Route("/boom", boom)])  # no lifespan will ever run
    instrument(app)

    async def main() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            return await http.get("/boom", headers={"X-Request-ID": "daphne-1"})

    response = anyio.run(main)
    assert response.status_code == 500
    (event,) = capture.events
    assert event["tags"]["request_id"] == "daphne-1"


async def test_a_lifespan_after_init_from_environment_shares_the_client_and_flushes(
    capture: CapturingTransport,
) -> None:
    middleware.init_from_environment(transport=capture)
    client = sentry_sdk.get_client()
    async with running(build_app(capture)) as http:
        assert sentry_sdk.get_client() is client
        await http.get("/boom")
    assert sentry_sdk.get_client() is client and client.is_active()
    assert len(capture.events) == 1


def test_init_from_environment_without_a_dsn_is_off() -> None:
    assert middleware.init_from_environment() is False
    assert not sentry_sdk.get_client().is_active()


def test_init_from_environment_refuses_a_bad_production_config(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SENTRY_ENVIRONMENT", "production")
    with pytest.raises(ConfigError, match="SENTRY_DSN"):
        middleware.init_from_environment()


async def test_a_request_warns_once_when_a_dsn_is_set_and_sentry_never_started(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SENTRY_DSN", "https://publickey0123456789abcdef@sentry.invalid/42")
    app = Starlette(routes=[Route("/boom", boom)])
    instrument(app)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        for _ in range(3):
            assert (await http.get("/boom")).status_code == 500
    warnings = [r for r in caplog.records if "never initialised" in r.getMessage()]
    assert len(warnings) == 1
    assert "publickey" not in warnings[0].getMessage()


def _request_layer_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "middleware.request"]


async def test_requests_without_the_lifespan_warn_once_that_it_is_missing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = Starlette(routes=[Route("/boom", boom)])
    instrument(app)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        for _ in range(3):
            assert (await http.get("/boom")).status_code == 500
    (warning,) = _request_layer_warnings(caplog)
    assert warning.startswith("requests arrive without SentryLifespan")
    assert "never initialised" not in warning


async def test_requests_under_the_lifespan_do_not_warn_with_sentry_on_or_off(
    capture: CapturingTransport,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with running(build_app(capture)) as http:
        await http.get("/ok")
    monkeypatch.delenv("SENTRY_DSN")
    async with running(build_app()) as http:
        await http.get("/ok")
    assert _request_layer_warnings(caplog) == []


async def test_requests_after_init_from_environment_do_not_warn(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert middleware.init_from_environment() is False  # no DSN: Sentry off
    app = Starlette(routes=[Route("/boom", boom)])
    instrument(app)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        await http.get("/boom")
    assert _request_layer_warnings(caplog) == []


async def test_in_app_frames_do_not_depend_on_the_working_directory(
    capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # started outside the checkout
    monkeypatch.setenv("SENTRY_IN_APP_INCLUDE", "tests")
    async with running(build_app(capture)) as client:
        await client.get("/boom")
    (event,) = capture.events
    frames = event["exception"]["values"][-1]["stacktrace"]["frames"]
    (raiser,) = [f for f in frames if f.get("function") == "boom"]
    assert raiser["in_app"] is True
    assert not any(f.get("in_app") for f in frames if "starlette" in f.get("module", ""))


async def test_without_in_app_include_frames_outside_the_cwd_are_not_in_app(
    capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    async with running(build_app(capture)) as client:
        await client.get("/boom")
    (event,) = capture.events
    frames = event["exception"]["values"][-1]["stacktrace"]["frames"]
    (raiser,) = [f for f in frames if f.get("function") == "boom"]
    assert not raiser.get("in_app")


async def boom(request: Request) -> JSONResponse:
    raise RuntimeError("boom")


def test_init_from_environment_scrubs_log_lines_as_the_lifespan_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MY_API_TOKEN", "tok-0123456789abcdef-secret")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    log = logging.getLogger("tests.daphne")
    log.addHandler(handler)
    try:
        middleware.init_from_environment(secret_env=["MY_API_TOKEN"])  # Sentry off: no DSN
        log.warning("calling upstream with tok-0123456789abcdef-secret")
    finally:
        log.removeHandler(handler)
    assert stream.getvalue() == "calling upstream with [Filtered]\n"
