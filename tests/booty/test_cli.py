from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.support import EnvelopeServer, answers, free_port, wait_until
from tests.support.corpus import WEBHOOK_SECRET

BOOTY = [sys.executable, "-m", "booty"]
UVICORN = str(Path(sys.executable).parent / "uvicorn")
DSN_PUBLIC = "publickey0123456789abcdef"
WEBHOOK_SECRET_B64 = base64.urlsafe_b64encode(WEBHOOK_SECRET.encode()).decode()


def run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*BOOTY, *args], capture_output=True, text=True, timeout=timeout, env=dict(os.environ)
    )


def test_serve_exits_78_on_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTRY_ENVIRONMENT", "production")
    result = run("serve", "--port", str(free_port()))
    assert result.returncode == 78
    assert "SENTRY_DSN" in result.stderr
    assert "Uvicorn running" not in result.stderr


def test_serve_exits_78_on_an_invalid_booty_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTRY_ENVIRONMENT", "production")
    monkeypatch.setenv("SENTRY_DSN", f"https://{DSN_PUBLIC}@sentry.invalid/1")
    monkeypatch.setenv("BOOTY_WORKERS", "many")
    result = run("serve", "--port", str(free_port()))
    assert result.returncode == 78
    assert "BOOTY_WORKERS" in result.stderr
    assert DSN_PUBLIC not in result.stderr + result.stdout


def test_check_config_prints_the_resolved_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTRY_DSN", f"https://{DSN_PUBLIC}:s3cr3tpart@o1.example.com/5")
    monkeypatch.setenv("SENTRY_ENVIRONMENT", "staging")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_notprinted0123456789")
    result = run("check-config")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "environment: staging" in out
    assert "release: (none)" in out
    assert "dsn: https://[Filtered]@o1.example.com/5" in out
    assert "traces_sample_rate: 0.0" in out
    assert "shutdown_grace: 10.0s" in out
    assert "github_token: set" in out
    assert "sentry: enabled" in out
    for secret in (DSN_PUBLIC, "s3cr3tpart", "ghp_notprinted"):
        assert secret not in out + result.stderr


def test_check_config_prints_the_capture_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTRY_STORM_CEILING", "50")
    monkeypatch.setenv("SENTRY_LOCAL_VARIABLES", "none")
    monkeypatch.setenv("SENTRY_IN_APP_INCLUDE", "booty,plugins")
    monkeypatch.setenv("SENTRY_WORKER_MONITOR", "off")
    monkeypatch.setenv("SENTRY_ENABLE_LOGS", "true")
    monkeypatch.setenv("SENTRY_LOCAL_LOGS_CLIENT_ADDRESS", "false")
    monkeypatch.setenv("SENTRY_TRUSTED_TRACE_SOURCES", "10.0.0.0/8")
    result = run("check-config")
    assert result.returncode == 0, result.stderr
    for line in (
        "local_logs_client_address: false",
        "trusted_trace_sources: 10.0.0.0/8",
        "storm_ceiling: 50",
        "local_variables: none",
        "in_app_include: booty,plugins",
        "worker_monitor: off",
        "enable_logs: true",
    ):
        assert line in result.stdout.splitlines()


def test_check_config_shows_what_booty_passes_in_code() -> None:
    result = run("check-config")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "in_app_include: booty" in lines
    assert any(line.startswith("secret_env: GITHUB_TOKEN, LLM_API_KEY") for line in lines)


def test_check_config_suggests_a_booty_variable_for_a_typo(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BOOTY_WORKRES", "2")
    monkeypatch.setenv("BOOTY_PORT", "8001")  # the unit's, not the settings'
    result = run("check-config")
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stdout.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: invalid configuration: BOOTY_WORKRES is no Booty variable and is ignored; "
        "did you mean BOOTY_WORKERS?"
    ]


def test_check_config_without_dsn_says_disabled() -> None:
    result = run("check-config")
    assert result.returncode == 0
    assert "sentry: disabled" in result.stdout
    assert "environment: development" in result.stdout


