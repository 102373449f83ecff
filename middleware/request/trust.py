"""Whose incoming trace a request continues, and what of it is kept.

An incoming `sentry-trace`/`baggage` decides the request's trace id and, when
it says "sampled", whether a transaction is sent; its baggage becomes the
envelope's trace header (public key, environment, release, sample rate). An
organisation id in the baggage is no authentication (it is in the DSN), so a
trace is continued only from the networks the operator trusts
(SENTRY_TRUSTED_TRACE_SOURCES), and even then the envelope's own fields come
from the local configuration.
"""

from __future__ import annotations

from ipaddress import ip_address
from urllib.parse import quote

from starlette.types import Scope

from middleware._runtime import runtime_of
from middleware._sdk import BaseClient
from middleware.config import is_production, parse_dsn

# Baggage items that describe this service, never the caller.
_LOCAL_ITEMS = ("public_key", "environment", "release", "sample_rate")


def trusted(scope: Scope, client: BaseClient) -> bool:
    """Whether the request's direct peer is in a network whose traces are continued."""
    runtime = runtime_of(client)
    networks = None if runtime is None else runtime.trace_sources
    if networks is None:
        # A client started without SENTRY_* settings: the default policy.
        return not is_production(client.options.get("environment"))
    if not networks:
        return False
    peer = scope.get("client")
    try:
        address = ip_address(peer[0]) if peer else None
    except ValueError:
        return False
    return address is not None and any(address in network for network in networks)


def continued_headers(scope: Scope, headers: dict[str, str], client: BaseClient) -> dict[str, str]:
    """The trace headers the request continues: none from an untrusted caller."""
    if not headers or not trusted(scope, client):
        return {}
    baggage = headers.get("baggage")
    if baggage is not None:
        headers = {**headers, "baggage": local_baggage(baggage, client)}
    return headers


def local_baggage(baggage: str, client: BaseClient) -> str:
    """The baggage with this service's own public key, environment, release and rate."""
    items = [item for item in baggage.split(",") if item.strip()]
    sentry = [item for item in items if item.strip().lower().startswith("sentry-")]
    if not sentry:
        # No Sentry items: the sdk fills the envelope's header from the local client.
        return baggage
    kept = [item for item in items if _name(item) not in _LOCAL_ITEMS]
    options = client.options
    local = {
        "public_key": parse_dsn(options["dsn"]).public_key if options.get("dsn") else None,
        "environment": options.get("environment"),
        "release": options.get("release"),
        "sample_rate": options.get("traces_sample_rate"),
    }
    kept += [f"sentry-{k}={quote(str(v), safe='')}" for k, v in local.items() if v is not None]
    return ",".join(kept)


def _name(item: str) -> str | None:
    key = item.split("=", 1)[0].strip().lower()
    return key.removeprefix("sentry-") if key.startswith("sentry-") else None
