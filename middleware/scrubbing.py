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
from urllib.parse import unquote_plus

from sentry_sdk._types import AnnotatedValue
from sentry_sdk.scrubber import EventScrubber
from sentry_sdk.types import Breadcrumb, BreadcrumbHint, Event, Hint

from middleware._keys import FILTERED, PII_KEYS, SPAN_COUNTS, is_secret_key, normalize_key
from middleware._walker import Section, Walker, each, event_budget, fields

_UNTOUCHED = frozenset(
    {"event_id", "timestamp", "start_timestamp", "level", "platform", "type", "sdk", "modules"}
    | {"debug_meta", "_meta"}
)
_COOKIES = frozenset({"cookie", "set_cookie", "cookies"})


class _KeyScrubber(EventScrubber):
    """The sdk's EventScrubber with our key rule instead of its exact-name list."""

    def __init__(self, *, send_default_pii: bool) -> None:
        super().__init__(denylist=[], send_default_pii=True)
        self.hide_pii = not send_default_pii
        # scrub_user drops the user's IP when "ip_address" is in the denylist.
        self.denylist = sorted(PII_KEYS) if self.hide_pii else []

    def scrub_dict(self, d: object) -> None:
        if not isinstance(d, dict):
            return
        for key in d:
            if not isinstance(key, str) or not is_secret_key(key, pii=self.hide_pii):
                continue
            # before_send filters these where Sentry's server would, and only there.
            if key.startswith(SPAN_COUNTS):
                continue
            # Under send_default_pii, before_send keeps the names of the cookies.
            if self.hide_pii or normalize_key(key) not in _COOKIES:
                d[key] = AnnotatedValue.substituted_because_contains_sensitive_data()

    def scrub_user(self, event: Event) -> None:
        # The scope hands its own user dict to the event: scrub a copy.
        if isinstance(event.get("user"), dict):
            event["user"] = dict(event["user"])
        super().scrub_user(event)


class Scrubber(Walker):
    """`send_default_pii` keeps user IPs and cookie names; secrets go either way."""

    def __init__(self, *, secrets: Iterable[str] = (), send_default_pii: bool = False) -> None:
        self.secrets = tuple(s for s in secrets if s)
        self.send_default_pii = send_default_pii
        super().__init__(self.secrets, hide_pii=not send_default_pii)
        self.event_scrubber: EventScrubber = _KeyScrubber(send_default_pii=send_default_pii)

    def scrub_event(self, event: Event) -> Event:
        """A scrubbed copy of an event (serialised, or any JSON-like dict)."""
        with event_budget():
            scrubbed = {
                name: value
                if name in _UNTOUCHED
                else _SECTIONS.get(name, Walker.loose)(self, value)
                for name, value in cast(dict[str, Any], event).items()
            }
        return cast(Event, scrubbed)

    def before_send(self, event: Event, hint: Hint) -> Event | None:
        return self.scrub_event(event)

    def before_send_transaction(self, event: Event, hint: Hint) -> Event | None:
        return self.scrub_event(event)

    def before_breadcrumb(self, crumb: Breadcrumb, hint: BreadcrumbHint) -> Breadcrumb | None:
        with event_budget():
            return cast(Breadcrumb, _breadcrumb(self, crumb))


def _request(walker: Walker, request: Any) -> Any:
    out = walker.fields(
        request,
        {
            "headers": _headers,
            "cookies": _cookies,
            "query_string": _query,
            "data": Walker.strict,
            "env": Walker.strict,
        },
    )
    if walker.hide_pii and isinstance(out, dict):
        out.pop("cookies", None)
    return out


def _headers(walker: Walker, headers: Any) -> Any:
    if isinstance(headers, dict):
        return {walker.loose(k): _header(walker, k, v) for k, v in headers.items()}
    if isinstance(headers, list):
        return [
            [walker.loose(h[0]), _header(walker, h[0], h[1])]
            if isinstance(h, list | tuple) and len(h) == 2
            else walker.strict(h)
            for h in headers
        ]
    return walker.strict(headers)


