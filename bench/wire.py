"""Over the wire: one variant under uvicorn, loaded from another core."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bench.load import pinned, run

SERVER_CPU = 0
LOAD_CPU = 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_ready(server: subprocess.Popen[bytes], port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
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
    port = _free_port()
    argv = [sys.executable, "-m", "bench.serve", variant, str(port)]
    server = subprocess.Popen(
        pinned(SERVER_CPU, argv),
        env=dict(env),
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_ready(server, port, timeout=30)
        url = f"http://127.0.0.1:{port}{path}"
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
