"""Personal data in text: email and IP addresses, which only send_default_pii lets through."""

from __future__ import annotations

import ipaddress
import re

from middleware.scrub.keys import FILTERED

# Also percent-encoded (%40), as in a query string or a URL.
_EMAIL = re.compile(
    r"(?<![\w.%+-])[\w.%+-]{1,64}(?:@|%40)[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+"
)
# Candidates only: ipaddress decides. A run is taken whole, so "1.2.3.4.5" is no address.
_IPV4 = re.compile(r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?![\w]|\.\d)")
_IPV6 = re.compile(
    r"(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}"
    r"(?:(?<=:)\d{1,3}(?:\.\d{1,3}){3})?(?![\w:]|\.\d)"
)
_MAY_BE_IPV4 = re.compile(r"\d\.\d").search
_MAY_BE_IPV6 = re.compile(r"[0-9A-Fa-f]:[0-9A-Fa-f:]").search


def email_addresses(text: str) -> str:
    return _EMAIL.sub(FILTERED, text) if "@" in text or "%40" in text else text


def _address(match: re.Match[str]) -> str:
    try:
        ipaddress.ip_address(match[0])
    except ValueError:
        return match[0]
    return FILTERED


def ip_addresses(text: str) -> str:
    """IPv4 and IPv6 addresses in text replaced, as Sentry's server does with IP scrubbing on."""
    # IPv6 first: an IPv4-mapped one ends in an IPv4 address.
    if ":" in text and ("::" in text or _MAY_BE_IPV6(text)):
        text = _IPV6.sub(_address, text)
    if "." in text and _MAY_BE_IPV4(text):
        text = _IPV4.sub(_address, text)
    return text
