"""The pipeline job: read an issue, ask the LLM for a plan, post it as a comment."""

from __future__ import annotations

import logging
from typing import Any

import sentry_sdk

from booty.github import GitHub, GitHubError
from booty.llm import LLM
from booty.queue import Job
from middleware import JobScope

logger = logging.getLogger("booty.pipeline")

SYSTEM_PROMPT = (
    "You are Booty, a careful senior engineer. Read the GitHub issue and answer with a short,"
    " concrete plan (files to change, steps, tests) that fixes it. Answer in Markdown."
)


def marker(job_id: str) -> str:
    """Hidden in every comment a job posts, so that a retry can tell it already posted."""
    return f"<!-- booty-job:{job_id} -->"


async def run_pipeline(job: Job, scope: JobScope, github: GitHub, llm: LLM) -> None:
    repository: str = job.payload["repository"]
    number: int = job.payload["issue_number"]
    # A retried job may have posted before its process died: then it is done.
    if job.attempts > 1 and await github.find_comment(
        repository, number, marker(job.id), since=job.created_at
    ):
        _step("already commented", repository, number)
        return
    try:
        _step("fetch the issue", repository, number)
        issue = await github.get_issue(repository, number)
        prompt = _prompt(issue)
        _step("ask the LLM for a plan", repository, number)
        plan = await llm.chat(SYSTEM_PROMPT, prompt)
        _step("post the plan", repository, number)
        await github.post_comment(repository, number, f"{plan}\n\n{marker(job.id)}")
    except Exception as exc:
        # The event id goes into the failure comment, so the event is sent first.
        event_id = scope.capture(exc)
        await _report_failure(job, github, repository, number, event_id, scope.not_sent)
        raise


def _step(name: str, repository: str, number: int) -> None:
    sentry_sdk.add_breadcrumb(
        category="pipeline", message=name, data={"repository": repository, "issue": number}
    )


def _prompt(issue: dict[str, Any]) -> str:
    title, body = issue.get("title"), issue.get("body")
    if not isinstance(title, str):
        raise GitHubError("the issue has no title")
    if body is not None and not isinstance(body, str):
        raise GitHubError("the issue body is not a string")
    return f"# {title}\n\n{body or '(no description)'}"


def failure_comment(job_id: str, event_id: str | None, not_sent: str | None = None) -> str:
    """The comment for a failed job: its event id, or why no event was sent."""
    if event_id:
        reference = f"Sentry event `{event_id}`"
    elif not_sent:
        reference = f"no Sentry event: {not_sent}"
    else:
        reference = "no Sentry event was sent"
    return (
        f"Booty could not plan a fix for this issue: job `{job_id}` failed ({reference})."
        " The maintainers have been told."
    )


async def _report_failure(
    job: Job,
    github: GitHub,
    repository: str,
    number: int,
    event_id: str | None,
    not_sent: str | None = None,
) -> None:
    try:
        body = f"{failure_comment(job.id, event_id, not_sent)}\n\n{marker(job.id)}"
        await github.post_comment(repository, number, body)
    except Exception as exc:
        # The job's one event is already sent: this is a breadcrumb and a log line.
        sentry_sdk.add_breadcrumb(
            category="pipeline",
            level="warning",
            message="the failure comment could not be posted",
            data={"error": type(exc).__name__},
        )
        logger.warning("job %s: the failure comment could not be posted: %s", job.id, exc)
