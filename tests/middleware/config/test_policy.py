"""The production policy on a settings class of an app's own."""

from __future__ import annotations

import pytest
from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from middleware import ConfigError, Problem, load_settings


class Window(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="APP_")

    start: int = 0
    end: int = 10
    retries: int = Field(default_factory=lambda: 3)

    @model_validator(mode="after")
    def start_before_end(self) -> Window:
        if self.start > self.end:
            raise ValueError("start must not be after end")
        return self


class Broken(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="APP_")

    start: int = 5
    end: int = 1

    @model_validator(mode="after")
    def start_before_end(self) -> Broken:
        if self.start > self.end:
            raise ValueError("start must not be after end")
        return self


def test_each_bad_field_falls_back_to_its_default_a_factory_s_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("APP_START", "4")
    monkeypatch.setenv("APP_END", "soon")
    monkeypatch.setenv("APP_RETRIES", "many")
    settings, problems = load_settings(Window, production=False)
    # The valid variable is still read.
    assert (settings.start, settings.end, settings.retries) == (4, 10, 3)
    assert sorted(p.variable for p in problems) == ["APP_END", "APP_RETRIES"]
    assert all(p.message.endswith("; using the default") for p in problems)


def test_a_rule_of_the_whole_class_names_the_class_and_falls_back_to_every_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("APP_START", "20")
    settings, problems = load_settings(Window, production=False)
    assert (settings.start, settings.end) == (0, 10)
    assert problems == [Problem("Window", "start must not be after end; using the defaults")]
    with pytest.raises(ConfigError) as raised:
        load_settings(Window, production=True)
    assert raised.value.problems == (Problem("Window", "start must not be after end"),)


def test_defaults_that_break_the_class_s_rule_refuse_outside_production_too() -> None:
    with pytest.raises(ConfigError, match="Broken start must not be after end"):
        load_settings(Broken, production=False)
