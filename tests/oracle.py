"""Sentry's own server-side scrubber, as a check that ours left it nothing to do."""

from __future__ import annotations

from typing import Any

from sentry_relay.processing import (
    StoreNormalizer,
    convert_datascrubbing_config,
    pii_strip_event,
)

# A new Sentry project's defaults (data scrubbing and the default scrubbers), and
# "Prevent storing IP addresses": with send_default_pii off no client IP may remain.
# A service that sends default PII keeps the user's IP on purpose, so its project
# would have that option off.
DATASCRUBBING = {
    "scrubData": True,
    "scrubDefaults": True,
    "scrubIpAddresses": True,
    "sensitiveFields": [],
    "excludeFields": [],
}
PII_CONFIG = convert_datascrubbing_config(DATASCRUBBING)
PII_CONFIG_KEEPING_IPS = convert_datascrubbing_config({**DATASCRUBBING, "scrubIpAddresses": False})
_NORMALIZER = StoreNormalizer()


def leftovers(event: dict[str, Any], *, keep_ips: bool = False) -> list[str]:
    """Where Relay would still remove something: paths and what it saw there.

    Relay records each removal in `_meta`; one that replaces `[Filtered]` by itself
    (a value we already scrubbed) changes nothing and does not count.
    """
    normalized = _NORMALIZER.normalize_event(event)
    stripped = pii_strip_event(PII_CONFIG_KEEPING_IPS if keep_ips else PII_CONFIG, normalized)
    found: list[str] = []
    for path in _removals(stripped.get("_meta", {}), ()):
        before, after = _at(normalized, path), _at(stripped, path)
        if before != after:
            found.append(f"{'.'.join(path)}: {before!r:.200}")
    return found


def _removals(meta: Any, path: tuple[str, ...]) -> list[tuple[str, ...]]:
    if not isinstance(meta, dict):
        return []
    found = []
    for key, value in meta.items():
        if key == "":
            if isinstance(value, dict) and value.get("rem"):
                found.append(path)
        else:
            found += _removals(value, (*path, key))
    return found


def _at(data: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if isinstance(data, dict):
            data = data.get(key)
        elif isinstance(data, list) and key.isdigit() and int(key) < len(data):
            data = data[int(key)]
        else:
            return None
    return data


def assert_nothing_left(items: list[dict[str, Any]], *, keep_ips: bool = False) -> None:
    """`keep_ips`: the events were sent with send_default_pii on."""
    for item in items:
        found = leftovers(item, keep_ips=keep_ips)
        assert not found, f"Sentry's scrubber would still remove: {found}"
