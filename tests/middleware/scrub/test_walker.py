"""The walk over an event's data: enums, depth, and what it must keep as it was."""

from __future__ import annotations

import datetime
import enum
import json
from typing import Any, cast

import pytest
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


def test_a_list_of_name_value_pairs_is_read_as_keys_and_their_values() -> None:
    pairs = [
        ["page", "2"],
        ["token", "abc123"],
        ["count", 5],
        ["auth", True],
        ["token", False],
        ["api_key", None],
        ["data", {"note": "auth failed"}],
    ]

    assert _scrub({"extra": {"pairs": pairs}})["extra"]["pairs"] == [
        ["page", "2"],
        ["token", FILTERED],
        ["count", 5],
        ["auth", True],
        ["token", False],
        ["api_key", None],
        ["data", {"note": FILTERED}],
    ]


def test_a_pair_value_is_strict_in_a_databag_and_loose_elsewhere_whatever_came_first() -> None:
    # Sentry's server filters "auth ..." whole in a databag, and keeps it in a message
    # or a tag: the same text read both ways in one event.
    text = "auth failed for bob"
    first_loose = _scrub({"message": text, "extra": {"pairs": [["step", text]]}})
    first_strict = _scrub({"extra": {"note": text}, "tags": [["step", text]]})
    tags_dict = _scrub({"extra": {"note": text}, "tags": {"step": text}})
    lists = _scrub({"message": text, "extra": {"notes": [text]}, "fingerprint": [text]})

    assert (first_loose["message"], first_loose["extra"]["pairs"]) == (text, [["step", FILTERED]])
    assert (first_strict["extra"]["note"], first_strict["tags"]) == (FILTERED, [["step", text]])
    assert (tags_dict["extra"]["note"], tags_dict["tags"]) == (FILTERED, {"step": text})
    assert (lists["extra"]["notes"], lists["fingerprint"]) == ([FILTERED], [text])


def test_a_cycle_through_pairs_is_cut_where_it_closes() -> None:
    loop: list[Any] = [["name", "loop"], ["self", None]]
    loop[1][1] = loop

    assert _scrub({"extra": {"loop": loop}})["extra"]["loop"] == [
        ["name", "loop"],
        ["self", FILTERED],
    ]


def test_pairs_nested_past_the_limit_are_cut() -> None:
    value: Any = "bottom"
    for _ in range(MAX_DEPTH):
        value = [["d", value]]

    sent = json.dumps(_scrub({"extra": {"deep": value}}))

    assert "bottom" not in sent
    assert FILTERED in sent


def test_frames_marshal_cannot_hold_are_scrubbed_one_by_one() -> None:
    when = datetime.datetime(2026, 1, 2, tzinfo=datetime.UTC)
    frames = [{"function": "login", "module": "token=abc", "when": when}]

    scrubbed = _scrub({"stacktrace": {"frames": frames}})

    assert scrubbed["stacktrace"]["frames"] == [
        {"function": "login", "module": f"token={FILTERED}", "when": when}
    ]


def test_a_frame_that_is_no_dict_is_kept_beside_frames_with_locals() -> None:
    frames = [None, "raw", {"function": "f", "vars": {"password": "x", "n": 1}}]
    expected = [None, "raw", {"function": "f", "vars": {"password": FILTERED, "n": 1}}]

    scrubber = Scrubber()

    for _ in range(2):  # the second time, the frame with locals comes from the cache
        event = scrubber.scrub_event(cast(Event, {"stacktrace": {"frames": frames}}))
        assert event["stacktrace"]["frames"] == expected


def test_a_lone_pair_keeps_a_flag_named_as_a_secret() -> None:
    extra = {"a": ["token", True], "b": ["csrf", False], "c": ["token", "abc123"]}

    assert _scrub({"extra": extra})["extra"] == {
        "a": ["token", True],
        "b": ["csrf", False],
        "c": ["token", FILTERED],
    }


def test_a_cycle_through_a_lone_pair_is_cut_where_it_closes() -> None:
    loop: list[Any] = ["next", None]
    loop[1] = loop

    assert _scrub({"extra": {"loop": loop}})["extra"]["loop"] == ["next", FILTERED]


