"""Every disguised secret of the corpus, in every place an event can carry it, never leaves."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, cast

import httpx
import pytest
import sentry_sdk
from sentry_sdk.types import Event

from tests.support import CapturingTransport, SentryInit
from tests.support.corpus import (
    CLIENT_IP,
    CLIENT_IP_HEADERS,
    CLIENT_IPV6,
    CORPUS,
    EMAIL,
    EMAIL_HEADERS,
    PERSONAL,
    QUERY_KEYS,
    SECRET_ENV_VALUES,
    Planted,
)

FILTERED = "[Filtered]"


def start(sentry_init: SentryInit) -> CapturingTransport:
    return sentry_init(secret_env=tuple(SECRET_ENV_VALUES), **SECRET_ENV_VALUES)


def _request(request: dict[str, Any]) -> None:
    sentry_sdk.capture_event(cast(Event, {"message": "probe", "request": request}))


def _exception(text: str) -> None:
    try:
        raise RuntimeError(f"failed for {text}")
    except RuntimeError as exc:
        sentry_sdk.capture_exception(exc)


def _http_status_error(text: str) -> None:
    request = httpx.Request("GET", "https://api.test/items", params={"q": text})
    try:
        httpx.Response(502, request=request).raise_for_status()
    except httpx.HTTPStatusError as exc:
        sentry_sdk.capture_exception(exc)


def _frame_local(text: str) -> None:
    def handler(probe: str) -> None:
        raise ValueError("see locals")

    try:
        handler(text)
    except ValueError as exc:
        sentry_sdk.capture_exception(exc)


def _breadcrumb(text: str) -> None:
    sentry_sdk.add_breadcrumb(message=f"called {text}", data={"value": text})
    sentry_sdk.capture_message("after the call")


def _message(text: str) -> None:
    sentry_sdk.capture_message(text)


def _log_params(text: str) -> None:
    logging.getLogger("tests.corpus").error("rejected %s", text)


def _scope_data(text: str) -> None:
    sentry_sdk.set_tag("probe", text[:200])
    sentry_sdk.set_extra("probe", text)
    sentry_sdk.set_context("probe", {"value": text})
    sentry_sdk.capture_message("with scope data")


PLACES: dict[str, Callable[[str], None]] = {
    "exception value": _exception,
    "httpx HTTPStatusError url": _http_status_error,
    "frame local": _frame_local,
    "message": lambda text: _message(f"saw {text}"),
    "breadcrumb": _breadcrumb,
    "log parameter": _log_params,
    "tag, extra, context": _scope_data,
    "request header": lambda text: _request({"headers": {"X-Probe": text}}),
    "request url": lambda text: _request({"url": f"https://booty.test/x?q={text}"}),
    "query value": lambda text: _request({"query_string": f"q={text}&page=2"}),
    "query key": lambda text: _request({"query_string": f"{text}=1&page=2"}),
    "request data": lambda text: _request({"data": {"comment": text}}),
}


@pytest.mark.parametrize("planted", CORPUS, ids=lambda p: p.name)
@pytest.mark.parametrize("place", PLACES)
def test_no_disguised_secret_leaves(sentry_init: SentryInit, planted: Planted, place: str) -> None:
    capture = start(sentry_init)

    with sentry_sdk.isolation_scope():
        PLACES[place](planted.text)

    sent = capture.serialized()
    assert len(capture.events) == 1
    for needle in planted.all_needles:
        assert needle.encode() not in sent


@pytest.mark.parametrize("planted", QUERY_KEYS, ids=lambda p: p.name)
def test_query_keys_are_scanned(sentry_init: SentryInit, planted: Planted) -> None:
    capture = start(sentry_init)

    _request({"query_string": f"{planted.text}&page=2"})

    [event] = capture.events
    assert event["request"]["query_string"] == f"{FILTERED}=1&page=2"
    for needle in planted.all_needles:
        assert needle.encode() not in capture.serialized()


def test_a_secret_at_the_end_of_a_long_string_is_filtered_before_the_cut(
    sentry_init: SentryInit,
) -> None:
    capture = start(sentry_init)
    [planted] = [p for p in CORPUS if p.name == "long string tail"]

    sentry_sdk.capture_event(cast(Event, {"message": "long", "extra": {"blob": planted.text}}))

    [event] = capture.events
    assert event["extra"]["blob"] == "A" * 16370 + FILTERED


def _client_ip_headers() -> dict[str, str]:
    headers = {name: CLIENT_IP for name in CLIENT_IP_HEADERS}
    headers["Forwarded"] = f'for="[{CLIENT_IPV6}]";proto=https, for={CLIENT_IP}'
    headers["X-Probe-Unknown-Ip"] = f"{CLIENT_IP}, 10.0.0.1"
    headers.update({name: EMAIL for name in EMAIL_HEADERS})
    return headers


def test_without_send_default_pii_no_client_ip_or_email_is_sent(sentry_init: SentryInit) -> None:
    capture = start(sentry_init)
    # What a framework frame holds: the ASGI scope with its client and raw headers.
    scope = {
        "client": (CLIENT_IP, 51234),
        "headers": [(k.lower().encode(), v.encode()) for k, v in _client_ip_headers().items()],
    }

    def handler(scope: dict[str, Any]) -> None:
        raise ValueError(f"no route for {EMAIL}")

    with sentry_sdk.isolation_scope() as isolation:
        isolation.set_user({"id": "7", "ip_address": CLIENT_IP, "email": EMAIL})
        sentry_sdk.add_breadcrumb(message=f"login by {EMAIL} from {CLIENT_IPV6}")
        isolation.set_context(
            "request",
            {"headers": _client_ip_headers(), "query_string": f"email={EMAIL}&ip={CLIENT_IP}"},
        )
        try:
            handler(scope)
        except ValueError as exc:
            sentry_sdk.capture_exception(exc)
        _request({"headers": _client_ip_headers(), "env": {"REMOTE_ADDR": CLIENT_IP}})

    sent = capture.serialized()
    assert len(capture.events) == 2
    for needle in (CLIENT_IP, CLIENT_IPV6, EMAIL, *(p.text for p in PERSONAL)):
        assert needle.encode() not in sent, needle
    assert capture.events[1]["request"]["headers"]["X-Original-Forwarded-For"] == FILTERED


def test_with_send_default_pii_the_client_ip_is_kept(
    sentry_init: SentryInit, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTRY_SEND_DEFAULT_PII", "true")
    capture = start(sentry_init)

    _request({"headers": {"Fly-Client-IP": CLIENT_IP, "From": EMAIL}})

    [event] = capture.events
    assert event["request"]["headers"] == {"Fly-Client-IP": CLIENT_IP, "From": EMAIL}
