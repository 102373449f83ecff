"""A pytest plugin for the frameworks' own test suites: every app they build gets the library.

scripts/framework-suites loads it with `-p dropin` (tests/frameworks on PYTHONPATH):
the suites have a `tests` package of their own, so it cannot be tests.frameworks.dropin.

BOOTY_SUITE_FORM
    "instrument": instrument(app) once the app is built, and the router's own
    lifespan (the app's, or its startup/shutdown handlers) wrapped in SentryLifespan;
    "readme": the README's form, `lifespan=SentryLifespan(lifespan)` given to the
    constructor in place of the app's lifespan, then instrument(app).
BOOTY_SUITE_SENTRY
    "on": a DSN, Sentry started when the session starts (so requests of apps
    whose lifespan never runs are captured too), envelopes counted in memory;
    "off": no DSN.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import os
import weakref
from typing import Any

import pytest
from fastapi import FastAPI
from sentry_sdk.envelope import Envelope
from sentry_sdk.integrations import DidNotEnable, Integration
from sentry_sdk.integrations.httpx import HttpxIntegration
from sentry_sdk.transport import Transport
from starlette.applications import Starlette

from middleware import SdkOptions, SentryLifespan, init_from_environment, instrument

FAKE_DSN = "https://publickey0123456789abcdef@sentry.invalid/42"


# The suites drive their apps with TestClient, an httpx client in the same process:
# the sdk's httpx integration would add trace headers to the requests themselves.
#
# Both of the sdk's httpx integrations (newer sdks have a second one) are off for
# the same reason. The sdk's Strawberry integration, enabled wherever strawberry is
# installed, warns at each schema it patches ("Assuming strawberry is running
# sync"), as under a plain sentry_sdk.init; FastAPI's suite makes warnings errors.
def _disabled() -> tuple[type[Integration], ...]:
    disabled: list[type[Integration]] = [HttpxIntegration]
    for module, name in (
        ("sentry_sdk.integrations.httpx2", "Httpx2Integration"),
        ("sentry_sdk.integrations.strawberry", "StrawberryIntegration"),
    ):
        try:
            disabled.append(getattr(importlib.import_module(module), name))
        except (ImportError, DidNotEnable):  # not in this sdk, or the library is missing
            continue
    return tuple(disabled)


SDK_OPTIONS: SdkOptions = {"disabled_integrations": _disabled()}


class CountingTransport(Transport):
    """Keeps nothing but a count: a suite of thousands of tests sends thousands of events."""

    def __init__(self) -> None:
        super().__init__()
        self.envelopes = 0

    def capture_envelope(self, envelope: Envelope) -> None:
        self.envelopes += 1


class Mounting:
    """Patches one app class's constructor so that each app it builds gets the library."""

    def __init__(self, form: str, transport: Transport | None) -> None:
        if form not in ("instrument", "readme"):
            raise ValueError(f"BOOTY_SUITE_FORM must be instrument or readme, not {form!r}")
        self.form = form
        self.transport = transport
        # Apps inside their constructor: a subclass's __init__ calling super().__init__
        # is mounted once, by the outermost call.
        self.building: weakref.WeakSet[Starlette] = weakref.WeakSet()

    def patch(self, monkeypatch: pytest.MonkeyPatch, cls: type[Starlette]) -> None:
        original = cls.__init__
        signature = inspect.signature(original)

        @functools.wraps(original)
        def __init__(app: Starlette, *args: Any, **kwargs: Any) -> None:
            if app in self.building:
                original(app, *args, **kwargs)
                return
            self.building.add(app)
            try:
                if self.form == "readme":
                    bound = signature.bind(app, *args, **kwargs)
                    own = bound.arguments.get("lifespan")
                    bound.arguments["lifespan"] = SentryLifespan(
                        own, transport=self.transport, **SDK_OPTIONS
                    )
                    args, kwargs = bound.args[1:], bound.kwargs
                original(app, *args, **kwargs)
            finally:
                self.building.discard(app)
            self.mount(app)

        monkeypatch.setattr(cls, "__init__", __init__)

    def mount(self, app: Starlette) -> None:
        if self.form == "instrument":
            router = app.router
            router.lifespan_context = SentryLifespan(
                router.lifespan_context, transport=self.transport, **SDK_OPTIONS
            )
        instrument(app)


def pytest_configure(config: pytest.Config) -> None:
    monkeypatch = pytest.MonkeyPatch()
    config.add_cleanup(monkeypatch.undo)
    for name in list(os.environ):
        if name.startswith("SENTRY_"):
            monkeypatch.delenv(name)
    transport: CountingTransport | None = None
    if os.environ.get("BOOTY_SUITE_SENTRY", "on") == "on":
        monkeypatch.setenv("SENTRY_DSN", FAKE_DSN)
        transport = CountingTransport()
        init_from_environment(transport=transport, **SDK_OPTIONS)
    config.stash[_TRANSPORT] = transport
    mounting = Mounting(os.environ.get("BOOTY_SUITE_FORM", "instrument"), transport)
    for cls in (Starlette, FastAPI):
        mounting.patch(monkeypatch, cls)


def pytest_report_header(config: pytest.Config) -> str:
    form = os.environ.get("BOOTY_SUITE_FORM", "instrument")
    return f"booty drop-in: form={form}, sentry={os.environ.get('BOOTY_SUITE_SENTRY', 'on')}"


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    transport = config.stash.get(_TRANSPORT, None)
    if transport is not None:
        terminalreporter.write_line(f"booty drop-in: {transport.envelopes} envelopes sent")


_TRANSPORT: pytest.StashKey[CountingTransport | None] = pytest.StashKey()