def test_lone_pairs_nested_past_the_limit_are_cut() -> None:
    value: Any = "bottom"
    for _ in range(2 * MAX_DEPTH):
        value = ["d", value]

    sent = json.dumps(_scrub({"extra": {"deep": value}}))

    assert "bottom" not in sent
    assert FILTERED in sent


@pytest.mark.parametrize("frames", [None, "raw", [None], {"values": [{"module": "token=abc"}]}])
def test_frames_that_are_no_list_of_dicts_are_kept_or_read_loose(frames: Any) -> None:
    expected = (
        {"values": [{"module": f"token={FILTERED}"}]} if isinstance(frames, dict) else frames
    )

    assert _scrub({"stacktrace": {"frames": frames}})["stacktrace"]["frames"] == expected


def _frames_of(scrubber: Scrubber, frames: list[Any]) -> Any:
    return cast(Any, scrubber.scrub_event(cast(Event, {"stacktrace": {"frames": frames}})))[
        "stacktrace"
    ]["frames"]


def _frame(local: Any, **fields: Any) -> dict[str, Any]:
    return {"function": "pay", "lineno": 3, "vars": {"n": local}, **fields}


@pytest.mark.parametrize(
    ("first", "second"),
    [
        # Equal in Python, not scrubbed alike: a float is no card number.
        (_frame([4111111111111111.0]), _frame([4111111111111111])),
        (_frame("x", args=(4111111111111111.0,)), _frame("x", args=(4111111111111111,))),
        (_frame({"k": 4111111111111111.0}), _frame({"k": 4111111111111111})),
        (
            {"vars": {"n": "x"}, "args": (4111111111111111.0,)},
            {"vars": {"n": "x"}, "args": (4111111111111111,)},
        ),
    ],
)
def test_a_frame_equal_to_one_seen_before_but_of_other_types_is_scrubbed_as_itself(
    first: dict[str, Any], second: dict[str, Any]
) -> None:
    scrubber = Scrubber()

    for _ in range(2):
        scrubber.scrub_event(cast(Event, {"stacktrace": {"frames": [first]}}))
    scrubbed = scrubber.scrub_event(cast(Event, {"stacktrace": {"frames": [second]}}))

    assert "4111111111111111" not in str(scrubbed)


def test_frames_whose_locals_have_keys_that_are_no_strings_keep_their_keys() -> None:
    scrubber = Scrubber()
    kinds = []

    for key in (1, 1.0, True):
        [frame] = _frames_of(scrubber, [{"function": "pay", "vars": {key: "a"}}])
        kinds.append(type(next(iter(frame["vars"]))))

    assert kinds == [int, float, bool]


def test_frame_locals_nested_far_past_the_limit_are_cut_without_error() -> None:
    for container in ("dict", "list"):
        deep: Any = "bottom"
        for _ in range(5000):
            deep = {"d": deep} if container == "dict" else [deep]

        scrubbed = _scrub({"stacktrace": {"frames": [_frame(deep)]}})

        assert "bottom" not in json.dumps(scrubbed)


def test_a_frame_repeated_in_a_stack_is_a_separate_object_each_time() -> None:
    scrubber = Scrubber()
    frame = _frame("x")

    for _ in range(3):  # the last two times, from the caches
        frames = _frames_of(scrubber, [frame] * 3)
        assert len({id(f) for f in frames}) == 3
        frames[0]["vars"]["n"] = "edited"
        assert [f["vars"]["n"] for f in frames] == ["edited", "x", "x"]


def test_a_lean_stack_seen_before_is_handed_out_as_new_frames() -> None:
    # No locals, no source lines: the stack is kept whole, by its content.
    frame = {"function": "pay", "module": "token=abc", "lineno": 3, "in_app": True}
    scrubber = Scrubber()

    for _ in range(3):  # the last two times, from the cache
        frames = _frames_of(scrubber, [frame] * 3)
        assert frames == [{**frame, "module": f"token={FILTERED}"}] * 3
        assert len({id(f) for f in frames}) == 3
        frames[0]["module"] = "edited"
        frames[1]["lineno"] = 4


