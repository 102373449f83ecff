from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import sentry_sdk
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    BaseUser,
    SimpleUser,
)
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from middleware import RequestContextMiddleware, SentryLifespan, instrument
from middleware.request.data import BodySize
from tests.support import CapturingTransport, running
from tests.support.raw import http_scope, raw_request


async def boom(request: Request) -> PlainTextResponse:
    raise RuntimeError("boom")


async def read_then_boom(request: Request) -> PlainTextResponse:
    await request.body()
    raise RuntimeError("boom after reading")


def starlette_app(transport: CapturingTransport, routes: list[Any], **options: Any) -> Starlette:
    app = Starlette(routes=routes, lifespan=SentryLifespan(transport=transport))
    instrument(app, **options)
    return app


@pytest.mark.parametrize(
    ("root_path", "request_path"),
    [
        ("", "/sub/boom"),  # a Mount
        ("/pfx", "/pfx/sub/boom"),  # uvicorn --root-path: path already has the prefix
    ],
)
async def test_the_url_is_the_one_the_client_asked_for_under_a_mount_and_a_root_path(
    capture: CapturingTransport, root_path: str, request_path: str
) -> None:
    inner = Starlette(routes=[Route("/boom", boom)])
    app = starlette_app(capture, [Mount("/sub", app=inner)])
    async with running(app, root_path=root_path) as client:
        response = await client.get(request_path)
    assert response.status_code == 500
    (event,) = capture.events
    assert event["request"]["url"] == f"http://test{root_path}/sub/boom"
    crumb = event["breadcrumbs"]["values"][0]
    assert crumb["message"] == f"GET {root_path}/sub/boom"


async def test_the_root_path_is_added_when_the_server_left_it_out_of_path(
    capture: CapturingTransport,
) -> None:
    # hypercorn and granian: path has no prefix, root_path has it.
    app = starlette_app(capture, [Route("/boom", boom)])
    async with running(app, root_path="/pfx") as client:
        assert (await client.get("/boom")).status_code == 500
    (event,) = capture.events
    assert event["request"]["url"] == "http://test/pfx/boom"


async def test_the_url_is_right_for_a_fastapi_sub_app(capture: CapturingTransport) -> None:
    app = FastAPI(lifespan=SentryLifespan(transport=capture))
    instrument(app)
    sub = FastAPI()

    @sub.get("/boom")
    async def sub_boom() -> None:
        raise RuntimeError("in the sub-app")

    app.mount("/sub", sub)
    async with running(app) as client:
        assert (await client.get("/sub/boom")).status_code == 500
    (event,) = capture.events
    assert event["request"]["url"] == "http://test/sub/boom"


BIG = {"note": "x" * 2000}  # over "small", under "medium"


@pytest.mark.parametrize(
    ("size", "body", "expected"),
    [
        ("medium", {"order": 7}, {"order": 7}),
        ("medium", BIG, BIG),
        ("small", BIG, ""),  # the sdk's "too large" annotation, in _meta
        ("never", {"order": 7}, None),
        ("always", BIG, BIG),
    ],
)
async def test_a_json_body_the_app_read_is_on_the_event_within_its_bound(
    capture: CapturingTransport, size: BodySize, body: dict[str, Any], expected: Any
) -> None:
    app = starlette_app(
        capture,
        [Route("/read", read_then_boom, methods=["POST"])],
        max_request_body_size=size,
    )
    async with running(app) as client:
        await client.post("/read", json=body)
    (event,) = capture.events
    assert event["request"].get("data") == expected


async def test_a_form_body_is_parsed_and_scrubbed(capture: CapturingTransport) -> None:
    app = starlette_app(capture, [Route("/read", read_then_boom, methods=["POST"])])
    async with running(app) as client:
        await client.post("/read", data={"name": "ada", "password": "hunter2-secret"})
    (event,) = capture.events
    assert event["request"]["data"]["name"] == "ada"
    assert event["request"]["data"]["password"] == "[Filtered]"
    assert "hunter2-secret" not in json.dumps(event)


