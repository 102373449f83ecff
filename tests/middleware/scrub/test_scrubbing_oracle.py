"""The oracle (Relay's own scrubber) can fail, and our scrubber leaves it nothing."""

from __future__ import annotations

import copy
from typing import Any, cast

from sentry_sdk.types import Event

from middleware.scrub.scrubber import Scrubber
from tests.oracle import leftovers

RAW: dict[str, Any] = {
    "message": "card 4111 1111 1111 1111 used",
    "extra": {"db_password": "hunter2", "note": "auth failed for ann", "page": "page=2"},
    "request": {
        "url": "https://ann:pw@example.com/",
        "query_string": "token=abc&page=2",
        "headers": {"Authorization": "Bearer abc.def", "X-Api-Key": "k1"},
        "data": {"pairs": [["b'authorization'", "b'Bearer xyz'"]]},
    },
    "breadcrumbs": {"values": [{"message": "token=abc", "data": {"secret": "s"}}]},
    "exception": {
        "values": [
            {
                "type": "ValueError",
                "value": "bad",
                "stacktrace": {
                    "frames": [{"function": "f", "vars": {"api_key": "k", "ssn": "078-05-1120"}}]
                },
            }
        ]
    },
}


def test_the_oracle_sees_what_an_unscrubbed_event_leaks() -> None:
    found = leftovers(copy.deepcopy(RAW))

    paths = {line.split(":")[0] for line in found}
    assert {
        "extra.db_password",
        "extra.note",
        "request.headers.0.1",
        "request.query_string.0.1",
        "breadcrumbs.values.0.message",
        "exception.values.0.stacktrace.frames.0.vars.ssn",
    } <= paths


def test_the_oracle_accepts_what_is_already_filtered() -> None:
    event = {"extra": {"password": "[Filtered]", "url": "https://ann:[Filtered]@example.com/"}}

    assert leftovers(event) == []


def test_a_scrubbed_event_leaves_the_oracle_nothing() -> None:
    event = Scrubber().scrub_event(cast(Event, copy.deepcopy(RAW)))

    assert leftovers(cast(dict[str, Any], event)) == []
    assert event["extra"]["page"] == "page=2"
    assert event["request"]["query_string"] == "token=[Filtered]&page=2"
