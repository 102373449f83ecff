"""Real processes: `booty serve` instances against a stateful fake GitHub and LLM on 127.0.0.1.

Unlike the fake in test_serve.py, this GitHub keeps the comments it was sent
and lists them back, as a retried job reads them, and can hold a comment POST
open after storing it, so that a test can kill Booty in the middle of it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from tests.booty.support import GITHUB_TOKEN, LLM_KEY, REPO, SECRET, chat_answer, sign
from tests.support import free_port, wait_until

ISSUE = re.compile(rf"^/repos/{re.escape(REPO)}/issues/(\d+)(/comments)?(\?.*)?$")


class FakeGitHub:
    def __init__(self, *, llm_delay: float = 0.0) -> None:
        self.comments: dict[int, list[str]] = {}
        self.lock = threading.Lock()
        self.llm_delay = llm_delay
        # Set by a test: the next comment POST is stored, then held open.
        self.hold_comment = threading.Event()
        self.comment_held = threading.Event()
        self.release = threading.Event()
        self.llm_called = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                found = ISSUE.match(self.path)
                if found is None:
                    self._answer(404, {})
                    return
                number = int(found.group(1))
                if found.group(2):
                    with fake.lock:
                        listed = [{"body": b} for b in fake.comments.get(number, [])]
                    self._answer(200, listed)
                else:
                    self._answer(200, {"number": number, "title": f"Issue {number}", "body": "x"})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                if self.path == "/v1/chat/completions":
                    fake.llm_called.set()
                    time.sleep(fake.llm_delay)
                    self._answer(200, chat_answer())
                    return
                found = ISSUE.match(self.path)
                if found is None:
                    self._answer(404, {})
                    return
                with fake.lock:
                    fake.comments.setdefault(int(found.group(1)), []).append(body["body"])
                if fake.hold_comment.is_set():
                    fake.hold_comment.clear()
                    fake.comment_held.set()
                    fake.release.wait(30)
                self._answer(201, {"id": 1})

            def _answer(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the caller was killed

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def count(self) -> int:
        with self.lock:
            return sum(len(bodies) for bodies in self.comments.values())

    def snapshot(self) -> dict[int, list[str]]:
        with self.lock:
            return {number: list(bodies) for number, bodies in self.comments.items()}

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@contextmanager
def fake_github(**options: Any) -> Iterator[FakeGitHub]:
    fake = FakeGitHub(**options)
    try:
        yield fake
    finally:
        fake.close()


class Booty:
    """One `booty serve` process, or a uvicorn supervisor given as `command`."""

    def __init__(
        self,
        fake: FakeGitHub,
        log: Path,
        env: dict[str, str] | None = None,
        *,
        command: list[str] | None = None,
    ) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        values = {
            **os.environ,
            "GITHUB_WEBHOOK_SECRET": SECRET,
            "GITHUB_TOKEN": GITHUB_TOKEN,
            "GITHUB_API_URL": fake.url,
            "LLM_API_URL": f"{fake.url}/v1",
            "LLM_API_KEY": LLM_KEY,
            **(env or {}),
        }
        command = [
            *(command or [sys.executable, "-m", "booty.cli", "serve"]),
            "--port",
            str(self.port),
        ]
        self.log = log
        with log.open("ab") as output:
            self.process = subprocess.Popen(
                command, env=values, stdout=output, stderr=subprocess.STDOUT
            )
        wait_until(self.healthy, f"booty on port {self.port} to start")

    @property
    def pid(self) -> int:
        return self.process.pid

    def healthy(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"booty exited: {self.log.read_text()[-3000:]}")
        try:
            return httpx.get(f"{self.base}/health").status_code == 200
        except httpx.TransportError:
            return False

    def post_issue(self, number: int) -> httpx.Response:
        body = json.dumps(
            {"action": "opened", "issue": {"number": number}, "repository": {"full_name": REPO}}
        ).encode()
        headers = {"X-GitHub-Event": "issues", "X-Hub-Signature-256": sign(body)}
        return httpx.post(f"{self.base}/webhooks/github", content=body, headers=headers)

    def peak_rss(self) -> int:
        """The most resident memory the process has had, in bytes (VmHWM).

        The peak, not the current size: a buffered body freed before the answer
        leaves the current size where it was.
        """
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmHWM")

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def workers(self) -> list[int]:
        """The pids of uvicorn's worker processes (not its resource tracker)."""
        path = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        found = []
        for pid in path.read_text().split():
            with suppress(OSError):
                if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(int(pid))
        return found


@contextmanager
def serving(
    fake: FakeGitHub,
    log: Path,
    env: dict[str, str] | None = None,
    *,
    command: list[str] | None = None,
) -> Iterator[Booty]:
    booty = Booty(fake, log, env, command=command)
    try:
        yield booty
    finally:
        booty.stop()
