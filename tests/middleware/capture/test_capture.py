from __future__ import annotations

from typing import Any

import httpx
import pytest
import sentry_sdk
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sentry_sdk.serializer import serialize
from sentry_sdk.utils import event_from_exception

from middleware import SentryLifespan, instrument
from middleware.capture.exceptions import capture_unhandled, set_local_variables
from middleware.config.settings import load_sentry_config
from tests.support import CapturingTransport, SentryInit


def nested(depth: int) -> None:
    if depth:
        nested(depth - 1)
    raise ValueError("deep down")


def context_of(frames: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (f["lineno"], f.get("pre_context"), f.get("context_line"), f.get("post_context"))
        for f in frames
    ]


def test_source_context_matches_the_sdks_own(sentry_init: SentryInit) -> None:
    capture = sentry_init()
    try:
        nested(3)
    except ValueError as exc:
        error = exc
    expected, _ = event_from_exception(error, client_options=sentry_sdk.get_client().options)
    assert capture_unhandled(error, "test") is not None
    (event,) = capture.events
    got = event["exception"]["values"][0]["stacktrace"]["frames"]
    want = expected["exception"]["values"][0]["stacktrace"]["frames"]
    assert context_of(got) == context_of(want)
    assert got[-1]["context_line"].strip() == 'raise ValueError("deep down")'
    assert len(got[-1]["pre_context"]) == 5


def test_long_source_lines_are_trimmed_as_the_sdk_trims_them(sentry_init: SentryInit) -> None:
    capture = sentry_init()
    options = sentry_sdk.get_client().options
    options["max_value_length"] = 24
    try:
        nested(1)
    except ValueError as exc:
        error = exc
    expected, _ = event_from_exception(error, client_options=options)
    assert capture_unhandled(error, "test") is not None
    (event,) = capture.events
    got = event["exception"]["values"][0]["stacktrace"]["frames"]
    want = serialize(dict(expected), max_value_length=24)["exception"]["values"][0]["stacktrace"]
    assert context_of(got) == context_of(want["frames"])
    assert got[-1]["context_line"] == "    raise ValueError(..."


def test_source_context_can_be_turned_off(sentry_init: SentryInit) -> None:
    capture = sentry_init()
    sentry_sdk.get_client().options["include_source_context"] = False
    try:
        nested(0)
    except ValueError as exc:
        capture_unhandled(exc, "test")
    (event,) = capture.events
    frames = event["exception"]["values"][0]["stacktrace"]["frames"]
    assert all("context_line" not in f for f in frames)


def _charge(amount: int) -> None:
    currency = "EUR"
    raise ConnectionError(f"payment of {amount} {currency} failed")


async def fail_through_fastapi(transport: CapturingTransport) -> dict[str, Any]:
    app = FastAPI(lifespan=SentryLifespan(transport=transport))
    instrument(app)

    @app.get("/pay")
    async def pay() -> None:
        order_total = 1234
        _charge(order_total)

    async with LifespanManager(app) as manager:
        asgi = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=asgi, base_url="http://test") as client:
            assert (await client.get("/pay")).status_code == 500
    (event,) = transport.events
    frames: list[dict[str, Any]] = event["exception"]["values"][-1]["stacktrace"]["frames"]
    return {f["function"]: f for f in frames} | {"_all": frames}


def _framework(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [f for f in frames if f["module"].startswith(("starlette.", "fastapi."))]


async def test_only_in_app_frames_keep_their_locals_by_default(
    capture: CapturingTransport,
) -> None:
    frames = await fail_through_fastapi(capture)
    assert frames["_charge"]["vars"] == {"amount": "1234", "currency": "'EUR'"}
    assert frames["pay"]["vars"] == {"order_total": "1234"}
    framework = _framework(frames["_all"])
    assert len(framework) > 5
    assert all("vars" not in f for f in framework)
    # Source context stays for every frame.
    assert all("context_line" in f for f in frames["_all"])


async def test_all_keeps_every_frames_locals(
    capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTRY_LOCAL_VARIABLES", "all")
    frames = await fail_through_fastapi(capture)
    assert frames["_charge"]["vars"] == {"amount": "1234", "currency": "'EUR'"}
    assert all("vars" in f for f in _framework(frames["_all"]))


async def test_none_sends_no_locals(
    capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTRY_LOCAL_VARIABLES", "none")
    frames = await fail_through_fastapi(capture)
    assert all("vars" not in f for f in frames["_all"])


def test_locals_match_the_sdks_own_serialisation(sentry_init: SentryInit) -> None:
    capture = sentry_init()
    set_local_variables(sentry_sdk.get_client(), "all")
    try:
        try:
            nested(2)
        except ValueError as cause:
            raise RuntimeError("wrapped") from cause
    except RuntimeError as exc:
        error = exc
    expected, _ = event_from_exception(error, client_options=sentry_sdk.get_client().options)
    assert capture_unhandled(error, "test") is not None
    (event,) = capture.events
    # The test's own frame (the first) has gained locals since; nested()'s have not.
    got = [
        [f.get("vars") for f in v["stacktrace"]["frames"][1:]]
        for v in event["exception"]["values"]
    ]
    want = [
        [f.get("vars") for f in v["stacktrace"]["frames"][1:]]
        for v in expected["exception"]["values"]
    ]
    assert got == want
    assert "vars" in event["exception"]["values"][0]["stacktrace"]["frames"][0]
    assert got[0][-1] == {"depth": "0"}


@pytest.mark.parametrize("value", ["some", "IN_APP ", "1"])
def test_an_invalid_local_variables_value_falls_back_to_in_app(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("SENTRY_LOCAL_VARIABLES", value)
    config = load_sentry_config()
    assert [p.variable for p in config.problems] == ["SENTRY_LOCAL_VARIABLES"]
    assert config.settings.local_variables == "in_app"


def _login(password: str) -> None:
    api_key = "k" * 10
    raise ValueError(f"login failed ({len(password) + len(api_key)})")


def test_secret_named_locals_of_in_app_frames_are_scrubbed(sentry_init: SentryInit) -> None:
    # The exception interface skips the client's serializer: the scrubber's
    # replacements in it must still reach Sentry as plain values.
    capture = sentry_init()
    try:
        _login("hunter" + "2" * 8)  # built at run time: the source context shows this line
    except ValueError as exc:
        assert capture_unhandled(exc, "test") is not None
    (event,) = capture.events
    frame = event["exception"]["values"][0]["stacktrace"]["frames"][-1]
    assert frame["vars"] == {"password": "[Filtered]", "api_key": "[Filtered]"}
    assert b"hunter22222222" not in capture.serialized()
