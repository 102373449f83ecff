from importlib.metadata import version

from middleware.capture import capture_error
from middleware.config import (
    ConfigError,
    Problem,
    SentryConfig,
    SentrySettings,
    is_production,
    load_sentry_config,
    load_settings,
    parse_dsn,
    redact_dsn,
)
from middleware.context import RequestIdFilter, get_request_id, set_user_context
from middleware.delivery import spool_problem, spool_status
from middleware.jobs import JobScope, WorkerMonitor, job_scope, span, trace_headers
from middleware.logs import add_request_ids, scrub_secrets
from middleware.request import RequestContextMiddleware, capture_server_errors, instrument
from middleware.scrub import TextScrubber
from middleware.startup import SentryLifespan, init_from_environment, init_sentry

__version__ = version("booty")

__all__ = [
    "ConfigError",
    "JobScope",
    "Problem",
    "RequestContextMiddleware",
    "RequestIdFilter",
    "SentryConfig",
    "SentryLifespan",
    "SentrySettings",
    "TextScrubber",
    "WorkerMonitor",
    "__version__",
    "add_request_ids",
    "capture_error",
    "capture_server_errors",
    "get_request_id",
    "init_from_environment",
    "init_sentry",
    "instrument",
    "is_production",
    "job_scope",
    "load_sentry_config",
    "load_settings",
    "parse_dsn",
    "redact_dsn",
    "scrub_secrets",
    "set_user_context",
    "span",
    "spool_problem",
    "spool_status",
    "trace_headers",
]
