"""What a webhook may not do: be too long, be replayed, name `..` as a repository."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.booty.support import (
    FakeApis,
    booty,
    comment_bodies,
    issue_event,
    post_event,
    rows,
    sign,
    wait_done,
)
from tests.support import CapturingTransport

LIMIT = 4096


def _padded(size: int) -> bytes:
    """A signed-able issue event of exactly `size` bytes."""
    body = json.dumps({**issue_event(), "pad": ""}).encode()
    return body.replace(b'"pad": ""', b'"pad": "' + b"x" * (size - len(body)) + b'"')


async def _chunks(body: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "chunked"])
async def test_a_body_over_the_limit_is_413_and_queues_nothing(
    apis: FakeApis,
    capture: CapturingTransport,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    streamed: bool,
) -> None:
    monkeypatch.setenv("BOOTY_MAX_WEBHOOK_BYTES", str(LIMIT))
    at_limit, over = _padded(LIMIT), _padded(LIMIT + 1)
    assert (len(at_limit), len(over)) == (LIMIT, LIMIT + 1)
    async with booty(capture) as client:
        answers = []
        for body in (over, at_limit):
            headers = {"X-GitHub-Event": "issues", "X-Hub-Signature-256": sign(body)}
            content = _chunks(body) if streamed else body
            answers.append(await client.post("/webhooks/github", content=content, headers=headers))
        too_long, accepted = answers
        assert too_long.status_code == 413
        assert accepted.status_code == 202
        await wait_done(client, accepted.json()["job_id"])
    assert [row["id"] for row in rows(str(tmp_path / "booty.db"))] == [accepted.json()["job_id"]]
    assert capture.events == []


async def test_a_replayed_body_is_the_same_job_whatever_its_delivery(
    apis: FakeApis, capture: CapturingTransport, tmp_path: Path
) -> None:
    async with booty(capture) as client:
        first = await post_event(client, "issues", issue_event(), delivery="d-1")
        job = await wait_done(client, first.json()["job_id"])
        replays = [
            await post_event(client, "issues", issue_event(), delivery=delivery)
            for delivery in ("d-2", None)
        ]
        other = await post_event(client, "issues", issue_event(action="reopened"))
        await wait_done(client, other.json()["job_id"])
    assert [r.status_code for r in replays] == [202, 202]
    assert {r.json()["job_id"] for r in replays} == {job["id"]}
    assert other.json()["job_id"] != job["id"]
    assert len(rows(str(tmp_path / "booty.db"))) == 2
    assert len(comment_bodies(apis.comment)) == 2


@pytest.mark.parametrize("name", ["../..", "octo/..", "./repo", "octo/.", "../repo"])
async def test_dot_segments_are_not_a_repository(
    apis: FakeApis, capture: CapturingTransport, tmp_path: Path, name: str
) -> None:
    payload = {**issue_event(), "repository": {"full_name": name}}
    async with booty(capture) as client:
        response = await post_event(client, "issues", payload)
    assert response.status_code == 400
    assert response.json() == {"detail": "invalid field: repository.full_name"}
    assert rows(str(tmp_path / "booty.db")) == []


async def test_dots_inside_a_name_are_kept(
    apis: FakeApis, capture: CapturingTransport, tmp_path: Path
) -> None:
    payload = {**issue_event(), "repository": {"full_name": "octo.org/re..po.js"}}
    async with booty(capture) as client:
        response = await post_event(client, "issues", payload)
    assert response.status_code == 202


TOKEN = "internal-0123456789abcdefTOKEN"


@pytest.mark.parametrize(
    ("environment", "token", "sent", "status"),
    [
        ("production", None, None, 404),
        ("production", TOKEN, None, 404),
        ("production", TOKEN, "wrong", 404),
        ("production", TOKEN, TOKEN, 200),
        ("development", None, None, 200),
        ("development", TOKEN, None, 404),
    ],
)
async def test_a_job_needs_the_internal_token_in_production(
    apis: FakeApis,
    capture: CapturingTransport,
    monkeypatch: pytest.MonkeyPatch,
    environment: str,
    token: str | None,
    sent: str | None,
    status: int,
) -> None:
    monkeypatch.setenv("SENTRY_ENVIRONMENT", environment)
    if token is not None:
        monkeypatch.setenv("BOOTY_INTERNAL_TOKEN", token)
    headers = {} if sent is None else {"Authorization": f"Bearer {sent}"}
    async with booty(capture) as client:
        job_id = (await post_event(client, "issues", issue_event())).json()["job_id"]
        response = await client.get(f"/jobs/{job_id}", headers=headers)
    assert response.status_code == status
    if status == 200:
        assert response.json()["id"] == job_id
    else:
        assert response.json() == {"detail": "no such job"}


async def test_a_wrongly_signed_body_is_held_once(
    apis: FakeApis, capture: CapturingTransport
) -> None:
    size, chunk = 8 * 1024 * 1024, 64 * 1024

    async def streamed() -> AsyncIterator[bytes]:
        for _ in range(size // chunk):
            yield b"x" * chunk

    headers = {"X-GitHub-Event": "issues", "X-Hub-Signature-256": "sha256=" + "0" * 64}
    async with booty(capture) as client:
        tracemalloc.start()
        try:
            response = await client.post("/webhooks/github", content=streamed(), headers=headers)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert response.status_code == 401
    # One copy of the body, and the chunks in flight; a join would hold it twice.
    assert peak < 1.5 * size, f"{peak / size:.2f} times the body"
