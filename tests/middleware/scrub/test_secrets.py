"""Secrets recognised by their shape, in messages and in databags."""

from __future__ import annotations

import json
import random
import threading
import uuid
from typing import Any

import pytest

from middleware.scrub import secrets as secrets_module
from middleware.scrub.scrubber import Scrubber
from middleware.scrub.secrets import TextScrubber
from tests.support import SentryInit
from tests.support.scrub import FILTERED, send


def _scrub_within(event: dict[str, Any], seconds: float) -> dict[str, Any]:
    """The scrubbed event; fails, instead of hanging the suite, when scrubbing never ends."""
    out: list[Any] = []
    worker = threading.Thread(
        target=lambda: out.append(Scrubber().scrub_event(event)),  # type: ignore[arg-type]
        daemon=True,
    )
    worker.start()
    worker.join(seconds)
    assert out, f"scrubbing did not end within {seconds} s"
    return dict(out[0])


@pytest.mark.parametrize(
    "text", ["my token=abc next", "a token=x", "tokens: 5 token:abc end", "token=", "xtoken=1 y"]
)
def test_a_token_assignment_in_a_databag_ends_and_is_filtered(text: str) -> None:
    # Sentry's server filters a databag value with "token" followed by ":" or "=".
    scrubbed = _scrub_within({"extra": {"note": text}}, seconds=10)

    assert scrubbed["extra"]["note"] == FILTERED


@pytest.mark.parametrize(
    "text", ["tokens used: 5", "token limit reached", "the token\nis: gone", "TOKEN  x=1"]
)
def test_a_token_without_an_assignment_in_a_databag_is_kept(text: str) -> None:
    scrubbed = _scrub_within({"extra": {"note": text}}, seconds=10)

    assert scrubbed["extra"]["note"] == text


@pytest.mark.parametrize(
    "text",
    [
        '["password", "hunter2-value"]',
        "['password', 'hunter2-value']",
        "('api_key', b'hunter2-value')",
        '{"secret": "hunter2-value", "page": 2}',
        "{'token': 'hunter2-value'}",
    ],
)
def test_quoted_pairs_lose_their_value_in_messages(sentry_init: SentryInit, text: str) -> None:
    sent = send(sentry_init, {"message": f"saving {text} failed"})

    assert "hunter2-value" not in sent["message"]
    assert FILTERED in sent["message"]


# Luhn-valid 16-digit numbers that no card issuer prefix marks: the checksum alone
# tells them from ids. Each neighbour with a wrong check digit is kept.
CARDS = ("1234567812345670", "9999999999999995", "7992739871300008")
NOT_CARDS = ("1234567812345678", "9999999999999994", "7992739871300000")


def test_card_numbers_pass_the_checksum_and_other_numbers_are_kept(
    sentry_init: SentryInit,
) -> None:
    event = {
        "message": " ".join(f"{c} {n}" for c, n in zip(CARDS, NOT_CARDS, strict=True)),
        "extra": {
            "cards": [int(c) for c in CARDS],
            "ids": [int(n) for n in NOT_CARDS],
            "card": int(CARDS[0]),
            "id": int(NOT_CARDS[0]),
        },
    }

    sent = send(sentry_init, event)

    assert sent["message"].split(" ") == [word for n in NOT_CARDS for word in (FILTERED, n)]
    assert sent["extra"]["cards"] == [FILTERED] * len(CARDS)
    assert sent["extra"]["ids"] == [int(n) for n in NOT_CARDS]
    assert (sent["extra"]["card"], sent["extra"]["id"]) == (FILTERED, int(NOT_CARDS[0]))


def test_short_numbers_are_kept(sentry_init: SentryInit) -> None:
    text = json.dumps(send(sentry_init, {"extra": {"n": 123456789012, "order": "12345678901"}}))

    assert "123456789012" in text and "12345678901" in text


@pytest.mark.parametrize(
    "text",
    ["step 2: token refreshed", "retries=3 token refreshed", "a:b=c token"],
)
def test_a_colon_or_equals_before_the_token_word_is_no_assignment(text: str) -> None:
    # Sentry's server reads "token[^\s]*[:=]": only what follows the word counts.
    scrubbed = _scrub_within({"extra": {"note": text}}, seconds=10)

    assert scrubbed["extra"]["note"] == text


