"""`booty check-config` names the queue backend and connects to PostgreSQL, password hidden."""

from __future__ import annotations

import pytest

from tests.booty.postgres import PASSWORD, Cluster
from tests.booty.test_cli import run
from tests.support import free_port


def test_the_default_queue_is_the_sqlite_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOOTY_DB_PATH", "/var/lib/booty/booty.db")
    result = run("check-config")
    assert result.returncode == 0, result.stderr
    assert "queue: sqlite /var/lib/booty/booty.db" in result.stdout.splitlines()


def test_postgresql_is_connected_and_its_password_never_printed(
    postgres: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOOTY_DATABASE_URL", postgres.url())
    result = run("check-config")
    assert result.returncode == 0, result.stderr
    shown = f"postgresql://booty:[Filtered]@127.0.0.1:{postgres.port}/postgres"
    assert f"queue: postgresql {shown} (connected)" in result.stdout.splitlines()
    assert "booty_database_url: set" in result.stdout
    assert PASSWORD not in result.stdout + result.stderr


@pytest.mark.parametrize("problem", ["wrong-password", "nothing-listening"])
def test_an_unreachable_database_fails_the_check(
    postgres: Cluster, monkeypatch: pytest.MonkeyPatch, problem: str
) -> None:
    if problem == "wrong-password":
        url = postgres.url().replace(PASSWORD, f"{PASSWORD}-wrong")
    else:
        url = postgres.url().replace(str(postgres.port), str(free_port()))
    monkeypatch.setenv("BOOTY_DATABASE_URL", url)
    result = run("check-config")
    assert result.returncode == 1
    assert "(cannot connect: OperationalError)" in result.stdout
    assert PASSWORD not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("BOOTY_DATABASE_URL", "mysql://booty:hunter2-secret@db/booty"),
        ("BOOTY_JOB_LEASE", "0"),
        ("BOOTY_JOB_LEASE", "nan"),
        ("BOOTY_MAX_ATTEMPTS", "0"),
        ("BOOTY_MAX_WEBHOOK_BYTES", "-1"),
    ],
)
def test_a_bad_queue_setting_is_refused_in_production(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv("SENTRY_ENVIRONMENT", "production")
    monkeypatch.setenv("SENTRY_DSN", "https://publickey0123456789abcdef@sentry.invalid/1")
    monkeypatch.setenv(variable, value)
    result = run("check-config")
    assert result.returncode == 78
    assert variable in result.stderr
    assert "hunter2-secret" not in result.stdout + result.stderr


def test_a_bad_queue_setting_elsewhere_falls_back_with_a_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BOOTY_JOB_LEASE", "-5")
    result = run("check-config")
    assert result.returncode == 0, result.stderr
    assert "job_lease: 60.0s" in result.stdout
    (warning,) = [line for line in result.stdout.splitlines() if "BOOTY_JOB_LEASE" in line]
    assert warning.startswith("warning:")
