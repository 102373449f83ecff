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
