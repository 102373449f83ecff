"""`python -m middleware check`: the layer's view of SENTRY_*, in any app."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from middleware import describe_config, load_sentry_config
from tests.support import FAKE_DSN


def check() -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "middleware", "check"],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
        check=False,
    )


def test_check_prints_what_the_layer_would_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTRY_DSN", FAKE_DSN)
    monkeypatch.setenv("SENTRY_ENVIROMENT", "staging")
    monkeypatch.setenv("SENTRY_IN_APP_INCLUDE", "myapp")
    result = check()
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert (
        "warning: unknown variable SENTRY_ENVIROMENT is ignored; did you mean "
        in (lines[0][: lines[0].index("SENTRY_ENVIRONMENT")])
    )
    for line in ("sentry: enabled", "environment: development", "in_app_include: myapp"):
        assert line in lines
    assert "dsn: https://[Filtered]@sentry.invalid/42" in lines
    assert "publickey" not in result.stdout + result.stderr


def test_check_refuses_as_the_lifespan_does(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTRY_ENVIRONMENT", "production")
    monkeypatch.setenv("SENTRY_SAMPLE_RATE", "2")
    result = check()
    assert result.returncode == 78
    assert result.stdout == "sentry: refused\n"
    assert "configuration error: SENTRY_SAMPLE_RATE" in result.stderr
    assert "refusing to start (exit 78)" in result.stderr


def test_describe_config_shows_what_the_code_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTRY_IN_APP_INCLUDE", "plugins")
    lines = describe_config(
        load_sentry_config(),
        in_app_include=["myapp"],
        secret_env=["MY_TOKEN"],
        sdk_options={"before_send": print, "ignore_errors": [KeyError]},
    )
    assert "in_app_include: myapp,plugins" in lines
    assert "secret_env: MY_TOKEN (and the DSN's key)" in lines
    assert "hooks in code: before_send (then the layer's scrubbing)" in lines
    assert "sdk options in code: ignore_errors" in lines
