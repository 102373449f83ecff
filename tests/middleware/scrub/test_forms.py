"""The process's own secrets, also when encoded inside other text."""

from __future__ import annotations

import base64

import pytest

from tests.support import SentryInit
from tests.support.scrub import FILTERED, send

SECRET = "Own-s3cret+/value?"


@pytest.mark.parametrize("prefix", ["", "a", "ab", "abc:", "user:", "name=joe&key="])
@pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode])
def test_base64_of_text_holding_the_secret_anywhere_is_filtered(
    sentry_init: SentryInit, prefix: str, encode: object
) -> None:
    encoded = encode(f"{prefix}{SECRET}!".encode()).decode()  # type: ignore[operator]
    message = f"payload {encoded} sent"

    sent = send(sentry_init, {"message": message}, secret_env=("APP_SECRET",), APP_SECRET=SECRET)

    assert encoded not in sent["message"]
    assert FILTERED in sent["message"]
    assert sent["message"].startswith("payload ")


@pytest.mark.parametrize(
    "text",
    ["Own-s3cret%2B%2Fvalue%3F", "Own-s3cret%252B%252fvalue%253f", "own-s3cret+/value?"],
)
def test_percent_encoded_secret_is_filtered_and_other_case_is_not(
    sentry_init: SentryInit, text: str
) -> None:
    sent = send(
        sentry_init,
        {"message": f"GET /?q={text} 200"},
        secret_env=("APP_SECRET",),
        APP_SECRET=SECRET,
    )

    if text.startswith("own"):
        assert sent["message"] == f"GET /?q={text} 200"
    else:
        assert sent["message"] == f"GET /?q={FILTERED} 200"


def test_base64_of_a_secret_that_holds_another_is_filtered_whole(
    sentry_init: SentryInit,
) -> None:
    longer = f"007{SECRET}-tail-007"
    encoded = base64.b64encode(longer.encode()).decode()

    sent = send(
        sentry_init,
        {"message": f"payload {encoded} sent"},
        secret_env=("APP_SECRET", "APP_LONGER_SECRET"),
        APP_SECRET=SECRET,
        APP_LONGER_SECRET=longer,
    )

    assert sent["message"] == f"payload {FILTERED} sent"


# Its base64, at each of the three alignments, holds both "+" and "/".
SIGNS = "~~>>??~~>>??"


@pytest.mark.parametrize("prefix", ["", "a", "ab"])
@pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode])
def test_base64_of_a_secret_is_filtered_in_either_alphabet(
    sentry_init: SentryInit, prefix: str, encode: object
) -> None:
    encoded = encode(f"{prefix}{SIGNS}".encode()).decode()  # type: ignore[operator]

    sent = send(
        sentry_init,
        {"message": f"payload {encoded} sent"},
        secret_env=("APP_SECRET",),
        APP_SECRET=SIGNS,
    )

    assert encoded not in sent["message"]
    assert FILTERED in sent["message"]


def test_base64_of_a_secret_of_the_shortest_length_filtered_in_text_is_filtered(
    sentry_init: SentryInit,
) -> None:
    # Six characters: eight of base64, the shortest core that is read as the secret's mark.
    encoded = base64.b64encode(b"s3cr3t").decode()

    sent = send(
        sentry_init,
        {"message": f"payload {encoded} sent"},
        secret_env=("APP_SECRET",),
        APP_SECRET="s3cr3t",
    )

    assert sent["message"] == f"payload {FILTERED} sent"


@pytest.mark.parametrize(
    "text", ["Gehe%c3%afm-%c3%a9", "Gehe%C3%AFm-%C3%A9", "Gehe%25c3%25afm-%c3%a9"]
)
def test_a_percent_encoded_secret_with_letters_beyond_ascii_is_filtered_in_any_hex_case(
    sentry_init: SentryInit, text: str
) -> None:
    sent = send(
        sentry_init,
        {"message": f"GET /?q={text} 200"},
        secret_env=("APP_SECRET",),
        APP_SECRET="Geheïm-é",
    )

    assert sent["message"] == f"GET /?q={FILTERED} 200"


@pytest.mark.parametrize(
    "text",
    [
        "Own+s3cret%2B%2Fvalue%3F",  # "+" is a space only where the secret has one
        "Own-s3cret%2B%2Fvalue%0F",  # one encoded character off
        "Own-s3cret%0B%2Fvalue%3F",
    ],
)
def test_text_that_only_looks_like_the_encoded_secret_is_kept(
    sentry_init: SentryInit, text: str
) -> None:
    sent = send(
        sentry_init,
        {"message": f"GET /?q={text} 200"},
        secret_env=("APP_SECRET",),
        APP_SECRET=SECRET,
    )

    assert sent["message"] == f"GET /?q={text} 200"


def test_a_secret_with_spaces_sent_as_a_form_value_is_filtered(sentry_init: SentryInit) -> None:
    # A form or query encodes each space as "+": no "%" in the text at all.
    sent = send(
        sentry_init,
        {"message": "POST q=my+long+secret+phrase&page=2"},
        secret_env=("APP_SECRET",),
        APP_SECRET="my long secret phrase",
    )

    assert sent["message"] == f"POST q={FILTERED}&page=2"


def test_a_secret_that_holds_another_is_filtered_whole(sentry_init: SentryInit) -> None:
    shorter, longer = "s3cret-value", "a-s3cret-value-tail"

    sent = send(
        sentry_init,
        {"message": f"got {longer} and {shorter}"},
        secret_env=("APP_SECRET", "APP_LONGER_SECRET"),
        APP_SECRET=shorter,
        APP_LONGER_SECRET=longer,
    )

    assert sent["message"] == f"got {FILTERED} and {FILTERED}"
