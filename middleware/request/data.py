"""What an event says about its request: URL, headers, body, user and client IP.

Everything is read from a snapshot taken when the request starts, and turned into
event data only when an event is built (see events.py).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal
from urllib.parse import parse_qsl, urlunsplit

from sentry_sdk.types import Event
from starlette.types import Message, Receive, Scope

from middleware._sdk import AnnotatedValue, filter_headers
from middleware.request.bodies import multipart_form, unparsed
from middleware.request.client import client_ip, request_user

BodySize = Literal["never", "small", "medium", "always"]

# The sdk's own bounds for max_request_body_size. "always" is still bounded:
# a body is copied as the app reads it, and nothing unbounded is ever buffered.
BODY_LIMITS: Mapping[BodySize, int] = MappingProxyType(
    {
        "never": 0,
        "small": 1_000,
        "medium": 10_000,
        "always": 1_000_000,
    }
)
_FORM = "application/x-www-form-urlencoded"
_MULTIPART = "multipart/form-data"


def full_path(path: str, root_path: str) -> str:
    """The full path as the client asked for it, from the scope's path and
    root_path as the request started.

    uvicorn puts root_path into path already; hypercorn and granian do not; and
    Starlette's Mount rewrites root_path in the scope it shares with us, so
    reading it later doubles the prefix. The sdk settled on the same rule.
    """
    if root_path and not path.startswith(root_path):
        return root_path + path
    return path


@dataclass(frozen=True)
class RequestDataOptions:
    max_request_body_size: BodySize = "medium"
    # Proxies whose X-Forwarded-For is believed; any other peer is the client.
    trusted_proxies: Collection[str] = ()

    def __post_init__(self) -> None:
        if self.max_request_body_size not in BODY_LIMITS:
            raise ValueError(
                f"max_request_body_size must be one of {', '.join(BODY_LIMITS)}, "
                f"not {self.max_request_body_size!r}"
            )
        for proxy in self.trusted_proxies:
            ipaddress.ip_network(proxy, strict=False)  # raises ValueError on a bad one

    @property
    def body_limit(self) -> int:
        return BODY_LIMITS[self.max_request_body_size]


@dataclass(eq=False)
class BodyCopy:
    """The bytes the app has read, up to a limit; never more than it asked for."""

    limit: int
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0
    complete: bool = False
    too_large: bool = False

    def wrap(self, receive: Receive) -> Receive:
        async def receive_wrapper() -> Message:
            message = await receive()
            if message["type"] == "http.request" and not self.too_large:
                chunk: bytes = message.get("body", b"")
                self.size += len(chunk)
                if self.size > self.limit:
                    self.too_large, self.chunks = True, []
                else:
                    self.chunks.append(chunk)
                self.complete = not message.get("more_body", False)
            return message

        return receive_wrapper

    def data(self, content_type: str) -> Any:
        """The body as the sdk's integrations send it: parsed, or an annotation saying why not."""
        if self.too_large:
            return AnnotatedValue.removed_because_over_size_limit()
        if not self.complete or not self.size:
            return None
        raw = b"".join(self.chunks)
        kind = content_type.split(";", 1)[0].strip().lower()
        try:
            if kind == "application/json" or kind.endswith("+json"):
                return json.loads(raw)
            if kind == _FORM:
                return dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=True))
            if kind == _MULTIPART:
                form = multipart_form(raw, content_type)
                if form is not None:
                    return form
        except ValueError:
            pass
        return unparsed(self.size)


def add_request_data(
    event: Event,
    scope: Scope,
    *,
    path: str,
    started: float,
    options: RequestDataOptions,
    body: BodyCopy | None,
    send_default_pii: bool,
) -> None:
    """Request data and the request's opening breadcrumb, added to one of its events."""
    headers: dict[str, str] = {}
    for key, value in scope.get("headers", ()):
        name = key.decode("latin-1")
        text = value.decode("latin-1")
        headers[name] = f"{headers[name]}, {text}" if name in headers else text
    host = headers.get("host") or _server(scope)
    scheme = scope.get("scheme", "http")
    method = scope.get("method", "GET" if scope["type"] == "http" else "WEBSOCKET")
    request: dict[str, Any] = {
        "method": method,
        "url": urlunsplit((scheme, host, path, "", "")),
        "headers": filter_headers(headers),
    }
    query = scope.get("query_string")
    if query:
        request["query_string"] = query.decode("latin-1")
    if body is not None:
        data = body.data(headers.get("content-type", ""))
        if data is not None:
            request["data"] = data
    if send_default_pii:
        ip = client_ip(scope, headers, options.trusted_proxies)
        if ip is not None:
            request["env"] = {"REMOTE_ADDR": ip}
        user = {**request_user(scope), **(event.get("user") or {})}
        if ip is not None:
            user.setdefault("ip_address", ip)
        if user:
            event["user"] = user
    event.setdefault("request", request)
    crumbs = event.get("breadcrumbs")
    if event.get("type") != "transaction" and isinstance(crumbs, dict):
        crumbs.setdefault("values", []).insert(
            0,
            {
                "type": "http",
                "category": "request",
                "message": f"{method} {path}",
                "timestamp": datetime.fromtimestamp(started, UTC),
            },
        )


def _server(scope: Scope) -> str:
    server = scope.get("server")
    if not server:
        return "localhost"
    host, port = server[0], server[1]
    return host if port in (None, 80, 443) else f"{host}:{port}"
