"""A crash in the app's own lifespan startup reaches Sentry before the server exits."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.compat.support import SERVER_MODULES, Served, require
from tests.oracle import assert_nothing_left

EXIT_SECONDS = 30


@pytest.mark.parametrize("server", ["uvicorn", "hypercorn", "granian"])  # daphne: no lifespan
def test_a_startup_crash_is_captured_once_and_flushed_before_exit(
    server: str, tmp_path: Path
) -> None:
    require(SERVER_MODULES[server])
    # A slow Sentry: the event is still queued when startup fails.
    served = Served(server, "tests.compat.apps.startup_crash_app:app", tmp_path / "log", delay=0.5)
    try:
        # Each server exits in its own way (uvicorn 3, hypercorn 0): exiting is what counts.
        served.process.wait(EXIT_SECONDS)
        events = served.envelopes.events
    finally:
        served.close()
    (event,) = events
    (exception,) = event["exception"]["values"]
    assert exception["type"] == "ConnectionError"
    assert exception["mechanism"] == {"type": "asgi.lifespan.startup", "handled": False}
    assert_nothing_left(events)
