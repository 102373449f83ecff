"""Secrets recognised by their shape inside any string, in linear time."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable

from middleware.scrub.forms import OwnSecrets
from middleware.scrub.keys import FILTERED, secret_pairs
from middleware.scrub.pii import email_addresses

# Each pattern starts only where its run of characters starts (a lookbehind), and no
# two quantifiers can trade characters, so a scan is linear in the text. A pattern
# runs only when a cheap substring test says it could match.
_PEM = re.compile(
    r"-----BEGIN[A-Z ]{0,40}PRIVATE KEY-----[^-]*(?:-----END[A-Z ]{0,40}PRIVATE KEY-----)?"
)
_BEARER = re.compile(r"(?<![A-Za-z0-9])(?i:bearer)\s+[A-Za-z0-9._~+/=-]+")
_BASIC = re.compile(r"(?<![A-Za-z0-9])(?i:basic)\s+([A-Za-z0-9+/]{4,}={0,2})")
# GitHub's prefixes are distinctive enough to be read even when glued to other text.
_GITHUB = re.compile(r"(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})")
_SK = re.compile(r"(?<![A-Za-z0-9_-])sk-[A-Za-z0-9_-]{16,}")
_JWT = re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_AWS = re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Z0-9])")
_URL = re.compile(
    r"(?<![A-Za-z0-9+.-])(?P<scheme>[A-Za-z][A-Za-z0-9+.-]{0,30}://)"
    r"(?P<user>[^\s/?#@:'\"]{1,256})(?::[^\s/?#@'\"]{0,256})?@"
)
# US SSNs, and card numbers as printed (4-4-4-4, 4-6-5 or unbroken), Luhn-checked later.
# Whole words only, as Sentry's server reads them: a run of digits inside a hex id
# (a request, job or event id) is no card number.
_NUMBER = re.compile(
    r"(?<![\w-])(?:\d{3}-\d{2}-\d{4}(?![\w-])"
    r"|\d{4}[ -]?\d{4,6}[ -]?\d{4,5}(?:[ -]?\d{1,4})?(?!\w))"
)
# One C-level search each, to skip a pattern that cannot match.
_MAY_BE_NUMBER = re.compile(r"\d\d\d").search
_MAY_BE_GITHUB = re.compile("gh[pousr]_|github_pat_").search
_MAY_BE_AWS = re.compile("A[SKB]IA|ACCA").search

# Sentry's server-side password rule (relay-pii PASSWORD_KEY_REGEX): a value it matches
# is filtered whole. Substring tests do its work faster than the regex does in `re`.
_SERVER_WORDS = re.compile(
    "password|secret|passwd|api[-_]key|apikey|auth|credentials|mysql_pwd|privatekey|private[-_]key"
).search
_SERVER_EXACT = frozenset({"otp", "two-factor", "two_factor"})
_TOKEN = re.compile("token", re.IGNORECASE)
_SPACE = re.compile(r"\s")


def _token_assignment(text: str) -> bool:
    """relay's "token[^\\s]*[:=]", which is quadratic in `re` on "tokentoken..."."""
    match = _TOKEN.search(text)
    while match is not None:
        space = _SPACE.search(text, match.end())
        end = len(text) if space is None else space.start()
        if text.find(":", match.end(), end) >= 0 or text.find("=", match.end(), end) >= 0:
            return True
        match = _TOKEN.search(text, end)
    return False


def server_would_filter(text: str) -> bool:
    lowered = text.lower()
    return (
        _SERVER_WORDS(lowered) is not None
        or lowered in _SERVER_EXACT
        or ("token" in lowered and _token_assignment(text))
    )


def luhn(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        n = int(char)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _basic_credentials(encoded: str) -> bool:
    try:
        decoded = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    return b":" in decoded


# Shorter configured secrets would match everywhere; they are filtered only as whole values.
MIN_SECRET_IN_TEXT = 6


class TextScrubber:
    """Replaces secret-shaped substrings, and the process's own secrets, with [Filtered].

    The process's secrets are matched as they are and encoded (see OwnSecrets).
    `hide_pii` also filters email addresses.
    """

    def __init__(self, secrets: Iterable[str] = (), *, hide_pii: bool = False) -> None:
        self.own = OwnSecrets(secrets, min_length=MIN_SECRET_IN_TEXT)
        self.secrets = self.own.secrets
        self.hide_pii = hide_pii

    def __call__(self, text: str) -> str:
        if text in self.secrets:
            return FILTERED
        text = self.own(text)
        if shapeless(text):
            return text
        if "PRIVATE KEY-----" in text:
            text = _PEM.sub(FILTERED, text)
        if "=" in text or ":" in text or "'," in text or '",' in text:
            text = secret_pairs(text)
        lowered = text.lower()
        if "bearer" in lowered:
            text = _BEARER.sub(FILTERED, text)
        if "basic" in lowered:
            text = _BASIC.sub(_basic, text)
        if _MAY_BE_GITHUB(text):
            text = _GITHUB.sub(FILTERED, text)
        if "sk-" in text:
            text = _SK.sub(FILTERED, text)
        if "eyJ" in text:
            text = _JWT.sub(FILTERED, text)
        if _MAY_BE_AWS(text):
            text = _AWS.sub(FILTERED, text)
        if "://" in text and "@" in text:
            text = _URL.sub(_userinfo, text)
        if self.hide_pii:
            text = email_addresses(text)
        if _MAY_BE_NUMBER(text):
            text = _NUMBER.sub(_number, text)
        return text


def shapeless(text: str) -> bool:
    """Whether `text` is an id or a time as the sdk and the request layer write them.

    Lowercase hex digits with a letter among them (a trace, span, event or request
    id), or a time in RFC 3339 form in UTC: none of the shapes above, nor Sentry's
    server's rules, can match in one. Each needs a character these lack, or a run
    of digits that stands alone as a word and is longer, or otherwise broken up,
    than a time's. A configured secret can be in one, and is looked for before.
    """
    if not text.strip(_HEX_DIGITS):
        return not text.isdigit()
    return ":" in text and _UTC_TIME(text) is not None


_HEX_DIGITS = "0123456789abcdef"
_UTC_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?Z").fullmatch


def _basic(match: re.Match[str]) -> str:
    return FILTERED if _basic_credentials(match[1]) else match[0]


def _userinfo(match: re.Match[str]) -> str:
    # user:password@ keeps the user; a lone user is a DSN key or a token.
    if match[0].count(":") > 1:
        return f"{match['scheme']}{match['user']}:{FILTERED}@"
    return f"{match['scheme']}{FILTERED}@"


# Sentry's server filters these issuer-prefixed numbers whether or not they pass Luhn.
_SERVER_CARD = re.compile(r"(?:3[47]\d|4\d{3}|5[1-5]\d\d|65\d\d|6011)(?:[-\s]?\d){12}")


def _number(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match[0])
    if len(digits) == 9 or (len(digits) >= 13 and luhn(digits)):
        return FILTERED
    return FILTERED if _SERVER_CARD.fullmatch(match[0]) else match[0]