async def test_a_body_the_app_never_read_is_neither_read_nor_sent(
    capture: CapturingTransport,
) -> None:
    app = starlette_app(capture, [Route("/boom", boom, methods=["POST"])])
    async with running(app) as client:
        await client.post("/boom", json={"order": 7})
    (event,) = capture.events
    assert "data" not in event["request"]


async def test_the_app_still_reads_the_whole_body_the_middleware_copied(
    capture: CapturingTransport,
) -> None:
    async def echo(request: Request) -> PlainTextResponse:
        return PlainTextResponse(await request.body())

    app = starlette_app(
        capture, [Route("/echo", echo, methods=["POST"])], max_request_body_size="small"
    )
    payload = b"y" * 5000
    async with running(app) as client:
        response = await client.post("/echo", content=payload)
    assert response.content == payload


class Backend(AuthenticationBackend):
    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, SimpleUser]:
        return AuthCredentials(["authenticated"]), SimpleUser("ada")


ADA = {"id": "ada", "username": "ada"}


def pii_app(transport: CapturingTransport, **options: Any) -> Starlette:
    app = Starlette(
        routes=[Route("/boom", boom)],
        middleware=[Middleware(AuthenticationMiddleware, backend=Backend())],
        lifespan=SentryLifespan(transport=transport),
    )
    instrument(app, **options)
    return app


@pytest.mark.parametrize(
    ("pii", "trusted", "expected_user"),
    [
        (False, (), None),
        (True, (), {**ADA, "ip_address": "127.0.0.1"}),
        # The last hop no trusted proxy added: 10.1.2.3 is not trusted here.
        (True, ("127.0.0.0/8",), {**ADA, "ip_address": "10.1.2.3"}),
        (True, ("127.0.0.1", "10.0.0.0/8"), {**ADA, "ip_address": "203.0.113.9"}),
    ],
)
async def test_user_and_client_ip_only_with_send_default_pii_and_xff_only_from_trusted_proxies(
    capture: CapturingTransport,
    monkeypatch: pytest.MonkeyPatch,
    pii: bool,
    trusted: tuple[str, ...],
    expected_user: dict[str, str] | None,
) -> None:
    monkeypatch.setenv("SENTRY_SEND_DEFAULT_PII", "true" if pii else "false")
    app = pii_app(capture, trusted_proxies=trusted)
    async with running(app) as client:
        await client.get("/boom", headers={"X-Forwarded-For": "203.0.113.9, 10.1.2.3"})
    (event,) = capture.events
    assert event.get("user") == expected_user
    if not pii:
        assert "203.0.113.9" not in json.dumps(event["request"])
        assert "env" not in event["request"]


def test_bad_options_are_refused() -> None:
    app = Starlette()
    with pytest.raises(ValueError, match="max_request_body_size"):
        RequestContextMiddleware(app, max_request_body_size="huge")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 network"):
        RequestContextMiddleware(app, trusted_proxies=("proxy.local",))
    with pytest.raises(ValueError, match="transaction_style"):
        RequestContextMiddleware(app, transaction_style="function")


