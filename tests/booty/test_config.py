"""URL settings refuse credentials, naming the variable and never echoing the value."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from booty.config import load_booty_settings
from middleware.config.settings import ConfigError

BOOTY = [sys.executable, "-m", "booty"]
HIDDEN = "Zq7secretpart9"
BAD_URLS = [
    f"https://api.example.com/v1?key={HIDDEN}",
    f"https://api.example.com/v1/?api_key={HIDDEN}&x=1",
    f"https://ann:{HIDDEN}@api.example.com/v1",
    f"https://{HIDDEN}@api.example.com",
    f"https://api.example.com/v1#{HIDDEN}",
    f"ftp://api.example.com/{HIDDEN}",
    f"https://api.example.com:{HIDDEN}/v1",
]


@pytest.mark.parametrize("url", BAD_URLS)
@pytest.mark.parametrize("variable", ["LLM_API_URL", "GITHUB_API_URL"])
def test_production_refuses_a_url_with_credentials(
    monkeypatch: pytest.MonkeyPatch, url: str, variable: str
) -> None:
    monkeypatch.setenv("SENTRY_ENVIRONMENT", "production")
    monkeypatch.setenv(variable, url)
    with pytest.raises(ConfigError) as info:
        load_booty_settings()
    assert [p.variable for p in info.value.problems] == [variable]
    assert HIDDEN not in str(info.value)


@pytest.mark.parametrize("url", BAD_URLS)
def test_elsewhere_a_url_with_credentials_falls_back_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("LLM_API_URL", url)
    settings, problems = load_booty_settings()
    assert settings.llm_api_url is None
    assert [p.variable for p in problems] == ["LLM_API_URL"]
    assert HIDDEN not in str(problems[0])


def test_a_plain_base_url_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_API_URL", "https://llm.example.com:8443/v1/")
    settings, problems = load_booty_settings()
    assert (settings.llm_api_url, problems) == ("https://llm.example.com:8443/v1", [])


@pytest.mark.parametrize("environment", ["production", "development"])
def test_check_config_never_prints_the_credential(
    monkeypatch: pytest.MonkeyPatch, environment: str
) -> None:
    monkeypatch.setenv("SENTRY_ENVIRONMENT", environment)
    monkeypatch.setenv("SENTRY_DSN", "https://publickey0123456789abcdef@sentry.invalid/42")
    monkeypatch.setenv("LLM_API_URL", f"https://api.example.com/v1?key={HIDDEN}")
    result = subprocess.run(
        [*BOOTY, "check-config"], capture_output=True, text=True, timeout=30, env=dict(os.environ)
    )
    assert result.returncode == (78 if environment == "production" else 0)
    assert "LLM_API_URL" in result.stdout + result.stderr
    assert HIDDEN not in result.stdout + result.stderr
