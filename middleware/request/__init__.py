"""The request layer: request ids, one scope per request, request data, tracing."""

from middleware.request.disconnects import quiet_disconnects
from middleware.request.instrument import capture_server_errors, instrument
from middleware.request.middleware import RequestContextMiddleware
from middleware.request.templates import add_sentry_trace_meta

__all__ = [
    "RequestContextMiddleware",
    "add_sentry_trace_meta",
    "capture_server_errors",
    "instrument",
    "quiet_disconnects",
]
