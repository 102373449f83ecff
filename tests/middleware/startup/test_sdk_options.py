"""The sdk's options in code, composed with the layer's; the app's own sentry_sdk.init()."""

from __future__ import annotations

from typing import Any

import pytest
import sentry_sdk
from asgi_lifespan import LifespanManager
from sentry_sdk.integrations.starlette import StarletteIntegration
from sentry_sdk.types import Breadcrumb, BreadcrumbHint, Event, Hint
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from middleware import SentryLifespan, instrument
from tests.support import FAKE_DSN, CapturingTransport, running

SECRET = "plainvalue-3f9a61c0d2b8"


def build_app(lifespan: SentryLifespan) -> Starlette:
    async def boom(request: Request) -> JSONResponse:
        sentry_sdk.add_breadcrumb(message="about to fail", data={"step": 1})
        raise RuntimeError("boom")

    async def missing(request: Request) -> JSONResponse:
        raise KeyError("missing")

    app = Starlette(routes=[Route("/boom", boom), Route("/missing", missing)], lifespan=lifespan)
    instrument(app)
    return app


def add_secret(event: Event, hint: Hint) -> Event | None:
    event.setdefault("extra", {})["upstream_token"] = SECRET
    event.setdefault("tags", {})["seen_by_app"] = "yes"
    return event


async def test_the_apps_before_send_runs_first_and_what_it_adds_is_scrubbed(
    capture: CapturingTransport,
) -> None:
    lifespan = SentryLifespan(transport=capture, before_send=add_secret)
    async with running(build_app(lifespan)) as client:
        await client.get("/boom")
    (event,) = capture.events
    assert event["tags"]["seen_by_app"] == "yes"
    assert event["extra"]["upstream_token"] == "[Filtered]"
    assert SECRET.encode() not in capture.serialized()


async def test_a_hook_given_as_none_leaves_the_scrubbing_in_place(
    capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPSTREAM_TOKEN", SECRET)

    def leak(event: Event, hint: Hint) -> Event | None:
        event.setdefault("extra", {})["note"] = f"upstream said {SECRET}"
        return event

    lifespan = SentryLifespan(
        transport=capture, secret_env=["UPSTREAM_TOKEN"], before_send=None, error_sampler=None
    )
    async with running(build_app(lifespan)) as client:
        # The request's scope forks from this one, processor included.
        with sentry_sdk.new_scope() as scope:
            scope.add_event_processor(leak)
            await client.get("/boom")
    (event,) = capture.events
    assert event["extra"]["note"] == "upstream said [Filtered]"
    assert SECRET.encode() not in capture.serialized()


async def test_the_apps_before_send_can_drop_an_event(capture: CapturingTransport) -> None:
    def drop(event: Event, hint: Hint) -> Event | None:
        return None

    async with running(build_app(SentryLifespan(transport=capture, before_send=drop))) as client:
        assert (await client.get("/boom")).status_code == 500
    assert capture.events == []


async def test_the_apps_breadcrumb_and_transaction_hooks_run_before_the_scrubbing(
    capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTRY_TRACES_SAMPLE_RATE", "1")

    def crumb(crumb: Breadcrumb, hint: BreadcrumbHint) -> Breadcrumb | None:
        crumb.setdefault("data", {})["password"] = SECRET
        return crumb

    lifespan = SentryLifespan(
        transport=capture, before_breadcrumb=crumb, before_send_transaction=add_secret
    )
    async with running(build_app(lifespan)) as client:
        await client.get("/boom")
    (event,) = capture.events
    (mine,) = [c for c in event["breadcrumbs"]["values"] if c.get("message") == "about to fail"]
    assert mine["data"] == {"step": 1, "password": "[Filtered]"}
    (transaction,) = capture.transactions
    assert transaction["tags"]["seen_by_app"] == "yes"
    assert SECRET.encode() not in capture.serialized()


async def test_ignore_errors_is_the_sdks(capture: CapturingTransport) -> None:
    lifespan = SentryLifespan(transport=capture, ignore_errors=[KeyError])
    async with running(build_app(lifespan)) as client:
        assert (await client.get("/missing")).status_code == 500
        await client.get("/boom")
    assert [e["exception"]["values"][0]["type"] for e in capture.events] == ["RuntimeError"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"dsn": FAKE_DSN}, "dsn is set by SENTRY_DSN, not in code"),
        ({"environment": "staging"}, "environment is set by SENTRY_ENVIRONMENT"),
        ({"event_scrubber": None}, "event_scrubber: the layer scrubs every event itself"),
        ({"before_sned": add_secret}, "before_sned is not a sentry-sdk option; did you mean"),
        (
            {"integrations": [StarletteIntegration()]},
            "StarletteIntegration is replaced by the layer",
        ),
    ],
)
def test_options_that_are_not_the_apps_to_give_are_refused_by_name(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(TypeError, match=message.replace("(", r"\(")):
        SentryLifespan(**options)


async def test_the_apps_own_sentry_sdk_init_is_refused_not_replaced(
    capture: CapturingTransport,
) -> None:
    mine = CapturingTransport()
    sentry_sdk.init(FAKE_DSN, environment="staging", before_send=add_secret, transport=mine)
    client = sentry_sdk.get_client()
    with pytest.raises(RuntimeError) as raised:
        async with LifespanManager(build_app(SentryLifespan(transport=capture))):
            pass
    message = str(raised.value)
    assert "sentry_sdk.init() already ran in this process" in message
    assert "environment 'staging', with before_send" in message
    assert "publickey" not in message
    # The app's client is still the process's, with its own hook.
    assert sentry_sdk.get_client() is client
    sentry_sdk.capture_message("still mine")
    # The app's client may report the refusal too (the stock Starlette integration,
    # when it was the first client in the process to set it up).
    (event,) = [event for event in mine.events if event.get("message") == "still mine"]
    assert event["tags"]["seen_by_app"] == "yes"
    assert capture.events == []


async def test_the_apps_own_sentry_sdk_init_is_refused_with_sentry_off_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mine = CapturingTransport()
    sentry_sdk.init(FAKE_DSN, transport=mine)
    with pytest.raises(RuntimeError, match=r"sentry_sdk.init\(\) already ran"):
        async with LifespanManager(build_app(SentryLifespan())):
            pass
