"""Frames scrubbed once are reused by content, never by what one event left behind."""

from __future__ import annotations

import copy
import json
from typing import Any, cast

import pytest
from sentry_sdk.types import Event

from middleware.scrub import walker as walker_module
from middleware.scrub.budget import MAX_EVENT_TEXT, MAX_TEXT
from middleware.scrub.scrubber import Scrubber
from middleware.scrub.walker import Walker

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
        # Locals as the sdk sends them: their reprs.
        "vars": {"request": {"path": "'/items'", "api_key": TOKEN}, "count": "3"},
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
        assert scrubbed["vars"] == {
            "request": {"path": "'/items'", "api_key": FILTERED},
            "count": "3",
        }
        assert scrubbed["pre_context"] == ["def handle(request):", f"    token = '{FILTERED}'"]


def test_a_frame_filtered_past_one_events_budget_is_whole_in_the_next() -> None:
    scrubber = Scrubber()
    blobs = ["word " * (MAX_TEXT // 5) for _ in range(MAX_EVENT_TEXT // MAX_TEXT + 1)]
    [starved] = frames_of(scrubber.scrub_event(event(frame(line="    late()"), extra=blobs)))
    [fed] = frames_of(scrubber.scrub_event(event(frame(line="    late()"))))

    assert starved["context_line"] == FILTERED
    assert fed["context_line"] == "    late()"
    assert fed["vars"]["count"] == "3"


CARD = 4111111111111111


@pytest.mark.parametrize("field", ["colno", "vars"])
def test_a_frame_equal_to_one_scrubbed_before_but_for_a_number_type_is_scrubbed_as_itself(
    field: str,
) -> None:
    scrubber = Scrubber()
    # Python's == holds between 4111111111111111.0 and 4111111111111111, but a float
    # is sent as it is and an int of a card number's shape is filtered.
    as_float, as_int = frame(), frame()
    if field == "colno":
        as_float["colno"], as_int["colno"] = float(CARD), CARD
    else:
        as_float["vars"]["amount"], as_int["vars"]["amount"] = float(CARD), CARD
    for _ in range(3):
        [kept] = frames_of(scrubber.scrub_event(event(copy.deepcopy(as_float))))
        [filtered] = frames_of(scrubber.scrub_event(event(copy.deepcopy(as_int))))
        sent = kept.get("colno", kept["vars"].get("amount"))

        assert sent == float(CARD) and type(sent) is float
        assert filtered.get("colno", filtered["vars"].get("amount")) == FILTERED


def test_a_stack_with_a_frame_twice_is_sent_as_two_frames() -> None:
    scrubber = Scrubber()
    for _ in range(3):
        first, second = frames_of(scrubber.scrub_event(event(frame(), frame())))
    first["vars"]["count"] = "changed"

    assert first is not second and first["vars"] is not second["vars"]
    assert second["vars"]["count"] == "3"


def test_a_stack_scrubbed_again_is_a_fresh_copy() -> None:
    scrubber = Scrubber()
    stack = [frame(), frame(line="    other(request)"), frame(line="    third(request)")]
    sent = [frames_of(scrubber.scrub_event(event(*copy.deepcopy(stack)))) for _ in range(4)]
    # The first event walked each frame, the second copied each, the rest the whole stack.
    sent[2][1]["vars"]["request"]["path"] = "changed"
    sent[2][2]["pre_context"].append("changed")
    again = frames_of(scrubber.scrub_event(event(*copy.deepcopy(stack))))

    for frames in [sent[3], again]:
        assert frames[1]["vars"]["request"] == {"path": "'/items'", "api_key": FILTERED}
        assert frames[2]["pre_context"] == ["def handle(request):", f"    token = '{FILTERED}'"]


def test_a_frame_with_a_list_for_its_line_is_scrubbed_every_time() -> None:
    scrubber = Scrubber()
    odd = frame()
    odd["context_line"] = [f"    token = {TOKEN!r}"]
    for _ in range(2):
        [scrubbed] = frames_of(scrubber.scrub_event(event(copy.deepcopy(odd))))

        assert scrubbed["context_line"] == [f"    token = '{FILTERED}'"]


def small_frame(*, path: str = f"/srv/{TOKEN}/app/views.py") -> dict[str, Any]:
    """A frame of a lean event: no locals, no source lines."""
    return {"filename": "app/views.py", "abs_path": path, "function": "handle", "lineno": 12}


def test_a_lean_stack_scrubbed_again_is_scrubbed_alike_and_a_fresh_copy() -> None:
    scrubber = Scrubber()
    stack = [small_frame(), small_frame(path="/srv/app/other.py")]
    sent = [frames_of(scrubber.scrub_event(event(*copy.deepcopy(stack)))) for _ in range(3)]
    sent[1][0]["abs_path"] = "changed"
    again = frames_of(scrubber.scrub_event(event(*copy.deepcopy(stack))))

    for frames in [sent[0], sent[2], again]:
        assert [f["abs_path"] for f in frames] == [
            f"/srv/{FILTERED}/app/views.py",
            "/srv/app/other.py",
        ]


def test_a_lean_stack_equal_to_one_scrubbed_before_but_for_a_number_type() -> None:
    scrubber = Scrubber()
    as_float, as_int = small_frame(), small_frame()
    as_float["colno"], as_int["colno"] = float(CARD), CARD
    for _ in range(3):
        [kept] = frames_of(scrubber.scrub_event(event(copy.deepcopy(as_float))))
        [filtered] = frames_of(scrubber.scrub_event(event(copy.deepcopy(as_int))))

        assert kept["colno"] == float(CARD) and type(kept["colno"]) is float
        assert filtered["colno"] == FILTERED


def test_a_lean_stack_filtered_past_one_events_budget_is_whole_in_the_next() -> None:
    scrubber = Scrubber()
    blobs = ["word " * (MAX_TEXT // 5) for _ in range(MAX_EVENT_TEXT // MAX_TEXT + 1)]
    [starved] = frames_of(
        scrubber.scrub_event(event(small_frame(path="/srv/late.py"), extra=blobs))
    )
    [fed] = frames_of(scrubber.scrub_event(event(small_frame(path="/srv/late.py"))))

    assert starved["abs_path"] == FILTERED
    assert fed["abs_path"] == "/srv/late.py"


def test_a_lean_stack_is_walked_once_for_equal_stacks_built_apart(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scrubber = Scrubber()
    walked: list[object] = []
    walk_frame = Walker.frame

    def frame_walked(walker: Walker, frame: Any) -> Any:
        walked.append(frame)
        return walk_frame(walker, frame)

    monkeypatch.setattr(Walker, "frame", frame_walked)
    held = []
    for i in range(3):
        # Built apart, and one of its strings referenced elsewhere in one event:
        # equal content, other reference counts.
        stack = json.loads(json.dumps([small_frame(), small_frame(path="/srv/other.py")]))
        if i == 1:
            held.append(stack[0]["function"])
        frames = frames_of(scrubber.scrub_event(event(*stack)))

        assert [f["abs_path"] for f in frames] == [
            f"/srv/{FILTERED}/app/views.py",
            "/srv/other.py",
        ]
    assert len(walked) == 2


@pytest.mark.parametrize("part", ["vars", "pre_context"])
def test_a_frame_its_caller_changes_after_the_scrub_is_not_taken_for_the_one_scrubbed(
    part: str,
) -> None:
    scrubber = Scrubber()
    held = frame()
    held["vars"]["request"]["api_key"] = "'none'"
    held["pre_context"] = ["def handle(request):"]
    scrubber.scrub_event(event(held))
    # The caller reuses its frame with a secret in it: a cache that kept the frame
    # itself, not a copy, would hold the secret's frame with the old result.
    if part == "vars":
        held["vars"]["request"]["api_key"] = f"'{TOKEN}'"
    else:
        held["pre_context"].append(f"    token = {TOKEN!r}")
    [scrubbed] = frames_of(scrubber.scrub_event(event(copy.deepcopy(held))))

    if part == "vars":
        assert scrubbed["vars"]["request"]["api_key"] == FILTERED
    else:
        assert scrubbed["pre_context"] == ["def handle(request):", f"    token = '{FILTERED}'"]


def test_a_stack_equal_to_one_scrubbed_before_but_for_a_number_type_in_an_inner_frame() -> None:
    scrubber = Scrubber()
    as_float, as_int = frame(line="    first()"), frame(line="    first()")
    as_float["colno"], as_int["colno"] = float(CARD), CARD
    for _ in range(3):
        [kept, _] = frames_of(scrubber.scrub_event(event(copy.deepcopy(as_float), frame())))
        [filtered, _] = frames_of(scrubber.scrub_event(event(copy.deepcopy(as_int), frame())))

        assert kept["colno"] == float(CARD) and type(kept["colno"]) is float
        assert filtered["colno"] == FILTERED


def test_a_stack_whose_last_frame_is_no_dict_is_scrubbed_every_time() -> None:
    scrubber = Scrubber()
    for _ in range(3):
        scrubbed: list[Any] = frames_of(
            scrubber.scrub_event(event(frame(), cast(Any, f"at {TOKEN}")))
        )

        assert scrubbed[0]["vars"]["request"]["api_key"] == FILTERED
        assert scrubbed[1] == f"at {FILTERED}"


def _spoil(value: Any) -> None:
    """Change every container in `value`, as a caller that edits its event may."""
    if isinstance(value, dict):
        for item in value.values():
            _spoil(item)
        value["spoiled"] = True
    elif isinstance(value, list):
        for item in value:
            _spoil(item)
        value.append("spoiled")


def test_every_container_of_a_stack_handed_out_again_is_its_own() -> None:
    scrubber = Scrubber()
    rich = frame()
    rich["vars"].update(
        headers=[["b'host'", "b'example'"], ["b'accept'", "b'*/*'"]],
        rows=[{"id": "1", "tags": ["a"]}, {"id": "2"}],
        nested=[["a", ["b"]], []],
        deep={"one": {"two": {"three": ["x"]}}},
    )
    stack = [rich, frame(line="    other()")]
    sent = [frames_of(scrubber.scrub_event(event(*copy.deepcopy(stack)))) for _ in range(4)]
    for frames in sent[1:3]:
        _spoil(frames)
    again = frames_of(scrubber.scrub_event(event(*copy.deepcopy(stack))))

    assert sent[3] == sent[0] and again == sent[0]
    assert "spoiled" not in str(sent[0])


def test_stacks_that_end_alike_are_each_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    scrubber = Scrubber()
    kept: list[object] = []
    stack_type = walker_module._Stack

    def stack_made(entries: Any) -> Any:
        kept.append(entries)
        return stack_type(entries)

    monkeypatch.setattr(walker_module, "_Stack", stack_made)
    # One error reached by two routes: same length, same last frame.
    routes = [
        [frame(line="    route_a(request)"), frame()],
        [frame(line="    route_b(request)"), frame()],
    ]
    for _ in range(4):
        for route in routes:
            frames = frames_of(scrubber.scrub_event(event(*copy.deepcopy(route))))

            assert frames[0]["context_line"] == route[0]["context_line"]
            assert frames[1]["vars"]["request"]["api_key"] == FILTERED
    assert len(kept) == 2
