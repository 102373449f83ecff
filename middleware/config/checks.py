"""What each SENTRY_* value must be, as annotated types for the settings' fields."""

from __future__ import annotations

import re
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, SecretStr

from middleware.config.dsn import parse_dsn

_RESERVED_RELEASES = frozenset({".", "..", "latest"})
_PACKAGE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_MONITOR_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,49}")


def is_monitor_slug(value: str) -> bool:
    """Sentry keeps a monitor slug only as 1-50 lowercase letters, digits, '-', '_'."""
    return _MONITOR_SLUG.fullmatch(value) is not None


def _dsn(value: SecretStr) -> SecretStr:
    parse_dsn(value.get_secret_value())
    return value


def _environment(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    if len(value) > 64:
        raise ValueError("must be at most 64 characters")
    if "/" in value or "\n" in value or "\r" in value:
        raise ValueError("must not contain '/' or a newline")
    if value == "None":
        raise ValueError("must not be the string 'None'")
    return value


def _release(value: str) -> str:
    if value in _RESERVED_RELEASES or not value.strip():
        raise ValueError("must not be '.', '..', blank or 'latest'")
    if any(c in value for c in "/\\\n\r\t"):
        raise ValueError("must not contain '/', '\\', a newline or a tab")
    if len(value) > 200:
        raise ValueError("must be at most 200 characters")
    return value


def _packages(value: str) -> str:
    names = [name.strip() for name in value.split(",") if name.strip()]
    if not names or not all(_PACKAGE.fullmatch(name) for name in names):
        raise ValueError("must be comma-separated package names (e.g. booty,myapp.core)")
    return ",".join(names)


def _spotlight(value: Any) -> bool | str:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    text = str(value).strip()
    if text.lower() in {"1", "true", "yes", "on"}:
        return True
    if text.lower() in {"0", "false", "no", "off"}:
        return False
    if urlsplit(text).scheme in {"http", "https"}:
        return text
    raise ValueError("must be true/false or an http(s) URL of the Spotlight sidecar")


def _worker_monitor(value: str) -> str:
    value = value.strip().lower()
    if value != "off" and not is_monitor_slug(value):
        raise ValueError("must be 'off' or a monitor slug: 1 to 50 of a-z, 0-9, '-' and '_'")
    return value


DsnValue = Annotated[SecretStr, AfterValidator(_dsn)]
Environment = Annotated[str, AfterValidator(_environment)]
Release = Annotated[str, AfterValidator(_release)]
Packages = Annotated[str, AfterValidator(_packages)]
Spotlight = Annotated[bool | str, BeforeValidator(_spotlight)]
WorkerMonitorSlug = Annotated[str, AfterValidator(_worker_monitor)]


Networks = tuple[IPv4Network | IPv6Network, ...]
ANY_NETWORK: Networks = (ip_network("0.0.0.0/0"), ip_network("::/0"))


def parse_networks(value: str) -> Networks:
    """`*` (anyone), `none`, or comma-separated addresses and networks (10.0.0.0/8)."""
    value = value.strip()
    if value == "*":
        return ANY_NETWORK
    if value.lower() == "none":
        return ()
    networks = []
    for part in value.split(","):
        try:
            networks.append(ip_network(part.strip(), strict=False))
        except ValueError:
            raise ValueError(
                "must be '*', 'none' or comma-separated IP addresses or networks"
            ) from None
    return tuple(networks)


def _trace_sources(value: str) -> str:
    parse_networks(value)
    return value.strip()


TraceSources = Annotated[str, AfterValidator(_trace_sources)]
