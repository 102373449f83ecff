"""Booty for real: `booty serve` (uvicorn) against a local fake GitHub/LLM and envelope server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests.booty.support import GITHUB_TOKEN, LLM_KEY, REPO, SECRET, SECRETS, chat_answer, sign
from tests.support import EnvelopeServer, free_port, wait_until


class FakeApis:
    """GitHub and an OpenAI-compatible LLM on 127.0.0.1; issue 2's plan request fails."""

    def __init__(self) -> None:
        self.comments: list[tuple[int, str, dict[str, str]]] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                number = int(self.path.rsplit("/", 1)[1])
                self._answer(200, {"number": number, "title": f"Issue {number}", "body": "x"})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                if self.path == "/v1/chat/completions":
                    failing = "Issue 2" in body["messages"][-1]["content"]
                    self._answer(500 if failing else 200, {} if failing else chat_answer())
                    return
                number = int(self.path.split("/")[-2])
                with fake.lock:
                    fake.comments.append((number, body["body"], dict(self.headers)))
                self._answer(201, {"id": 1})

            def _answer(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def comment_on(self, number: int) -> tuple[str, dict[str, str]] | None:
        with self.lock:
            found = [(body, headers) for n, body, headers in self.comments if n == number]
        return found[0] if found else None


@pytest.fixture
def fake_apis() -> Iterator[FakeApis]:
    fake = FakeApis()
    yield fake
    fake.httpd.shutdown()
    fake.httpd.server_close()


def _post(base: str, number: int) -> httpx.Response:
    body = json.dumps(
        {"action": "opened", "issue": {"number": number}, "repository": {"full_name": REPO}}
    ).encode()
    headers = {"X-GitHub-Event": "issues", "X-Hub-Signature-256": sign(body)}
    return httpx.post(f"{base}/webhooks/github", content=body, headers=headers)


def test_booty_serves_for_real(
    fake_apis: FakeApis, envelope_server: EnvelopeServer, tmp_path: Any
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "SENTRY_DSN": envelope_server.dsn,
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "GITHUB_TOKEN": GITHUB_TOKEN,
        "GITHUB_API_URL": fake_apis.url,
        "LLM_API_URL": f"{fake_apis.url}/v1",
        "LLM_API_KEY": LLM_KEY,
        "BOOTY_DB_PATH": str(tmp_path / "serve.db"),
        "BOOTY_WORKERS": "2",
    }
    command = [sys.executable, "-m", "booty.cli", "serve", "--port", str(port)]
    server = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:

        def healthy() -> bool:
            try:
                return httpx.get(f"{base}/health").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(healthy, "booty to start", 8.0)
        ok, failing = _post(base, 1), _post(base, 2)
        assert (ok.status_code, failing.status_code) == (202, 202)

        plan, headers = wait_until(
            lambda: fake_apis.comment_on(1), "the plan comment", 8.0, interval=0.02
        )
        content = chat_answer()["choices"][0]["message"]["content"]
        assert plan == f"{content}\n\n<!-- booty-job:{ok.json()['job_id']} -->"
        assert headers["X-Request-ID"] == ok.headers["x-request-id"]

        report, _ = wait_until(
            lambda: fake_apis.comment_on(2), "the failure comment", 8.0, interval=0.02
        )
        envelope_server.wait_for(lambda: len(envelope_server.events) == 1, timeout=8)
        (event,) = envelope_server.events
        assert event["event_id"] in report and failing.json()["job_id"] in report
        assert event["tags"]["request_id"] == failing.headers["x-request-id"]
        assert event["tags"]["issue_number"] == "2"
        assert event["exception"]["values"][-1]["type"] == "LLMError"
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=15)
    # uvicorn shuts down gracefully, then re-raises the signal it caught.
    assert server.returncode in (0, -signal.SIGTERM), stderr
    assert "Application shutdown complete" in stderr
    with envelope_server._lock:
        sent = b"".join(envelope_server.bodies)
    for secret in SECRETS:
        assert secret.encode() not in sent
        assert secret not in stderr
