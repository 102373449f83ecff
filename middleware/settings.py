"""Validated SENTRY_* settings and the production policy.

Fail closed in production, fail open elsewhere: in production every problem
refuses the start; anywhere else a bad value falls back to its safe default
with one warning naming the variable. No message ever holds a DSN's key.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from middleware._sdk import BadDsn, Dsn

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

_RESERVED_RELEASES = frozenset({".", "..", "latest"})
_PACKAGE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


class SentrySettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SENTRY_",
        case_sensitive=False,
        env_ignore_empty=True,
        extra="ignore",
        frozen=True,
    )

    dsn: SecretStr | None = None
    environment: str = "development"
    release: str | None = None
    sample_rate: Rate = 1.0
    traces_sample_rate: Rate = 0.0
    profiles_sample_rate: Rate = 0.0
    send_default_pii: bool = False
    shutdown_timeout: Seconds = 2.0
    # False, not None: with None the sdk reads SENTRY_SPOTLIGHT itself, unvalidated.
    spotlight: bool | str = False
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
    in_app_include: str | None = None
    # Beyond errors (middleware/crons.py, middleware/logs.py): the worker's cron
    # monitor slug (unset: the service name; "off": no check-ins) and Sentry logs.
    worker_monitor: str | None = None
    enable_logs: bool = False

    @field_validator("dsn")
    @classmethod
    def _check_dsn(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_dsn(value.get_secret_value())
        return value

    @field_validator("environment")
    @classmethod
    def _check_environment(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be blank")
        if len(value) > 64:
            raise ValueError("must be at most 64 characters")
        if "/" in value or "\n" in value or "\r" in value:
            raise ValueError("must not contain '/' or a newline")
        if value == "None":
            raise ValueError("must not be the string 'None'")
        return value

    @field_validator("release")
    @classmethod
    def _check_release(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value in _RESERVED_RELEASES or not value.strip():
            raise ValueError("must not be '.', '..', blank or 'latest'")
        if any(c in value for c in "/\\\n\r\t"):
            raise ValueError("must not contain '/', '\\', a newline or a tab")
        if len(value) > 200:
            raise ValueError("must be at most 200 characters")
        return value

    @field_validator("in_app_include")
    @classmethod
    def _check_in_app_include(cls, value: str | None) -> str | None:
        if value is None:
            return None
        names = [name.strip() for name in value.split(",") if name.strip()]
        if not names or not all(_PACKAGE.fullmatch(name) for name in names):
            raise ValueError("must be comma-separated package names (e.g. booty,myapp.core)")
        return ",".join(names)

    @property
    def in_app_packages(self) -> tuple[str, ...]:
        return tuple(self.in_app_include.split(",")) if self.in_app_include else ()

    @field_validator("spotlight", mode="before")
    @classmethod
    def _check_spotlight(cls, value: Any) -> bool | str:
        if value is None:
            return False
        if isinstance(value, bool):
            return value
        text = str(value).strip()
        if text.lower() in {"1", "true", "yes", "on"}:
            return True
        if text.lower() in {"0", "false", "no", "off"}:
            return False
        if urlsplit(text).scheme in {"http", "https"}:
            return text
        raise ValueError("must be true/false or an http(s) URL of the Spotlight sidecar")

    @field_validator("worker_monitor")
    @classmethod
    def _check_worker_monitor(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().lower()
        if value != "off" and not is_monitor_slug(value):
            raise ValueError("must be 'off' or a monitor slug: 1 to 50 of a-z, 0-9, '-' and '_'")
        return value

    @property
    def dsn_value(self) -> str | None:
        return None if self.dsn is None else self.dsn.get_secret_value()


_MONITOR_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,49}")


def is_monitor_slug(value: str) -> bool:
    """Sentry keeps a monitor slug only as 1-50 lowercase letters, digits, '-', '_'."""
    return _MONITOR_SLUG.fullmatch(value) is not None


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


def is_production(environment: str | None) -> bool:
    return (environment or "").strip().lower() == "production"


@dataclass(frozen=True)
class Problem:
    variable: str
    message: str

    def __str__(self) -> str:
        return f"{self.variable} {self.message}"


class ConfigError(Exception):
    """The configuration refuses to start; each problem names its variable."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(str(p) for p in problems))


S = TypeVar("S", bound=BaseSettings)


def env_name(cls: type[BaseSettings], field: str) -> str:
    prefix = str(cls.model_config.get("env_prefix", ""))
    return f"{prefix}{field}".upper()


def load_settings(cls: type[S], *, production: bool) -> tuple[S, list[Problem]]:
    """Read `cls` from the environment under the production policy.

    In production every invalid value raises ConfigError. Elsewhere each
    invalid field falls back to its default and is reported as a Problem.
    """
    try:
        return cls(), []
    except ValidationError as exc:
        problems: dict[str, Problem] = {}
        for error in exc.errors(include_input=False, include_url=False):
            field = str(error["loc"][0]) if error["loc"] else ""
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.setdefault(field, Problem(env_name(cls, field), message))
    if production:
        raise ConfigError(list(problems.values()))
    # Keyword arguments take precedence over the environment in pydantic-settings,
    # so each bad field is pinned to its default and the rest is read again.
    defaults = {field: cls.model_fields[field].get_default() for field in problems}
    return cls(**defaults), [
        Problem(p.variable, f"{p.message}; using the default") for p in problems.values()
    ]


def suggest_variable(name: str, known: frozenset[str]) -> str | None:
    """SENTRY_ENV -> SENTRY_ENVIRONMENT, SENTRY_DSN_BACKEND -> SENTRY_DSN, else the closest."""
    longer = [k for k in known if k.startswith(name)]
    if longer:
        return min(longer, key=len)
    shorter = [k for k in known if name.startswith(k)]
    if shorter:
        return max(shorter, key=len)
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    return close[0] if close else None


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

    known = known_variables()
    unknown = tuple(
        (name, suggest_variable(name, known))
        for name in sorted(env)
        if name.startswith("SENTRY_")
        and name not in known
        and name not in FOREIGN_SENTRY_VARIABLES
    )
    return SentryConfig(settings, production, tuple(problems), unknown)