def test_a_token_assignment_after_a_plain_token_word_is_filtered() -> None:
    scrubbed = _scrub_within({"extra": {"note": "token refreshed, token=abc123"}}, seconds=10)

    assert scrubbed["extra"]["note"] == FILTERED


@pytest.mark.parametrize("credentials", ["dXNlcjpwd2Q", "dXNlcjpwd2Q=", "dXNlcjpwdw"])
def test_basic_credentials_with_or_without_their_padding_are_filtered(
    sentry_init: SentryInit, credentials: str
) -> None:
    # base64 of "user:pwd" and "user:pw": clients and proxies often drop the "=".
    sent = send(sentry_init, {"message": f"upstream sent Basic {credentials} back"})

    assert sent["message"] == f"upstream sent {FILTERED} back"


@pytest.mark.parametrize("word", ["auth", "YTpiYwx=="])
def test_a_word_after_basic_that_decodes_to_no_credentials_is_kept(
    sentry_init: SentryInit, word: str
) -> None:
    # "YTpiYwx==" has padding where base64 allows none: it decodes to nothing.
    message = f"fell back to Basic {word} here"

    assert send(sentry_init, {"message": message})["message"] == message


def test_a_thirteen_digit_card_number_is_filtered(sentry_init: SentryInit) -> None:
    # Visa's 13-digit test number passes Luhn; no issuer rule of Sentry's server reads it.
    sent = send(sentry_init, {"message": "card 4222222222222 declined, order 4222222222223"})

    assert sent["message"] == f"card {FILTERED} declined, order 4222222222223"


def test_the_text_scrubber_keeps_email_addresses_unless_told_to_hide_pii() -> None:
    text = "mail ann@example.com"

    assert TextScrubber()(text) == text
    assert TextScrubber(hide_pii=True)(text) != text


def _ids_and_times() -> list[str]:
    rng = random.Random(7)  # noqa: S311 - test data, seeded to repeat
    hex_ids = [
        "".join(rng.choice("0123456789abcdef") for _ in range(size))
        for size in (16, 32)
        for _ in range(300)
    ]
    times = [
        f"20{rng.randrange(100):02}-{rng.randrange(1, 13):02}-{rng.randrange(1, 29):02}T"
        f"{rng.randrange(24):02}:{rng.randrange(60):02}:{rng.randrange(60):02}"
        f"{rng.choice(['', f'.{rng.randrange(10**6):06}', f'.{rng.randrange(1000):03}'])}Z"
        for _ in range(300)
    ]
    return [*hex_ids, *times]


def test_ids_and_times_come_out_as_the_whole_text_scrubber_reads_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The ids and times are passed by after the own-secret check: what the scan of
    # every shape would have made of each one, each one still gets.
    texts = [
        *_ids_and_times(),
        "4111111111111111",  # digits only: a card number, not an id
        "123-45-6789",
        f"a{uuid.uuid4().hex}",
        "2026-12-04T12:45:11.521938Z token=abc",
        "2026-12-04T12:45:11.521938+00:00",
    ]
    secrets = ["c0ffee0ddba11", "938271", "deadbeefcafe"]
    scrubbers = [TextScrubber(secrets, hide_pii=pii) for pii in (False, True)]
    seen = [[scrub(t) for t in texts] for scrub in scrubbers]

    monkeypatch.setattr(secrets_module, "shapeless", lambda text: False)
    assert seen == [[scrub(t) for t in texts] for scrub in scrubbers]
    assert seen[0][-5:-3] == [FILTERED, FILTERED]


def test_an_id_or_a_time_holding_a_configured_secret_loses_it() -> None:
    scrub = TextScrubber(["deadbeefcafe", "938271"])

    assert scrub("0123deadbeefcafe4567") == f"0123{FILTERED}4567"
    assert scrub("2026-12-04T12:45:11.938271Z") == f"2026-12-04T12:45:11.{FILTERED}Z"
    assert scrub("0123456789abcdef") == "0123456789abcdef"
    assert scrub("2026-12-04T12:45:11.521938Z") == "2026-12-04T12:45:11.521938Z"
