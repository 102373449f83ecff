"""Booty driven in memory: signed webhooks, fake GitHub/LLM routes (respx), job polling."""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest
import respx
from sentry_sdk.transport import Transport

from booty.main import create_app
from tests.support import running

SECRET = "whsec-0123456789abcdefSECRET"
GITHUB_TOKEN = "ghp_0123456789abcdefTOKEN"
LLM_KEY = "sk-0123456789abcdefLLMKEY"
SECRETS = (SECRET, GITHUB_TOKEN, LLM_KEY)
GITHUB = "https://api.github.test"
LLM_URL = "https://llm.test/v1"
MODEL = "test-model"
REPO = "octo/repo"
SHA = "0123456789abcdef0123456789abcdef01234567"
ISSUE_BODY = "The widget breaks on Tuesdays (issue text 7f3a)"
PLAN = "1. Fix the widget (plan text 9c2e)"


def configure(monkeypatch: pytest.MonkeyPatch, **extra: str) -> None:
    values = {
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "GITHUB_TOKEN": GITHUB_TOKEN,
        "GITHUB_API_URL": GITHUB,
        "LLM_API_URL": LLM_URL,
        "LLM_API_KEY": LLM_KEY,
        "LLM_MODEL": MODEL,
        **extra,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def issue_event(number: int = 7, action: str = "opened") -> dict[str, Any]:
    return {"action": action, "issue": {"number": number}, "repository": {"full_name": REPO}}


def pr_event(number: int = 3, action: str = "opened") -> dict[str, Any]:
    return {
        "action": action,
        "pull_request": {"number": number, "head": {"sha": SHA}},
        "repository": {"full_name": REPO},
    }


async def post_event(
    client: httpx.AsyncClient,
    event: str,
    payload: dict[str, Any] | bytes,
    *,
    delivery: str | None = None,
    signature: str | None = None,
) -> httpx.Response:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"X-GitHub-Event": event, "Content-Type": "application/json"}
    headers["X-Hub-Signature-256"] = sign(body) if signature is None else signature
    if delivery is not None:
        headers["X-GitHub-Delivery"] = delivery
    return await client.post("/webhooks/github", content=body, headers=headers)


@asynccontextmanager
async def booty(transport: Transport | None) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(sentry_transport=transport)
    async with running(app, base_url="http://booty", shutdown_timeout=15) as client:
        yield client


async def wait_done(client: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    """Poll GET /jobs/{id} until the job succeeded or failed."""
    with anyio.fail_after(10):
        while True:
            job: dict[str, Any] = (await client.get(f"/jobs/{job_id}")).json()
            if job["status"] in ("succeeded", "failed"):
                return job
            await anyio.sleep(0.005)


def chat_answer(content: str = PLAN) -> dict[str, Any]:
    return {
        "choices": [{"message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 42, "completion_tokens": 17, "total_tokens": 59},
    }


class FakeApis:
    """Successful GitHub and LLM routes; a test replaces the one it makes fail."""

    def __init__(self, router: respx.MockRouter, issue: int = 7, pr: int = 3) -> None:
        base = f"{GITHUB}/repos/{REPO}"
        self.issue = router.get(f"{base}/issues/{issue}").respond(
            json={"number": issue, "title": "Widget broken", "body": ISSUE_BODY}
        )
        self.chat = router.post(f"{LLM_URL}/chat/completions").respond(json=chat_answer())
        self.comment = router.post(f"{base}/issues/{issue}/comments").respond(201, json={"id": 1})
        self.pull = router.get(f"{base}/pulls/{pr}").respond(
            json={"number": pr, "body": "Fixes #7"}
        )
        self.status = router.post(f"{base}/statuses/{SHA}").respond(201, json={"id": 2})
        # What a retry reads back: everything posted so far, as GitHub lists it.
        self.comments = router.get(f"{base}/issues/{issue}/comments").mock(
            side_effect=lambda request: httpx.Response(
                200, json=[{"body": body} for body in comment_bodies(self.comment)]
            )
        )
        self.statuses = router.get(f"{base}/commits/{SHA}/statuses").mock(
            side_effect=lambda request: httpx.Response(
                200, json=[json.loads(call.request.content) for call in self.status.calls]
            )
        )


def comment_bodies(route: respx.Route) -> list[str]:
    return [json.loads(call.request.content)["body"] for call in route.calls]


def rows(path: str, sql: str = "SELECT * FROM jobs") -> list[sqlite3.Row]:
    db = sqlite3.connect(path)
    try:
        db.row_factory = sqlite3.Row
        return db.execute(sql).fetchall()
    finally:
        db.close()
