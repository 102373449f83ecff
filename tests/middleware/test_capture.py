from __future__ import annotations

from typing import Any

import sentry_sdk
from sentry_sdk.utils import event_from_exception

from middleware.capture import capture_unhandled
from middleware.lifespan import init_sentry
from middleware.settings import load_sentry_config
from tests.conftest import CapturingTransport


def nested(depth: int) -> None:
    if depth:
        nested(depth - 1)
    raise ValueError("deep down")


def context_of(frames: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (f["lineno"], f.get("pre_context"), f.get("context_line"), f.get("post_context"))
        for f in frames
    ]


def test_source_context_matches_the_sdks_own(capture: CapturingTransport) -> None:
    init_sentry(load_sentry_config(), transport=capture)
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


def test_source_context_can_be_turned_off(capture: CapturingTransport) -> None:
    init_sentry(load_sentry_config(), transport=capture)
    sentry_sdk.get_client().options["include_source_context"] = False
    try:
        nested(0)
    except ValueError as exc:
        capture_unhandled(exc, "test")
    (event,) = capture.events
    frames = event["exception"]["values"][0]["stacktrace"]["frames"]
    assert all("context_line" not in f for f in frames)
