"""Log records in Sentry's logs product, and request ids for structlog."""

from middleware.logs.fields import add_request_ids, scrub_secrets
from middleware.logs.sentry_logs import log_options

__all__ = ["add_request_ids", "log_options", "scrub_secrets"]
