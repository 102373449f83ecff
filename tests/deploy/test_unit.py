"""systemd/booty.service as systemd itself reads it."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.deploy.support import UNIT

MAX_EXPOSURE = 1.5
MISSING_EXECUTABLE = re.compile(
    r"^booty\.service: Command /opt/booty/venv/bin/python is not executable: "
    r"No such file or directory$"
)


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.skip("systemd-analyze is not installed (CI installs the systemd package)")
    return found


def settings(section: str) -> Iterator[tuple[str, str]]:
    current = ""
    for line in UNIT.read_text().splitlines():
        if line.startswith("["):
            current = line.strip("[]")
        elif current == section and "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            yield key, value


def values(section: str, key: str) -> list[str]:
    return [value for name, value in settings(section) if name == key]


def test_verify_reports_only_the_missing_virtualenv() -> None:
    result = subprocess.run(
        [systemd_analyze(), "verify", str(UNIT)], capture_output=True, text=True, timeout=60
    )
    lines = (result.stdout + result.stderr).splitlines()
    assert all(MISSING_EXECUTABLE.match(line) for line in lines), lines


def test_exposure_score_is_at_most_1_5() -> None:
    result = subprocess.run(
        [systemd_analyze(), "security", "--offline=true", "--no-pager", str(UNIT)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    found = re.search(r"Overall exposure level for booty\.service: (\d+\.\d)", result.stdout)
    assert found is not None, result.stdout + result.stderr
    assert float(found.group(1)) <= MAX_EXPOSURE, result.stdout


def test_a_configuration_error_is_not_restarted() -> None:
    assert values("Service", "Restart") == ["on-failure"]
    assert values("Service", "RestartPreventExitStatus") == ["78"]


def test_the_start_limit_can_trigger() -> None:
    # systemd counts starts within the interval: a loop spaced RestartSec apart
    # reaches the burst only if burst x RestartSec fits inside the interval.
    burst = int(values("Unit", "StartLimitBurst")[0])
    interval = float(values("Unit", "StartLimitIntervalSec")[0])
    restart_sec = float(values("Service", "RestartSec")[0])
    assert burst * restart_sec < interval


def test_environment_order_fails_closed() -> None:
    assert "SENTRY_ENVIRONMENT=production" in values("Service", "Environment")
    assert values("Service", "EnvironmentFile") == [
        "-/etc/booty/secrets.env",
        "/etc/booty/release.env",
    ]


def test_runs_booty_serve_as_its_own_user_with_state_directory() -> None:
    (command,) = values("Service", "ExecStart")
    assert command.startswith("/opt/booty/venv/bin/python -m booty.cli serve ")
    assert values("Service", "DynamicUser") == ["yes"]
    assert values("Service", "StateDirectory") == ["booty booty/sentry-spool"]
    assert values("Service", "StateDirectoryMode") == ["0700"]
    environment = values("Service", "Environment")
    assert environment.count("BOOTY_DB_PATH=%S/booty/booty.db") == 1
    # Envelopes not yet delivered wait beside the database, and outlive restarts.
    assert environment.count("SENTRY_SPOOL_DIR=%S/booty/sentry-spool") == 1


def test_memory_is_capped_above_a_few_maximal_webhook_bodies() -> None:
    (value,) = values("Service", "MemoryMax")
    units = {"K": 1024, "M": 1024**2, "G": 1024**3}
    cap = int(value[:-1]) * units[value[-1]]
    default_body = 25 * 1024**2
    assert 8 * default_body < cap <= 1024**3
