from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from tests.booty.support import (
    GITHUB_TOKEN,
    ISSUE_BODY,
    LLM_KEY,
    MODEL,
    PLAN,
    REPO,
    FakeApis,
    booty,
    comment_bodies,
    issue_event,
    post_event,
    wait_done,
)
from tests.support import CapturingTransport


async def test_the_three_steps(apis: FakeApis, capture: CapturingTransport) -> None:
    async with booty(capture) as client:
        response = await post_event(client, "issues", issue_event())
        job = await wait_done(client, response.json()["job_id"])
    assert job["status"] == "succeeded"
    request_id = response.headers["x-request-id"]
    (issue_call,) = apis.issue.calls
    (chat_call,) = apis.chat.calls
    chat = json.loads(chat_call.request.content)
    assert chat["model"] == MODEL
    assert "Widget broken" in chat["messages"][-1]["content"]
    assert ISSUE_BODY in chat["messages"][-1]["content"]
    assert comment_bodies(apis.comment) == [f"{PLAN}\n\n<!-- booty-job:{job['id']} -->"]
    for call in (issue_call, *apis.comment.calls):
        assert call.request.headers["authorization"] == f"Bearer {GITHUB_TOKEN}"
        assert call.request.headers["x-request-id"] == request_id
    assert chat_call.request.headers["authorization"] == f"Bearer {LLM_KEY}"
    assert chat_call.request.headers["x-request-id"] == request_id
    assert capture.events == []


def _http_error(status: int) -> httpx.Response:
    return httpx.Response(status, json={"message": "nope"})


# Each failure point of the pipeline: (route to break, its answer, exception type).
FAILURES: dict[str, tuple[str, Any, str]] = {
    "issue-500": ("issue", _http_error(500), "GitHubError"),
    "issue-404": ("issue", _http_error(404), "GitHubError"),
    "issue-timeout": ("issue", httpx.ReadTimeout("slow"), "GitHubError"),
    "issue-not-json": ("issue", httpx.Response(200, text="<html>"), "GitHubError"),
    "issue-no-title": ("issue", httpx.Response(200, json={"body": "x"}), "GitHubError"),
    "llm-500": ("chat", _http_error(500), "LLMError"),
    "llm-429": ("chat", _http_error(429), "LLMError"),
    "llm-timeout": ("chat", httpx.ConnectTimeout("slow"), "LLMError"),
    "llm-no-choices": ("chat", httpx.Response(200, json={"choices": []}), "LLMError"),
    "llm-empty": (
        "chat",
        httpx.Response(200, json={"choices": [{"message": {"content": ""}}]}),
        "LLMError",
    ),
}


@pytest.mark.parametrize("failure", FAILURES.values(), ids=FAILURES.keys())
async def test_each_failure_gives_one_tagged_event_then_a_comment(
    apis: FakeApis, capture: CapturingTransport, failure: tuple[str, Any, str]
) -> None:
    route_name, answer, error_type = failure
    route: respx.Route = getattr(apis, route_name)
    route.side_effect = [answer]
    seen_when_commenting: list[list[str]] = []

    def comment(request: httpx.Request) -> httpx.Response:
        seen_when_commenting.append([e["event_id"] for e in capture.events])
        return httpx.Response(201, json={"id": 1})

    apis.comment.side_effect = comment
    async with booty(capture) as client:
        response = await post_event(client, "issues", issue_event())
        job_id = response.json()["job_id"]
        job = await wait_done(client, job_id)

    (event,) = capture.events
    assert event["tags"] == {
        "job_id": job_id,
        "job_kind": "pipeline",
        "issue_number": "7",
        "repository": REPO,
        "request_id": response.headers["x-request-id"],
    }
    (exception,) = event["exception"]["values"][-1:]
    assert exception["type"] == error_type
    assert exception["mechanism"] == {"type": "booty.worker", "handled": False}
    assert job["status"] == "failed" and job["event_id"] == event["event_id"]
    assert job["error"] == error_type
    (body,) = comment_bodies(apis.comment)
    assert job_id in body and event["event_id"] in body
    # The event was sent before the comment that names it was posted.
    assert seen_when_commenting == [[event["event_id"]]]


