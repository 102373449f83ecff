"""The request ID of the current request or job, and the user/tenant context API."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from contextvars import ContextVar

import sentry_sdk

logger = logging.getLogger("middleware.context")

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_TAG_VALUE_MAX = 200


class RequestState:
    """What the request layer (or a job's scope) keeps for the request it is in."""

    __slots__ = ("captured", "deferred_logs", "job_id", "request_id")

    def __init__(self, request_id: str, job_id: str | None = None) -> None:
        self.request_id = request_id
        # Set inside a job; request_id is then the queuing request's id, or the job's own.
        self.job_id = job_id
        # Error log records held back until the request ends, each with the
        # handler's send (see capture/deferred.py); None once it has ended, so
        # that a task outliving it logs straight through.
        self.deferred_logs: (
            list[tuple[Callable[[logging.LogRecord], None], logging.LogRecord]] | None
        ) = []
        # Errors already captured in this request (by the request layer, or by
        # capture_error() for a framework that answers itself): neither a second
        # capture nor a log record of the same exception object is sent.
        self.captured: list[BaseException] = []


_current: ContextVar[RequestState | None] = ContextVar("request_state", default=None)


def current_state() -> RequestState | None:
    return _current.get()


def get_request_id() -> str | None:
    """The X-Request-ID of the request (or the job's originating request), if any."""
    state = _current.get()
    return None if state is None else state.request_id


def is_valid_request_id(value: str) -> bool:
    """UUIDs, nginx $request_id, OpenTelemetry ids: 1-128 of [A-Za-z0-9._:-]."""
    return _REQUEST_ID.fullmatch(value) is not None


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record ("-" outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        state = _current.get()
        record.request_id = "-" if state is None else state.request_id
        return True


def _tag_value(name: str, value: object) -> str | None:
    if value is None:
        return None
    text = str(value)
    if not text or len(text) > _TAG_VALUE_MAX or "\n" in text or "\r" in text:
        logger.warning(
            "%s dropped: a tag value must be 1 to %d characters without a newline",
            name,
            _TAG_VALUE_MAX,
        )
        return None
    return text


def set_user_context(*, user_id: object = None, tenant_id: object = None) -> None:
    """Attach a user id and a tenant id to the current request's (or job's) scope.

    Values that break Sentry's tag limits are dropped with a warning; this never raises.
    """
    user = _tag_value("user_id", user_id)
    tenant = _tag_value("tenant_id", tenant_id)
    scope = sentry_sdk.get_isolation_scope()
    if not scope.get_client().is_active():
        # Sentry off, a request forks no scope: this one outlives the request.
        return
    if user is not None or tenant is not None:
        data = {"id": user} if user is not None else {}
        if tenant is not None:
            data["tenant_id"] = tenant
        scope.set_user(data)
    if tenant is not None:
        scope.set_tag("tenant_id", tenant)
