"""Bugsink, a self-hosted Sentry-compatible server, as a real Sentry for end-to-end tests.

It runs from its own virtualenv (scripts/bugsink-venv), so its dependencies
(Django, gunicorn) never mix with Booty's, on SQLite and its own gunicorn on
127.0.0.1. Stored events are read back through its Django models with
`bugsink-manage shell`, as its own management commands do.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".bugsink-venv"

_CREATE_PROJECT = """
from projects.models import Project
print("@@" + Project.objects.create(name="booty").dsn)
"""

_STORED = """
import json
from events.models import Event
from issues.models import Issue
from releases.models import Release
print("@@" + json.dumps({
    "events": [
        {"event_id": e.event_id.hex, "issue": str(e.issue_id), "release": e.release,
         "data": e.get_parsed_data()}
        for e in Event.objects.all()
    ],
    "issues": [
        {"id": str(i.id), "type": i.calculated_type, "value": i.calculated_value,
         "count": i.digested_event_count}
        for i in Issue.objects.all()
    ],
    "releases": [r.version for r in Release.objects.all()],
}))
"""


def require_venv() -> Path:
    """The venv's bin directory; without it, fail in CI and skip elsewhere."""
    bin_dir = VENV / "bin"
    if not (bin_dir / "bugsink-manage").exists():
        reason = f"Bugsink is not installed in {VENV}: run scripts/bugsink-venv"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return bin_dir


@dataclass
class Bugsink:
    bin_dir: Path
    home: Path
    dsn: str
    url: str

    def _env(self) -> dict[str, str]:
        return {
            "PATH": f"{self.bin_dir}:{os.environ.get('PATH', '')}",
            "HOME": str(self.home),
            "PYTHONPATH": str(self.home),
            "DJANGO_SETTINGS_MODULE": "bugsink_conf",
        }

    def manage(self, *args: str, timeout: float = 120) -> str:
        result = subprocess.run(
            [str(self.bin_dir / "bugsink-manage"), *args],
            cwd=self.home,
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )
        return result.stdout

    def shell(self, code: str) -> str:
        out = self.manage("shell", "-c", code)
        return next(line[2:] for line in out.splitlines() if line.startswith("@@"))

    def stored(self) -> dict[str, Any]:
        """Every event, issue and release Bugsink has stored."""
        data: dict[str, Any] = json.loads(self.shell(_STORED))
        return data

    def database_bytes(self) -> bytes:
        return b"".join(p.read_bytes() for p in sorted(self.home.glob("*.sqlite3*")))


def _configure(bin_dir: Path, home: Path, port: int) -> None:
    subprocess.run(
        [
            str(bin_dir / "bugsink-create-conf"),
            "--template=local",
            "--host=127.0.0.1",
            f"--port={port}",
            "--output-file=bugsink_conf.py",
        ],
        cwd=home,
        check=True,
        capture_output=True,
        timeout=60,
    )
    conf = home / "bugsink_conf.py"
    text = conf.read_text()
    marker = "BUGSINK = {\n"
    if marker not in text:
        raise AssertionError("bugsink-create-conf wrote no BUGSINK settings")
    # No machine here reaches the internet: Bugsink must not try to phone home.
    conf.write_text(text.replace(marker, marker + '    "PHONEHOME": False,\n', 1))


@contextmanager
def running_bugsink(home: Path) -> Iterator[Bugsink]:
    bin_dir = require_venv()
    port = free_port()
    _configure(bin_dir, home, port)
    url = f"http://127.0.0.1:{port}"
    server = Bugsink(bin_dir, home, dsn="", url=url)
    server.manage("migrate", "-v0")
    server.dsn = server.shell(_CREATE_PROJECT)
    log = home / "gunicorn.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [
                str(bin_dir / "gunicorn"),
                f"--bind=127.0.0.1:{port}",
                "--workers=1",
                "--threads=4",
                "bugsink.wsgi",
            ],
            cwd=home,
            env=server._env(),
            stdout=stderr,
            stderr=stderr,
        )
    try:

        def listening() -> bool:
            try:
                httpx.get(url, timeout=2)
            except httpx.TransportError:
                if process.poll() is not None:
                    raise AssertionError(f"Bugsink did not start: {log.read_text()}") from None
                return False
            return True

        wait_until(listening, "Bugsink to start", 60, interval=0.1, detail=log.read_text)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