def test_check_config_refuses_production_without_dsn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTRY_ENVIRONMENT", "Production")
    monkeypatch.setenv("SENTRY_RELEASE", "b" * 40)
    result = run("check-config")
    assert result.returncode == 78
    assert "sentry: refused" in result.stdout
    assert "SENTRY_DSN" in result.stderr


def test_check_config_warns_about_typos_but_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTRY_ENV", "production")
    result = run("check-config")
    assert result.returncode == 0
    assert "SENTRY_ENV is ignored; did you mean SENTRY_ENVIRONMENT?" in result.stdout


def test_send_test_event_delivers_and_prints_the_event_id(
    monkeypatch: pytest.MonkeyPatch, envelope_server: EnvelopeServer
) -> None:
    monkeypatch.setenv("SENTRY_DSN", envelope_server.dsn)
    monkeypatch.setenv("SENTRY_RELEASE", "c" * 40)
    result = run("send-test-event")
    assert result.returncode == 0, result.stderr
    (event,) = envelope_server.events
    assert result.stdout.strip() == event["event_id"]
    assert event["release"] == "c" * 40
    assert event["environment"] == "development"
    (auth,) = {h["X-Sentry-Auth"] for h in envelope_server.headers}
    assert "sentry_key=publickey0123456789abcdef" in auth


@pytest.mark.parametrize(
    ("status", "headers", "reason"),
    [
        (429, {"Retry-After": "60"}, "rate-limited (Retry-After: 60)"),
        (403, {"X-Sentry-Error": "project disabled"}, "rejected with HTTP 403 project disabled"),
        (500, {}, "rejected with HTTP 500"),
    ],
)
def test_send_test_event_reports_why_it_was_not_accepted(
    monkeypatch: pytest.MonkeyPatch,
    envelope_server: EnvelopeServer,
    status: int,
    headers: dict[str, str],
    reason: str,
) -> None:
    envelope_server.status = status
    envelope_server.response_headers = headers
    monkeypatch.setenv("SENTRY_DSN", envelope_server.dsn)
    result = run("send-test-event")
    assert result.returncode == 1
    assert reason in result.stderr
    assert len(envelope_server.bodies) == 1


def test_send_test_event_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTRY_DSN", f"http://{DSN_PUBLIC}@127.0.0.1:{free_port()}/1")
    monkeypatch.setenv("SENTRY_SHUTDOWN_TIMEOUT", "1")
    result = run("send-test-event", timeout=15)
    assert result.returncode == 1
    assert "unreachable" in result.stderr
    assert DSN_PUBLIC not in result.stderr


def test_send_test_event_without_dsn() -> None:
    result = run("send-test-event")
    assert result.returncode == 1
    assert "no DSN" in result.stderr


@contextmanager
def server(command: list[str], port: int) -> Iterator[list[str]]:
    """Run a server until it answers /health; on exit, the list holds its whole output."""
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ)
    )
    output: list[str] = []
    try:
        url = f"http://127.0.0.1:{port}/health"
        wait_until(lambda: answers(url), "the server to answer /health", 20, interval=0.1)
        yield output
    finally:
        process.terminate()
        output.append(process.communicate(timeout=10)[0])


@pytest.mark.parametrize("how", ["booty serve", "uvicorn"])
def test_service_starts_and_logs_reach_the_operator(how: str, tmp_path: Path) -> None:
    port = free_port()
    if how == "uvicorn":
        command = [UVICORN, "booty.main:app", "--port", str(port)]
    else:
        command = [*BOOTY, "serve", "--port", str(port)]
    with server(command, port) as output:
        request_id = "operator-check-1"
        response = httpx.get(
            f"http://127.0.0.1:{port}/health", headers={"X-Request-ID": request_id}
        )
        assert response.headers["x-request-id"] == request_id
    assert (
        "".join(output).count("Sentry disabled — no DSN configured (environment=development)") == 1
    )


DB_PASSWORD = "pgpw7Y%zzh3Jk"
MALFORMED_DATABASE_URLS = [
    f"postgresql://booty:{DB_PASSWORD}@127.0.0.1/booty",  # a raw %
    f"postgresql://booty:{DB_PASSWORD}@[::1/booty",  # no ] after the IPv6 host
    f"postgresql://booty:{DB_PASSWORD}@x@127.0.0.1/booty",  # a raw @
]


