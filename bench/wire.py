"""Over the wire: one variant under uvicorn, loaded from another core."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bench.load import pinned, run

SERVER_CPU = 0
LOAD_CPU = 1


# Loopback, whatever proxy the environment names.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _listening() -> socket.socket:
    """A socket on a free loopback port, listening: the server inherits it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(socket.SOMAXCONN)
    return sock


def _wait_ready(server: subprocess.Popen[bytes], url: str, timeout: float) -> None:
    """Until the app answers 200: the socket listens before the server runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}")
        try:
            with _DIRECT.open(url, timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:  # refused, reset, timed out, or an HTTP error status
            pass
        time.sleep(0.05)
    raise RuntimeError("the server did not start in time")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Result:
    rps: float
    p99_ms: float
    cpu_us: float  # the server's CPU time per request: unlike req/s, blind to neighbours


def measure(
    variant: str,
    path: str,
    *,
    seconds: float,
    warmup: float,
    connections: int,
    env: Mapping[str, str],
    cwd: Path,
) -> Result:
    with _listening() as sock:
        port = sock.getsockname()[1]
        argv = [sys.executable, "-m", "bench.serve", variant, str(sock.fileno())]
        server = subprocess.Popen(
            pinned(SERVER_CPU, argv),
            env=dict(env),
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(sock.fileno(),),
        )
    try:
        url = f"http://127.0.0.1:{port}{path}"
        # The always-failing route answers 500: readiness is asked of /ok.
        _wait_ready(server, f"http://127.0.0.1:{port}/ok", timeout=30)
        run(url, warmup, connections, LOAD_CPU)
        before = cpu_seconds(server.pid)
        load = run(url, seconds, connections, LOAD_CPU)
        cpu = cpu_seconds(server.pid) - before
        return Result(load.rps, load.p99_ms, cpu / max(load.requests, 1) * 1e6)
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
