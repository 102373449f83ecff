"""End to end on a real systemd: this machine's own, booted in systemd-nspawn.

The container shares the host's network, so the service's port and the
envelope server are both on the host's 127.0.0.1. It sees the unit, the
checkout (/opt/booty/src), this virtualenv (/opt/booty/venv) and a temporary
/etc/booty, all bound from the host; systemctl reaches it through nsenter.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.deploy.support import REPO, UNIT, deploy, head_sha, release_env, write_script
from tests.support import EnvelopeServer, answers, free_port, wait_until

pytestmark = pytest.mark.nspawn

TOKEN = "internal-token-for-the-e2e-test"
HOMES = ("/root", "/home", "/run/user")


def skip_unless_possible() -> None:
    if os.geteuid() != 0:
        pytest.skip("systemd-nspawn needs root")
    for tool in ("systemd-nspawn", "nsenter"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (Debian: systemd-container, util-linux)")
    if not Path("/usr/lib/systemd/systemd").exists():
        pytest.skip("this machine has no systemd to boot")
    if sys.prefix == sys.base_prefix:
        pytest.skip("the tests must run from a virtualenv, which is bound into the container")


def interpreter_binds(root: Path) -> list[str]:
    """Make the venv's base interpreter visible in the container and to the service."""
    base = Path(sys.base_prefix).resolve()
    if base.is_relative_to("/usr"):
        return []
    # A test-only drop-in: the unit hides home directories, and this machine's
    # interpreter lives in one. The unit itself is bound unchanged.
    dropin = root / "booty.service.d"
    dropin.mkdir()
    protect = "ProtectHome=tmpfs\n" if any(base.is_relative_to(h) for h in HOMES) else ""
    (dropin / "interpreter.conf").write_text(f"[Service]\n{protect}BindReadOnlyPaths={base}\n")
    return [f"--bind-ro={base}", f"--bind-ro={dropin}:/etc/systemd/system/booty.service.d"]


