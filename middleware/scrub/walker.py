"""A bounded, cycle-safe walk that rebuilds JSON-like data with secrets filtered."""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from middleware._sdk import safe_repr
from middleware.scrub.budget import CUT_MARGIN, MAX_TEXT, cut, spend
from middleware.scrub.keys import FILTERED, is_secret_key
from middleware.scrub.pii import ip_addresses
from middleware.scrub.secrets import TextScrubber, luhn, server_would_filter

# Deeper data is replaced, not walked: Sentry keeps far less, and the walk stays bounded.
MAX_DEPTH = 32
# Events repeat most of their strings (module names, paths, source lines, scope
# keys), so results for short ones are kept: a lookup is far cheaper than a scan.
CACHED_TEXT = 256
CACHE_SIZE = 8192

_NAME = re.compile(r"[^\s=:]{1,100}")
# Integers with fewer digits than a card number are kept without a look.
_CARD_MIN = 10**12


def _is_pair(item: Any) -> bool:
    return isinstance(item, (list, tuple)) and len(item) == 2 and type(item[0]) is str


Section = Callable[["Walker", Any], Any]


class Walker:
    """Rebuilds data with secret keys and secret-shaped substrings filtered.

    "strict" is Sentry's databag treatment: a value its password rule matches is
    filtered whole. "loose" (messages, names, paths) only loses secret substrings.
    """

    def __init__(self, secrets: Iterable[str], *, hide_pii: bool) -> None:
        self.text = TextScrubber(secrets, hide_pii=hide_pii)
        self.hide_pii = hide_pii
        # Results of scans, by the text scanned.
        self._loose: dict[str, str] = {}
        self._strict: dict[str, str] = {}
        self._keys: dict[str, bool] = {}

    def secret_key(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        found = self._keys.get(key)
        if found is None:
            if len(self._keys) >= CACHE_SIZE:
                self._keys.clear()
            found = self._keys[key] = is_secret_key(key, pii=self.hide_pii)
        return found

    def strict(self, value: Any) -> Any:
        return self.walk(value, strict=True)

    def loose(self, value: Any) -> Any:
        return self.walk(value, strict=False)

    def string(self, text: str, *, strict: bool) -> str:
        cache = self._strict if strict else self._loose
        found = cache.get(text)
        if found is not None:
            return found
        size = len(text)
        if size > MAX_TEXT:
            text = text[: MAX_TEXT + CUT_MARGIN]
        if not spend(chars=len(text)):
            return FILTERED
        # Scanned before the cut, so that the cut can keep no prefix of a secret.
        found = self._scan(text, strict=strict)
        if size > MAX_TEXT:
            return cut(found, text, whole=size == len(text))
        if len(text) <= CACHED_TEXT:
            if len(cache) >= CACHE_SIZE:
                cache.clear()
            cache[text] = found
        return found

    def _scan(self, text: str, *, strict: bool) -> str:
        if strict and server_would_filter(text):
            return FILTERED
        text = self.text(text)
        # Sentry's server, with IP scrubbing on, replaces addresses in databags.
        return ip_addresses(text) if strict and self.hide_pii else text

    def walk(
        self, value: Any, *, strict: bool, depth: int = 0, seen: set[int] | None = None
    ) -> Any:
        if type(value) is str:
            return self.string(value, strict=strict)
        if value is None or isinstance(value, (bool, float, datetime.datetime)):
            return value
        if isinstance(value, int):
            digits = str(abs(value))
            return FILTERED if 13 <= len(digits) <= 19 and luhn(digits) else value
        if isinstance(value, (dict, list, tuple)):
            seen = set() if seen is None else seen
            if depth >= MAX_DEPTH or id(value) in seen or not spend(items=len(value)):
                return FILTERED
            seen.add(id(value))
            try:
                return self._container(value, strict=strict, depth=depth + 1, seen=seen)
            finally:
                seen.discard(id(value))
        if isinstance(value, str):
            # A str enum (the sdk's TransactionSource) stays itself unless scrubbed.
            text = value[:]
            scrubbed = self.string(text, strict=strict)
            return value if scrubbed == text else scrubbed
        if isinstance(value, bytes):
            return self.string(value.decode("utf-8", "replace"), strict=strict)
        return self.string(safe_repr(value), strict=strict)

    def _container(self, value: Any, *, strict: bool, depth: int, seen: set[int]) -> Any:
        if isinstance(value, dict):
            return self._dict(value, strict=strict, depth=depth, seen=seen)
        if value and all(_is_pair(item) for item in value):
            # A list of (name, value) pairs (headers, query, cookies): Sentry reads the
            # names as keys, as we do.
            return [
                [
                    self.string(k, strict=False),
                    self._entry(k, v, strict=strict, depth=depth, seen=seen),
                ]
                for k, v in value
            ]
        if len(value) == 2 and _is_pair(value) and _NAME.fullmatch(value[0]):
            # A lone pair: Sentry reads the name as a value, we read it as a key as well.
            name, item = value
            return [
                self.walk(name, strict=strict, depth=depth, seen=seen),
                self._entry(name, item, strict=strict, depth=depth, seen=seen),
            ]
        values = self._strict if strict else self._loose
        return [
            values.get(v) or self.string(v, strict=strict)
            if type(v) is str
            else self.walk(v, strict=strict, depth=depth, seen=seen)
            for v in value
        ]

    def _dict(self, value: dict[Any, Any], *, strict: bool, depth: int, seen: set[int]) -> Any:
        # The hot loop of the walk: cache lookups inlined, no call for a known string.
        names, values, keys = self._loose, (self._strict if strict else self._loose), self._keys
        out = {}
        for key, item in value.items():
            if type(key) is str:
                name = names.get(key)
                if name is None:
                    name = self.string(key, strict=False)
                secret = keys.get(key)
                if secret is None:
                    secret = self.secret_key(key)
                if secret and item is not None and item is not True and item is not False:
                    out[name] = FILTERED
                    continue
            else:
                name = key
            kind = type(item)
            if kind is str:
                found = values.get(item)
                out[name] = self.string(item, strict=strict) if found is None else found
            elif (kind is int and -_CARD_MIN < item < _CARD_MIN) or item is None or kind is bool:
                out[name] = item
            else:
                out[name] = self.walk(item, strict=strict, depth=depth, seen=seen)
        return out

    def strict_entry(self, key: Any, value: Any) -> Any:
        return self._entry(key, value, strict=True, depth=1, seen=set())

    def _entry(self, key: Any, value: Any, *, strict: bool, depth: int, seen: set[int]) -> Any:
        if value is not None and value is not True and value is not False and self.secret_key(key):
            return FILTERED
        return self.walk(value, strict=strict, depth=depth, seen=seen)

    def walk_fields(self, value: Any, sections: Mapping[str, Section]) -> Any:
        """A dict whose listed fields have their own treatment; the rest is loose."""
        if not isinstance(value, dict):
            return self.loose(value)
        out = {}
        for key, item in value.items():
            section = sections.get(key)
            if section is not None:
                out[key] = section(self, item)
            elif item is not None and self.secret_key(key):
                out[key] = FILTERED
            elif type(item) is str:
                out[key] = self._loose.get(item) or self.string(item, strict=False)
            else:
                out[key] = self.loose(item)
        return out

    def walk_each(self, value: Any, section: Section) -> Any:
        """A list, or Sentry's {"values": [...]}, of items of one kind."""
        if isinstance(value, list):
            return [section(self, item) for item in value]
        return self.walk_fields(value, {"values": lambda w, v: w.walk_each(v, section)})
