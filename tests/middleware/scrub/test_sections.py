"""Each part of an event read the way Sentry's server reads it."""

from __future__ import annotations

from typing import Any, cast

from sentry_sdk.types import Event

from middleware.scrub.budget import MAX_EVENT_ITEMS
from middleware.scrub.scrubber import Scrubber
from middleware.scrub.sections import each, fields
from middleware.scrub.walker import MAX_DEPTH, Walker
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


def _scrub_pii(event: dict[str, Any]) -> dict[str, Any]:
    """Under send_default_pii, where the names of cookies are kept."""
    return dict(Scrubber(send_default_pii=True).scrub_event(cast(Event, event)))


def test_cookie_values_holding_equals_signs_are_filtered_whole() -> None:
    # base64 values end in "=": only the first "=" ends a cookie's name.
    header = "sid=dGVzdA==; theme=dark; flag"
    request = {"headers": {"Cookie": header}, "cookies": header}

    scrubbed = _scrub_pii({"request": request})["request"]

    expected = f"sid={FILTERED}; theme={FILTERED}; flag"
    assert scrubbed["headers"]["Cookie"] == expected
    assert scrubbed["cookies"] == expected


def test_headers_other_than_cookies_are_not_read_as_cookies() -> None:
    headers = {"X-Trace": "sampled=1", "Accept": "text/html"}

    assert _scrub_pii({"request": {"headers": headers}})["request"]["headers"] == headers


def test_headers_sent_as_one_text_are_read_as_a_databag_value() -> None:
    for headers, expected in (("X-Note: ok", "X-Note: ok"), ("X-Auth: hunter2", FILTERED)):
        assert _scrub({"request": {"headers": headers}})["request"]["headers"] == expected


def test_a_query_value_holding_equals_signs_is_filtered_after_the_first() -> None:
    request = {"query_string": "token=YWJjZA==&page=2"}

    assert _scrub({"request": request})["request"]["query_string"] == f"token={FILTERED}&page=2"


def test_query_parts_without_a_name_are_kept_as_they_are() -> None:
    request = {"query_string": "flag&=orphan&page=2"}

    assert _scrub({"request": request})["request"]["query_string"] == "flag&=orphan&page=2"


def test_a_query_value_named_by_an_exact_key_is_filtered() -> None:
    # "sig" and "sid" are secret names, though no key word: only the name tells.
    request = {"query_string": "sig=abc123&sid=x9&page=2"}

    assert (
        _scrub({"request": request})["request"]["query_string"]
        == f"sig={FILTERED}&sid={FILTERED}&page=2"
    )


def test_a_percent_encoded_secret_query_name_is_filtered() -> None:
    # "%67hp_..." is "ghp_...", a GitHub token, once decoded.
    request = {"query_string": f"%67hp_{'a1' * 12}=1&page=2"}

    assert _scrub({"request": request})["request"]["query_string"] == f"{FILTERED}=1&page=2"


def test_a_raw_query_value_that_assigns_a_token_is_filtered() -> None:
    # Decoded, "+" is a space and "token x=1" assigns nothing; Sentry's server reads
    # the raw "token+x=1" too, and filters it.
    request = {"query_string": "q=token+x=1&page=2"}

    assert _scrub({"request": request})["request"]["query_string"] == f"q={FILTERED}&page=2"


def test_a_query_sent_as_pairs_is_read_as_a_databag() -> None:
    request = {"query_string": [["page", "2"], ["token", "abc123"]]}

    assert _scrub({"request": request})["request"]["query_string"] == [
        ["page", "2"],
        ["token", FILTERED],
    ]


def test_span_data_keeps_only_the_thread_id_as_digits() -> None:
    span = {"data": {"thread.id": "4111111111111111", "db.params": "4111111111111111"}}

    [scrubbed] = _scrub({"spans": [span]})["spans"]

    assert scrubbed["data"] == {"thread.id": "4111111111111111", "db.params": FILTERED}


def test_span_data_that_is_no_dict_is_read_as_a_databag_value() -> None:
    spans = [{"data": "auth failed for bob"}, {"data": "ok"}]

    assert [s["data"] for s in _scrub({"spans": spans})["spans"]] == [FILTERED, "ok"]


