"""Which part of an event gets which treatment, following Sentry's server.

Databags (extra, contexts, request data, frame variables, breadcrumb data and
messages, span data, log parameters) are "strict"; names and messages are "loose".
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any
from urllib.parse import unquote_plus

from middleware.scrub.keys import FILTERED, SPAN_COUNTS, normalize_key
from middleware.scrub.walker import Fields, Section, Walker

COOKIES = frozenset({"cookie", "set_cookie", "cookies"})


def _request(walker: Walker, request: Any) -> Any:
    out = walker.walk_fields(
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
        # The client's address, which Sentry's server drops with IP scrubbing on.
        if isinstance(out.get("env"), dict):
            out["env"].pop("REMOTE_ADDR", None)
    return out


def _headers(walker: Walker, headers: Any) -> Any:
    if isinstance(headers, dict):
        return {
            walker.named(k)[0] if type(k) is str else walker.loose(k): _header(walker, k, v)
            for k, v in headers.items()
        }
    if isinstance(headers, list):
        return [
            [walker.loose(h[0]), _header(walker, h[0], h[1])]
            if isinstance(h, list | tuple) and len(h) == 2
            else walker.strict(h)
            for h in headers
        ]
    return walker.strict(headers)


def _header(walker: Walker, name: Any, value: Any) -> Any:
    if (
        not walker.hide_pii
        and isinstance(value, str)
        and isinstance(name, str)
        and normalize_key(name) in COOKIES
    ):
        return _cookie_names(value)
    if walker.secret_key(name):
        return FILTERED
    return walker.string(value, strict=True) if type(value) is str else walker.strict(value)


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
    """Keys and values read decoded; either is filtered whole when it holds a secret."""
    if not isinstance(query, str):
        return walker.strict(query)
    parts = []
    for part in query.split("&"):
        key, eq, value = part.partition("=")
        if not eq:
            key, value = "", part
        name, plain = unquote_plus(key), unquote_plus(value)
        if _scrubbed(walker, key, False) or _scrubbed(walker, name, False):
            key = FILTERED
        if value and (
            walker.secret_key(name)
            or _scrubbed(walker, value, True)
            or _scrubbed(walker, plain, True)
        ):
            value = FILTERED
        parts.append(f"{key}{eq}{value}" if key or eq else value)
    # A secret that holds "=" or "&" straddles a key and a value: read the whole.
    return walker.string("&".join(parts), strict=False)


def _scrubbed(walker: Walker, text: str, strict: bool) -> bool:
    return walker.string(text, strict=strict) != text


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
    out = walker.walk_fields(entry, {"params": Walker.strict})
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


def fields(sections: Mapping[str, Section]) -> Section:
    """The section of a dict whose listed fields have their own treatment."""
    return Fields(sections)


def each(section: Section) -> Section:
    """The section of a list of items of one kind."""
    return lambda walker, value: walker.walk_each(value, section)


def span_data(walker: Walker, data: Any) -> Any:
    """Span data, where Sentry keeps its own token counts (gen_ai.usage.*) and ids."""
    if not isinstance(data, dict):
        return walker.strict(data)
    return {
        key: value
        if key == THREAD_ID and isinstance(value, str) and value.isdecimal()
        else walker.strict(value)
        if isinstance(key, str) and key.startswith(SPAN_COUNTS)
        else walker.strict_entry(key, value)
        for key, value in data.items()
    }


# The sdk's thread id, a number of 15 digits or so, one in ten of which passes the
# Luhn check a card number is held to.
THREAD_ID = "thread.id"


_trace = fields({"data": span_data})
breadcrumb = fields({"message": Walker.strict, "data": Walker.strict})
_mechanism = fields({"data": Walker.strict})
_frames = fields({"frames": Walker.frames})

SECTIONS: Mapping[str, Section] = MappingProxyType(
    {
        "request": _request,
        "extra": Walker.strict,
        "contexts": _contexts,
        "user": _user,
        "breadcrumbs": each(breadcrumb),
        "exception": each(fields({"mechanism": _mechanism, "stacktrace": _frames})),
        "threads": each(fields({"stacktrace": _frames})),
        "stacktrace": _frames,
        "logentry": _logentry,
        "spans": each(fields({"data": span_data})),
    }
)