@pytest.mark.parametrize("url", MALFORMED_DATABASE_URLS)
@pytest.mark.parametrize("command", ["check-config", "serve"])
def test_a_malformed_database_url_is_refused_by_name_without_its_password(
    monkeypatch: pytest.MonkeyPatch, url: str, command: str
) -> None:
    monkeypatch.setenv("BOOTY_DATABASE_URL", url)
    args = ("serve", "--port", str(free_port())) if command == "serve" else (command,)
    result = run(*args)
    output = result.stdout + result.stderr
    assert result.returncode == 78, output
    assert "BOOTY_DATABASE_URL is not a valid postgresql:// URL" in result.stderr
    assert "Traceback" not in output
    assert "pgpw7Y" not in output and "zzh3Jk" not in output


LLM_KEY = "sk-live-0123456789abcdefghij"


@pytest.mark.parametrize(
    ("variable", "url"),
    [
        ("LLM_API_URL", f"https://llm.example.com/v1/{LLM_KEY}"),
        ("LLM_API_URL", f"https://llm.example.com/v1/{quote(LLM_KEY)}/chat"),
        ("GITHUB_API_URL", "https://ghe.example.com/api;token=plaintoken123"),
        ("GITHUB_API_URL", f"https://ghe.example.com/{WEBHOOK_SECRET_B64}"),
    ],
)
def test_a_url_setting_holding_a_credential_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, variable: str, url: str
) -> None:
    monkeypatch.setenv("SENTRY_ENVIRONMENT", "production")
    monkeypatch.setenv("SENTRY_DSN", f"https://{DSN_PUBLIC}@sentry.invalid/1")
    monkeypatch.setenv("LLM_API_KEY", LLM_KEY)
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv(variable, url)
    result = run("check-config")
    output = result.stdout + result.stderr
    assert result.returncode == 78, output
    assert f"{variable} must not contain a credential" in result.stderr
    for needle in (LLM_KEY, quote(LLM_KEY), "plaintoken123", WEBHOOK_SECRET_B64, WEBHOOK_SECRET):
        assert needle not in output


def test_check_config_shows_the_spool_beside_the_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    spool = tmp_path / "sentry-spool"
    spool.mkdir()
    (spool / f"{1_700_000_000 * 10**9:020d}-abc.envelope").write_bytes(b"x" * 10)
    (spool / f"{1_700_000_001 * 10**9:020d}-abc.envelope.1.2.claim").write_bytes(b"x" * 5)
    monkeypatch.setenv("SENTRY_DSN", f"https://{DSN_PUBLIC}@o1.example.com/5")
    monkeypatch.setenv("BOOTY_DB_PATH", str(tmp_path / "booty.db"))
    result = run("check-config")
    assert result.returncode == 0, result.stderr
    [line] = [line for line in result.stdout.splitlines() if line.startswith("spool: ")]
    assert line.startswith(f"spool: {spool} (2 files, 15 bytes, oldest ")
    assert "spool_max_mb: 64" in result.stdout.splitlines()
    assert "send_concurrency: 4" in result.stdout.splitlines()


def test_check_config_refuses_an_unusable_spool_in_production(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("SENTRY_ENVIRONMENT", "production")
    monkeypatch.setenv("SENTRY_RELEASE", "b" * 40)
    monkeypatch.setenv("SENTRY_DSN", f"https://{DSN_PUBLIC}@o1.example.com/5")
    monkeypatch.setenv("SENTRY_SPOOL_DIR", str(tmp_path / "file" / "spool"))
    result = run("check-config")
    assert result.returncode == 78
    assert f"SENTRY_SPOOL_DIR {tmp_path / 'file' / 'spool'} is not a directory" in result.stderr
    monkeypatch.setenv("SENTRY_ENVIRONMENT", "staging")
    result = run("check-config")
    assert result.returncode == 0
    assert "SENTRY_SPOOL_DIR" in result.stdout
