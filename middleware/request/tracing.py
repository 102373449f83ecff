"""Which requests are traced, and what their transactions are called."""

from __future__ import annotations

import random
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import sentry_sdk
from sentry_sdk.types import Event
from starlette.types import Scope

from middleware._sdk import (
    Transaction,
    TransactionSource,
    has_tracing_enabled,
    parent_sampled,
    set_sample_rate,
)
from middleware.request.routes import Entry, route_template

TransactionStyle = Literal["url", "endpoint"]

# The sdk's default for http_methods_to_capture: preflights and HEAD probes are noise.
# The name of a request no route matched (a 404), never its raw URL.
UNMATCHED = "<unmatched>"
DEFAULT_METHODS = frozenset({"CONNECT", "DELETE", "GET", "PATCH", "POST", "PUT", "TRACE"})


def checked_style(transaction_style: str) -> TransactionStyle:
    if transaction_style == "url":
        return "url"
    if transaction_style == "endpoint":
        return "endpoint"
    raise ValueError(f"transaction_style must be 'url' or 'endpoint', not {transaction_style!r}")


@dataclass(frozen=True)
class TracingOptions:
    untraced_paths: frozenset[str] = frozenset({"/health"})
    http_methods_to_capture: frozenset[str] = DEFAULT_METHODS
    transaction_style: TransactionStyle = "url"

    @classmethod
    def build(
        cls,
        *,
        untraced_paths: Collection[str],
        http_methods_to_capture: Collection[str],
        transaction_style: str,
    ) -> TracingOptions:
        return cls(
            frozenset(untraced_paths),
            frozenset(m.upper() for m in http_methods_to_capture),
            checked_style(transaction_style),
        )

    def sampled(
        self, scope: Scope, path: str, sentry_scope: sentry_sdk.Scope, options: dict[str, Any]
    ) -> bool | None:
        """True or False when decided here; None leaves it to the app's traces_sampler.

        The sdk decides inside start_transaction, after building a Transaction and
        its span for every request, most of which it then discards.
        """
        if not has_tracing_enabled(options) or path in self.untraced_paths:
            return False
        if scope["type"] == "http" and scope.get("method") not in self.http_methods_to_capture:
            return False
        if callable(options.get("traces_sampler")):
            return None
        parent = parent_sampled(sentry_scope)
        if parent is not None:
            return parent
        rate = options.get("traces_sample_rate") or 0.0
        return random.random() < rate  # noqa: S311 - sampling, not security

    @contextmanager
    def transaction(
        self, scope: Scope, path: str, trace_headers: dict[str, str], sampled: bool | None
    ) -> Iterator[Transaction]:
        """The request's transaction, named by its route once the app has answered."""
        entry = Entry.of(scope)
        # Until the app has routed the request, its name is its URL, as the sdk's
        # integrations give it to traces_sampler; no event ever carries it.
        transaction = sentry_sdk.continue_trace(
            trace_headers,
            op=f"{scope['type']}.server",
            name=provisional_url(scope, path),
            source=TransactionSource.URL,
            origin="auto.http.request_context",
        )
        transaction.set_tag("asgi.type", scope["type"])
        if sampled:
            transaction.sampled = True  # decided in sampled()
        with sentry_sdk.start_transaction(
            transaction, custom_sampling_context={"asgi_scope": scope}
        ):
            if sampled:
                # The sdk records a decision made for it as rate 1.0: the trace
                # carries the local rate instead, continued or started here.
                rate = float(sentry_sdk.get_client().options.get("traces_sample_rate") or 0.0)
                set_sample_rate(sentry_sdk.get_current_scope(), transaction, rate)
            try:
                yield transaction
            finally:
                if transaction.source != TransactionSource.CUSTOM:
                    name, source = self.name(scope, entry)
                    # A framework the layer cannot route (Litestar, Quart) may have
                    # named it from its own router: better than no name at all.
                    if name != UNMATCHED or transaction.source == TransactionSource.URL:
                        transaction.name, transaction.source = name, source

    def name(self, scope: Scope, entry: Entry | None = None) -> tuple[str, str]:
        """The transaction name and source: never the raw URL with its ids.

        The one place a request is named, read once routing has happened: by
        every event of the request (name_event) and by its transaction.
        """
        if self.transaction_style == "endpoint":
            endpoint = scope.get("endpoint")
            if endpoint is not None:
                module = getattr(endpoint, "__module__", None)
                qualname = getattr(endpoint, "__qualname__", None) or type(endpoint).__name__
                name = f"{module}.{qualname}" if module else qualname
                return name, TransactionSource.COMPONENT
        path = route_template(scope, entry)
        if path is not None:
            return path, TransactionSource.ROUTE
        return UNMATCHED, TransactionSource.ROUTE

    def name_event(self, event: Event, scope: Scope, entry: Entry) -> None:
        """Name an event of the request as its transaction is named.

        Lazy, because an event may come before routing (a middleware's error) or
        after it (the endpoint's message, a logged error); with tracing on the sdk
        would otherwise give it the transaction's provisional name, the raw URL.
        A name the app set with source "custom" is the app's to keep.
        """
        if event.get("type") == "transaction":
            return
        info = event.get("transaction_info") or {}
        if info.get("source") != TransactionSource.CUSTOM:
            name, source = self.name(scope, entry)
            # Another name than the request's first was set during the request
            # by a framework the layer cannot route (Litestar, Quart): kept.
            if (
                name != UNMATCHED
                or info.get("source") in (None, TransactionSource.URL)
                or event.get("transaction") in (None, UNMATCHED)
            ):
                event["transaction"] = name
                event["transaction_info"] = {"source": source}


def fresh_name(current: sentry_sdk.Scope) -> None:
    """Give the request's current scope a name of its own, if it inherited one.

    The scope is a fork: it inherits any name set outside a request (custom, so
    name_event would keep it). A fork that inherited none is left unnamed, which
    name_event treats as the request's first name: the caller looks with
    `named()` first, on every request, and calls this only then.
    """
    current.set_transaction_name(UNMATCHED, source=TransactionSource.ROUTE)


def provisional_url(scope: Scope, path: str) -> str:
    """The URL without query, from the server's address as the sdk's _get_url builds it."""
    scheme = scope.get("scheme") or ("http" if scope["type"] == "http" else "ws")
    server = scope.get("server")
    if not server:
        return path
    host, port = server[0], server[1]
    if port is None or port == {"http": 80, "https": 443, "ws": 80, "wss": 443}.get(scheme):
        return f"{scheme}://{host}{path}"
    return f"{scheme}://{host}:{port}{path}"