def test_fields_and_each_give_the_listed_fields_their_own_treatment() -> None:
    # The sections are built when the module loads: here they are built again.
    walker = Walker((), hide_pii=True)
    crumb = fields({"data": Walker.strict})
    items = [{"data": {"note": "auth failed"}, "message": "auth failed"}]
    expected = [{"data": {"note": FILTERED}, "message": "auth failed"}]

    assert crumb(walker, items[0]) == expected[0]
    assert each(crumb)(walker, items) == expected
    assert each(crumb)(walker, {"values": items}) == {"values": expected}


def _nested(levels: int, leaf: Any) -> Any:
    value = leaf
    for _ in range(levels):
        value = {"d": value}
    return value


def test_a_context_is_cut_at_the_depth_limit_counted_from_the_context() -> None:
    kept = _scrub({"contexts": {"app": _nested(MAX_DEPTH - 1, "bottom")}})
    cut = _scrub({"contexts": {"app": _nested(MAX_DEPTH, "bottom")}})

    assert kept["contexts"]["app"] == _nested(MAX_DEPTH - 1, "bottom")
    assert "bottom" not in str(cut)


def test_a_context_named_as_a_secret_is_filtered_and_a_flag_is_kept() -> None:
    contexts = {"session": "abc123", "csrf": True, "app": {"name": "booty"}}

    assert _scrub({"contexts": contexts})["contexts"] == {
        "session": FILTERED,
        "csrf": True,
        "app": {"name": "booty"},
    }


def test_a_log_parameter_that_the_formatted_message_lost_is_filtered() -> None:
    # "hunter2" alone is no secret; as the value of "password=" it is.
    entry = {
        "message": "password=%s for %s",
        "formatted": "password=hunter2 for ann",
        "params": ["hunter2", "ann"],
    }

    scrubbed = _scrub({"logentry": entry})["logentry"]

    assert scrubbed["formatted"] == f"password={FILTERED} for ann"
    assert scrubbed["params"] == [FILTERED, "ann"]


def test_log_parameters_past_the_events_item_budget_are_filtered_whole() -> None:
    # Ten parameters, as many as the placeholder has characters.
    params = [f"p{i}" for i in range(10)]
    entry = {"message": "%s" * 10, "formatted": "".join(params), "params": params}

    event = {"extra": {"big": list(range(MAX_EVENT_ITEMS - 5))}, "logentry": entry}

    assert _scrub(event)["logentry"]["params"] == FILTERED


def test_the_request_environment_is_a_databag() -> None:
    env = {"SERVER_NAME": "booty", "NOTE": "auth failed for bob"}

    assert _scrub({"request": {"env": env}})["request"]["env"] == {
        "SERVER_NAME": "booty",
        "NOTE": FILTERED,
    }


def test_without_send_default_pii_the_users_address_is_dropped_and_the_rest_filtered() -> None:
    user = {"id": "7", "Tenant-Id": "acme", "ip_address": "10.1.2.3", "email": "a@b.c", 1: "x"}

    assert _scrub({"user": user})["user"] == {
        "id": "7",
        "Tenant-Id": "acme",
        "email": FILTERED,
        1: FILTERED,
    }


def test_with_send_default_pii_a_user_field_named_as_a_secret_is_filtered() -> None:
    user = {"id": "7", "ip_address": "10.1.2.3", "password_hash": "abc", "name": "ann"}

    assert _scrub_pii({"user": user})["user"] == {
        "id": "7",
        "ip_address": "10.1.2.3",
        "password_hash": FILTERED,
        "name": "ann",
    }


def test_without_send_default_pii_headers_that_carry_client_addresses_are_filtered() -> None:
    # Filtered whole, also when what they hold is no address the text scan would find.
    headers = {"X-Forwarded-For": "unknown", "Forwarded": "for=_hidden", "Accept": "*/*"}

    assert _scrub({"request": {"headers": headers}})["request"]["headers"] == {
        "X-Forwarded-For": FILTERED,
        "Forwarded": FILTERED,
        "Accept": "*/*",
    }
