"""Who made a request: the client's address, behind trusted proxies, and its user."""

from __future__ import annotations

import ipaddress
from collections.abc import Collection

from starlette.types import Scope


def client_ip(scope: Scope, headers: dict[str, str], trusted: Collection[str]) -> str | None:
    """The peer address or, behind a trusted proxy, the client it names.

    That is the last X-Forwarded-For hop no trusted proxy added, or, from a
    proxy that sends only X-Real-IP (nginx's realip setup), that address.
    """
    client = scope.get("client")
    peer: str | None = str(client[0]) if client else None
    if peer is None or not trusted:
        return peer
    networks = [ipaddress.ip_network(p, strict=False) for p in trusted]

    def is_trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            return False
        return any(ip in network for network in networks)

    if not is_trusted(peer):
        return peer
    hops = [h.strip() for h in headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop):
            return hop
    if hops:
        return hops[0]
    real_ip = headers.get("x-real-ip", "").strip()
    try:
        return str(ipaddress.ip_address(real_ip))
    except ValueError:  # absent or not an address: never echo it
        return peer


def request_user(scope: Scope) -> dict[str, str]:
    """Starlette's AuthenticationMiddleware user, as the sdk's integration reads it."""
    user = scope.get("user")
    if user is None or not getattr(user, "is_authenticated", False):
        return {}
    data: dict[str, str] = {}
    for key, attribute in (("id", "identity"), ("username", "display_name")):
        try:
            value = getattr(user, attribute, None)
        except NotImplementedError:  # BaseUser leaves identity abstract
            value = None
        if value:
            data[key] = str(value)
    return data
