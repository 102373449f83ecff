"""One scope per request: its events, breadcrumbs, user context and errors, and only its own."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
import sentry_sdk
from asgi_lifespan import LifespanManager
from fastapi import BackgroundTasks, FastAPI, HTTPException, WebSocket
from fastapi.routing import APIRoute
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from middleware import (
    RequestContextMiddleware,
    SentryLifespan,
    get_request_id,
    instrument,
    set_user_context,
)
from tests.support import (
    FAKE_DSN,
    CapturingTransport,
    SentryInit,
    app_with,
    running,
    websocket_scope,
)

logger = logging.getLogger("tests.app")


async def item(item_id: int) -> dict[str, int]:
    return {"item_id": item_id}


async def boom() -> None:
    raise RuntimeError("boom")


async def http_500() -> None:
    raise HTTPException(status_code=500, detail="broken")


async def http_404() -> None:
    raise HTTPException(status_code=404)


async def log_exception() -> None:
    try:
        raise ValueError("bad value")
    except ValueError:
        logger.exception("handling failed")
        raise


async def log_error() -> None:
    logger.error("payment provider returned 503")
    raise KeyError(3)  # str(KeyError(3)) is "3", which the log's text contains


async def log_unrelated() -> dict[str, str]:
    logger.error("cache is cold")
    return {"status": "ok"}


async def background(tasks: BackgroundTasks) -> dict[str, str]:
    def fail() -> None:
        raise KeyError("from a background task")

    tasks.add_task(fail)
    return {"status": "accepted"}


async def tenant(
    tenant: str, user: str, fail: bool = False, report: bool = False
) -> dict[str, str]:
    set_user_context(user_id=user, tenant_id=tenant)
    sentry_sdk.add_breadcrumb(category="test", message=f"crumb for {tenant}")
    await asyncio.sleep(0)
    if report:
        sentry_sdk.capture_message(f"report from {tenant}")
    if fail:
        raise RuntimeError(f"failure in {tenant}")
    return {"tenant": tenant}


async def test_unhandled_exception_gives_one_event_with_request_data(
    capture: CapturingTransport,
) -> None:
    async with running(app_with(APIRoute("/boom", boom), transport=capture)) as client:
        response = await client.get(
            "/boom?page=2", headers={"X-Request-ID": "req-1", "User-Agent": "pytest"}
        )
    (event,) = capture.events
    assert response.status_code == 500
    assert response.json() == {
        "detail": "Internal Server Error",
        "request_id": "req-1",
        "event_id": event["event_id"],
    }
    (exception,) = event["exception"]["values"]
    assert exception["mechanism"] == {"type": "asgi.request_context", "handled": False}
    assert event["tags"]["request_id"] == "req-1"
    request = event["request"]
    assert request["method"] == "GET"
    assert request["url"] == "http://test/boom"
    assert request["query_string"] == "page=2"
    assert request["headers"]["user-agent"] == "pytest"
    crumbs = [c for c in event["breadcrumbs"]["values"] if c.get("category") == "request"]
    assert [c["message"] for c in crumbs] == ["GET /boom"]


TRAPS: dict[str, Callable[..., Awaitable[Any]]] = {
    "/http-500": http_500,
    "/log-exception": log_exception,
    "/background": background,
}


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/http-500", "HTTPException"),
        ("/log-exception", "ValueError"),
        ("/background", "KeyError"),
    ],
)
async def test_the_usual_traps_still_give_exactly_one_event(
    capture: CapturingTransport, path: str, kind: str
) -> None:
    async with running(app_with(APIRoute(path, TRAPS[path]), transport=capture)) as client:
        response = await client.get(path)
    events = capture.events
    assert len(events) == 1, [e.get("logentry") or e.get("exception") for e in events]
    (event,) = events
    assert event["exception"]["values"][-1]["type"] == kind
    assert event["exception"]["values"][-1]["mechanism"]["handled"] is False
    assert event["tags"]["request_id"] == response.headers["x-request-id"]


async def test_the_logged_exception_stays_a_breadcrumb(capture: CapturingTransport) -> None:
    async with running(
        app_with(APIRoute("/log-exception", log_exception), transport=capture)
    ) as client:
        await client.get("/log-exception")
    (event,) = capture.events
    messages = [c.get("message") for c in event["breadcrumbs"]["values"]]
    assert "handling failed" in messages


async def test_an_error_log_is_dropped_by_identity_never_by_its_text(
    capture: CapturingTransport,
) -> None:
    app = app_with(APIRoute("/log-error", log_error), transport=capture)
    async with running(app) as client:
        response = await client.get("/log-error", headers={"X-Request-ID": "pay-1"})
    assert response.status_code == 500
    log, error = sorted(capture.events, key=lambda e: "exception" in e)
    assert log["logentry"]["message"] == "payment provider returned 503"
    assert error["exception"]["values"][-1]["type"] == "KeyError"
    assert log["tags"]["request_id"] == error["tags"]["request_id"] == "pay-1"


async def test_an_unrelated_error_log_is_still_its_own_event(capture: CapturingTransport) -> None:
    app = app_with(APIRoute("/log-unrelated", log_unrelated), transport=capture)
    async with running(app) as client:
        response = await client.get("/log-unrelated", headers={"X-Request-ID": "log-1"})
    assert response.status_code == 200
    (event,) = capture.events
    assert event["logentry"]["message"] == "cache is cold"
    assert event["tags"]["request_id"] == "log-1"


async def test_http_exception_below_500_is_not_captured(capture: CapturingTransport) -> None:
    app = app_with(
        APIRoute("/http-404", http_404), APIRoute("/items/{item_id}", item), transport=capture
    )
    async with running(app) as client:
        assert (await client.get("/http-404")).status_code == 404
        assert (await client.get("/items/x")).status_code == 422
    assert capture.events == []


async def test_user_and_tenant_context(capture: CapturingTransport) -> None:
    async with running(
        app_with(APIRoute("/tenant/{tenant}/user/{user}", tenant), transport=capture)
    ) as client:
        await client.get("/tenant/acme/user/u-7", params={"fail": "true"})
    (event,) = capture.events
    assert event["user"] == {"id": "u-7", "tenant_id": "acme"}
    assert event["tags"]["tenant_id"] == "acme"


@pytest.mark.parametrize(
    ("user_id", "tenant_id"),
    [("u" * 201, "acme"), ("u-1", "line\nbreak"), ("u-1", ""), ("u-1", "t" * 201)],
)
async def test_bad_user_or_tenant_values_are_dropped_with_a_warning(
    capture: CapturingTransport,
    caplog: pytest.LogCaptureFixture,
    user_id: str,
    tenant_id: str,
) -> None:
    async def handler(request: Request) -> JSONResponse:
        set_user_context(user_id=user_id, tenant_id=tenant_id)
        raise RuntimeError("after context")

    app = Starlette(routes=[Route("/", handler)], lifespan=SentryLifespan(transport=capture))
    instrument(app)
    async with running(app) as client:
        assert (await client.get("/")).status_code == 500
    (event,) = capture.events
    tags = event.get("tags", {})
    user = event.get("user", {})
    for name, value in (("user_id", user_id), ("tenant_id", tenant_id)):
        bad = not value or len(value) > 200 or "\n" in value
        kept = user.get("id" if name == "user_id" else "tenant_id")
        assert (kept is None) is bad
        if bad:
            assert any(name in r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert ("tenant_id" in tags) is (user.get("tenant_id") is not None)


async def test_a_thousand_concurrent_requests_stay_isolated(capture: CapturingTransport) -> None:
    # Messages rather than exceptions: the same scope data, without 1000 stack traces.
    count = 1000
    async with running(
        app_with(APIRoute("/tenant/{tenant}/user/{user}", tenant), transport=capture)
    ) as client:

        async def one(i: int) -> httpx.Response:
            return await client.get(
                f"/tenant/t{i}/user/u{i}",
                params={"report": "true"},
                headers={"X-Request-ID": f"req-{i}"},
            )

        responses = await asyncio.gather(*(one(i) for i in range(count)))
    assert all(r.status_code == 200 for r in responses)
    events = capture.events
    assert len(events) == count
    for event in events:
        i = event["tags"]["request_id"].removeprefix("req-")
        assert event["tags"]["tenant_id"] == f"t{i}"
        assert event["user"] == {"id": f"u{i}", "tenant_id": f"t{i}"}
        assert event["message"] == f"report from t{i}"
        crumbs = [(c.get("category"), c.get("message")) for c in event["breadcrumbs"]["values"]]
        assert crumbs == [("request", f"GET /tenant/t{i}/user/u{i}"), ("test", f"crumb for t{i}")]


async def test_lifespan_passes_through_untouched() -> None:
    seen: list[str] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])
        assert get_request_id() is None
        message = await receive()
        await send({"type": "lifespan.startup.complete"})
        assert message["type"] == "lifespan.startup"

    wrapped = RequestContextMiddleware(inner)

    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await wrapped({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
    assert seen == ["lifespan"]
    assert sent == [{"type": "lifespan.startup.complete"}]


async def test_works_as_a_plain_asgi_wrapper(capture: CapturingTransport) -> None:
    async def raw(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return
        raise RuntimeError("raw app failed")

    lifespan = SentryLifespan(transport=capture)
    wrapped = RequestContextMiddleware(raw)
    async with lifespan(None):
        transport = httpx.ASGITransport(app=wrapped, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/", headers={"X-Request-ID": "raw-1"})
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "raw-1"
    (event,) = capture.events
    assert event["tags"]["request_id"] == "raw-1"
    assert response.json()["event_id"] == event["event_id"]


async def test_breadcrumbs_from_outside_the_request_stay_outside(
    capture: CapturingTransport,
) -> None:
    async with running(app_with(APIRoute("/boom", boom), transport=capture)) as client:
        sentry_sdk.add_breadcrumb(category="outside", message="logged before the request")
        await client.get("/boom")
    (event,) = capture.events
    categories = [c.get("category") for c in event["breadcrumbs"]["values"]]
    assert categories == ["request"]


async def test_websocket_errors_are_captured_in_the_connections_scope(
    capture: CapturingTransport,
) -> None:
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        raise RuntimeError("socket handler failed")

    app = FastAPI(lifespan=SentryLifespan(transport=capture))
    instrument(app)
    app.add_api_websocket_route("/ws", ws)
    inbox: list[Message] = [{"type": "websocket.connect"}]

    async def receive() -> Message:
        return inbox.pop(0) if inbox else {"type": "websocket.disconnect", "code": 1000}

    async def send(message: Message) -> None:
        pass

    scope = websocket_scope("/ws", request_id=b"ws-err-1")
    async with LifespanManager(app):
        with pytest.raises(RuntimeError, match="socket handler failed"):
            await app(scope, receive, send)
    (event,) = capture.events
    assert event["tags"]["request_id"] == "ws-err-1"
    assert event["exception"]["values"][0]["mechanism"]["handled"] is False
    assert event["request"]["method"] == "WEBSOCKET"
    assert [c["message"] for c in event["breadcrumbs"]["values"]] == ["WEBSOCKET /ws"]


async def test_an_error_logged_by_a_task_that_outlives_its_request_is_sent(
    capture: CapturingTransport,
) -> None:
    done = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    async def later() -> None:
        await done.wait()
        logger.error("late failure")

    async def handler(request: Request) -> PlainTextResponse:
        tasks.append(asyncio.create_task(later()))
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/", handler)], lifespan=SentryLifespan(transport=capture))
    instrument(app)
    async with running(app) as client:
        response = await client.get("/", headers={"X-Request-ID": "outlived-1"})
        done.set()
        await asyncio.gather(*tasks)
    (event,) = capture.events
    assert event["logentry"]["message"] == "late failure"
    assert event["tags"]["request_id"] == response.headers["x-request-id"]


async def test_with_sentry_off_a_request_forks_no_scope_and_keeps_its_id() -> None:
    # Off, nothing reads a scope: the request costs its id, contextvar and header.
    seen: list[tuple[sentry_sdk.Scope, sentry_sdk.Scope]] = []

    async def where() -> dict[str, str | None]:
        seen.append((sentry_sdk.get_isolation_scope(), sentry_sdk.get_current_scope()))
        return {"request_id": get_request_id()}

    async with running(app_with(APIRoute("/where", where))) as client:
        outside = (sentry_sdk.get_isolation_scope(), sentry_sdk.get_current_scope())
        response = await client.get("/where", headers={"X-Request-ID": "off-1"})
    assert response.json() == {"request_id": "off-1"}
    assert response.headers["x-request-id"] == "off-1"
    [(isolation, current)] = seen
    assert isolation is outside[0] and current is outside[1]


async def test_with_sentry_on_each_request_gets_scopes_of_its_own(
    capture: CapturingTransport,
) -> None:
    seen: list[tuple[sentry_sdk.Scope, sentry_sdk.Scope]] = []

    async def where() -> dict[str, str]:
        seen.append((sentry_sdk.get_isolation_scope(), sentry_sdk.get_current_scope()))
        return {"status": "ok"}

    async with running(app_with(APIRoute("/where", where), transport=capture)) as client:
        outside = (sentry_sdk.get_isolation_scope(), sentry_sdk.get_current_scope())
        await client.get("/where")
        await client.get("/where")
    [first, second] = seen
    assert first[0] is not outside[0] and first[1] is not outside[1]
    assert first[0] is not second[0] and first[1] is not second[1]


def _http(method: str, headers: list[tuple[bytes, bytes]], version: str = "1.1") -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": version,
        "method": method,
        "scheme": "http",
        "path": "/echo",
        "raw_path": b"/echo",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"test"), *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }


@pytest.mark.parametrize(
    ("method", "headers", "version", "copied"),
    [
        ("GET", [], "1.1", False),
        ("POST", [(b"content-length", b"0")], "1.1", False),
        ("POST", [(b"content-length", b"8"), (b"content-type", b"application/json")], "1.1", True),
        (
            "POST",
            [(b"transfer-encoding", b"chunked"), (b"content-type", b"application/json")],
            "1.1",
            True,
        ),
        # HTTP/2 may send a body with neither header.
        ("POST", [(b"content-type", b"application/json")], "2", True),
    ],
)
async def test_only_a_request_that_may_have_a_body_gets_its_body_copied(
    sentry_init: SentryInit,
    method: str,
    headers: list[tuple[bytes, bytes]],
    version: str,
    copied: bool,
) -> None:
    capture = sentry_init()
    body = b'{"a": 1}' if copied else b""

    async def server_receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    async def ignore(message: Message) -> None:
        return None

    received: list[Receive] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        received.append(receive)
        await receive()
        raise RuntimeError("after reading the body")

    with pytest.raises(RuntimeError):
        await RequestContextMiddleware(app)(
            _http(method, headers, version), server_receive, ignore
        )
    assert (received[0] is not server_receive) is copied
    (event,) = capture.events
    assert event["request"].get("data") == ({"a": 1} if copied else None)


async def test_with_sentry_off_an_error_leaves_no_name_on_the_process_scope(
    sentry_init: SentryInit, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SENTRY_DSN")
    async with running(app_with(APIRoute("/boom", boom))) as client:
        response = await client.get("/boom", headers={"X-Request-ID": "off-2"})
    assert response.json()["request_id"] == "off-2"

    # Sentry turned on later in the process: its events owe nothing to that request.
    capture = sentry_init(SENTRY_DSN=FAKE_DSN)
    sentry_sdk.capture_message("later")
    (event,) = capture.events
    assert event.get("transaction") != "/boom"


async def test_with_sentry_off_user_context_stays_out_of_the_process_scope(
    sentry_init: SentryInit, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SENTRY_DSN")
    app = app_with(APIRoute("/tenants/{tenant}/users/{user}", tenant))
    async with running(app) as client:
        response = await client.get("/tenants/acme/users/u-1")
    assert response.json() == {"tenant": "acme"}

    capture = sentry_init(SENTRY_DSN=FAKE_DSN)
    sentry_sdk.capture_message("later")
    (event,) = capture.events
    assert "user" not in event
    assert "tenant_id" not in event.get("tags", {})
