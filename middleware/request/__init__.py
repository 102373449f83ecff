"""The request layer: request ids, one scope per request, request data, tracing."""

from middleware.request.disconnects import quiet_disconnects
from middleware.request.instrument import capture_server_errors, instrument
from middleware.request.middleware import RequestContextMiddleware

__all__ = ["RequestContextMiddleware", "capture_server_errors", "instrument", "quiet_disconnects"]
