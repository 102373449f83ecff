"""Booty's own settings: GitHub, the LLM, the job database, the internal token."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict
from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from middleware import (
    ConfigError,
    Problem,
    SdkOptions,
    TextScrubber,
    is_production,
    load_settings,
    unknown_variables,
)

# Environment variables whose exact values the scrubber removes from every event.
SECRET_ENV = (
    "GITHUB_TOKEN",
    "LLM_API_KEY",
    "GITHUB_WEBHOOK_SECRET",
    "BOOTY_INTERNAL_TOKEN",
    "BOOTY_DATABASE_URL",  # it holds the database password
)
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
REFUSED_EVERYWHERE = frozenset({"BOOTY_DATABASE_URL"})
_FALLBACK = "; using the default"
# Booty's frames are in-app wherever the service starts, not only from its checkout.
IN_APP_INCLUDE = ("booty",)
# The sdk's options Booty gives in code. Its GitHub and LLM calls (httpx) and its
# queue's statements are spans and breadcrumbs of its own (github.py, llm.py,
# queue/), named for what they do: of the integrations the sdk enables by itself,
# httpx's would record each call a second time and none has anything else of
# Booty's to instrument, so they are not loaded (a second of startup in the test
# environment, where Litestar, Quart and SQLAlchemy are installed too).
SDK_OPTIONS: SdkOptions = {"auto_enabling_integrations": False}
# BOOTY_* variables read by the deploy kit, not by the service's settings.
DEPLOY_VARIABLES = ("BOOTY_HOST", "BOOTY_PORT", "BOOTY_PYTHON")


def _http_url(value: str | None) -> str | None:
    """A base URL that paths are appended to, and that check-config may print.

    Credentials belong in GITHUB_TOKEN / LLM_API_KEY: a user:password or a query
    string (`?key=...`) would be printed and logged. The message never holds the value.
    """
    if value is None:
        return None
    value = value.strip().rstrip("/")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ValueError("must be an http(s) URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) URL")
    if "@" in parts.netloc:
        raise ValueError("must not contain credentials (user:password@)")
    if parts.query or parts.fragment or "?" in value or "#" in value:
        raise ValueError(
            "must not contain a query string or a fragment: "
            "credentials go in GITHUB_TOKEN or LLM_API_KEY"
        )
    return value


def _database_url(url: str) -> None:
    """A URL psycopg reads as written. The messages never hold it: it has the password."""
    if not url.startswith(POSTGRES_SCHEMES):
        raise ValueError("must be a postgresql:// URL")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
        host = str(conninfo_to_dict(url).get("host") or "")
        valid = "@" not in host and parts.netloc.count("@") <= 1
    except (ValueError, psycopg.Error):
        valid = False
    if not valid:
        raise ValueError(
            "is not a valid postgresql:// URL: percent-encode any '%', '@', ':' or '/' "
            "in the user name and password, and close an IPv6 host with ']'"
        )


class BootySettings(BaseSettings):
    model_config = SettingsConfigDict(
        case_sensitive=False, env_ignore_empty=True, extra="ignore", frozen=True
    )

    # The secrets first: the URL settings are checked against their values.
    github_webhook_secret: SecretStr | None = None
    github_token: SecretStr | None = None
    llm_api_key: SecretStr | None = None
    booty_internal_token: SecretStr | None = None
    booty_database_url: SecretStr | None = None
    github_api_url: str = "https://api.github.com"
    llm_api_url: str | None = None
    llm_model: str = "gpt-4o-mini"
    booty_db_path: Path = Path("booty.db")
    booty_workers: Annotated[int, Field(ge=1, le=64)] = 1
    booty_shutdown_grace: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 10.0
    # Jobs run once (docs/configuration.md, "The job queue").
    booty_job_lease: Annotated[float, Field(ge=1, le=3600, allow_inf_nan=False)] = 60.0
    booty_max_attempts: Annotated[int, Field(ge=1, le=100)] = 3
    # Days finished jobs (and the digests that refuse replays) are kept.
    booty_job_retention: Annotated[float, Field(gt=0, le=3650, allow_inf_nan=False)] = 30.0
    booty_max_webhook_bytes: Annotated[int, Field(ge=1024, le=1024**3)] = 25 * 1024 * 1024

    @field_validator("github_api_url", "llm_api_url")
    @classmethod
    def _check_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        value = _http_url(value)
        secrets = [v.get_secret_value() for v in info.data.values() if isinstance(v, SecretStr)]
        if value is not None and TextScrubber(secrets)(value) != value:
            # Printed by check-config and in logs: a key in the path or a ;token=.
            raise ValueError(
                "must not contain a credential (a secret's value, a token or a key): "
                "credentials go in GITHUB_TOKEN or LLM_API_KEY"
            )
        return value

    @field_validator("booty_database_url")
    @classmethod
    def _check_database_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            _database_url(value.get_secret_value())
        return value

    @field_validator("llm_model")
    @classmethod
    def _check_model(cls, value: str) -> str:
        value = value.strip()
        if not value or len(value) > 200:
            raise ValueError("must be a model name of 1 to 200 characters")
        return value


def load_booty_settings() -> tuple[BootySettings, list[Problem]]:
    """Booty's settings under the same policy as Sentry's: refuse in production."""
    production = is_production(os.environ.get("SENTRY_ENVIRONMENT"))
    settings, problems = load_settings(BootySettings, production=production)
    # No default stands in for a database the operator named: the jobs would go
    # to SQLite instead, unseen.
    refused = [p for p in problems if p.variable in REFUSED_EVERYWHERE]
    if refused:
        raise ConfigError(
            [Problem(p.variable, p.message.removesuffix(_FALLBACK)) for p in refused]
        )
    known = {name.upper() for name in BootySettings.model_fields}
    for name, suggestion in unknown_variables("BOOTY_", known, ignore=DEPLOY_VARIABLES):
        hint = f"; did you mean {suggestion}?" if suggestion else ""
        problems.append(Problem(name, f"is no Booty variable and is ignored{hint}"))
    return settings, problems


def sentry_spool_dir(db_path: Path) -> Path:
    """Where Sentry envelopes wait for delivery unless SENTRY_SPOOL_DIR says otherwise:
    beside the job database, in the unit's StateDirectory=."""
    return db_path.parent / "sentry-spool"


def default_sentry_spool_dir() -> Path:
    """sentry_spool_dir from the environment, before the settings are validated."""
    default: Path = BootySettings.model_fields["booty_db_path"].default
    return sentry_spool_dir(Path(os.environ.get("BOOTY_DB_PATH") or default))
