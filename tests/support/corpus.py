"""Secrets in disguise: what an attacker would grep for, shared by unit and end-to-end tests.

Each `Planted` is a text a caller or the code can put into an event or a log line, and
the needles that must never come out of the process. The configured secrets contain
`+ / =` and a space so that every encoding changes them.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from urllib.parse import quote, quote_plus

INTERNAL_TOKEN = "tok+en/Val=ue 7Hq2Zp9Wc4"
WEBHOOK_SECRET = "whs+ec/Sec=ret 3Jk8Lm1Np6"
# Values of the environment variables booty names in SECRET_ENV.
SECRET_ENV_VALUES = {
    "BOOTY_INTERNAL_TOKEN": INTERNAL_TOKEN,
    "GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET,
}
GITHUB_TOKEN = "ghp_" + "Kj9YqW3eRt5uIo7pAs1dFg2hJk4lZx6cVb8n"
EMAIL = "ann.example+probe@mail.example.org"
CLIENT_IP = "203.0.113.77"
CLIENT_IPV6 = "2001:db8:85a3::8a2e:370:7334"
# Every header a proxy or CDN puts the client's address in (Sentry's list and the rest).
CLIENT_IP_HEADERS = (
    "X-Forwarded-For",
    "X-Real-IP",
    "Forwarded",
    "X-Client-IP",
    "X-Cluster-Client-IP",
    "CF-Connecting-IP",
    "True-Client-IP",
    "Fastly-Client-IP",
    "X-Original-Forwarded-For",
    "Fly-Client-IP",
    "X-Envoy-External-Address",
    "X-Forwarded",
    "Forwarded-For",
    "X-Appengine-User-IP",
    "X-Azure-ClientIP",
    "X-Azure-SocketIP",
    "CF-Connecting-IPv6",
    "Remote-Addr",
)
EMAIL_HEADERS = ("From", "X-User-Email")


@dataclass(frozen=True)
class Planted:
    name: str
    text: str
    # What must not leave the process; the text itself is always one of them.
    needles: tuple[str, ...] = ()

    @property
    def all_needles(self) -> tuple[str, ...]:
        return (self.text, *self.needles)


def _b64(value: str, *, urlsafe: bool = False) -> str:
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    return encode(value.encode()).decode()


def _lower_hex(encoded: str) -> str:
    return re.sub("%[0-9A-F]{2}", lambda match: match[0].lower(), encoded)


def _disguises(label: str, secret: str) -> list[Planted]:
    raw = (secret,)
    return [
        Planted(f"{label} exact", secret),
        Planted(f"{label} percent-encoded", quote(secret, safe=""), raw),
        Planted(f"{label} percent-encoded lower hex", _lower_hex(quote(secret, safe="")), raw),
        Planted(f"{label} percent-encoded, + for space", quote_plus(secret), raw),
        Planted(f"{label} path-encoded", quote(secret), raw),
        Planted(f"{label} percent-encoded twice", quote(quote(secret, safe=""), safe=""), raw),
        Planted(f"{label} base64", _b64(secret), raw),
        Planted(f"{label} url-safe base64", _b64(secret, urlsafe=True), raw),
        Planted(f"{label} in a Basic header", "Basic " + _b64(f"ann:{secret}"), raw),
    ]


# Texts that may stand anywhere a string goes: values, messages, keys.
SECRETS = [
    *_disguises("internal token", INTERNAL_TOKEN),
    *_disguises("webhook secret", WEBHOOK_SECRET),
    Planted("github token", GITHUB_TOKEN),
    Planted("long string tail", "A" * 16370 + GITHUB_TOKEN, (GITHUB_TOKEN[:14],)),
    Planted("long string tail, configured", "A" * 16370 + INTERNAL_TOKEN, (INTERNAL_TOKEN[:8],)),
]
# Personal data, which only send_default_pii lets through.
PERSONAL = [
    Planted("email", EMAIL),
    Planted("email, percent-encoded", quote(EMAIL, safe=""), (EMAIL,)),
]
CORPUS = SECRETS + PERSONAL
# A query string whose keys, not values, carry the secrets.
QUERY_KEYS = [
    Planted("github token as a query key", f"{GITHUB_TOKEN}=1"),
    Planted(
        "internal token as a query key",
        f"{quote_plus(INTERNAL_TOKEN)}=1",
        (INTERNAL_TOKEN, quote_plus(INTERNAL_TOKEN)),
    ),
]
