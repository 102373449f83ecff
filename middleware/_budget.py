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


def cut(text: str) -> str:
    """`text` cut to MAX_TEXT characters."""
    head = text[:MAX_TEXT]
    # Do not leave the start of a secret that straddles the cut.
    space = max(head.rfind(" ", MAX_TEXT - 4096), head.rfind("\n", MAX_TEXT - 4096))
    return (head[:space] if space > 0 else head) + "..."
