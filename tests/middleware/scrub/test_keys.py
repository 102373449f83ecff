"""`key=value` in text: every pair whose key names a secret loses its value."""

from __future__ import annotations

import pytest

from tests.support import SentryInit
from tests.support.scrub import FILTERED, send


@pytest.mark.parametrize(
    "message",
    [
        "password=hunter2 and secret=swordfish",
        "secret=swordfish and password=hunter2",
        "api_key=hunter2; token=swordfish; page=2",
        "Password: hunter2, AUTH=swordfish",
        # A key word with no value does not end the search for the pairs after it.
        "password reset; secret=swordfish, token=hunter2",
    ],
)
def test_every_pair_in_a_message_is_filtered_wherever_it_starts(
    sentry_init: SentryInit, message: str
) -> None:
    sent = send(sentry_init, {"message": message})

    assert "hunter2" not in sent["message"]
    assert "swordfish" not in sent["message"]
    assert sent["message"].count(FILTERED) == 2


@pytest.mark.parametrize(
    "message",
    [
        # "İ".lower() is two characters: the text no longer lines up with its lower case.
        "İstanbul password=hunter2 then secret=swordfish",
        "Straße ß İ: PASSWORD=hunter2, Token=swordfish",
        "password=hunter2 İ secret=swordfish",
    ],
)
def test_pairs_are_filtered_in_text_whose_lower_case_changes_length(
    sentry_init: SentryInit, message: str
) -> None:
    sent = send(sentry_init, {"message": message, "extra": {"note": message}})

    for where in (sent["message"], sent["extra"]["note"]):
        assert "hunter2" not in where
        assert "swordfish" not in where
    assert sent["message"].count(FILTERED) == 2


def test_a_key_word_without_a_value_keeps_the_text(sentry_init: SentryInit) -> None:
    message = "password reset sent; İ token expired; see secret-santa"

    assert send(sentry_init, {"message": message})["message"] == message


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("password=hunter2 next", f"password={FILTERED} next"),
        ('{"password": "hunter2", "page": 2}', f'{{"password": "{FILTERED}", "page": 2}}'),
        ('password="" next', f'password="{FILTERED}" next'),
        # A quote that never closes is not closed for it.
        ('password="hunter2 next', f'password="{FILTERED} next'),
    ],
)
def test_a_pairs_value_is_replaced_inside_its_own_quotes(
    sentry_init: SentryInit, message: str, expected: str
) -> None:
    assert send(sentry_init, {"message": message})["message"] == expected


def test_every_pair_of_a_key_word_used_many_times_is_filtered(sentry_init: SentryInit) -> None:
    message = "password=one, password=two, password=three"

    sent = send(sentry_init, {"message": message})

    assert sent["message"] == ", ".join([f"password={FILTERED}"] * 3)
