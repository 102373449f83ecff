from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.booty.postgres import Cluster
from tests.booty.support import (
    REPO,
    SHA,
    FakeApis,
    booty,
    issue_event,
    post_event,
    pr_event,
    rows,
    sign,
    wait_done,
)
from tests.support import CapturingTransport


async def test_signed_webhook_is_accepted(
    apis: FakeApis, capture: CapturingTransport, tmp_path: Path
) -> None:
    async with booty(capture) as client:
        response = await post_event(client, "issues", issue_event())
        assert response.status_code == 202
        job_id = response.json()["job_id"]
        # Committed before the answer: the row is in the file already.
        assert [row["id"] for row in rows(str(tmp_path / "booty.db"))] == [job_id]
        job = await wait_done(client, job_id)
    assert job["status"] == "succeeded"
    assert capture.events == []


@pytest.mark.parametrize(
    "signature",
    ["", "sha256=" + "0" * 64, sign(b"another body"), sign(b"{}", secret="other"), "sha1=abc"],
    ids=["empty", "zeros", "other-body", "other-secret", "sha1"],
)
async def test_bad_signature_is_rejected(
    apis: FakeApis, capture: CapturingTransport, tmp_path: Path, signature: str
) -> None:
    async with booty(capture) as client:
        response = await post_event(client, "issues", issue_event(), signature=signature)
    assert response.status_code == 401
    assert rows(str(tmp_path / "booty.db")) == []


async def test_missing_signature_is_rejected(
    apis: FakeApis, capture: CapturingTransport, tmp_path: Path
) -> None:
    async with booty(capture) as client:
        response = await client.post(
            "/webhooks/github",
            content=json.dumps(issue_event()).encode(),
            headers={"X-GitHub-Event": "issues"},
        )
    assert response.status_code == 401
    assert rows(str(tmp_path / "booty.db")) == []


async def test_no_secret_answers_503_and_queues_nothing(
    apis: FakeApis,
    capture: CapturingTransport,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GITHUB_WEBHOOK_SECRET")
    async with booty(capture) as client:
        response = await post_event(client, "issues", issue_event())
    assert response.status_code == 503
    assert rows(str(tmp_path / "booty.db")) == []


async def test_ping_answers_200(apis: FakeApis, capture: CapturingTransport) -> None:
    async with booty(capture) as client:
        response = await post_event(client, "ping", {"zen": "Keep it logically awesome."})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("event", "payload", "kind", "fields"),
    [
        *[
            ("issues", issue_event(action=a), "pipeline", {"issue_number": 7})
            for a in ("opened", "reopened", "labeled")
        ],
        *[
            ("pull_request", pr_event(action=a), "verifier", {"pr_number": 3, "head_sha": SHA})
            for a in ("opened", "reopened", "synchronize")
        ],
    ],
)
async def test_event_kinds_queue_their_job(
    apis: FakeApis,
    capture: CapturingTransport,
    event: str,
    payload: dict[str, Any],
    kind: str,
    fields: dict[str, Any],
) -> None:
    async with booty(capture) as client:
        response = await post_event(client, event, payload)
        assert response.status_code == 202
        job = await wait_done(client, response.json()["job_id"])
    assert job["kind"] == kind
    assert job["status"] == "succeeded"
    assert job["repository"] == REPO
    assert {key: job[key] for key in fields} == fields


@pytest.mark.parametrize(
    ("event", "payload"),
    [
        ("issues", issue_event(action="closed")),
        ("pull_request", pr_event(action="closed")),
        ("push", {"ref": "refs/heads/main"}),
        ("issue_comment", {"action": "created"}),
    ],
)
async def test_other_events_queue_nothing(
    apis: FakeApis, capture: CapturingTransport, tmp_path: Path, event: str, payload: Any
) -> None:
    async with booty(capture) as client:
        response = await post_event(client, event, payload)
    assert response.status_code == 202
    assert response.json() == {"job_id": None}
    assert rows(str(tmp_path / "booty.db")) == []


def _without(payload: dict[str, Any], *path: str) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(payload))
    node = copy
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return copy


@pytest.mark.parametrize(
    ("event", "body", "detail"),
    [
        ("issues", b"{not json", "the body is not valid JSON"),
        ("issues", b"[1, 2]", "the body is not a JSON object"),
        ("issues", _without(issue_event(), "action"), "missing field: action"),
        ("issues", _without(issue_event(), "issue", "number"), "missing field: issue.number"),
        ("issues", _without(issue_event(), "repository"), "missing field: repository.full_name"),
        ("issues", {**issue_event(), "issue": {"number": "7"}}, "invalid field: issue.number"),
        (
            "issues",
            {**issue_event(), "repository": {"full_name": "../../etc"}},
            "invalid field: repository.full_name",
        ),
        (
            "pull_request",
            _without(pr_event(), "pull_request", "head", "sha"),
            "missing field: pull_request.head.sha",
        ),
        (
            "pull_request",
            _without(pr_event(), "pull_request", "number"),
            "missing field: pull_request.number",
        ),
    ],
)
async def test_malformed_payload_answers_400_naming_the_field(
    apis: FakeApis,
    capture: CapturingTransport,
    tmp_path: Path,
    event: str,
    body: dict[str, Any] | bytes,
    detail: str,
) -> None:
    async with booty(capture) as client:
        response = await post_event(client, event, body)
    assert response.status_code == 400
    assert response.json()["detail"].startswith(detail)
    assert rows(str(tmp_path / "booty.db")) == []


async def test_redelivery_returns_the_same_job(
    apis: FakeApis, capture: CapturingTransport, tmp_path: Path
) -> None:
    async with booty(capture) as client:
        first = await post_event(client, "issues", issue_event(), delivery="d-1")
        second = await post_event(client, "issues", issue_event(), delivery="d-1")
        other = await post_event(client, "issues", issue_event(action="reopened"), delivery="d-2")
        for response in (first, second, other):
            await wait_done(client, response.json()["job_id"])
    assert first.json()["job_id"] == second.json()["job_id"] != other.json()["job_id"]
    assert len(rows(str(tmp_path / "booty.db"))) == 2
    assert apis.comment.call_count == 2


async def test_unknown_job_is_404(apis: FakeApis, capture: CapturingTransport) -> None:
    async with booty(capture) as client:
        response = await client.get("/jobs/nope")
    assert response.status_code == 404


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_an_id_no_job_can_have_is_404_before_the_database_is_asked(
    apis: FakeApis,
    capture: CapturingTransport,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    backend: str,
) -> None:
    if backend == "postgresql":
        postgres: Cluster = request.getfixturevalue("postgres")
        monkeypatch.setenv("BOOTY_DATABASE_URL", postgres.create_database())
    async with booty(capture) as client:
        answers = [
            await client.get(f"/jobs/{job_id}")
            for job_id in ("%00", "a%00b", "0" * 31 + "%00", "x" * 5000)
        ]
    assert [a.status_code for a in answers] == [404] * 4
    assert capture.events == []


async def test_a_body_nested_past_the_parser_s_depth_is_400_without_an_event(
    apis: FakeApis, capture: CapturingTransport
) -> None:
    body = b"[" * 3000 + b"]" * 3000
    async with booty(capture) as client:
        response = await post_event(client, "issues", body)
    assert response.status_code == 400
    assert response.json() == {"detail": "the body is not valid JSON"}
    assert capture.events == []
