from importlib.metadata import PackageNotFoundError, version

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
    unknown_variables,
)
from middleware.context import RequestIdFilter, get_request_id, set_user_context
from middleware.delivery import spool_problem, spool_status
from middleware.jobs import JobScope, WorkerMonitor, job_scope, span, trace_headers
from middleware.logs import add_request_ids, scrub_secrets
from middleware.request import (
    RequestContextMiddleware,
    add_sentry_trace_meta,
    capture_server_errors,
    instrument,
)
from middleware.scrub import TextScrubber
from middleware.startup import (
    SdkOptions,
    SentryLifespan,
    check_config,
    describe_config,
    init_from_environment,
    init_sentry,
)

try:
    __version__ = version("asgi-sentry-scope")
except PackageNotFoundError:  # imported from a checkout that was never installed
    __version__ = "0+unknown"

__all__ = [
    "ConfigError",
    "JobScope",
    "Problem",
    "RequestContextMiddleware",
    "RequestIdFilter",
    "SdkOptions",
    "SentryConfig",
    "SentryLifespan",
    "SentrySettings",
    "TextScrubber",
    "WorkerMonitor",
    "__version__",
    "add_request_ids",
    "add_sentry_trace_meta",
    "capture_error",
    "capture_server_errors",
    "check_config",
    "describe_config",
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
    "unknown_variables",
]
