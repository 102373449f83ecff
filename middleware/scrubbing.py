"""before_send / before_breadcrumb / transaction scrubbing."""

from __future__ import annotations

from collections.abc import Iterable

from sentry_sdk.scrubber import DEFAULT_DENYLIST, DEFAULT_PII_DENYLIST, EventScrubber
from sentry_sdk.types import Breadcrumb, BreadcrumbHint, Event, Hint


class Scrubber:
    def __init__(self, *, secrets: Iterable[str] = (), send_default_pii: bool = False) -> None:
        self.secrets = tuple(s for s in secrets if s)
        self.event_scrubber = EventScrubber(
            denylist=[*DEFAULT_DENYLIST, "x-api-key"],
            recursive=True,
            send_default_pii=send_default_pii,
            pii_denylist=list(DEFAULT_PII_DENYLIST),
        )

    def before_send(self, event: Event, hint: Hint) -> Event | None:
        return event

    def before_send_transaction(self, event: Event, hint: Hint) -> Event | None:
        return event

    def before_breadcrumb(self, crumb: Breadcrumb, hint: BreadcrumbHint) -> Breadcrumb | None:
        return crumb
