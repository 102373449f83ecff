"""Validated SENTRY_* settings and the production policy.

Fail closed in production, fail open elsewhere: in production every problem
refuses the start; anywhere else a bad value falls back to its safe default
with one warning naming the variable. No message ever holds a DSN's key.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from middleware.config.checks import (
    ANY_NETWORK,
    DsnValue,
    Environment,
    Networks,
    Packages,
    Release,
    Spotlight,
    TraceSources,
    WorkerMonitorSlug,
    is_monitor_slug,
    parse_networks,
)
from middleware.config.dsn import parse_dsn, redact_dsn
from middleware.config.policy import (
    ConfigError,
    Problem,
    env_name,
    is_production,
    load_settings,
    suggest_variable,
)

__all__ = [
    "ConfigError",
    "Problem",
    "SentryConfig",
    "SentrySettings",
    "env_name",
    "is_monitor_slug",
    "is_production",
    "load_sentry_config",
    "load_settings",
    "parse_dsn",
    "redact_dsn",
    "suggest_variable",
    "unknown_variables",
]

Rate = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]

# Variables that start with SENTRY_ but belong to sentry-cli or the sdk itself:
# they are legitimate and get no "did you mean" warning.
FOREIGN_SENTRY_VARIABLES = frozenset(
    {
        "SENTRY_AUTH_TOKEN",
        "SENTRY_ORG",
        "SENTRY_PROJECT",
        "SENTRY_URL",
        "SENTRY_LOG_LEVEL",
        "SENTRY_DEBUG",
        "SENTRY_KEEP_ALIVE",
        "SENTRY_USE_ENVIRONMENT",
        "SENTRY_TRACE",
        "SENTRY_BAGGAGE",
    }
)


class SentrySettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SENTRY_",
        case_sensitive=False,
        env_ignore_empty=True,
        extra="ignore",
        frozen=True,
    )

    dsn: DsnValue | None = None
    environment: Environment = "development"
    release: Release | None = None
    sample_rate: Rate = 1.0
    traces_sample_rate: Rate = 0.0
    profiles_sample_rate: Rate = 0.0
    send_default_pii: bool = False
    shutdown_timeout: Seconds = 2.0
    # False, not None: with None the sdk reads SENTRY_SPOTLIGHT itself, unvalidated.
    spotlight: Spotlight = False
    # Events per fingerprint per window before the storm guard stops building them; 0 = off.
    storm_limit: Annotated[int, Field(ge=0)] = 10
    # Longer than a day would suppress a repeating error for good.
    storm_window: Annotated[float, Field(gt=0, le=86400, allow_inf_nan=False)] = 60.0
    # Lean events per fingerprint per window past the limit before one is dropped; 0 = never.
    storm_ceiling: Annotated[int, Field(ge=0)] = 1000
    # Whose frames keep their local variables: framework frames' locals cost most of
    # an event and hold the raw ASGI scope (client IP, headers), which nobody reads.
    local_variables: Literal["in_app", "all", "none"] = "in_app"
    # Packages whose frames are in-app wherever the process starts (comma-separated);
    # without it the sdk marks frames under the working directory, which moves.
    in_app_include: Packages | None = None
    # Beyond errors (middleware/crons.py, middleware/logs.py): the worker's cron
    # monitor slug (unset: the service name; "off": no check-ins) and Sentry logs.
    worker_monitor: WorkerMonitorSlug | None = None
    enable_logs: bool = False
    # Local log lines (the journal is the operator's own) keep the client's address;
    # events and Sentry logs follow send_default_pii.
    local_logs_client_address: bool = True
    # Who may continue a trace (sentry-trace, baggage): addresses or networks, "*"
    # for anyone, "none"; unset: nobody in production, anyone elsewhere.
    trusted_trace_sources: TraceSources | None = None
    # Release health: a session per request, as the sdk's server integrations do.
    auto_session_tracking: bool = True
    # Delivery (middleware/delivery): envelopes kept on disk until Sentry answered
    # them; unset, the sdk's own transport sends from memory.
    spool_dir: Path | None = None
    spool_max_mb: Annotated[int, Field(ge=1, le=1024 * 1024)] = 64
    send_concurrency: Annotated[int, Field(ge=1, le=64)] = 4

    @property
    def in_app_packages(self) -> tuple[str, ...]:
        return tuple(self.in_app_include.split(",")) if self.in_app_include else ()

    def trace_networks(self, *, production: bool) -> Networks:
        """The networks whose callers' traces are continued."""
        value = self.trusted_trace_sources
        if value is None:
            return () if production else ANY_NETWORK
        return parse_networks(value)

    @property
    def dsn_value(self) -> str | None:
        return None if self.dsn is None else self.dsn.get_secret_value()


Mode = Literal["enabled", "disabled"]


@dataclass(frozen=True)
class SentryConfig:
    settings: SentrySettings
    production: bool
    problems: tuple[Problem, ...] = ()
    unknown: tuple[tuple[str, str | None], ...] = ()

    @property
    def mode(self) -> Mode:
        return "enabled" if self.settings.dsn is not None else "disabled"

    def warnings(self) -> list[str]:
        lines = [f"invalid configuration: {p}" for p in self.problems]
        if self.settings.profiles_sample_rate and not self.settings.traces_sample_rate:
            lines.append(
                "SENTRY_PROFILES_SAMPLE_RATE is ignored: profiles need tracing, and "
                "SENTRY_TRACES_SAMPLE_RATE is 0"
            )
        for name, suggestion in self.unknown:
            hint = f"; did you mean {suggestion}?" if suggestion else ""
            lines.append(f"unknown variable {name} is ignored{hint}")
        return lines


def known_variables() -> frozenset[str]:
    return frozenset(env_name(SentrySettings, f) for f in SentrySettings.model_fields)


def load_sentry_config() -> SentryConfig:
    """Validate every SENTRY_* variable; raise ConfigError if the service must refuse."""
    env = os.environ
    production = is_production(env.get("SENTRY_ENVIRONMENT"))
    settings, problems = load_settings(SentrySettings, production=production)

    refusals: list[Problem] = []
    if production and settings.dsn is None:
        refusals.append(Problem("SENTRY_DSN", "is required when SENTRY_ENVIRONMENT is production"))
    if production and settings.spotlight:
        refusals.append(
            Problem("SENTRY_SPOTLIGHT", "is for local development and refused in production")
        )
    if refusals:
        raise ConfigError(refusals)

    unknown = unknown_variables("SENTRY_", known_variables(), ignore=FOREIGN_SENTRY_VARIABLES)
    return SentryConfig(settings, production, tuple(problems), unknown)


def unknown_variables(
    prefix: str, known: Iterable[str], *, ignore: Iterable[str] = ()
) -> tuple[tuple[str, str | None], ...]:
    """Variables under `prefix` neither `known` nor `ignore`d, each with its "did you mean"."""
    names, skip = frozenset(known), frozenset(ignore)
    return tuple(
        (name, suggest_variable(name, names))
        for name in sorted(os.environ)
        if name.startswith(prefix) and name not in names and name not in skip
    )