async def _raw_request(
    app: Starlette,
    *,
    headers: list[tuple[bytes, bytes]],
    server: tuple[str, int] | None = ("test", 80),
    client: tuple[str, int] = ("127.0.0.1", 5000),
    method: str = "GET",
    query_string: bytes = b"",
) -> None:
    """One request with exactly these headers: httpx always adds a Host and merges none."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": "/boom",
        "raw_path": b"/boom",
        "root_path": "",
        "query_string": query_string,
        "headers": headers,
        "server": server,
        "client": client,
        "state": {},
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    async with LifespanManager(app) as manager:
        with pytest.raises(RuntimeError, match="boom"):
            await manager.app(scope, receive, send)
    assert sent[0]["status"] == 500


@pytest.mark.parametrize(
    ("trusted", "forwarded", "expected"),
    [
        # A trusted peer that forwarded nothing is itself the client.
        (("127.0.0.0/8",), [], "127.0.0.1"),
        # Every hop trusted: the first one, the farthest from us.
        (("127.0.0.0/8", "10.0.0.0/8"), [b"10.9.9.9, 10.1.2.3"], "10.9.9.9"),
        # Two header lines are one list, in order.
        (("127.0.0.0/8",), [b"203.0.113.9", b"198.51.100.7"], "198.51.100.7"),
        (("127.0.0.0/8", "10.0.0.0/8"), [b"203.0.113.9", b"10.1.2.3"], "203.0.113.9"),
        # An untrusted peer's header is not believed.
        (("10.0.0.0/8",), [b"203.0.113.9"], "127.0.0.1"),
        # A network written with its host bits set, as operators often do.
        (("127.0.0.1/8",), [b"203.0.113.9"], "203.0.113.9"),
        # What cannot be an address is never trusted.
        (("127.0.0.0/8",), [b"203.0.113.9, unknown,  "], "unknown"),
    ],
)
async def test_the_client_address_behind_trusted_proxies(
    capture: CapturingTransport,
    monkeypatch: pytest.MonkeyPatch,
    trusted: tuple[str, ...],
    forwarded: list[bytes],
    expected: str,
) -> None:
    monkeypatch.setenv("SENTRY_SEND_DEFAULT_PII", "true")
    app = pii_app(capture, trusted_proxies=trusted)

    await _raw_request(
        app, headers=[(b"host", b"test"), *((b"x-forwarded-for", f) for f in forwarded)]
    )

    (event,) = capture.events
    assert event["user"]["ip_address"] == expected
    assert event["request"]["env"] == {"REMOTE_ADDR": expected}


async def test_repeated_headers_are_one_comma_joined_value(capture: CapturingTransport) -> None:
    app = starlette_app(capture, [Route("/boom", boom)])

    await _raw_request(
        app,
        headers=[(b"host", b"test"), (b"accept", b"text/html"), (b"accept", b"application/json")],
    )

    (event,) = capture.events
    assert event["request"]["headers"]["accept"] == "text/html, application/json"


@pytest.mark.parametrize(
    ("server", "url"),
    [
        (("example.org", 8080), "http://example.org:8080/boom"),
        (("example.org", 80), "http://example.org/boom"),
        (("example.org", 443), "http://example.org/boom"),
        (None, "http://localhost/boom"),
    ],
)
async def test_without_a_host_header_the_url_names_the_server(
    capture: CapturingTransport, server: tuple[str, int] | None, url: str
) -> None:
    app = starlette_app(capture, [Route("/boom", boom, methods=["GET", "POST"])])

    await _raw_request(app, headers=[], server=server)

    (event,) = capture.events
    assert event["request"]["url"] == url


async def test_the_event_has_the_method_and_the_query_string(capture: CapturingTransport) -> None:
    app = starlette_app(capture, [Route("/boom", boom, methods=["GET", "POST"])])
    async with running(app) as client:
        await client.post("/boom?page=2&sort=asc")

    (event,) = capture.events
    assert (event["request"]["method"], event["request"]["query_string"]) == (
        "POST",
        "page=2&sort=asc",
    )
    assert event["breadcrumbs"]["values"][0]["message"] == "POST /boom"


class Guest(BaseUser):
    """A user that an authentication backend knows but did not authenticate."""

    @property
    def is_authenticated(self) -> bool:
        return False

    @property
    def display_name(self) -> str:
        return "guest"

    @property
    def identity(self) -> str:
        return "guest-7"


class GuestBackend(AuthenticationBackend):
    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, Guest]:
        return AuthCredentials([]), Guest()


async def test_an_unauthenticated_user_is_not_reported(
    capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTRY_SEND_DEFAULT_PII", "true")
    app = Starlette(
        routes=[Route("/boom", boom)],
        middleware=[Middleware(AuthenticationMiddleware, backend=GuestBackend())],
        lifespan=SentryLifespan(transport=capture),
    )
    instrument(app)
    async with running(app) as client:
        await client.get("/boom")

    (event,) = capture.events
    assert event["user"] == {"ip_address": "127.0.0.1"}


@pytest.mark.parametrize(
    ("changes", "leave_out", "url"),
    [
        # The Host the client asked for, not the address the server listens on.
        (
            {"headers": [(b"host", b"public.example")], "server": ("10.0.0.5", 8000)},
            (),
            "http://public.example/boom",
        ),
        ({"scheme": "https"}, (), "https://test/boom"),
        # Keys the ASGI spec lets a server leave out, read with its defaults.
        ({}, ("scheme",), "http://test/boom"),
        ({}, ("headers",), "http://test/boom"),
    ],
)
async def test_the_url_is_built_from_the_scope_as_the_server_gave_it(
    capture: CapturingTransport, changes: dict[str, Any], leave_out: tuple[str, ...], url: str
) -> None:
    app = starlette_app(capture, [Route("/boom", boom)])
    await raw_request(app, http_scope(leave_out=leave_out, **changes), raises="boom")
    (event,) = capture.events
    assert event["request"]["url"] == url


async def test_the_request_opens_the_breadcrumbs_at_the_time_it_started(
    capture: CapturingTransport,
) -> None:
    app = starlette_app(capture, [Route("/boom", boom)])
    before = datetime.now(UTC)
    async with running(app) as client:
        await client.get("/boom")
    after = datetime.now(UTC)

    (event,) = capture.events
    crumb = event["breadcrumbs"]["values"][0]
    assert (crumb["type"], crumb["category"], crumb["message"]) == ("http", "request", "GET /boom")
    assert before <= datetime.fromisoformat(crumb["timestamp"]) <= after


async def test_the_user_the_app_set_is_kept_over_the_authenticated_one(
    capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTRY_SEND_DEFAULT_PII", "true")

    async def boom_as(request: Request) -> PlainTextResponse:
        sentry_sdk.set_user({"id": "account-7", "email": "ada@example.org"})
        raise RuntimeError("boom")

    app = Starlette(
        routes=[Route("/boom", boom_as)],
        middleware=[Middleware(AuthenticationMiddleware, backend=Backend())],
        lifespan=SentryLifespan(transport=capture),
    )
    instrument(app)
    async with running(app) as client:
        await client.get("/boom")

    (event,) = capture.events
    assert event["user"] == {
        "id": "account-7",
        "username": "ada",
        "email": "ada@example.org",
        "ip_address": "127.0.0.1",
    }


class RaiseFirst:
    """Fails every request before routing reads the scope."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raise RuntimeError("boom")
        await self.app(scope, receive, send)


@pytest.mark.parametrize(
    ("changes", "leave_out", "method", "url"),
    [
        ({}, ("method",), "GET", "http://test/boom"),
        ({"path": ""}, (), "GET", "http://test/"),
        ({}, ("path",), "GET", "http://test/"),
    ],
)
async def test_what_the_scope_leaves_out_is_reported_with_its_default(
    capture: CapturingTransport,
    changes: dict[str, Any],
    leave_out: tuple[str, ...],
    method: str,
    url: str,
) -> None:
    app = Starlette(
        middleware=[Middleware(RaiseFirst)], lifespan=SentryLifespan(transport=capture)
    )
    instrument(app)
    await raw_request(app, http_scope(leave_out=leave_out, **changes), raises="boom")
    (event,) = capture.events
    assert (event["request"]["method"], event["request"]["url"]) == (method, url)


def test_a_bad_body_size_is_refused_with_the_sizes_there_are() -> None:
    with pytest.raises(ValueError, match="one of never, small, medium, always, not 'huge'"):
        RequestContextMiddleware(Starlette(), max_request_body_size="huge")  # type: ignore[arg-type]
