"""The verifier job: a commit status saying whether a pull request references an issue."""

from __future__ import annotations

import re

import sentry_sdk

from booty.github import GitHub, GitHubError
from booty.queue import Job

# `#123`, `Fixes #123`, `Closes owner/repo#123`; not `abc#1` nor an HTML entity `&#123;`.
REFERENCE = re.compile(r"(?<![\w&#/.-])(?:[\w.-]+/[\w.-]+)?#\d+\b")

SUCCESS = "The pull request references an issue."
FAILURE = "The pull request body references no issue: add e.g. 'Fixes #123'."


def references_issue(body: str) -> bool:
    return REFERENCE.search(body) is not None


def marker(job_id: str) -> str:
    """Ends the status description, so that a retry can tell it already set the status."""
    return f"(booty-job:{job_id})"


async def run_verifier(job: Job, github: GitHub) -> None:
    repository: str = job.payload["repository"]
    number: int = job.payload["pr_number"]
    sha: str = job.payload["head_sha"]
    # A retried job may have set the status before its process died: then it is done.
    if job.attempts > 1 and await github.find_status(repository, sha, marker(job.id)):
        sentry_sdk.add_breadcrumb(category="verifier", message="the status is already set")
        return
    sentry_sdk.add_breadcrumb(category="verifier", message="fetch the pull request")
    pull = await github.get_pull(repository, number)
    body = pull.get("body")
    if body is not None and not isinstance(body, str):
        raise GitHubError("the pull request body is not a string")
    ok = references_issue(body or "")
    sentry_sdk.add_breadcrumb(
        category="verifier", message="set the commit status", data={"success": ok}
    )
    if ok:
        await github.set_status(repository, sha, "success", f"{SUCCESS} {marker(job.id)}")
    else:
        await github.set_status(repository, sha, "failure", f"{FAILURE} {marker(job.id)}")
