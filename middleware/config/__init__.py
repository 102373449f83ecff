"""Validated SENTRY_* settings and the production policy."""

from middleware.config.settings import (
    ConfigError,
    Problem,
    SentryConfig,
    SentrySettings,
    is_monitor_slug,
    is_production,
    load_sentry_config,
    load_settings,
    parse_dsn,
    redact_dsn,
    unknown_variables,
)

__all__ = [
    "ConfigError",
    "Problem",
    "SentryConfig",
    "SentrySettings",
    "is_monitor_slug",
    "is_production",
    "load_sentry_config",
    "load_settings",
    "parse_dsn",
    "redact_dsn",
    "unknown_variables",
]
