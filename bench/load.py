"""The load generator: wrk when installed, else a bounded keep-alive Python client.

python -m bench.load URL SECONDS CONNECTIONS   (the Python client; prints JSON)
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Load:
    rps: float
    p99_ms: float
    requests: int


def pinned(cpu: int | None, argv: list[str]) -> list[str]:
    if cpu is None or shutil.which("taskset") is None:
        return argv
    return ["taskset", "-c", str(cpu), *argv]


def generator() -> str:
    return "wrk" if shutil.which("wrk") else "python"


def run(url: str, seconds: float, connections: int, cpu: int | None) -> Load:
    if generator() == "wrk":
        return _wrk(url, seconds, connections, cpu)
    argv = [sys.executable, "-m", "bench.load", url, str(seconds), str(connections)]
    out = subprocess.run(
        pinned(cpu, argv), capture_output=True, text=True, timeout=seconds + 30, check=True
    )
    data = json.loads(out.stdout)
    return Load(data["rps"], data["p99_ms"], data["requests"])


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _wrk(url: str, seconds: float, connections: int, cpu: int | None) -> Load:
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", url]
    out = subprocess.run(
        pinned(cpu, argv), capture_output=True, text=True, timeout=seconds + 30, check=True
    ).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"\s99%\s+([\d.]+)(us|ms|s)\b", out)
    count = re.search(r"(\d+) requests in", out)
    if rps is None or p99 is None or count is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    p99_ms = float(p99.group(1)) * _UNITS[p99.group(2)]
    return Load(float(rps.group(1)), p99_ms, int(count.group(1)))


async def _connection(host: str, port: int, request: bytes, deadline: float) -> list[float]:
    reader, writer = await asyncio.open_connection(host, port)
    latencies: list[float] = []
    try:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?i)content-length:\s*(\d+)", head)
            await reader.readexactly(int(length.group(1)) if length else 0)
            latencies.append(time.perf_counter() - start)
    finally:
        writer.close()
    return latencies


async def _python_client(url: str, seconds: float, connections: int) -> Load:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = f"GET {parts.path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    start = time.perf_counter()
    deadline = start + seconds
    results = await asyncio.gather(
        *(_connection(host, port, request, deadline) for _ in range(connections))
    )
    elapsed = time.perf_counter() - start
    latencies = sorted(x for r in results for x in r)
    p99 = latencies[int(len(latencies) * 0.99)] if latencies else float("nan")
    return Load(len(latencies) / elapsed, p99 * 1e3, len(latencies))


def main() -> None:
    url, seconds, connections = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    load = asyncio.run(_python_client(url, seconds, connections))
    print(json.dumps({"rps": load.rps, "p99_ms": load.p99_ms, "requests": load.requests}))


if __name__ == "__main__":
    main()
