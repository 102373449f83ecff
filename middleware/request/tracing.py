"""Which requests are traced, and what their transactions are called."""

from __future__ import annotations

import random
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import sentry_sdk
from starlette.types import Scope

from middleware._sdk import Transaction, TransactionSource, has_tracing_enabled, parent_sampled

TransactionStyle = Literal["url", "endpoint"]

# The sdk's default for http_methods_to_capture: preflights and HEAD probes are noise.
DEFAULT_METHODS = frozenset({"CONNECT", "DELETE", "GET", "PATCH", "POST", "PUT", "TRACE"})


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
        if transaction_style not in ("url", "endpoint"):
            raise ValueError(
                f"transaction_style must be 'url' or 'endpoint', not {transaction_style!r}"
            )
        return cls(
            frozenset(untraced_paths),
            frozenset(m.upper() for m in http_methods_to_capture),
            transaction_style,  # type: ignore[arg-type]
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
        transaction = sentry_sdk.continue_trace(
            trace_headers,
            op="http.server",
            name=path,
            source=TransactionSource.URL,
            origin="auto.http.request_context",
        )
        if sampled:
            transaction.sampled = True  # decided in sampled()
        with sentry_sdk.start_transaction(
            transaction, custom_sampling_context={"asgi_scope": scope}
        ):
            try:
                yield transaction
            finally:
                transaction.name, transaction.source = self.name(scope)

    def name(self, scope: Scope) -> tuple[str, str]:
        """The transaction name and source: never the raw URL with its ids."""
        if self.transaction_style == "endpoint":
            endpoint = scope.get("endpoint")
            if endpoint is not None:
                module = getattr(endpoint, "__module__", None)
                qualname = getattr(endpoint, "__qualname__", None) or type(endpoint).__name__
                name = f"{module}.{qualname}" if module else qualname
                return name, TransactionSource.COMPONENT
        path = getattr(scope.get("route"), "path", None)
        if isinstance(path, str):
            return path, TransactionSource.ROUTE
        return "<unmatched>", TransactionSource.ROUTE
