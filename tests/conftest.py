"""Fixtures on a real sentry_sdk client: in-memory envelopes and a real envelope server."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
import sentry_sdk
import sentry_sdk.utils

from tests.oracle import assert_nothing_left
from tests.support.sentry import (
    FAKE_DSN,
    CapturingTransport,
    EnvelopeServer,
    SentryInit,
    init_capturing,
)


@pytest.fixture(autouse=True)
def _restore_sentry() -> Iterator[None]:
    """Restore the global sdk client (and the runtime on it) after each test.

    The breadcrumbs a test leaves on the process's scopes (the sdk's own `git
    rev-parse` when a client guesses its release, say) go too, since every
    isolation scope forked later inherits them.
    """
    client = sentry_sdk.get_global_scope().client
    # A lifespan that failed leaves its log scrubbing on for the rest of the process.
    record_factory = logging.getLogRecordFactory()
    yield
    logging.setLogRecordFactory(record_factory)
    current = sentry_sdk.get_global_scope().client
    if current is not client:
        current.close(timeout=0)
        sentry_sdk.get_global_scope().set_client(client)
    for scope in (
        sentry_sdk.get_global_scope(),
        sentry_sdk.get_isolation_scope(),
        sentry_sdk.get_current_scope(),
    ):
        scope.clear_breadcrumbs()


@pytest.fixture(autouse=True)
def internal_exceptions(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[BaseException]]:
    """Fail the test when the sdk swallowed an error of ours (a broken hook or processor)."""
    errors: list[BaseException] = []
    original = sentry_sdk.utils.capture_internal_exception

    def capture(exc_info: Any) -> None:
        errors.append(exc_info[1])
        original(exc_info)

    monkeypatch.setattr(sentry_sdk.utils, "capture_internal_exception", capture)
    yield errors
    assert not errors, f"the sdk swallowed internal errors: {errors!r}"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Each test starts from the embedded defaults, whatever the host has set."""
    import os

    for name in list(os.environ):
        if name.startswith(("SENTRY_", "GITHUB_", "LLM_", "BOOTY_")) or name in {
            "CIRCLE_SHA1",
            "SOURCE_VERSION",
            "HEROKU_SLUG_COMMIT",
            "HEROKU_BUILD_COMMIT",
        }:
            monkeypatch.delenv(name)
    monkeypatch.setenv("BOOTY_DB_PATH", str(tmp_path / "booty.db"))


@pytest.fixture
def capture(monkeypatch: pytest.MonkeyPatch) -> Iterator[CapturingTransport]:
    """A DSN in the environment and a transport that keeps envelopes in memory.

    On teardown every event and transaction kept must give Sentry's own server-side
    scrubber nothing left to remove.
    """
    monkeypatch.setenv("SENTRY_DSN", FAKE_DSN)
    transport = CapturingTransport()
    yield transport
    assert_nothing_left(transport.events + transport.transactions, keep_ips=_sends_pii())


@pytest.fixture
def sentry_init(capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch) -> SentryInit:
    """A real client built by the plugin's own init_sentry, sending into `capture`.

    For tests that need the sdk initialised, not tests of how it is initialised.
    """

    def init(*, secret_env: Iterable[str] = (), **environment: str) -> CapturingTransport:
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        return init_capturing(capture, secret_env=secret_env)

    return init


def _sends_pii() -> bool:
    import os

    return os.environ.get("SENTRY_SEND_DEFAULT_PII", "").strip().lower() in {"1", "true", "yes"}


@pytest.fixture
def envelope_server() -> Iterator[EnvelopeServer]:
    """Checked on teardown like `capture`."""
    server = EnvelopeServer()
    yield server
    server.close()
    assert_nothing_left(server.events + server.items("transaction"), keep_ips=_sends_pii())
