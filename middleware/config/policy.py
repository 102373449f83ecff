"""The production policy for any settings class: refuse in production, fall back elsewhere."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings


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
    invalid field falls back to its default and is reported as a Problem. A
    rule of the whole class (a model validator) names the class, and falls
    back to every default; ConfigError if the defaults break it too.
    """
    try:
        return cls(), []
    except ValidationError as exc:
        problems: dict[str, Problem] = {}
        for error in exc.errors(include_input=False, include_url=False):
            field = str(error["loc"][0]) if error["loc"] else ""
            message = str(error["msg"]).removeprefix("Value error, ")
            variable = env_name(cls, field) if field else cls.__name__
            problems.setdefault(field, Problem(variable, message))
    if production:
        raise ConfigError(list(problems.values()))
    # Keyword arguments take precedence over the environment in pydantic-settings,
    # so each bad field is pinned to its default and the rest is read again.
    pinned = cls.model_fields if "" in problems else problems
    defaults = {
        field: cls.model_fields[field].get_default(call_default_factory=True) for field in pinned
    }
    try:
        settings = cls(**defaults)
    except ValidationError:
        raise ConfigError(list(problems.values())) from None
    return settings, [
        Problem(p.variable, f"{p.message}; using the default{'s' if field == '' else ''}")
        for field, p in problems.items()
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