def _header(walker: Walker, name: Any, value: Any) -> Any:
    cookie = isinstance(name, str) and normalize_key(name) in _COOKIES
    if cookie and not walker.hide_pii and isinstance(value, str):
        return _cookie_names(value)
    if walker.secret_key(name):
        return FILTERED
    return walker.strict(value)


def _cookie_names(header: str) -> str:
    """Which cookies were sent, without their values."""
    parts = []
    for part in header.split(";"):
        name, eq, _ = part.partition("=")
        parts.append(f"{name}={FILTERED}" if eq else part)
    return ";".join(parts)


def _cookies(walker: Walker, cookies: Any) -> Any:
    if isinstance(cookies, str):
        return _cookie_names(cookies)
    if isinstance(cookies, dict):
        return {walker.loose(name): FILTERED for name in cookies}
    return FILTERED


def _query(walker: Walker, query: Any) -> Any:
    """Every key kept; a value filtered whole when its key or its content is secret."""
    if not isinstance(query, str):
        return walker.strict(query)
    parts = []
    for part in query.split("&"):
        key, eq, value = part.partition("=")
        if not eq:
            key, value = "", part
        plain = unquote_plus(value)
        secret = walker.secret_key(unquote_plus(key)) or walker.string(plain, True) != plain
        if secret and value:
            parts.append(f"{key}{eq}{FILTERED}")
        else:
            parts.append(part)
    return "&".join(parts)


def _user(walker: Walker, user: Any) -> Any:
    """id and tenant id; the IP with send_default_pii; without it nothing else."""
    if not isinstance(user, dict):
        return walker.strict(user)
    out: dict[Any, Any] = {}
    for key, value in user.items():
        name = normalize_key(key) if isinstance(key, str) else key
        if name in ("id", "tenant_id"):
            out[key] = walker.strict(value)
        elif name == "ip_address":
            if not walker.hide_pii:
                out[key] = walker.loose(value)
        elif walker.hide_pii or (value is not None and walker.secret_key(key)):
            out[key] = FILTERED
        else:
            out[key] = walker.strict(value)
    return out


def _contexts(walker: Walker, contexts: Any) -> Any:
    if not isinstance(contexts, dict):
        return walker.strict(contexts)
    return {
        name: _trace(walker, context) if name == "trace" else walker.strict_entry(name, context)
        for name, context in contexts.items()
    }


def _logentry(walker: Walker, entry: Any) -> Any:
    out = walker.fields(entry, {"params": Walker.strict})
    formatted, params = _get(entry, "formatted"), _get(entry, "params")
    if not isinstance(formatted, str) or not isinstance(params, list):
        return out
    kept, scrubbed = out["formatted"], out["params"]
    if not isinstance(scrubbed, list) or len(scrubbed) != len(params):
        return out
    # A parameter that the scrubber took out of the formatted message is a secret too.
    out["params"] = [
        FILTERED if str(p) in formatted and str(p) not in kept else s
        for p, s in zip(params, scrubbed, strict=True)
    ]
    return out


def _get(data: Any, key: str) -> Any:
    return data.get(key) if isinstance(data, dict) else None


_trace = fields({"data": Walker.span_data})
_breadcrumb = fields({"message": Walker.strict, "data": Walker.strict})
_mechanism = fields({"data": Walker.strict})
_frames = fields({"frames": each(fields({"vars": Walker.strict}))})

_SECTIONS: dict[str, Section] = {
    "request": _request,
    "extra": Walker.strict,
    "contexts": _contexts,
    "user": _user,
    "breadcrumbs": each(_breadcrumb),
    "exception": each(fields({"mechanism": _mechanism, "stacktrace": _frames})),
    "threads": each(fields({"stacktrace": _frames})),
    "stacktrace": _frames,
    "logentry": _logentry,
    "spans": each(fields({"data": Walker.span_data})),
}
