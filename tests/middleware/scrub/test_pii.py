"""Addresses are found as Sentry's server finds them, and version numbers or times are not."""

from __future__ import annotations

import pytest

from middleware.scrub.pii import email_addresses, ip_addresses

FILTERED = "[Filtered]"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:8000", f"{FILTERED}:8000"),
        ("from 203.0.113.9, 10.0.0.1", f"from {FILTERED}, {FILTERED}"),
        ("('203.0.113.9', 5555)", f"('{FILTERED}', 5555)"),
        ("::1", FILTERED),
        ('for="[2001:db8:85a3::8a2e:370:7334]"', f'for="[{FILTERED}]"'),
        ("fe80::1%eth0", f"{FILTERED}%eth0"),
        ("::ffff:192.0.2.1", FILTERED),
    ],
)
def test_ip_addresses_are_filtered(text: str, expected: str) -> None:
    assert ip_addresses(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "python 3.11.7",
        "1.2.3.4.5",
        "v1.2.3.4",
        "256.1.1.1",
        "12:34:56",
        "2026-11-28T04:23:19+00:00",
        "std::string",
        "0123456789abcdef0123456789abcdef",
    ],
)
def test_what_is_no_ip_address_is_kept(text: str) -> None:
    assert ip_addresses(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail ann.example+x@mail.example.org now", f"mail {FILTERED} now"),
        ("email=ann%40example.org&page=2", f"email={FILTERED}&page=2"),
        ("git@github.com:o/r", f"{FILTERED}:o/r"),
        ("no address @ all", "no address @ all"),
    ],
)
def test_email_addresses(text: str, expected: str) -> None:
    assert email_addresses(text) == expected
