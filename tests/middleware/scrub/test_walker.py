"""The walk over an event's data: enums, depth, and what it must keep as it was."""

from __future__ import annotations

import enum
import json
from typing import Any, cast

from sentry_sdk.types import Event

from middleware.scrub.scrubber import Scrubber
from middleware.scrub.walker import MAX_DEPTH
from tests.support.scrub import FILTERED


class Source(enum.StrEnum):
    ROUTE = "route"
    LEAKY = "password=hunter2 sent"


def _scrub(event: dict[str, Any]) -> dict[str, Any]:
    return dict(Scrubber(secrets=["cfg-0123456789"]).scrub_event(cast(Event, event)))


def test_a_str_enum_holding_a_secret_is_scrubbed_and_a_plain_one_stays_itself() -> None:
    scrubbed = _scrub(
        {
            "transaction_info": {"source": Source.ROUTE},
            "extra": {"state": Source.LEAKY},
            "tags": {"state": Source.LEAKY},
        }
    )

    assert scrubbed["transaction_info"]["source"] is Source.ROUTE
    assert scrubbed["extra"]["state"] == FILTERED
    assert "hunter2" not in json.dumps(scrubbed)
    assert scrubbed["tags"]["state"] == f"password={FILTERED} sent"


def _nested(levels: int, leaf: Any, container: str) -> Any:
    value = leaf
    for _ in range(levels):
        value = {"d": value} if container == "dict" else [value, 1]
    return value


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def test_data_nested_past_the_limit_is_cut_at_the_limit() -> None:
    for container in ("dict", "list"):
        scrubbed = _scrub({"extra": _nested(60, "bottom", container)})

        assert _depth(scrubbed["extra"]) == MAX_DEPTH
        assert "bottom" not in json.dumps(scrubbed)
        assert FILTERED in json.dumps(scrubbed)


def test_data_nested_within_the_limit_is_kept_whole() -> None:
    for container in ("dict", "list"):
        data = _nested(MAX_DEPTH - 2, "bottom", container)

        assert _scrub({"extra": data})["extra"] == data


def test_a_cycle_is_cut_where_it_closes() -> None:
    loop: dict[str, Any] = {"name": "loop"}
    loop["self"] = loop

    assert _scrub({"extra": {"loop": loop}})["extra"] == {
        "loop": {"name": "loop", "self": FILTERED}
    }
