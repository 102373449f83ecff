"""One event through a real sdk client, and what its scrubbing sent."""

from __future__ import annotations

from typing import Any, cast

import sentry_sdk
from sentry_sdk.types import Event

from tests.support.sentry import SentryInit

FILTERED = "[Filtered]"


def send(
    sentry_init: SentryInit,
    event: dict[str, Any],
    *,
    secret_env: tuple[str, ...] = (),
    **environment: str,
) -> dict[str, Any]:
    """The event as the client sent it, the sdk initialised from `environment`."""
    transport = sentry_init(secret_env=secret_env, **environment)
    sentry_sdk.capture_event(cast(Event, {"message": "boom", **event}))
    [sent] = transport.events
    return sent
