"""Long strings are cut at MAX_TEXT characters, after the scan."""

from __future__ import annotations

from typing import Any, cast

from sentry_sdk.types import Event

from middleware.scrub.budget import MAX_TEXT
from middleware.scrub.scrubber import Scrubber


def _extra(value: str) -> Any:
    return Scrubber().scrub_event(cast(Event, {"extra": {"v": value}}))["extra"]["v"]


def test_a_string_of_exactly_the_limit_is_sent_whole() -> None:
    text = "x" * MAX_TEXT

    assert _extra(text) == text


def test_a_string_past_the_limit_is_cut_and_marked() -> None:
    text = "x" * (MAX_TEXT + 1)

    assert _extra(text) == "x" * MAX_TEXT + "..."


def test_a_long_string_that_scrubbing_brings_within_the_limit_is_sent_whole() -> None:
    head = "x" * (MAX_TEXT - len(" [Filtered]"))

    assert _extra(f"{head} sk-{'a' * 40}") == f"{head} [Filtered]"
    assert _extra(f"{head}y sk-{'a' * 40}") == f"{head}y [Filtered..."
