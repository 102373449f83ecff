"""Real ASGI servers as subprocesses, and a slow envelope server to prove the flush."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.support import EnvelopeServer, free_port

ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 30.0

# The module each server needs: a missing one fails under CI and skips elsewhere.
SERVER_MODULES = {
    "uvicorn": "uvicorn",
    "hypercorn": "hypercorn",
    "granian": "granian",
    "daphne": "daphne",
}
APP_MODULES = {
    "fastapi": "fastapi",
    "starlette": "starlette",
    "litestar": "litestar",
    "quart": "quart",
}


def require(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        message = f"{module} is not installed (it is in the test extras)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def server_command(server: str, target: str, port: int, root_path: str) -> list[str]:
    python = [sys.executable, "-m"]
    if server == "uvicorn":
        extra = ["--root-path", root_path] if root_path else []
        return [*python, "uvicorn", target, "--host", "127.0.0.1", "--port", str(port), *extra]
    if server == "hypercorn":
        extra = ["--root-path", root_path] if root_path else []
        return [*python, "hypercorn", target, "--bind", f"127.0.0.1:{port}", *extra]
    if server == "granian":
        extra = ["--url-path-prefix", root_path] if root_path else []
        return [
            *python,
            "granian",
            "--interface",
            "asgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *extra,
            target,
        ]
    if server == "daphne":
        extra = ["--root-path", root_path] if root_path else []
        return [*python, "daphne", "-b", "127.0.0.1", "-p", str(port), *extra, target]
    raise ValueError(server)


@dataclass
class Served:
    """One server process serving one app, with its envelope server."""

    server: str
    target: str
    log: Path
    root_path: str = ""
    # 50 ms an envelope: the plain run's 52 events take 2.6 s to send, so some are
    # still queued at SIGTERM unless serving the requests took longer than that.
    delay: float = 0.05
    port: int = field(default_factory=free_port)
    # More of the server's options, and of the environment, for one test.
    extra_args: tuple[str, ...] = ()
    extra_env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.envelopes = EnvelopeServer(self.delay)
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("SENTRY_", "BOOTY_", "GITHUB_", "LLM_"))
        }
        env.update(
            SENTRY_DSN=self.envelopes.dsn,
            SENTRY_ENVIRONMENT="compat",
            # 50 identical errors on purpose: the storm guard would keep 10.
            SENTRY_STORM_LIMIT="0",
            SENTRY_SHUTDOWN_TIMEOUT="15",
            PYTHONPATH=str(ROOT),
            PYTHONUNBUFFERED="1",
        )
        if self.server == "daphne":
            env["COMPAT_INIT_AT_IMPORT"] = "1"
        env.update(self.extra_env)
        command = server_command(self.server, self.target, self.port, self.root_path)
        command[3:3] = self.extra_args  # right after `python -m <server>`
        self.output = self.log.open("wb")
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=self.output,
            stderr=subprocess.STDOUT,
            # Its own process group: granian's workers are children of the server.
            start_new_session=True,
        )
        self.base_url = f"http://127.0.0.1:{self.port}"

    async def wait_ready(self, client: httpx.AsyncClient) -> None:
        """Until the app answers: any status (a root path may make /ok a 404), but
        with the X-Request-ID the library puts on every response, so that another
        process answering on the port is not taken for the server."""
        deadline = time.monotonic() + STARTUP_SECONDS
        foreign = ""
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.server} exited early{foreign}:\n{self.tail()}")
            try:
                response = await client.get(f"{self.base_url}/ok", timeout=1)
            except httpx.TransportError:
                await asyncio.sleep(0.1)
                continue
            if "x-request-id" in response.headers:
                return
            foreign = f" (port {self.port} answered {response.status_code} without X-Request-ID)"
            await asyncio.sleep(0.1)
        raise AssertionError(f"{self.server} did not start{foreign}:\n{self.tail()}")

    def terminate(self, timeout: float = 30) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"{self.server} ignored SIGTERM:\n{self.tail()}") from None

    def tail(self) -> str:
        self.output.flush()
        return self.log.read_text(errors="replace")[-3000:]

    def close(self) -> None:
        # Whatever the test did, no server or worker outlives it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.output.close()
        self.envelopes.close()
