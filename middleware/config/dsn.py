"""Sentry DSNs parsed and shown without their keys."""

from __future__ import annotations

from middleware._sdk import BadDsn, Dsn


def parse_dsn(value: str) -> Dsn:
    """Parse a DSN; the error never contains the DSN itself."""
    try:
        dsn = Dsn(value)
    except (BadDsn, ValueError):
        raise ValueError(
            "is not a valid Sentry DSN (expected http(s)://<public key>@<host>/<project id>)"
        ) from None
    if not dsn.public_key:
        raise ValueError("is not a valid Sentry DSN: it has no public key")
    if not str(dsn.project_id).isdigit():
        raise ValueError("is not a valid Sentry DSN: the project id must be a number")
    return dsn


def redact_dsn(value: str | None) -> str:
    """The DSN as it may be shown: key (and secret) replaced, host and project kept."""
    if value is None:
        return "(none)"
    try:
        dsn = parse_dsn(value)
    except ValueError:
        return "(invalid)"
    port = "" if dsn.port in (80, 443) else f":{dsn.port}"
    return f"{dsn.scheme}://[Filtered]@{dsn.host}{port}{dsn.path}{dsn.project_id}"
