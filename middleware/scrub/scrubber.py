"""before_send / before_breadcrumb / transaction scrubbing.

The sdk's EventScrubber runs before serialisation, one level deep: its recursive mode
has no depth or cycle guard and rewrites containers the application still holds.
The rest runs on the serialised event, whose containers are fresh and whose values are
plain JSON: keys that name a secret at any depth, secret-shaped values in any string,
and, where Sentry's server applies it, its rule that filters a whole value.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

import sentry_sdk
from sentry_sdk.scrubber import EventScrubber
from sentry_sdk.types import Breadcrumb, BreadcrumbHint, Event, Hint

from middleware._sdk import AnnotatedValue, keep_plain_parts
from middleware.scrub.budget import event_budget
from middleware.scrub.keys import PII_KEYS, SPAN_COUNTS, is_secret_key, normalize_key
from middleware.scrub.sections import COOKIES, SECTIONS, breadcrumb
from middleware.scrub.walker import CACHE_SIZE as _KNOWN_KEYS
from middleware.scrub.walker import Walker

_UNTOUCHED = frozenset(
    {"event_id", "timestamp", "start_timestamp", "level", "platform", "type", "sdk", "modules"}
    | {"debug_meta", "_meta"}
    # Validated settings, not caller data; Sentry's server leaves them alone too, and a
    # release such as "booty@1.2.3" has the shape of an email address.
    | {"release", "environment", "dist"}
)


class _KeyScrubber(EventScrubber):
    """The sdk's EventScrubber with our key rule instead of its exact-name list."""

    def __init__(self, *, send_default_pii: bool) -> None:
        super().__init__(denylist=[], send_default_pii=True)
        self.hide_pii = not send_default_pii
        # scrub_user drops the user's IP when "ip_address" is in the denylist.
        self.denylist = sorted(PII_KEYS) if self.hide_pii else []
        # Events repeat their keys: a lookup is cheaper than the key rule.
        self._secret: dict[str, bool] = {}
        # The keys known to name no secret: a dict of only these is passed by in C.
        self._clean: set[str] = set()

    def _is_secret(self, key: str) -> bool:
        found = self._secret.get(key)
        if found is None:
            if len(self._secret) >= _KNOWN_KEYS:
                self._secret.clear()
                self._clean.clear()
            found = self._secret[key] = is_secret_key(key, pii=self.hide_pii)
            if not found and type(key) is str:
                self._clean.add(key)
        return found

    def scrub_dict(self, d: object) -> None:
        if not isinstance(d, dict) or self._clean.issuperset(d):
            return
        for key in d:
            if not isinstance(key, str) or not self._is_secret(key):
                continue
            # before_send filters these where Sentry's server would, and only there.
            if key.startswith(SPAN_COUNTS):
                continue
            # Under send_default_pii, before_send keeps the names of the cookies.
            if self.hide_pii or normalize_key(key) not in COOKIES:
                d[key] = AnnotatedValue.substituted_because_contains_sensitive_data()

    def scrub_event(self, event: Event) -> None:
        super().scrub_event(event)
        # The client serialises the event right after this hook: parts already in
        # their wire form are marked so that its walk passes them by.
        options = sentry_sdk.get_client().options
        keep_plain_parts(
            cast(dict[str, Any], event), max_value_length=options.get("max_value_length")
        )

    def scrub_user(self, event: Event) -> None:
        # The scope hands its own user dict to the event: scrub a copy.
        if isinstance(event.get("user"), dict):
            event["user"] = dict(event["user"])
        super().scrub_user(event)


class Scrubber:
    """`send_default_pii` keeps user IPs and cookie names; secrets go either way."""

    def __init__(self, *, secrets: Iterable[str] = (), send_default_pii: bool = False) -> None:
        self.secrets = tuple(s for s in secrets if s)
        self.send_default_pii = send_default_pii
        self.walker = Walker(self.secrets, hide_pii=not send_default_pii)
        self.event_scrubber: EventScrubber = _KeyScrubber(send_default_pii=send_default_pii)

    def scrub_event(self, event: Event) -> Event:
        """A scrubbed copy of an event (serialised, or any JSON-like dict)."""
        walker = self.walker
        with event_budget():
            scrubbed = {
                name: value
                if name in _UNTOUCHED
                else SECTIONS.get(name, Walker.loose)(walker, value)
                for name, value in cast(dict[str, Any], event).items()
            }
        return cast(Event, scrubbed)

    def scrub_text(self, text: str) -> str:
        """A message or a log line, scrubbed like the messages of events."""
        return self.walker.text(text)

    def before_send(self, event: Event, hint: Hint) -> Event | None:
        return self.scrub_event(event)

    def before_send_transaction(self, event: Event, hint: Hint) -> Event | None:
        return self.scrub_event(event)

    def before_breadcrumb(self, crumb: Breadcrumb, hint: BreadcrumbHint) -> Breadcrumb | None:
        with event_budget():
            return cast(Breadcrumb, breadcrumb(self.walker, crumb))