def test_a_lean_stack_holding_containers_is_never_handed_out_twice() -> None:
    frame = {"function": "pay", "data": {"note": "token=abc"}}
    scrubber = Scrubber()

    for _ in range(3):
        [scrubbed] = _frames_of(scrubber, [frame])
        assert scrubbed == {"function": "pay", "data": {"note": f"token={FILTERED}"}}
        scrubbed["data"]["note"] = "edited"


def test_flags_named_as_secrets_are_kept_in_a_dict() -> None:
    extra = {"csrf": True, "token": False, "auth": None, "session": "abc123"}

    assert _scrub({"extra": extra})["extra"] == {
        "csrf": True,
        "token": False,
        "auth": None,
        "session": FILTERED,
    }


def test_a_field_named_as_a_secret_is_filtered_and_the_fields_after_it_kept() -> None:
    crumb = {"token": "abc123", "category": "auth", "level": "info"}

    assert _scrub({"breadcrumbs": {"values": [crumb]}})["breadcrumbs"] == {
        "values": [{"token": FILTERED, "category": "auth", "level": "info"}]
    }


def test_a_cycle_through_a_tuple_is_cut_where_it_closes() -> None:
    loop: dict[str, Any] = {"name": "loop"}
    loop["t"] = (loop,)

    assert _scrub({"extra": {"loop": loop}})["extra"]["loop"] == {
        "name": "loop",
        "t": [FILTERED],
    }


def test_tuples_nested_past_the_limit_are_cut() -> None:
    value: Any = "bottom"
    for _ in range(MAX_DEPTH):
        value = {"t": (value,)}

    sent = json.dumps(_scrub({"extra": {"deep": value}}))

    assert "bottom" not in sent
    assert FILTERED in sent


def test_containers_bytes_and_tuples_in_a_databag_list_are_read_strict() -> None:
    text = "auth failed for bob"
    notes = [{"n": text}, [text], b"auth failed for bob", (text,)]

    assert _scrub({"extra": {"notes": notes}})["extra"]["notes"] == [
        {"n": FILTERED},
        [FILTERED],
        FILTERED,
        [FILTERED],
    ]


def test_a_cycle_through_a_tuple_in_a_list_is_cut_where_it_closes() -> None:
    loop: list[Any] = [1, 2]
    loop.append((loop,))

    assert _scrub({"extra": {"loop": loop}})["extra"]["loop"] == [1, 2, [FILTERED]]


def test_tuples_in_lists_nested_past_the_limit_are_cut() -> None:
    value: Any = "bottom"
    for _ in range(MAX_DEPTH):
        value = [(value,)]

    sent = json.dumps(_scrub({"extra": {"deep": value}}))

    assert "bottom" not in sent
    assert FILTERED in sent


@pytest.mark.parametrize(
    ("number", "filtered"),
    [
        (4222222222222, True),  # 13 digits, Luhn-valid
        (4111111111111111110, True),  # 19 digits
        (4222222222223, False),
        (41111111111111111115, False),  # 20 digits: no card has as many
    ],
)
def test_integers_are_filtered_as_card_numbers_from_13_to_19_digits(
    number: int, filtered: bool
) -> None:
    assert _scrub({"extra": {"n": [number]}})["extra"]["n"] == [FILTERED if filtered else number]


class _Note:
    def __repr__(self) -> str:
        return "auth failed for bob"


def test_an_object_in_a_databag_is_read_strict_by_its_repr() -> None:
    assert _scrub({"extra": {"note": [_Note()]}, "tags": {"note": _Note()}}) == {
        "extra": {"note": [FILTERED]},
        "tags": {"note": "auth failed for bob"},
    }


def test_the_same_container_twice_in_an_event_is_kept_both_times() -> None:
    shared = {"a": 1}
    rows = [1, 2]

    assert _scrub({"extra": {"x": shared, "y": shared, "r": [rows, rows]}})["extra"] == {
        "x": {"a": 1},
        "y": {"a": 1},
        "r": [[1, 2], [1, 2]],
    }
