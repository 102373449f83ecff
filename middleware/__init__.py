from middleware.capture import capture_error
from middleware.context import RequestIdFilter, get_request_id, set_user_context
from middleware.instrument import capture_server_errors, instrument
from middleware.jobs import JobScope, job_scope, span, trace_headers
from middleware.lifespan import SentryLifespan, init_from_environment
from middleware.request_context import RequestContextMiddleware
from middleware.settings import ConfigError, SentrySettings, load_sentry_config

__all__ = [
    "ConfigError",
    "JobScope",
    "RequestContextMiddleware",
    "RequestIdFilter",
    "SentryLifespan",
    "SentrySettings",
    "capture_error",
    "capture_server_errors",
    "get_request_id",
    "init_from_environment",
    "instrument",
    "job_scope",
    "load_sentry_config",
    "set_user_context",
    "span",
    "trace_headers",
]
