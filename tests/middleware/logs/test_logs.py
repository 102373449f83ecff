"""SENTRY_ENABLE_LOGS: stdlib records as Sentry log items, on captured envelopes."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import sentry_sdk
from fastapi import FastAPI

from middleware import RequestIdFilter, SentryLifespan, instrument
from middleware.config.settings import load_sentry_config
from middleware.jobs.scope import job_scope
from middleware.startup.lifespan import init_sentry
from tests.oracle import assert_nothing_left
from tests.support import CapturingTransport, SentryInit, running

logger = logging.getLogger("tests.logs")

TOKEN = "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB"


def logs(transport: CapturingTransport) -> list[dict[str, Any]]:
    sentry_sdk.flush(timeout=5)
    return [log for batch in transport.items("log") for log in batch["items"]]


def attributes(log: dict[str, Any]) -> dict[str, Any]:
    return {key: value["value"] for key, value in log["attributes"].items()}


def as_event(log: dict[str, Any]) -> dict[str, Any]:
    """A log item laid onto an event as the scrubber reads it, for Sentry's own scrubber."""
    attrs = attributes(log)
    tags = {k: v for k, v in attrs.items() if k.startswith(("sentry.", "code.", "thread."))}
    extra = {k: v for k, v in attrs.items() if k not in tags}
    return {"logentry": {"formatted": log["body"]}, "tags": tags, "extra": extra}


@pytest.fixture(autouse=True)
def _own_scope() -> Iterator[None]:
    # Records logged here at INFO are breadcrumbs too: they stay in this test's scope.
    with sentry_sdk.isolation_scope():
        yield