class Machine:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.etc = root / "etc-booty"
        self.etc.mkdir()
        self.port = free_port()
        self.health_url = f"http://127.0.0.1:{self.port}/health"
        presets = root / "presets"
        presets.mkdir()
        # First boot would enable every unit; start from nothing.
        (presets / "00-e2e.preset").write_text("disable *\n")
        self.log = root / "nspawn.log"
        command = [
            "systemd-nspawn",
            "--directory=/",
            "--volatile=yes",
            "--register=no",
            "--keep-unit",
            "--boot",
            "--console=pipe",
            "--quiet",
            f"--bind-ro={REPO}:/opt/booty/src",
            f"--bind-ro={sys.prefix}:/opt/booty/venv",
            f"--bind={self.etc}:/etc/booty",
            f"--bind-ro={UNIT}:/etc/systemd/system/booty.service",
            f"--bind-ro={presets}:/etc/systemd/system-preset",
            *interpreter_binds(root),
            "--",
            "systemd.unit=multi-user.target",
        ]
        with self.log.open("wb") as log:
            self.nspawn = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        self.leader = 0

    def boot(self) -> str | None:
        """Wait for the container's systemd; the reason it could not boot, or None."""
        deadline = time.monotonic() + 30
        children = Path(f"/proc/{self.nspawn.pid}/task/{self.nspawn.pid}/children")
        while not self.leader:
            if self.nspawn.poll() is not None or time.monotonic() > deadline:
                return "systemd-nspawn did not start a container"
            pids = children.read_text().split() if children.exists() else []
            self.leader = next((int(p) for p in pids if _comm(p) == "systemd"), 0)
            time.sleep(0.1)
        # Until its manager is up, systemctl in the container cannot connect.
        while True:
            result = self.run("systemctl", "is-system-running", "--wait", timeout=60)
            state = result.stdout.strip()
            if state in {"running", "degraded"}:
                return None
            if state or time.monotonic() > deadline:
                return f"its systemd reached {state!r}, not running: {result.stderr.strip()}"
            time.sleep(0.2)

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["nsenter", "-t", str(self.leader), "-a", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def systemctl(self, *args: str) -> str:
        result = self.run("systemctl", *args)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def show(self, *properties: str) -> dict[str, str]:
        output = self.systemctl("show", "booty", *(f"--property={p}" for p in properties))
        return dict(line.split("=", 1) for line in output.splitlines())

    def journal(self) -> str:
        return self.run("journalctl", "--unit=booty", "--no-pager", "--output=cat").stdout

    def write_secrets(self, text: str) -> None:
        secrets = self.etc / "secrets.env"
        secrets.write_text(f"BOOTY_PORT={self.port}\n{text}")
        secrets.chmod(0o600)

    def stop(self) -> None:
        self.nspawn.terminate()
        try:
            self.nspawn.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.nspawn.kill()
            self.nspawn.wait()


def _comm(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


@pytest.fixture(scope="module")
def machine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Machine]:
    skip_unless_possible()
    machine = Machine(tmp_path_factory.mktemp("nspawn"))
    try:
        problem = machine.boot()
        if problem is not None:
            tail = machine.log.read_text(errors="replace").strip()[-600:]
            pytest.skip(f"cannot boot systemd in systemd-nspawn here: {problem}; {tail}")
        yield machine
    finally:
        machine.stop()


@pytest.fixture(autouse=True)
def _fresh_unit(machine: Machine) -> None:
    """Each test starts from a stopped unit with no failure or start-limit history."""
    machine.run("systemctl", "stop", "booty")
    machine.run("systemctl", "reset-failed", "booty")  # "not loaded" before the first start


@pytest.fixture
def systemctl(tmp_path: Path, machine: Machine) -> Path:
    """A bin directory whose systemctl is the container's, for scripts/deploy.sh."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    write_script(bin_dir / "systemctl", f'exec nsenter -t {machine.leader} -a systemctl "$@"')
    return bin_dir


def wait_healthy(machine: Machine) -> None:
    url = machine.health_url
    wait_until(
        lambda: answers(url), "booty to answer /health", 30, interval=0.2, detail=machine.journal
    )


def trigger_event(machine: Machine, server: EnvelopeServer, count: int) -> dict[str, Any]:
    response = httpx.get(
        f"http://127.0.0.1:{machine.port}/internal/sentry-test",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    assert response.status_code == 500
    server.wait_for(lambda: len(server.events) >= count, timeout=15)
    assert len(server.events) == count
    return server.events[-1]


def wait_until_settled(machine: Machine, patience: float = 30) -> dict[str, str]:
    properties = ("ActiveState", "SubState", "Result", "ExecMainStatus", "NRestarts")

    def settled() -> dict[str, str] | None:
        state = machine.show(*properties)
        return state if state["ActiveState"] in {"failed", "inactive"} else None

    return wait_until(settled, "booty to settle", patience, interval=0.2, detail=machine.journal)


def test_deploy_starts_the_service_and_events_carry_the_release(
    machine: Machine, systemctl: Path, envelope_server: EnvelopeServer
) -> None:
    machine.write_secrets(f"SENTRY_DSN={envelope_server.dsn}\nBOOTY_INTERNAL_TOKEN={TOKEN}\n")
    result = deploy(machine.etc, "--health-url", machine.health_url, bin_dir=systemctl)
    assert result.returncode == 0, result.stderr + machine.journal()
    assert "booty is healthy" in result.stdout

    assert httpx.get(machine.health_url, timeout=5).json() == {"status": "ok"}
    event = trigger_event(machine, envelope_server, 1)
    assert event["release"] == head_sha()
    assert event["environment"] == "production"
    state = machine.show("ActiveState", "User", "DynamicUser", "StateDirectory")
    assert state == {
        "ActiveState": "active",
        "User": "booty",
        "DynamicUser": "yes",
        "StateDirectory": "booty booty/sentry-spool",
    }


def test_production_without_dsn_fails_with_78_and_no_restarts(machine: Machine) -> None:
    machine.write_secrets(f"BOOTY_INTERNAL_TOKEN={TOKEN}\n")
    (machine.etc / "release.env").write_bytes(release_env(head_sha(), "production"))
    machine.systemctl("restart", "booty")
    state = wait_until_settled(machine)
    assert state == {
        "ActiveState": "failed",
        "SubState": "failed",
        "Result": "exit-code",
        "ExecMainStatus": "78",
        "NRestarts": "0",
    }, machine.journal()
    assert "SENTRY_DSN is required when SENTRY_ENVIRONMENT is production" in machine.journal()


def test_without_release_env_the_service_does_not_start(machine: Machine) -> None:
    machine.write_secrets("")
    (machine.etc / "release.env").unlink(missing_ok=True)
    refusals = machine.journal().count("Failed to load environment files")
    result = machine.run("systemctl", "start", "booty")
    assert result.returncode != 0
    assert machine.show("ActiveState")["ActiveState"] != "active"
    assert machine.journal().count("Failed to load environment files") > refusals


def test_a_crash_loop_hits_the_start_limit(machine: Machine) -> None:
    # The port is taken, so uvicorn exits 1 (not 78): restarted RestartSec
    # apart until StartLimitBurst starts fall inside StartLimitIntervalSec.
    machine.write_secrets("")
    (machine.etc / "release.env").write_bytes(release_env(head_sha(), "staging"))
    with socket.socket() as taken:
        # An earlier test's connections to the service may still hold the port
        # in TIME_WAIT; uvicorn, without SO_REUSEPORT, still cannot bind it.
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", machine.port))
        taken.listen()
        machine.systemctl("restart", "booty")
        state = wait_until_settled(machine, patience=90)
    journal = machine.journal()
    assert state["ActiveState"] == "failed", journal
    assert state["NRestarts"] == "5", journal
    assert state["ExecMainStatus"] not in {"0", "78"}
    assert journal.count("Start request repeated too quickly.") == 1, journal


def test_deploy_then_restart_changes_the_release(
    tmp_path: Path, machine: Machine, envelope_server: EnvelopeServer
) -> None:
    checkout = tmp_path / "checkout"
    (checkout / "scripts").mkdir(parents=True)
    script = Path(shutil.copy(REPO / "scripts" / "deploy.sh", checkout / "scripts"))
    git = ["git", "-C", str(checkout), "-c", "user.name=e2e", "-c", "user.email=e2e@invalid"]
    subprocess.run([*git, "init", "-q"], check=True)
    machine.write_secrets(f"SENTRY_DSN={envelope_server.dsn}\nBOOTY_INTERNAL_TOKEN={TOKEN}\n")

    releases = []
    for count, message in enumerate(["first", "second"], start=1):
        subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", message], check=True)
        result = deploy(machine.etc, "--environment", "staging", "--no-restart", script=script)
        assert result.returncode == 0, result.stderr
        machine.systemctl("restart", "booty")
        wait_healthy(machine)
        event = trigger_event(machine, envelope_server, count)
        assert event["environment"] == "staging"
        releases.append(event["release"])

    first, second = releases
    assert first != second
    assert second == head_sha(checkout)
    assert (machine.etc / "release.env").read_bytes() == release_env(second, "staging")
