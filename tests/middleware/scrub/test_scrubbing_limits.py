"""Pathological input never raises, never loses the event, and leaks nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, cast

import pytest
import sentry_sdk
from sentry_sdk.scrubber import EventScrubber
from sentry_sdk.types import Event

from middleware.scrub.budget import CUT_MARGIN, MAX_EVENT_ITEMS, MAX_EVENT_TEXT, MAX_TEXT
from middleware.scrub.scrubber import Scrubber
from tests.support import SentryInit

TOKEN = "ghp_" + "Z9y8X7w6" * 5
FILTERED = "[Filtered]"


def nested(depth: int) -> list[Any]:
    root: list[Any] = []
    current = root
    for _ in range(depth):
        inner: list[Any] = [f"token={TOKEN}"]
        current.append(inner)
        current = inner
    return root


def cyclic() -> dict[str, Any]:
    data: dict[str, Any] = {"api_key": TOKEN, "items": []}
    data["self"] = data
    data["items"].append(data["items"])
    return data


def test_deep_huge_and_cyclic_locals_still_give_one_clean_event(
    sentry_init: SentryInit,
) -> None:
    capture = sentry_init()

    def handler() -> None:
        deep = nested(10_000)
        huge = f"{TOKEN} " + "x" * 1_000_000 + f" {TOKEN}"
        loop = cyclic()
        raise RuntimeError("pathological", len(deep), len(huge), len(loop))

    try:
        handler()
    except RuntimeError as error:
        sentry_sdk.capture_exception(error)

    [event] = capture.events
    assert event["exception"]["values"][0]["type"] == "RuntimeError"
    assert TOKEN.encode() not in capture.serialized()


def test_huge_string_is_cut_before_the_scan(sentry_init: SentryInit) -> None:
    capture = sentry_init()

    sentry_sdk.capture_event({"message": "big", "extra": {"blob": "y " * 500_000 + TOKEN}})

    [event] = capture.events
    blob = event["extra"]["blob"]
    assert blob.startswith("y y ") and blob.endswith("...")
    assert len(blob) <= MAX_TEXT + 3
    assert TOKEN.encode() not in capture.serialized()


def test_direct_scrub_of_a_raw_pathological_event_is_bounded_and_serialisable() -> None:
    event: dict[str, Any] = {
        "extra": {"deep": nested(10_000), "loop": cyclic(), "huge": TOKEN + "z" * 1_000_000},
        "contexts": {"deep": {"a": nested(5_000)}},
        "tags": {"raw": (b"Bearer abc.def", object())},
    }
    event["extra"]["event"] = event

    scrubbed = cast(dict[str, Any], Scrubber().scrub_event(cast(Event, event)))

    text = json.dumps(scrubbed)
    assert TOKEN not in text and "abc.def" not in text
    assert scrubbed["extra"]["event"]["extra"] == FILTERED
    assert scrubbed["extra"]["loop"]["self"] == FILTERED
    assert scrubbed["extra"]["loop"]["api_key"] == FILTERED
    assert event["extra"]["loop"]["api_key"] == TOKEN


def test_breadcrumb_data_the_caller_holds_is_not_changed(
    sentry_init: SentryInit,
) -> None:
    capture = sentry_init()
    data = {"x-auth-token": TOKEN, "page": 2}

    with sentry_sdk.isolation_scope():
        sentry_sdk.add_breadcrumb(message="call", data=data)
        sentry_sdk.capture_message("after")

    assert data == {"x-auth-token": TOKEN, "page": 2}
    crumb = capture.events[0]["breadcrumbs"]["values"][-1]
    assert crumb["data"] == {"x-auth-token": FILTERED, "page": 2}


def test_the_scope_user_is_not_changed_by_the_sdk_side_scrubber(
    sentry_init: SentryInit,
) -> None:
    capture = sentry_init()
    user = {"id": "7", "session_key": TOKEN}

    with sentry_sdk.isolation_scope() as scope:
        scope.set_user(user)
        sentry_sdk.capture_message("first")
        sentry_sdk.capture_message("second")

    assert user == {"id": "7", "session_key": TOKEN}
    assert [e["user"] for e in capture.events] == [{"id": "7", "session_key": FILTERED}] * 2


@pytest.mark.parametrize("send_default_pii", [False, True])
def test_event_scrubber_is_the_sdks(send_default_pii: bool) -> None:
    scrubber = Scrubber(send_default_pii=send_default_pii)

    assert isinstance(scrubber.event_scrubber, EventScrubber)
    assert ("ip_address" in scrubber.event_scrubber.denylist) is not send_default_pii


def test_past_the_event_budget_strings_are_filtered_unread() -> None:
    blobs = [f"{i} " + "word " * (MAX_TEXT // 4) for i in range(MAX_EVENT_TEXT // MAX_TEXT * 2)]
    event: dict[str, Any] = {"message": "many", "extra": {"blobs": blobs}}

    scrubbed = cast(dict[str, Any], Scrubber().scrub_event(cast(Event, event)))

    sent = scrubbed["extra"]["blobs"]
    kept = [blob for blob in sent if blob != FILTERED]
    assert len(sent) == len(blobs)
    assert 0 < len(kept) <= MAX_EVENT_TEXT // MAX_TEXT
    assert all(blob.endswith("...") for blob in kept)
    assert all(len(blob) == MAX_TEXT + 3 for blob in kept)
    assert scrubbed["message"] == "many"


def test_past_the_event_budget_items_are_filtered_unwalked() -> None:
    # Each group costs 3/4 of the budget: its rows, and 2 fields a row.
    groups = {
        name: [{"id": i, "name": f"row {i}"} for i in range(MAX_EVENT_ITEMS // 4)]
        for name in ("a", "b", "c")
    }
    event: dict[str, Any] = {"message": "wide", "extra": groups}

    scrubbed = cast(dict[str, Any], Scrubber().scrub_event(cast(Event, event)))

    assert scrubbed["extra"] == {"a": groups["a"], "b": FILTERED, "c": FILTERED}
    assert scrubbed["message"] == "wide"


@pytest.mark.parametrize("straddled", [MAX_TEXT, MAX_TEXT + CUT_MARGIN])
def test_no_part_of_a_secret_across_the_cut_is_kept_when_scrubbing_shortened_the_text(
    straddled: int,
) -> None:
    secret = "s3cr3t-VALUE-0123456789abcdef"
    # Filtered earlier in the text, each copy shortens it: the cut must still be
    # made on the original positions.
    head = " ".join([secret] * 80) + " "
    at = straddled - 10
    text = head + "y" * (at - len(head)) + secret + "z" * 2000
    event = {"extra": {"blob": text}}

    scrubbed = cast(dict[str, Any], Scrubber(secrets=[secret]).scrub_event(cast(Event, event)))

    blob = scrubbed["extra"]["blob"]
    assert blob.endswith("...") and len(blob) <= MAX_TEXT + 3
    assert secret[:6] not in blob
    assert "z" not in blob  # nothing from past the cut


def test_a_text_exactly_at_the_cut_keeps_its_replacements_and_is_not_marked_cut() -> None:
    # Filtering lengthens it past MAX_TEXT characters: it was read whole all the same.
    text = "token=abc " + "x" * (MAX_TEXT - 10)
    event = {"tags": {"note": text}}

    scrubbed = cast(dict[str, Any], Scrubber().scrub_event(cast(Event, event)))

    assert scrubbed["tags"]["note"] == f"token={FILTERED} " + "x" * (MAX_TEXT - 10)


def _blob(i: int, size: int = MAX_TEXT) -> str:
    return f"{i:02d}" + "x" * (size - 2)


# Stacks whose scrubbing takes what is left of an event's budget to its last
# character or item (the function names "f" and the key "v" cost one character).
# Each event gets its own copy, as each serialised event has.
WHOLE_BUDGET_STACKS: dict[str, Callable[[], list[dict[str, Any]]]] = {
    "small, characters": lambda: [{"function": _blob(i)} for i in range(8)],
    "small, items": lambda: [{"function": "f", "data": list(range(MAX_EVENT_ITEMS))}],
    "locals, characters": lambda: [
        *({"function": "f", "lineno": i, "vars": {"v": _blob(i)}} for i in range(7)),
        {"function": "f", "lineno": 7, "vars": {"v": _blob(7, MAX_TEXT - 2)}},
    ],
    "locals, items": lambda: [{"vars": {"v": [str(i) for i in range(MAX_EVENT_ITEMS - 1)]}}],
}


@pytest.mark.parametrize(
    "stack", list(WHOLE_BUDGET_STACKS.values()), ids=list(WHOLE_BUDGET_STACKS)
)
def test_a_stack_that_took_the_whole_budget_comes_whole_in_the_next_event(
    stack: Callable[[], list[dict[str, Any]]],
) -> None:
    # It was scrubbed whole, so it is kept: the next event, whose budget its extra
    # data spends first, gets it from there instead of placeholders.
    scrubber = Scrubber()
    spent = {"blobs": [_blob(50 + i) for i in range(8)], "rows": list(range(MAX_EVENT_ITEMS))}

    first = scrubber.scrub_event(cast(Event, {"stacktrace": {"frames": stack()}}))
    second = scrubber.scrub_event(cast(Event, {"extra": spent, "stacktrace": {"frames": stack()}}))

    assert FILTERED not in json.dumps(first)
    assert second["stacktrace"] == first["stacktrace"]