@pytest.fixture
def logs_enabled(
    capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> Iterator[CapturingTransport]:
    """SENTRY_ENABLE_LOGS=true; every log item sent must leave Sentry's scrubber nothing."""
    caplog.set_level(logging.INFO)
    monkeypatch.setenv("SENTRY_ENABLE_LOGS", "true")
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    yield capture
    assert_nothing_left([as_event(log) for log in logs(capture)])


@pytest.fixture
def logs_on(logs_enabled: CapturingTransport, sentry_init: SentryInit) -> CapturingTransport:
    return sentry_init(secret_env=["GITHUB_TOKEN"])


def test_logs_are_off_by_default(sentry_init: SentryInit) -> None:
    capture = sentry_init()
    logger.warning("not a log item")
    logger.error("an event")
    assert logs(capture) == []
    assert [event["logentry"]["message"] for event in capture.events] == ["an event"]


def test_records_of_info_and_above_become_log_items(logs_on: CapturingTransport) -> None:
    # A handler with RequestIdFilter, as a service's log setup has: its "-" is not sent.
    handler = logging.NullHandler()
    handler.addFilter(RequestIdFilter())
    logger.addHandler(handler)
    try:
        logger.debug("below the level")
        logger.info("job %s queued", "j-7")
        logger.warning("slow")
    finally:
        logger.removeHandler(handler)
    (info, warning) = logs(logs_on)
    assert (info["level"], info["body"], warning["level"]) == ("info", "job j-7 queued", "warn")
    assert attributes(info)["sentry.message.template"] == "job %s queued"
    assert attributes(info)["sentry.message.parameter.0"] == "j-7"
    assert attributes(info)["logger.name"] == "tests.logs"
    assert "request_id" not in attributes(info)


async def test_a_request_s_records_carry_its_request_id(logs_enabled: CapturingTransport) -> None:
    app = FastAPI(lifespan=SentryLifespan(secret_env=["GITHUB_TOKEN"], transport=logs_enabled))
    instrument(app)

    @app.get("/work")
    async def work() -> dict[str, str]:
        logger.info("working")
        return {}

    async with running(app) as client:
        given = await client.get("/work", headers={"x-request-id": "req-42"})
        fresh = await client.get("/work")
    found = [
        attributes(log)["request_id"] for log in logs(logs_enabled) if log["body"] == "working"
    ]
    assert found == ["req-42", fresh.headers["x-request-id"]]
    assert given.headers["x-request-id"] == "req-42"


def test_a_job_s_records_carry_its_job_id_and_request_id(logs_on: CapturingTransport) -> None:
    with job_scope("build", "j-1", request_id="req-9"):
        logger.info("queued by a request")
    with job_scope("build", "j-2"):
        logger.info("queued by a timer")
    first, second = (attributes(log) for log in logs(logs_on))
    assert (first["request_id"], first["job_id"]) == ("req-9", "j-1")
    assert (second["request_id"], second["job_id"]) == ("j-2", "j-2")


def test_records_are_scrubbed_as_events_are(logs_on: CapturingTransport) -> None:
    record: tuple[Any, ...] = (
        "login for %s with password=%s using %s",
        "bob",
        "hunter2",
        TOKEN,
    )
    extra = {"api_key": "abc123", "card": "4111 1111 1111 1111", "plan": "pro"}
    logger.warning(*record, extra=extra)
    logger.error(*record, extra=extra)
    warning, log = logs(logs_on)
    (event,) = logs_on.events
    assert warning["body"] == log["body"]
    attrs = attributes(log)

    assert TOKEN not in repr(log) and "hunter2" not in repr(log) and "abc123" not in repr(log)
    assert log["body"] == event["logentry"]["formatted"]
    params = [attrs[f"sentry.message.parameter.{i}"] for i in range(3)]
    assert params == event["logentry"]["params"]
    assert params[0] == "bob"
    for key in extra:
        assert attrs[key] == event["extra"][key]
    assert attrs["plan"] == "pro"
    assert attrs["api_key"] == "[Filtered]"


@pytest.mark.parametrize("release", [None, "1.2.3"])
def test_a_log_s_release_is_exactly_sentry_release(
    sentry_init: SentryInit,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    release: str | None,
) -> None:
    # Without SENTRY_RELEASE the sdk would guess one from git; this checkout has a HEAD.
    monkeypatch.setenv("SENTRY_ENABLE_LOGS", "true")
    if release is not None:
        monkeypatch.setenv("SENTRY_RELEASE", release)
    caplog.set_level(logging.INFO)
    capture = sentry_init()
    logger.info("released")
    (log,) = logs(capture)
    assert attributes(log).get("sentry.release") == release


def test_access_log_lines_are_not_sent(logs_on: CapturingTransport) -> None:
    logging.getLogger("uvicorn.access").info('127.0.0.1:5000 - "GET / HTTP/1.1" 200')
    logger.info("kept")
    assert [log["body"] for log in logs(logs_on)] == ["kept"]


def test_an_invalid_value_falls_back_to_off(
    capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTRY_ENABLE_LOGS", "sometimes")
    config = load_sentry_config()
    assert [p.variable for p in config.problems] == ["SENTRY_ENABLE_LOGS"]
    init_sentry(config, transport=capture)
    logger.warning("not a log item")
    assert logs(capture) == []


def test_a_websocket_line_keeps_no_client_address_nor_secret_query_value(
    logs_on: CapturingTransport,
) -> None:
    logging.getLogger("uvicorn.error").info(
        '%s - "WebSocket %s" %d', "127.0.0.77:46011", "/ws?code=oauthcode123&page=2", 403
    )
    (log,) = logs(logs_on)
    assert log["body"] == '[Filtered] - "WebSocket /ws?code=[Filtered]&page=2" 403'
    assert "127.0.0.77" not in str(log) and "oauthcode123" not in str(log)


def test_a_websocket_line_keeps_the_client_address_with_send_default_pii(
    logs_enabled: CapturingTransport, sentry_init: SentryInit
) -> None:
    capture = sentry_init(SENTRY_SEND_DEFAULT_PII="true")
    logging.getLogger("uvicorn.error").info(
        '%s - "WebSocket %s" %d', "127.0.0.77:46011", "/ws?page=2", 403
    )
    (log,) = logs(capture)
    assert log["body"] == '127.0.0.77:46011 - "WebSocket /ws?page=2" 403'
