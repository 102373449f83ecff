"""Long strings are cut at MAX_TEXT characters, after the scan."""

from __future__ import annotations

from typing import Any, cast

import pytest
from sentry_sdk.types import Event

from middleware.scrub.budget import MAX_EVENT_ITEMS, MAX_EVENT_TEXT, MAX_TEXT
from middleware.scrub.scrubber import Scrubber
from tests.support.scrub import FILTERED


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


def _scrub_extra(extra: Any) -> Any:
    return Scrubber().scrub_event(cast(Event, {"extra": extra}))["extra"]


def test_an_event_spends_its_whole_text_budget_and_no_more() -> None:
    texts = [letter * MAX_TEXT for letter in "abcdefghi"][: MAX_EVENT_TEXT // MAX_TEXT + 1]

    scrubbed = _scrub_extra(texts)

    assert scrubbed[:-1] == texts[:-1]
    assert scrubbed[-1] == FILTERED


def test_an_event_walks_its_whole_item_budget_and_no_more() -> None:
    assert _scrub_extra(list(range(MAX_EVENT_ITEMS))) == list(range(MAX_EVENT_ITEMS))
    assert _scrub_extra(list(range(MAX_EVENT_ITEMS + 1))) == FILTERED


@pytest.mark.parametrize("length", [40, 41])
def test_a_secret_across_the_cut_is_cut_after_its_whole_replacement(length: int) -> None:
    head = "x" * (MAX_TEXT - 30)
    # The key runs past MAX_TEXT; its replacement ends before it.
    text = f"{head} sk-{'a' * length} " + "z" * 2000

    assert _extra(text) == f"{head} [Filtered]..."


def test_a_text_of_secrets_cut_inside_one_keeps_every_replacement_whole() -> None:
    # Scrubbing shortens it far below MAX_TEXT; the scanned part ends inside a key.
    text = f"sk-{'a' * 40} " * 500

    scrubbed = _extra(text)

    assert scrubbed.endswith("[Filtered]...")
    assert set(scrubbed.removesuffix("...").split(" ")) == {"[Filtered]"}
