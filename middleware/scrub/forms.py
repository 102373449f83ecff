"""The process's own secrets, in every form a string can hold them."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable

from middleware.scrub.keys import FILTERED

# Base64 that encodes fewer characters of a secret than this is too short to be its mark.
_MIN_BASE64_CORE = 8


def base64_forms(secret: str) -> set[str]:
    """What the secret's bytes look like inside any standard or URL-safe base64 text.

    Base64 of the value itself, and of any text that holds it (`user:secret` in a
    Basic header), contains one of three cores: one per alignment of the secret on a
    3-byte group, without the characters it shares with its neighbours.
    """
    data = secret.encode()
    forms = set()
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + data).decode()
        core = encoded[-(-shift * 8 // 6) : (shift + len(data)) * 8 // 6]
        if len(core) >= _MIN_BASE64_CORE:
            forms |= {core, core.replace("+", "-").replace("/", "_")}
    return forms


def percent_pattern(secret: str) -> str:
    """The secret with any characters percent-encoded (any hex case, up to 3 times)."""
    parts = []
    for char in secret:
        encoded = "".join(_hex(byte) for byte in char.encode())
        space = r"|\+" if char == " " else ""
        parts.append(f"(?:{re.escape(char)}{space}|{encoded})")
    return "".join(parts)


def _hex(byte: int) -> str:
    # "%25" before it: encoded again, as a URL inside a query string is.
    high, low = f"{byte >> 4:X}", f"{byte & 15:X}"
    return f"%(?:25){{0,2}}[{high}{high.lower()}][{low}{low.lower()}]"


class OwnSecrets:
    """Replaces the secrets as they are, percent-encoded (any mix) and base64-encoded.

    Secrets shorter than `min_length` would match everywhere: only `secrets` keeps
    them, for callers that compare whole values.
    """

    def __init__(self, secrets: Iterable[str], *, min_length: int) -> None:
        self.secrets = frozenset(s for s in secrets if s)
        # Longest first, so that no shorter secret cuts a longer one in two.
        inline = sorted((s for s in self.secrets if len(s) >= min_length), key=len, reverse=True)
        self._inline = inline
        encoded = {form for s in inline for form in base64_forms(s)} - self.secrets
        self._encoded = sorted(encoded, key=len, reverse=True)
        self._percent = re.compile("|".join(map(percent_pattern, inline))) if inline else None

    def __call__(self, text: str) -> str:
        # A test per form: `in` runs in C and skips ahead, where one `re` alternation
        # of the forms measured slower (it tries them at most positions).
        for secret in self._inline:
            if secret in text:
                text = text.replace(secret, FILTERED)
        if self._percent is not None and ("%" in text or "+" in text):
            text = self._percent.sub(FILTERED, text)
        for form in self._encoded:
            if form in text:
                text = text.replace(form, FILTERED)
        return text
