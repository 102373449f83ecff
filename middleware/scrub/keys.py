"""Names that mark a secret: as keys of a mapping, and as `key=value` inside text."""

from __future__ import annotations

import re

from sentry_sdk.scrubber import DEFAULT_DENYLIST, DEFAULT_PII_DENYLIST

FILTERED = "[Filtered]"

# A key is secret when, lower-cased with "-" read as "_", it contains one of these.
KEY_WORDS = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "auth",
    "cookie",
    "api_key",
    "apikey",
    "credential",
    "private_key",
    "privatekey",
    "session",
    "sessid",
    "signature",
    "dsn",
    "csrf",
    "xsrf",
    "jwt",
    "bearer",
    "mysql_pwd",
)


def normalize_key(key: str) -> str:
    return key.lower().replace("-", "_")


_EXACT_KEYS = frozenset(
    {normalize_key(k) for k in DEFAULT_DENYLIST}
    | {"otp", "two_factor", "sid", "sig", "pwd", "connect.sid"}
)
# Client IPs and email addresses, which only send_default_pii lets through: the
# sdk's list, the headers proxies and CDNs put addresses in, and the email headers.
PII_KEYS = frozenset(normalize_key(k) for k in DEFAULT_PII_DENYLIST) | {
    "forwarded",
    "x_client_ip",
    "x_cluster_client_ip",
    "cf_connecting_ip",
    "true_client_ip",
    "fastly_client_ip",
    "x_original_forwarded_for",
    "fly_client_ip",
    "x_envoy_external_address",
    "x_forwarded",
    "forwarded_for",
    "x_appengine_user_ip",
    "x_azure_clientip",
    "x_azure_socketip",
    "cf_connecting_ipv6",
    "x_user_email",
}


# Span data keys Sentry defines for token counts; its server keeps them in span data.
SPAN_COUNTS = ("gen_ai.usage.", "gen_ai.request.max_tokens")


def _secret_key(normalized: str) -> bool:
    return normalized in _EXACT_KEYS or any(word in normalized for word in KEY_WORDS)


def is_secret_key(key: str, *, pii: bool) -> bool:
    """`pii`: also treat keys that hold personal data (client IPs) as secret."""
    if len(key) > 256:
        return any(word in normalize_key(key) for word in KEY_WORDS)
    normalized = normalize_key(key)
    return _secret_key(normalized) or (pii and normalized in PII_KEYS)


_WORDS = "|".join(re.escape(w).replace("_", "[-_]") for w in KEY_WORDS)

_KEY_WORD = re.compile(f"(?i:{_WORDS})")
_KEY_REST = re.compile(r"[\w.-]*")
# key=value, key: value, "key": "value", and the ('key', 'value') of a repr'd pair.
_SEPARATED_VALUE = re.compile(
    r"(?:['\"]?[ \t]{0,3}[:=][ \t]{0,3}|['\"],[ \t]{0,3}[bru]?(?=['\"]))"
    r"(?P<value>\"[^\"\n]{0,1024}\"|'[^'\n]{0,1024}'"
    r"|['\"]?(?:(?i:bearer|basic|token)[ \t]+)?[^\s&;,'\"<>(){}\[\]]+)"
)


class _KeyWords:
    """Successive key words in `text`, found with str.find where case folding keeps
    the length: a `re` alternation under (?i) tries every word at every character."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lowered = text.lower()
        self.aligned = len(self.lowered) == len(text)
        self.next = {word: self.lowered.find(word) for word in _KEY_WORDS_DASHED}

    def search(self, pos: int) -> int:
        """The end of the first key word at or after `pos`, or -1."""
        if not self.aligned:
            found = _KEY_WORD.search(self.text, pos)
            return -1 if found is None else found.end()
        best = -1
        for word, at in self.next.items():
            if 0 <= at < pos:
                at = self.next[word] = self.lowered.find(word, pos)
            if at >= 0 and (best < 0 or at < best):
                best = at
                best_word = word
        return best if best < 0 else best + len(best_word)


_KEY_WORDS_DASHED = tuple(dict.fromkeys([*KEY_WORDS, *(w.replace("_", "-") for w in KEY_WORDS)]))


def secret_pairs(text: str) -> str:
    """`key=value` and `"key": "value"` in text, where the key names a secret."""
    parts: list[str] = []
    done = 0
    words = _KeyWords(text)
    word_end = words.search(0)
    while word_end >= 0:
        key_end = _KEY_REST.match(text, word_end).end()  # type: ignore[union-attr]
        pair = _SEPARATED_VALUE.match(text, key_end)
        if pair is None:
            word_end = words.search(key_end)
            continue
        value = pair["value"]
        quote = value[0] if value[:1] in ("'", '"') else ""
        closing = quote if len(value) > 1 and value.endswith(quote) else ""
        parts += (text[done : pair.start("value")], quote, FILTERED, closing)
        done = pair.end()
        word_end = words.search(done)
    return "".join(parts) + text[done:] if parts else text
