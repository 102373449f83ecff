"""The restart, health wait, rollback and Sentry release steps of scripts/deploy.sh.

systemctl and sentry-cli are stand-ins on PATH that log what they were asked;
check-config is the real one and the health URL is a real HTTP server.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.support import REPO, deploy, head_sha, release_env, write_script

DSN = "http://publickey0123456789abcdef@127.0.0.1:9/42"
OLD = release_env("1" * 40, "production")
FAST = {"DEPLOY_HEALTH_TIMEOUT": "1"}


class Health:
    """A health endpoint whose answer depends on the release.env it would have read."""

    def __init__(self, etc: Path) -> None:
        self.healthy: Callable[[bytes | None], bool] = lambda release: True
        health = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = etc / "release.env"
                release = path.read_bytes() if path.exists() else None
                self.send_response(200 if health.healthy(release) else 503)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/health"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def etc(tmp_path: Path) -> Path:
    etc = tmp_path / "etc-booty"
    etc.mkdir()
    (etc / "secrets.env").write_text(f"SENTRY_DSN={DSN}\n")
    (etc / "release.env").write_bytes(OLD)
    return etc


@pytest.fixture
def health(etc: Path) -> Iterator[Health]:
    health = Health(etc)
    yield health
    health.httpd.shutdown()
    health.httpd.server_close()


@pytest.fixture
def bin_dir(tmp_path: Path, etc: Path) -> Path:
    """A systemctl that logs each restart with the release.env it would load."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "pid").write_text("100\n")
    write_script(
        bin_dir / "systemctl",
        f"""
state={tmp_path}
case $1 in
    restart)
        echo $(( $(cat "$state/pid") + 1 )) >"$state/pid"
        printf 'restart %s %s\\n' "${{@: -1}}" "$(head -c 55 {etc}/release.env || echo none)" \\
            >>"$state/systemctl.log" ;;
    show) cat "$state/pid" ;;
    is-active) exit 0 ;;
    *) exit 2 ;;
esac""",
    )
    return bin_dir


def restarts(tmp_path: Path) -> list[str]:
    log = tmp_path / "systemctl.log"
    return log.read_text().splitlines() if log.exists() else []


def test_restart_waits_for_health(
    tmp_path: Path, etc: Path, health: Health, bin_dir: Path
) -> None:
    result = deploy(etc, "--health-url", health.url, "--service", "svc", bin_dir=bin_dir)
    assert result.returncode == 0, result.stderr
    assert "svc is healthy" in result.stdout
    assert restarts(tmp_path) == [f"restart svc SENTRY_RELEASE={head_sha()}"]
    assert (etc / "release.env").read_bytes() == release_env(head_sha(), "production")
    assert sorted(p.name for p in etc.iterdir()) == ["deploy.lock", "release.env", "secrets.env"]


def test_unhealthy_release_is_rolled_back(
    tmp_path: Path, etc: Path, health: Health, bin_dir: Path
) -> None:
    health.healthy = lambda release: release == OLD
    result = deploy(etc, "--health-url", health.url, bin_dir=bin_dir, env=FAST)
    assert result.returncode != 0
    assert "healthy on it" in result.stderr
    assert "not healthy on it either" not in result.stderr
    assert restarts(tmp_path) == [
        f"restart booty SENTRY_RELEASE={head_sha()}",
        f"restart booty SENTRY_RELEASE={'1' * 40}",
    ]
    assert (etc / "release.env").read_bytes() == OLD
    assert sorted(p.name for p in etc.iterdir()) == ["deploy.lock", "release.env", "secrets.env"]


def test_rollback_says_when_the_old_release_is_unhealthy_too(
    tmp_path: Path, etc: Path, health: Health, bin_dir: Path
) -> None:
    health.healthy = lambda release: False
    result = deploy(etc, "--health-url", health.url, bin_dir=bin_dir, env=FAST)
    assert result.returncode != 0
    assert "not healthy on it either" in result.stderr
    assert len(restarts(tmp_path)) == 2
    assert (etc / "release.env").read_bytes() == OLD


