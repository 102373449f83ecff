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


async def run_verifier(job: Job, github: GitHub) -> None:
    repository: str = job.payload["repository"]
    number: int = job.payload["pr_number"]
    sha: str = job.payload["head_sha"]
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
        await github.set_status(repository, sha, "success", SUCCESS)
    else:
        await github.set_status(repository, sha, "failure", FAILURE)
