"""`POST /webhooks/github` queues jobs; `GET /jobs/{job_id}` reports on them."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.types import Receive, Scope, Send

from booty.config import BootySettings
from booty.internal import internal_allowed
from booty.queue import Job, Queue, is_job_id
from booty.worker import Worker
from middleware import get_request_id, trace_headers

router = APIRouter()

PIPELINE_ACTIONS = frozenset({"opened", "reopened", "labeled"})
VERIFIER_ACTIONS = frozenset({"opened", "reopened", "synchronize"})
# The repository name and the sha go into GitHub API paths.
REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
SHA = re.compile(r"[0-9a-fA-F]{7,64}")
DELIVERY_MAX = 200


class BadPayload(Exception):
    pass


class LimitedRoute(APIRoute):
    """A route whose body limit comes from the settings, known only once the lifespan ran.

    The limit is Starlette's own RequestBodyLimitMiddleware: 413 at once for a
    Content-Length over it, and as soon as a streamed body crosses it.
    """

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        settings: BootySettings = scope["state"]["settings"]
        limited = RequestBodyLimitMiddleware(
            super().handle, max_body_size=settings.booty_max_webhook_bytes
        )
        await limited(scope, receive, send)


async def github_webhook(request: Request) -> JSONResponse:
    settings: BootySettings = request.state.settings
    if settings.github_webhook_secret is None:
        return _answer(503, detail="GITHUB_WEBHOOK_SECRET is not set")
    secret = settings.github_webhook_secret.get_secret_value().encode()
    signature = request.headers.get("x-hub-signature-256")
    body, digest = await _read(request, secret, keep=signature is not None)
    if signature is None or not _signed(digest, signature):
        return _answer(401, detail="missing or invalid X-Hub-Signature-256")
    event = request.headers.get("x-github-event", "")
    if event == "ping":
        return _answer(200, ok=True)
    try:
        job = _job(event, _json(body))
    except BadPayload as exc:
        return _answer(400, detail=str(exc))
    if job is None:
        return _answer(202, job_id=None)
    queue: Queue = request.state.queue
    delivery = request.headers.get("x-github-delivery") or None
    if delivery is not None and len(delivery) > DELIVERY_MAX:
        return _answer(400, detail=f"X-GitHub-Delivery is longer than {DELIVERY_MAX} characters")
    job_id, created = await queue.enqueue(
        job[0],
        job[1],
        delivery_id=delivery,
        body_sha=hashlib.sha256(body).hexdigest(),
        request_id=get_request_id(),
        trace=trace_headers(),
    )
    if created:
        worker: Worker = request.state.worker
        worker.notify()
    return _answer(202, job_id=job_id)


router.add_api_route(
    "/webhooks/github", github_webhook, methods=["POST"], route_class_override=LimitedRoute
)


@router.get("/jobs/{job_id}")
async def get_job(request: Request, job_id: str) -> JSONResponse:
    # Job ids are posted in public comments: in production the job needs the token.
    if not internal_allowed(request):
        return _answer(404, detail="no such job")
    # An id no job can have (a NUL, which PostgreSQL refuses) never reaches the database.
    if not is_job_id(job_id):
        return _answer(404, detail="no such job")
    queue: Queue = request.state.queue
    job = await queue.get(job_id)
    if job is None:
        return _answer(404, detail="no such job")
    return JSONResponse(_public(job))


def _public(job: Job) -> dict[str, Any]:
    """A job as GET /jobs shows it: no trace headers, no error text."""
    return {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "attempts": job.attempts,
        "event_id": job.event_id,
        "error": job.error,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
        **job.payload,
    }


def _answer(status: int, **content: Any) -> JSONResponse:
    return JSONResponse(content, status_code=status)


async def _read(request: Request, secret: bytes, *, keep: bool) -> tuple[bytearray, str]:
    """The body (kept only when it is signed at all) and its HMAC, read chunk by chunk.

    An unsigned body is hashed and dropped as it streams in, so that it costs no
    memory however long it runs before the limit stops it.
    """
    mac = hmac.new(secret, digestmod=hashlib.sha256)
    # One buffer that grows: joining a list of chunks would hold the body twice.
    body = bytearray()
    async for chunk in request.stream():
        mac.update(chunk)
        if keep:
            body += chunk
    return body, "sha256=" + mac.hexdigest()


def _signed(expected: str, header: str) -> bool:
    return hmac.compare_digest(expected.encode(), header.encode("latin-1"))


def _json(body: bytes | bytearray) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        # RecursionError: nesting deeper than the parser's stack (3,000 `[`).
        raise BadPayload("the body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise BadPayload("the body is not a JSON object")
    return payload


def _field(payload: dict[str, Any], path: str, kind: type) -> Any:
    value: Any = payload
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            raise BadPayload(f"missing field: {path}")
        value = value[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise BadPayload(f"invalid field: {path} must be a {kind.__name__}")
    return value


def _matching(payload: dict[str, Any], path: str, pattern: re.Pattern[str]) -> str:
    value: str = _field(payload, path, str)
    if not pattern.fullmatch(value):
        raise BadPayload(f"invalid field: {path}")
    return value


def _repository(payload: dict[str, Any]) -> str:
    name = _matching(payload, "repository.full_name", REPOSITORY)
    # `..` would walk the API path: /repos/../../user is /user.
    if any(part in (".", "..") for part in name.split("/")):
        raise BadPayload("invalid field: repository.full_name")
    return name


def _job(event: str, payload: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    if event == "issues":
        if _field(payload, "action", str) not in PIPELINE_ACTIONS:
            return None
        return "pipeline", {
            "repository": _repository(payload),
            "issue_number": _field(payload, "issue.number", int),
        }
    if event == "pull_request":
        if _field(payload, "action", str) not in VERIFIER_ACTIONS:
            return None
        return "verifier", {
            "repository": _repository(payload),
            "pr_number": _field(payload, "pull_request.number", int),
            "head_sha": _matching(payload, "pull_request.head.sha", SHA),
        }
    return None
