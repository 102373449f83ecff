"""Bounds on the scrubbing of one event, so that it never stalls the caller's thread."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

# Longer strings are cut before the scan: `re` costs 0.02-1 µs a character.
MAX_TEXT = 16_384
# Sentry refuses events over 1 MB, and the sdk keeps databags to 10 items a level.
# Past these, in one event, data is filtered unread: the time spent on the caller's
# thread (the event loop, for a request) stays bounded.
MAX_EVENT_TEXT = 128 * 1024
MAX_EVENT_ITEMS = 5_000

_budget: ContextVar[list[int] | None] = ContextVar("scrub_budget", default=None)


def spend(chars: int = 0, items: int = 0) -> bool:
    left = _budget.get()
    if left is None:
        return True
    left[0] -= chars
    left[1] -= items
    return (not chars or left[0] >= 0) and (not items or left[1] >= 0)


@contextmanager
def event_budget() -> Iterator[None]:
    """Bound the characters scanned and the items walked for one event."""
    token = _budget.set([MAX_EVENT_TEXT, MAX_EVENT_ITEMS])
    try:
        yield
    finally:
        _budget.reset(token)


# A long string is scanned this far past the cut, so that a secret that straddles
# the cut is filtered whole. Longer secrets (keys, JWTs) have patterns that a
# prefix of them still matches.
CUT_MARGIN = 1024


def cut(scanned: str, *, whole: bool) -> str:
    """`scanned` cut to MAX_TEXT characters; `whole`: nothing was cut before the scan."""
    return scanned if whole and len(scanned) <= MAX_TEXT else scanned[:MAX_TEXT] + "..."
