"""One test per location and per pattern, through a real sdk client."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, cast

import pytest
import sentry_sdk
from sentry_sdk.tracing import TransactionSource
from sentry_sdk.types import Event

from tests.support import FAKE_DSN, CapturingTransport, SentryInit

SECRET = "s3cr3t-Value-9f8e7d6c"
FILTERED = "[Filtered]"


def start(
    sentry_init: SentryInit, *, pii: bool = False, secret_env: tuple[str, ...] = ()
) -> CapturingTransport:
    environment = {"SENTRY_TRACES_SAMPLE_RATE": "1.0"}
    if pii:
        environment["SENTRY_SEND_DEFAULT_PII"] = "true"
    return sentry_init(secret_env=secret_env, **environment)


def only_event(capture: CapturingTransport) -> dict[str, Any]:
    [event] = capture.events
    assert SECRET.encode() not in capture.serialized()
    return event


def capture_with(event: dict[str, Any]) -> None:
    sentry_sdk.capture_event(cast(Event, {"message": "boom", **event}))


def _request(request: dict[str, Any]) -> Callable[[], None]:
    return lambda: capture_with({"request": {"method": "GET", **request}})


def _frame_with_secret() -> dict[str, Any]:
    return {"frames": [{"function": "f", "vars": {"client_secret": SECRET, "n": 1}}]}


def _after(setup: Callable[[], object]) -> Callable[[], None]:
    def emit() -> None:
        setup()
        capture_with({})

    return emit


LOCATIONS: dict[str, tuple[Callable[[], None], Callable[[dict[str, Any]], Any], Any]] = {
    "header authorization": (
        _request({"headers": {"Authorization": f"token {SECRET}"}}),
        lambda e: e["request"]["headers"]["Authorization"],
        FILTERED,
    ),
    "header x-api-key": (
        _request({"headers": {"x-api-key": SECRET}}),
        lambda e: e["request"]["headers"]["x-api-key"],
        FILTERED,
    ),
    "header proxy-authorization": (
        _request({"headers": {"Proxy-Authorization": f"Digest {SECRET}"}}),
        lambda e: e["request"]["headers"]["Proxy-Authorization"],
        FILTERED,
    ),
    "header list": (
        _request({"headers": [["X-Auth-Token", SECRET], ["Accept", "text/html"]]}),
        lambda e: e["request"]["headers"],
        [["X-Auth-Token", FILTERED], ["Accept", "text/html"]],
    ),
    "query string": (
        _request({"query_string": f"access_token={SECRET}&page=2&Client-Secret={SECRET}"}),
        lambda e: e["request"]["query_string"],
        f"access_token={FILTERED}&page=2&Client-Secret={FILTERED}",
    ),
    "query value": (
        _request({"query_string": f"q=Bearer+{SECRET}&page=2"}),
        lambda e: e["request"]["query_string"],
        f"q={FILTERED}&page=2",
    ),
    "body": (
        _request({"data": {"form": {"user": "ann", "new_password": SECRET}}}),
        lambda e: e["request"]["data"]["form"],
        {"user": "ann", "new_password": FILTERED},
    ),
    "url userinfo": (
        _request({"url": f"https://ann:{SECRET}@example.com/path"}),
        lambda e: e["request"]["url"],
        f"https://ann:{FILTERED}@example.com/path",
    ),
    "env": (
        _request({"env": {"DATABASE_PASSWORD": SECRET}}),
        lambda e: e["request"]["env"]["DATABASE_PASSWORD"],
        FILTERED,
    ),
    "extra at depth": (
        lambda: capture_with({"extra": {"a": [{"b": {"c": {"Api-Key": SECRET}}}]}}),
        lambda e: e["extra"]["a"][0]["b"]["c"]["Api-Key"],
        FILTERED,
    ),
    "contexts": (
        lambda: capture_with({"contexts": {"github": {"installation_token": SECRET}}}),
        lambda e: e["contexts"]["github"]["installation_token"],
        FILTERED,
    ),
    "tags": (
        _after(lambda: sentry_sdk.set_tag("webhook_signature", SECRET)),
        lambda e: e["tags"]["webhook_signature"],
        FILTERED,
    ),
    "user": (
        _after(lambda: sentry_sdk.set_user({"id": "42", "email": SECRET, "tenant_id": "t1"})),
        lambda e: e["user"],
        {"id": "42", "email": FILTERED, "tenant_id": "t1"},
    ),
    "breadcrumb data": (
        _after(lambda: sentry_sdk.add_breadcrumb(message="call", data={"dsn": SECRET})),
        lambda e: e["breadcrumbs"]["values"][-1]["data"],
        {"dsn": FILTERED},
    ),
    "breadcrumb message": (
        _after(lambda: sentry_sdk.add_breadcrumb(message=f"session={SECRET} page=2")),
        lambda e: e["breadcrumbs"]["values"][-1]["message"],
        f"session={FILTERED} page=2",
    ),
    "thread frame vars": (
        lambda: capture_with({"threads": {"values": [{"stacktrace": _frame_with_secret()}]}}),
        lambda e: e["threads"]["values"][0]["stacktrace"]["frames"][0]["vars"],
        {"client_secret": FILTERED, "n": 1},
    ),
    "top-level stacktrace": (
        lambda: capture_with({"stacktrace": _frame_with_secret()}),
        lambda e: e["stacktrace"]["frames"][0]["vars"],
        {"client_secret": FILTERED, "n": 1},
    ),
    "mechanism data": (
        lambda: capture_with(
            {"exception": {"values": [{"type": "E", "mechanism": {"data": {"sig": SECRET}}}]}}
        ),
        lambda e: e["exception"]["values"][0]["mechanism"]["data"],
        {"sig": FILTERED},
    ),
    "log message": (
        lambda: logging.getLogger("tests.scrub").error("retry with session_id=%s", SECRET),
        lambda e: e["logentry"]["formatted"],
        f"retry with session_id={FILTERED}",
    ),
}


@pytest.mark.parametrize("location", LOCATIONS)
def test_location(sentry_init: SentryInit, location: str) -> None:
    capture = start(sentry_init)
    emit, read, expected = LOCATIONS[location]

    with sentry_sdk.isolation_scope():
        emit()

    assert read(only_event(capture)) == expected


def _raise_with_locals() -> None:
    config = {"github": {"app": {"private_key": SECRET}}}
    headers = [(b"authorization", f"Bearer {SECRET}".encode())]
    note = f"cookie: {SECRET}"
    raise ValueError(f"refused token={SECRET}", config, headers, note)


def test_exception_value_and_frame_locals_at_any_depth(sentry_init: SentryInit) -> None:
    capture = start(sentry_init)

    try:
        _raise_with_locals()
    except ValueError as error:
        sentry_sdk.capture_exception(error)

    [exception] = only_event(capture)["exception"]["values"]
    assert exception["value"].startswith(f"('refused token={FILTERED}',")
    local = exception["stacktrace"]["frames"][-1]["vars"]
    assert local["config"] == {"github": {"app": {"private_key": FILTERED}}}
    assert local["headers"] == [["b'authorization'", FILTERED]]
    assert local["note"] == f"'cookie: {FILTERED}'"


def _raise_with_a_secret_local() -> None:
    client_secret = SECRET
    raise ValueError(len(client_secret))


def test_a_secret_local_is_marked_filtered_in_every_event(sentry_init: SentryInit) -> None:
    capture = start(sentry_init)

    for _ in range(3):
        try:
            _raise_with_a_secret_local()
        except ValueError as error:
            sentry_sdk.capture_exception(error)

    assert SECRET.encode() not in capture.serialized()
    for event in capture.events:
        # The sdk's own mark, which its event scrubber sets before serialising.
        frames = event["_meta"]["exception"]["values"]["0"]["stacktrace"]["frames"]
        [marked] = frames.values()
        assert marked["vars"]["client_secret"] == {"": {"rem": [["!config", "s"]]}}


def test_transaction_and_span_data(sentry_init: SentryInit) -> None:
    capture = start(sentry_init)

    with sentry_sdk.start_transaction(
        name=f"job token={SECRET}", source=TransactionSource.TASK
    ) as transaction:
        transaction.set_data("llm_api_key", SECRET)
        with sentry_sdk.start_span(op="http.client", name=f"GET /?signature={SECRET}") as span:
            span.set_data("http.query", f"signature={SECRET}&page=2")
            span.set_data("gen_ai.usage.input_tokens", 42)
            span.set_data("input_tokens", 42)

    [sent] = capture.transactions
    assert SECRET.encode() not in capture.serialized()
    assert sent["transaction"] == f"job token={FILTERED}"
    assert sent["contexts"]["trace"]["data"]["llm_api_key"] == FILTERED
    [span_sent] = sent["spans"]
    assert span_sent["data"]["http.query"] == f"signature={FILTERED}&page=2"
    assert span_sent["description"] == f"GET /?signature={FILTERED}"
    # As Sentry's server does: its own token counts stay, any other "*token*" key goes.
    assert span_sent["data"]["gen_ai.usage.input_tokens"] == 42
    assert span_sent["data"]["input_tokens"] == FILTERED
    assert sent["transaction_info"] == {"source": "task"}


def test_a_thread_id_that_passes_the_luhn_check_is_kept(sentry_init: SentryInit) -> None:
    capture = start(sentry_init)
    thread_id = "140143654594240"  # as the sdk writes threading.get_ident(); Luhn-valid
    card = "4111 1111 1111 1111"

    with sentry_sdk.start_transaction(name="job", source=TransactionSource.TASK) as transaction:
        transaction.set_data("thread.id", thread_id)
        transaction.set_data("note", card)
        with sentry_sdk.start_span(op="db") as span:
            span.set_data("thread.id", thread_id)
            span.set_data("thread.name", card)

    [sent] = capture.transactions
    assert sent["contexts"]["trace"]["data"]["thread.id"] == thread_id
    assert sent["contexts"]["trace"]["data"]["note"] == FILTERED
    [span_sent] = sent["spans"]
    assert span_sent["data"]["thread.id"] == thread_id
    assert span_sent["data"]["thread.name"] == FILTERED


def test_configured_secrets_and_dsn_key(
    sentry_init: SentryInit, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "plain-looking-value")
    monkeypatch.setenv("LLM_API_KEY", "short")
    capture = start(sentry_init, secret_env=("GITHUB_TOKEN", "LLM_API_KEY"))
    dsn_key = FAKE_DSN.split("//")[1].split("@")[0]

    capture_with(
        {
            "extra": {"note": "called with plain-looking-value twice", "key": "short"},
            "message": f"dsn key {dsn_key} leaked",
        }
    )

    [event] = capture.events
    assert event["extra"]["note"] == f"called with {FILTERED} twice"
    assert event["extra"]["key"] == FILTERED
    assert event["message"] == f"dsn key {FILTERED} leaked"
    assert b"plain-looking-value" not in capture.serialized()


def test_send_default_pii_keeps_user_ip_and_cookie_names_not_secrets(
    sentry_init: SentryInit,
) -> None:
    capture = start(sentry_init, pii=True)
    user = {"id": "42", "ip_address": "203.0.113.7", "username": "ann", "api_token": SECRET}

    with sentry_sdk.isolation_scope() as scope:
        scope.set_user(user)
        _request(
            {
                "headers": {"Cookie": f"session={SECRET}; theme=dark", "Authorization": SECRET},
                "cookies": {"session": SECRET, "theme": "dark"},
            }
        )()

    event = only_event(capture)
    assert event["user"] == {**user, "api_token": FILTERED}
    assert event["request"]["headers"]["Cookie"] == f"session={FILTERED}; theme={FILTERED}"
    assert event["request"]["cookies"] == {"session": FILTERED, "theme": FILTERED}
    assert event["request"]["headers"]["Authorization"] == FILTERED


def test_without_send_default_pii_ip_and_cookies_are_dropped(sentry_init: SentryInit) -> None:
    capture = start(sentry_init)
    headers = {
        "Cookie": "theme=dark",
        "X-Forwarded-For": "203.0.113.7",
        "Forwarded": "for=203.0.113.7",
        "CF-Connecting-IP": "203.0.113.7",
    }

    with sentry_sdk.isolation_scope() as scope:
        scope.set_user({"id": "42", "ip_address": "203.0.113.7"})
        _request({"headers": headers, "cookies": {"theme": "dark"}})()

    event = capture.events[0]
    assert event["user"] == {"id": "42"}
    assert "cookies" not in event["request"]
    assert set(event["request"]["headers"].values()) == {FILTERED}
    assert b"203.0.113.7" not in capture.serialized()


PATTERNS = {
    "bearer": ("Bearer abcDEF123._~+/=", FILTERED),
    "basic": ("Basic dXNlcjpodW50ZXIy", FILTERED),
    "basic prose": ("Basic usage", "Basic usage"),
    "ghp": ("ghp_" + "a1B2" * 9, FILTERED),
    "gho": ("gho_" + "a1B2" * 9, FILTERED),
    "ghu": ("ghu_" + "a1B2" * 9, FILTERED),
    "ghs": ("ghs_" + "a1B2" * 9, FILTERED),
    "ghr": ("ghr_" + "a1B2" * 9, FILTERED),
    "github_pat": ("github_pat_11ABCDEFG0123456789_abcdefghijKLMNOP", FILTERED),
    "sk": ("sk-proj-Abcdef0123456789xyz", FILTERED),
    "jwt": ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl", FILTERED),
    "aws": ("AKIAIOSFODNN7EXAMPLE", FILTERED),
    "dsn key": (
        "https://0123abcd4567ef@o1.ingest.sentry.io/42",
        f"https://{FILTERED}@o1.ingest.sentry.io/42",
    ),
    "dsn secret": (
        "https://pub:0123abcdef@sentry.example/1",
        f"https://pub:{FILTERED}@sentry.example/1",
    ),
    "pem": (
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nIBAAK==\n-----END RSA PRIVATE KEY-----",
        FILTERED,
    ),
    "card": ("4111 1111 1111 1111", FILTERED),
    "card unbroken": ("5500005555555559", FILTERED),
    "not a card": ("1234 5678 1234 5678", "1234 5678 1234 5678"),
    "visa failing luhn, as sentry's server": ("4111 1111 1111 1112", FILTERED),
    "date": ("2026-11-22T17:05:00", "2026-11-22T17:05:00"),
    "hex id with a card-like run": (
        "b46680048f8e4623879424707423a955",
        "b46680048f8e4623879424707423a955",
    ),
    "card after a word character": ("card_4111111111111111", "card_4111111111111111"),
    "card after punctuation": ("card=4111111111111111", "card=" + FILTERED),
    "ordinary query": ("page=2&sort=name", "page=2&sort=name"),
}


@pytest.mark.parametrize("pattern", PATTERNS)
def test_pattern_inside_a_string(sentry_init: SentryInit, pattern: str) -> None:
    capture = start(sentry_init)
    value, replaced = PATTERNS[pattern]

    sentry_sdk.capture_message(f"before {value} after")

    [event] = capture.events
    assert event["message"] == f"before {replaced} after"