async def test_failure_comment_failing_too_gives_no_second_event(
    apis: FakeApis, capture: CapturingTransport, caplog: pytest.LogCaptureFixture
) -> None:
    apis.comment.side_effect = [_http_error(502), httpx.ConnectError("down")]
    async with booty(capture) as client:
        response = await post_event(client, "issues", issue_event())
        job = await wait_done(client, response.json()["job_id"])
    (event,) = capture.events
    assert job["status"] == "failed" and job["event_id"] == event["event_id"]
    assert apis.comment.call_count == 2
    assert event["tags"]["job_id"] == job["id"]
    (record,) = [r for r in caplog.records if "failure comment could not" in r.getMessage()]
    assert record.levelname == "WARNING" and job["id"] in record.getMessage()


async def test_without_sentry_the_failure_comment_still_names_the_job(
    apis: FakeApis,
) -> None:
    apis.chat.side_effect = [_http_error(500)]
    async with booty(None) as client:
        response = await post_event(client, "issues", issue_event())
        job = await wait_done(client, response.json()["job_id"])
    assert job["status"] == "failed" and job["event_id"] is None
    (body,) = comment_bodies(apis.comment)
    assert job["id"] in body and "Sentry is off" in body


async def test_breadcrumbs_tell_the_story_without_prompt_or_answer(
    apis: FakeApis, capture: CapturingTransport
) -> None:
    # The last step fails, so the event carries every earlier breadcrumb.
    apis.comment.side_effect = [_http_error(500), _http_error(500)]
    async with booty(capture) as client:
        response = await post_event(client, "issues", issue_event())
        await wait_done(client, response.json()["job_id"])
    (event,) = capture.events
    crumbs = event["breadcrumbs"]["values"]
    steps = [c["message"] for c in crumbs if c.get("category") == "pipeline"]
    assert steps == ["fetch the issue", "ask the LLM for a plan", "post the plan"]
    assert any(c.get("category") == "queue" and "running" in c["message"] for c in crumbs)
    (llm,) = [c for c in crumbs if c.get("category") == "llm"]
    assert llm["data"]["model"] == MODEL
    assert llm["data"]["status_code"] == 200
    assert llm["data"]["usage"] == {"input": 42, "output": 17}
    assert llm["data"]["latency_ms"] >= 0
    serialized = capture.serialized()
    assert ISSUE_BODY.encode() not in serialized
    assert PLAN.encode() not in serialized


async def _fail_jobs(client: httpx.AsyncClient, count: int) -> list[dict[str, Any]]:
    jobs = []
    for n in range(count):
        # Another reporter each time: an identical body would be a replay of the first.
        payload = {**issue_event(), "sender": {"login": f"reporter-{n}"}}
        response = await post_event(client, "issues", payload, delivery=f"outage-{n}")
        jobs.append(await wait_done(client, response.json()["job_id"]))
    return jobs


async def test_twelve_jobs_failing_alike_give_twelve_events_and_comments_naming_them(
    apis: FakeApis, capture: CapturingTransport
) -> None:
    apis.chat.side_effect = [_http_error(503)] * 12
    async with booty(capture) as client:
        jobs = await _fail_jobs(client, 12)
    received = {e["event_id"] for e in capture.events}
    assert len(received) == 12
    assert {job["event_id"] for job in jobs} == received
    bodies = comment_bodies(apis.comment)
    assert len(bodies) == 12
    for job, body in zip(jobs, bodies, strict=True):
        assert f"Sentry event `{job['event_id']}`" in body


async def test_past_the_storm_ceiling_the_comment_says_so(
    apis: FakeApis, capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTRY_STORM_LIMIT", "1")
    monkeypatch.setenv("SENTRY_STORM_CEILING", "1")
    apis.chat.side_effect = [_http_error(503)] * 3
    async with booty(capture) as client:
        jobs = await _fail_jobs(client, 3)
    assert [job["event_id"] is not None for job in jobs] == [True, True, False]
    assert len(capture.events) == 2
    last = comment_bodies(apis.comment)[-1]
    assert "no Sentry event: the error-storm ceiling was reached" in last
    assert "off" not in last


async def test_with_sample_rate_zero_the_comment_says_so_not_off(
    apis: FakeApis, capture: CapturingTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTRY_SAMPLE_RATE", "0")
    apis.chat.side_effect = [_http_error(500)]
    async with booty(capture) as client:
        (job,) = await _fail_jobs(client, 1)
    assert job["event_id"] is None and capture.events == []
    (body,) = comment_bodies(apis.comment)
    assert "no Sentry event: SENTRY_SAMPLE_RATE is 0" in body
    assert "off" not in body
