from middleware.context import RequestIdFilter, get_request_id, set_user_context
from middleware.instrument import capture_server_errors, instrument
from middleware.lifespan import SentryLifespan
from middleware.request_context import RequestContextMiddleware
from middleware.settings import ConfigError, SentrySettings, load_sentry_config

__all__ = [
    "ConfigError",
    "RequestContextMiddleware",
    "RequestIdFilter",
    "SentryLifespan",
    "SentrySettings",
    "capture_server_errors",
    "get_request_id",
    "instrument",
    "load_sentry_config",
    "set_user_context",
]
