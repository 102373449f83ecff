from __future__ import annotations

import json

import httpx
import pytest
import respx

from booty.verifier import FAILURE, SUCCESS, references_issue
from tests.booty.support import (
    REPO,
    FakeApis,
    booty,
    post_event,
    pr_event,
    wait_done,
)
from tests.support import CapturingTransport


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("#123", True),
        ("Fixes #123", True),
        ("Closes owner/repo#123.", True),
        ("see (#9)", True),
        ("fixes the bug", False),
        ("abc#12", False),
        ("&#123; is an entity", False),
        ("# heading", False),
        ("", False),
    ],
)
def test_references_issue(body: str, expected: bool) -> None:
    assert references_issue(body) is expected


@pytest.mark.parametrize(
    ("body", "state", "description"),
    [
        ("Fixes #7", "success", SUCCESS),
        ("A drive-by change", "failure", FAILURE),
        (None, "failure", FAILURE),
    ],
)
async def test_verdict_is_a_commit_status(
    apis: FakeApis, capture: CapturingTransport, body: str | None, state: str, description: str
) -> None:
    apis.pull.respond(json={"number": 3, "body": body})
    async with booty(capture) as client:
        response = await post_event(client, "pull_request", pr_event())
        job = await wait_done(client, response.json()["job_id"])
    assert job["status"] == "succeeded"
    (call,) = apis.status.calls
    assert json.loads(call.request.content) == {
        "state": state,
        "context": "booty/verifier",
        "description": f"{description} (booty-job:{job['id']})",
    }
    assert call.request.headers["x-request-id"] == response.headers["x-request-id"]
    assert capture.events == []


@pytest.mark.parametrize("failing", ["pull", "status"])
async def test_verifier_error_gives_one_event_and_the_next_job_runs(
    apis: FakeApis, capture: CapturingTransport, failing: str
) -> None:
    route: respx.Route = getattr(apis, failing)
    route.side_effect = [httpx.Response(500), httpx.Response(201, json={"body": "#1"})]
    async with booty(capture) as client:
        first = await post_event(client, "pull_request", pr_event(), delivery="a")
        failed = await wait_done(client, first.json()["job_id"])
        # Another event for the same pull request: the same body would be a replay.
        again = pr_event(action="synchronize")
        second = await post_event(client, "pull_request", again, delivery="b")
        succeeded = await wait_done(client, second.json()["job_id"])
    (event,) = capture.events
    assert event["tags"] == {
        "job_id": failed["id"],
        "job_kind": "verifier",
        "pr_number": "3",
        "repository": REPO,
        "request_id": first.headers["x-request-id"],
    }
    assert event["exception"]["values"][-1]["type"] == "GitHubError"
    assert event["exception"]["values"][-1]["mechanism"]["handled"] is False
    assert failed["status"] == "failed" and failed["event_id"] == event["event_id"]
    assert succeeded["status"] == "succeeded"
    assert apis.pull.call_count == 2
