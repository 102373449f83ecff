"""Booty under a real uvicorn subprocess, and bursts of concurrent requests against it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.e2e.bugsink import ROOT
from tests.support import answers, free_port, wait_until


class Booty:
    def __init__(self, process: subprocess.Popen[bytes], base: str, log: Path) -> None:
        self.process = process
        self.base = base
        self.log = log

    def stop(self) -> str:
        """SIGTERM, as systemd sends it; the server's stderr."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)
        return self.log.read_text()


@contextmanager
def serve(
    app: str, env: dict[str, str], home: Path, *, args: tuple[str, ...] = ()
) -> Iterator[Booty]:
    """`uvicorn APP` on a free port of 127.0.0.1 with `env` added to the environment."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host=127.0.0.1",
        f"--port={port}",
        "--no-access-log",
        *args,
    ]
    # A file, not a pipe: uvicorn logs a traceback per error, and a full pipe blocks it.
    log = home / "uvicorn.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(command, env={**os.environ, **env}, cwd=ROOT, stderr=stderr)
    server = Booty(process, f"http://127.0.0.1:{port}", log)
    try:

        def healthy() -> bool:
            if answers(f"{server.base}/health", timeout=5):
                return True
            if process.poll() is not None:
                raise AssertionError(f"booty did not start: {server.stop()}")
            return False

        wait_until(healthy, "booty to start", 30, interval=0.05, detail=server.stop)
        yield server
    finally:
        server.stop()


async def _burst(
    base: str, paths: list[str], clients: int, headers: dict[str, str]
) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
        return await asyncio.gather(
            *(
                client.get(
                    path,
                    # uvicorn closes a connection whose app raised, even after its 500.
                    headers={
                        **headers,
                        "X-Request-ID": uuid.uuid4().hex,
                        "Connection": "close",
                    },
                )
                for path in paths
            )
        )


def burst(
    base: str, paths: list[str], *, clients: int = 32, headers: dict[str, str] | None = None
) -> list[httpx.Response]:
    """GET each path, `clients` at a time, each request with its own X-Request-ID."""
    return asyncio.run(_burst(base, paths, clients, headers or {}))
