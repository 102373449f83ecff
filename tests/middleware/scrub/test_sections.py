"""Each part of an event read the way Sentry's server reads it."""

from __future__ import annotations

from typing import Any, cast

from sentry_sdk.types import Event

from middleware.scrub.scrubber import Scrubber
from tests.support.scrub import FILTERED


def _scrub(event: dict[str, Any]) -> dict[str, Any]:
    return dict(Scrubber().scrub_event(cast(Event, event)))


def test_a_query_value_is_read_decoded_as_a_databag_value() -> None:
    # "p%61ssword" is "password": Sentry's server filters the decoded value whole.
    request = {"query_string": "q=hunter%20p%61ssword&page=2", "url": "http://x/"}

    assert _scrub({"request": request})["request"]["query_string"] == f"q={FILTERED}&page=2"


def test_header_entries_that_are_not_pairs_are_kept_whole() -> None:
    headers = [["Accept", "text/html"], ["X-Odd", "a", "b"], ["X-Lone"], "raw"]

    scrubbed = _scrub({"request": {"headers": headers}})

    assert scrubbed["request"]["headers"] == headers


def test_a_log_entry_without_a_formatted_message_keeps_its_parameters() -> None:
    entry = {"message": "user %s left", "params": ["ann", "password=hunter2"]}

    scrubbed = _scrub({"logentry": entry})

    assert scrubbed["logentry"] == {"message": "user %s left", "params": ["ann", FILTERED]}


def test_a_two_item_list_led_by_a_sentence_is_a_list_not_a_name_and_value() -> None:
    extra = {"steps": ["token refresh", "done"], "pair": ["api_key", "hunter2"]}

    scrubbed = _scrub({"extra": extra})

    assert scrubbed["extra"]["steps"] == ["token refresh", "done"]
    assert scrubbed["extra"]["pair"][1] == FILTERED
