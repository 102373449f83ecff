"""What the lifespan makes of the SENTRY_* settings: release, environment, refusals, warnings."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import sentry_sdk
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from middleware import ConfigError, SentryLifespan, instrument
from tests.support import CapturingTransport, EnvelopeServer, running


def build_app(transport: CapturingTransport | None = None, app_lifespan: Any = None) -> Starlette:
    async def boom(request: Request) -> JSONResponse:
        raise RuntimeError("boom")

    app = Starlette(
        routes=[Route("/boom", boom)],
        lifespan=SentryLifespan(app_lifespan, transport=transport),
    )
    instrument(app)
    return app


@pytest.fixture
def git_checkout(tmp_path: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    identity = ["-c", "user.name=t", "-c", "user.email=t@t"]
    commit = ["commit", "-q", "--allow-empty", "-m", "x"]
    subprocess.run(["git", "-C", str(tmp_path), *identity, *commit], check=True)
    return tmp_path


async def test_release_is_never_guessed_from_git_or_ci(
    capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch, git_checkout: Path
) -> None:
    monkeypatch.chdir(git_checkout)
    monkeypatch.setenv("CIRCLE_SHA1", "f" * 40)
    async with running(build_app(capture)) as client:
        await client.get("/boom")
    assert len(capture.events) == 1
    assert "release" not in capture.events[0]


async def test_release_and_environment_are_exactly_the_configured_ones(
    capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTRY_RELEASE", "a" * 40)
    monkeypatch.setenv("SENTRY_ENVIRONMENT", "staging")
    async with running(build_app(capture)) as client:
        await client.get("/boom")
    (event,) = capture.events
    assert event["release"] == "a" * 40
    assert event["environment"] == "staging"


async def test_environment_defaults_to_development_not_the_sdks_production(
    capture: CapturingTransport,
) -> None:
    async with running(build_app(capture)) as client:
        await client.get("/boom")
    (event,) = capture.events
    assert event["environment"] == "development"


async def test_empty_release_is_absent_not_empty(
    capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTRY_RELEASE", "")
    async with running(build_app(capture)) as client:
        await client.get("/boom")
    assert "release" not in capture.events[0]


async def test_production_without_dsn_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTRY_ENVIRONMENT", "production")
    started = False

    @asynccontextmanager
    async def app_lifespan(app: Starlette) -> AsyncIterator[None]:
        nonlocal started
        started = True
        yield

    with pytest.raises(ConfigError, match="SENTRY_DSN"):
        async with LifespanManager(build_app(app_lifespan=app_lifespan)):
            pass
    assert started is False
    assert not sentry_sdk.get_client().is_active()


async def test_invalid_value_outside_production_warns_and_still_starts(
    capture: CapturingTransport,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("SENTRY_SAMPLE_RATE", "lots")
    monkeypatch.setenv("SENTRY_RELEASE", "latest")
    monkeypatch.setenv("SENTRY_ENV", "staging")
    async with running(build_app(capture)) as client:
        await client.get("/boom")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("SENTRY_SAMPLE_RATE" in w for w in warnings)
    assert any("SENTRY_RELEASE" in w for w in warnings)
    assert any("SENTRY_ENV " in w and "SENTRY_ENVIRONMENT" in w for w in warnings)
    (event,) = capture.events  # the sample rate fell back to 1.0
    assert "release" not in event


async def test_no_log_line_contains_the_dsn_keys(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    envelope_server: EnvelopeServer,
) -> None:
    caplog.set_level(logging.DEBUG)
    public, secret = "publickey0123456789abcdef", "secretkey0123456789abcdef"
    monkeypatch.setenv(
        "SENTRY_DSN", f"http://{public}:{secret}@127.0.0.1:{envelope_server.port}/42"
    )
    monkeypatch.setenv("SENTRY_DSN_BACKEND", f"https://{public}:{secret}@x.invalid/1")
    monkeypatch.setenv("SENTRY_TRACES_SAMPLE_RATE", f"https://{public}:{secret}@x.invalid/1")
    async with running(build_app()) as client:
        await client.get("/boom")
    envelope_server.wait_for(lambda: len(envelope_server.events) == 1)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "SENTRY_TRACES_SAMPLE_RATE" in text
    assert public not in text and secret not in text


async def test_a_secret_variable_named_in_lower_case_is_scrubbed_too(
    capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pydantic-settings reads github_token as GITHUB_TOKEN: so does the scrubber.
    monkeypatch.setenv("github_token", "plainvalue-7Hq2Zp9Wc4")
    app = Starlette(lifespan=SentryLifespan(transport=capture, secret_env=("GITHUB_TOKEN",)))
    async with running(app):
        sentry_sdk.capture_message("token plainvalue-7Hq2Zp9Wc4 refused")
        sentry_sdk.flush()
    (event,) = capture.events
    assert "plainvalue" not in str(event)