def test_first_deploy_rolls_back_to_no_release_env(
    tmp_path: Path, etc: Path, health: Health, bin_dir: Path
) -> None:
    (etc / "release.env").unlink()
    health.healthy = lambda release: False
    result = deploy(etc, "--health-url", health.url, bin_dir=bin_dir, env=FAST)
    assert result.returncode != 0
    assert restarts(tmp_path)[-1] == "restart booty none"
    assert sorted(p.name for p in etc.iterdir()) == ["deploy.lock", "secrets.env"]


def test_a_process_that_dies_is_not_healthy(
    tmp_path: Path, etc: Path, health: Health, bin_dir: Path
) -> None:
    # The stand-in reports the unit inactive: the old answer must not count.
    systemctl = (bin_dir / "systemctl").read_text()
    (bin_dir / "systemctl").write_text(systemctl.replace("is-active) exit 0", "is-active) exit 3"))
    result = deploy(etc, "--health-url", health.url, bin_dir=bin_dir)
    assert result.returncode != 0
    assert (etc / "release.env").read_bytes() == OLD


def test_no_restart_restarts_nothing(tmp_path: Path, etc: Path, bin_dir: Path) -> None:
    result = deploy(etc, "--no-restart", bin_dir=bin_dir)
    assert result.returncode == 0, result.stderr
    assert restarts(tmp_path) == []


SENTRY = {"SENTRY_AUTH_TOKEN": "sntrys_deploytoken", "SENTRY_ORG": "acme", "SENTRY_PROJECT": "b"}


def sentry_cli(bin_dir: Path, tmp_path: Path, status: int = 0) -> None:
    write_script(
        bin_dir / "sentry-cli",
        f"""printf '%s|%s|%s\\n' "$PWD" "${{SENTRY_AUTH_TOKEN:-}}" "$*" >>{tmp_path}/sentry.log
exit {status}""",
    )


def test_release_and_deploy_are_recorded_in_sentry(
    tmp_path: Path, etc: Path, health: Health, bin_dir: Path
) -> None:
    sentry_cli(bin_dir, tmp_path)
    result = deploy(
        etc, "--environment", "production", "--health-url", health.url, bin_dir=bin_dir, env=SENTRY
    )
    assert result.returncode == 0, result.stderr
    sha = head_sha()
    prefix = f"{REPO}|sntrys_deploytoken|"
    assert (tmp_path / "sentry.log").read_text().splitlines() == [
        f"{prefix}releases new {sha}",
        f"{prefix}releases set-commits {sha} --auto --ignore-missing",
        f"{prefix}releases finalize {sha}",
        f"{prefix}deploys new --release {sha} -e production",
    ]
    assert "sntrys_deploytoken" not in result.stdout + result.stderr


def test_a_sentry_cli_failure_only_warns(
    tmp_path: Path, etc: Path, health: Health, bin_dir: Path
) -> None:
    sentry_cli(bin_dir, tmp_path, status=1)
    result = deploy(etc, "--health-url", health.url, bin_dir=bin_dir, env=SENTRY)
    assert result.returncode == 0
    assert "warning: recording the release in Sentry failed" in result.stderr
    assert len((tmp_path / "sentry.log").read_text().splitlines()) == 1


def test_sentry_is_left_alone_without_a_token(
    tmp_path: Path, etc: Path, health: Health, bin_dir: Path
) -> None:
    sentry_cli(bin_dir, tmp_path)
    result = deploy(etc, "--health-url", health.url, bin_dir=bin_dir)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "sentry.log").exists()


def test_a_rolled_back_release_is_not_recorded(
    tmp_path: Path, etc: Path, health: Health, bin_dir: Path
) -> None:
    sentry_cli(bin_dir, tmp_path)
    health.healthy = lambda release: release == OLD
    result = deploy(etc, "--health-url", health.url, bin_dir=bin_dir, env={**SENTRY, **FAST})
    assert result.returncode != 0
    assert not (tmp_path / "sentry.log").exists()
