"""The few GitHub REST calls Booty makes, each an `http.client` span."""

from __future__ import annotations

import time
from typing import Any, Literal, overload

import httpx
import sentry_sdk
from pydantic import SecretStr

from booty.http import make_client
from middleware import span

TIMEOUT = 10.0
STATUS_CONTEXT = "booty/verifier"
# A retry looks through at most this many comments or statuses for its marker.
PER_PAGE = 100
MAX_PAGES = 10


class GitHubError(Exception):
    """A GitHub call failed: an HTTP error status, a timeout or a malformed body."""


class GitHub:
    def __init__(self, api_url: str, token: SecretStr | None) -> None:
        self.client = make_client(api_url, token=token, timeout=TIMEOUT)
        self.client.headers["Accept"] = "application/vnd.github+json"

    async def aclose(self) -> None:
        await self.client.aclose()

    async def get_issue(self, repository: str, number: int) -> dict[str, Any]:
        return await self._call("GET", f"/repos/{repository}/issues/{number}")

    async def post_comment(self, repository: str, number: int, body: str) -> dict[str, Any]:
        path = f"/repos/{repository}/issues/{number}/comments"
        return await self._call("POST", path, {"body": body})

    async def find_comment(self, repository: str, number: int, marker: str, since: float) -> bool:
        """Whether a comment posted since `since` (epoch seconds) contains `marker`."""
        path = f"/repos/{repository}/issues/{number}/comments"
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since - 60))
        return any(
            marker in str(comment.get("body"))
            for comment in await self._pages(path, {"since": stamp})
        )

    async def find_status(self, repository: str, sha: str, marker: str) -> bool:
        """Whether Booty's status on `sha` already has `marker` in its description."""
        path = f"/repos/{repository}/commits/{sha}/statuses"
        return any(
            status.get("context") == STATUS_CONTEXT and marker in str(status.get("description"))
            for status in await self._pages(path, {})
        )

    async def get_pull(self, repository: str, number: int) -> dict[str, Any]:
        return await self._call("GET", f"/repos/{repository}/pulls/{number}")

    async def set_status(
        self,
        repository: str,
        sha: str,
        state: Literal["success", "failure"],
        description: str,
    ) -> dict[str, Any]:
        body = {"state": state, "context": STATUS_CONTEXT, "description": description[:140]}
        return await self._call("POST", f"/repos/{repository}/statuses/{sha}", body)

    async def _pages(self, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            query = {**params, "per_page": str(PER_PAGE), "page": str(page)}
            items = await self._call("GET", path, params=query, many=True)
            found.extend(item for item in items if isinstance(item, dict))
            if len(items) < PER_PAGE:
                break
        return found

    @overload
    async def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        params: dict[str, str] | None = None,
        many: Literal[False] = False,
    ) -> dict[str, Any]: ...

    @overload
    async def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        params: dict[str, str] | None = None,
        many: Literal[True],
    ) -> list[Any]: ...

    async def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        params: dict[str, str] | None = None,
        many: bool = False,
    ) -> dict[str, Any] | list[Any]:
        name = f"{method} {self.client.base_url.join(path)}"
        with span("http.client", name) as http_span:
            try:
                response = await self.client.request(method, path, json=body, params=params)
            except httpx.HTTPError as exc:
                raise GitHubError(f"{name}: {type(exc).__name__}") from exc
            if http_span is not None:
                http_span.set_http_status(response.status_code)
            sentry_sdk.add_breadcrumb(
                type="http",
                category="github",
                data={
                    "method": method,
                    "url": name[len(method) + 1 :],
                    "status_code": response.status_code,
                },
            )
            if response.is_error:
                raise GitHubError(f"{name}: HTTP {response.status_code}")
            try:
                data = response.json()
            except ValueError:
                raise GitHubError(f"{name}: the answer is not JSON") from None
            if many and isinstance(data, list):
                return data
            if many or not isinstance(data, dict):
                kind = "array" if many else "object"
                raise GitHubError(f"{name}: the answer is not a JSON {kind}")
            return data
