"""What the storm guard decides for one event, and what it reports when a storm ends."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Detail = Literal["full", "lean", "drop"]


@dataclass(frozen=True)
class Verdict:
    """How much of an event to build, and what the guard knows of its fingerprint."""

    detail: Detail
    label: str = ""
    # Events of this fingerprint in the window, this one included (0: untracked).
    count: int = 0
    # Events of this fingerprint dropped since the last one sent (on sent events only).
    dropped: int = 0

    def context(self) -> dict[str, object] | None:
        """The event's `storm` context, or None for an event outside any storm."""
        if self.detail == "full" and not self.dropped:
            return None
        context: dict[str, object] = {"label": self.label, "count": self.count}
        if self.dropped:
            context["dropped"] = self.dropped
        return context


FULL = Verdict("full")


@dataclass(frozen=True)
class Summary:
    label: str
    dropped: int
    window: float

    def __str__(self) -> str:
        return (
            f"error storm over: {self.dropped} events of {self.label} were dropped "
            f"past the ceiling (window {self.window:g} s)"
        )
