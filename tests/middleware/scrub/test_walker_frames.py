"""Frames scrubbed once are reused by content, never by what one event left behind."""

from __future__ import annotations

from typing import Any, cast

from sentry_sdk.types import Event

from middleware.scrub.budget import MAX_EVENT_TEXT, MAX_TEXT
from middleware.scrub.scrubber import Scrubber

FILTERED = "[Filtered]"
TOKEN = "ghp_" + "Q1w2E3r4" * 5


def frame(*, line: str = "    handle(request)") -> dict[str, Any]:
    return {
        "filename": "app/views.py",
        "function": "handle",
        "lineno": 12,
        "pre_context": ["def handle(request):", f"    token = {TOKEN!r}"],
        "context_line": line,
        "post_context": [""],
        "vars": {"request": {"path": "/items", "api_key": TOKEN}, "count": 3},
        "in_app": True,
    }


def event(*frames: dict[str, Any], extra: Any = None) -> Event:
    data: dict[str, Any] = {
        "exception": {"values": [{"type": "E", "stacktrace": {"frames": list(frames)}}]}
    }
    if extra is not None:
        # Before the exception: scrubbed first, it spends the event's budget.
        data = {"extra": extra, **data}
    return cast(Event, data)


def frames_of(scrubbed: Event) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = cast(dict[str, Any], scrubbed)["exception"]["values"][0][
        "stacktrace"
    ]["frames"]
    return frames


def test_a_frame_scrubbed_again_is_scrubbed_alike_and_a_fresh_copy() -> None:
    scrubber = Scrubber()
    sent = [frames_of(scrubber.scrub_event(event(frame())))[0] for _ in range(3)]
    # Whoever holds one event may change it: the next event must not see it.
    sent[1]["vars"]["count"] = "changed"
    sent[1]["pre_context"].append("changed")
    again = frames_of(scrubber.scrub_event(event(frame())))[0]

    for scrubbed in [sent[0], sent[2], again]:
        assert scrubbed["vars"] == {"request": {"path": "/items", "api_key": FILTERED}, "count": 3}
        assert scrubbed["pre_context"] == ["def handle(request):", f"    token = '{FILTERED}'"]


def test_a_frame_filtered_past_one_events_budget_is_whole_in_the_next() -> None:
    scrubber = Scrubber()
    blobs = ["word " * (MAX_TEXT // 5) for _ in range(MAX_EVENT_TEXT // MAX_TEXT + 1)]
    [starved] = frames_of(scrubber.scrub_event(event(frame(line="    late()"), extra=blobs)))
    [fed] = frames_of(scrubber.scrub_event(event(frame(line="    late()"))))

    assert starved["context_line"] == FILTERED
    assert fed["context_line"] == "    late()"
    assert fed["vars"]["count"] == 3
