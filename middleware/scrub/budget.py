"""Bounds on the scrubbing of one event, so that it never stalls the caller's thread."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

# Longer strings are cut: the cost of a scan grows with the length of the text.
MAX_TEXT = 16_384
# Sentry refuses events over 1 MB, and the sdk keeps databags to 10 items a level.
# Past these, in one event, data is filtered unread: the time spent on the caller's
# thread (the event loop, for a request) stays bounded.
MAX_EVENT_TEXT = 128 * 1024
MAX_EVENT_ITEMS = 5_000


@dataclass
class Budget:
    """What is left to scan (characters) and to walk (items) of one event."""

    chars: int = MAX_EVENT_TEXT
    items: int = MAX_EVENT_ITEMS

    def spend(self, *, chars: int = 0, items: int = 0) -> bool:
        """Take from what is left; False when what was asked for is over it."""
        self.chars -= chars
        self.items -= items
        return (not chars or self.chars >= 0) and (not items or self.items >= 0)


_budget: ContextVar[Budget | None] = ContextVar("scrub_budget", default=None)


def spend(*, chars: int = 0, items: int = 0) -> bool:
    """Spend from the current event's budget; outside an event there is no bound."""
    budget = _budget.get()
    return True if budget is None else budget.spend(chars=chars, items=items)


@contextmanager
def event_budget() -> Iterator[None]:
    """Bound the characters scanned and the items walked for one event."""
    token = _budget.set(Budget())
    try:
        yield
    finally:
        _budget.reset(token)


# A long string is scanned this far past the cut, so that a secret that straddles
# the cut is filtered whole. Longer secrets (keys, JWTs) have patterns that a
# prefix of them still matches.
CUT_MARGIN = 1024


def cut(scanned: str, window: str, *, whole: bool) -> str:
    """`scanned` (the scan of `window`) cut where `window` is cut: at MAX_TEXT characters.

    `whole`: `window` is the whole text. The cut is made on the original positions,
    since scrubbing shortens the text: the window's tail that the scan left as it
    was is dropped, so a secret cut off at the window's end (a prefix the scan
    could not recognise) is never kept, nor is any text from past MAX_TEXT that the
    scan did not touch.
    """
    if whole and len(scanned) <= MAX_TEXT:
        return scanned  # all of it was scanned, and fits
    tail = window[MAX_TEXT:]
    if scanned.endswith(tail):
        return scanned[: len(scanned) - len(tail)] + "..."
    # A replacement reached past MAX_TEXT (a secret across the cut): keep up to it.
    same = _common_suffix(scanned, window)
    return scanned[: len(scanned) - same][:MAX_TEXT] + "..."


def _common_suffix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[-1 - i] == b[-1 - i]:
        i += 1
    return i
