"""One isolated Sentry scope per background job, for any worker loop.

The shape of sentry-sdk's own arq/celery integrations, as a context manager
instead of a patch: fork an isolation scope, clear breadcrumbs, start a new
trace or continue the enqueuing request's, tag, attach job data lazily,
capture once, then re-raise or swallow.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import sentry_sdk
from sentry_sdk.types import Event, Hint

from middleware._sdk import Span, has_tracing_enabled, start_trace
from middleware.capture import capture_failure, flush_deferred_logs
from middleware.context import RequestState, _current

logger = logging.getLogger("middleware.jobs")

MECHANISM = "job"
OP = "queue.task"


@dataclass(eq=False)
class JobScope:
    job_id: str
    kind: str
    mechanism: str = MECHANISM
    error: BaseException | None = None
    event_id: str | None = None
    # When the failure sent no event: why, in plain words (Sentry off, the storm
    # ceiling, the sample rate), for messages that would otherwise name the event.
    not_sent: str | None = None
    _captured: bool = field(default=False, repr=False)

    def capture(self, exc: BaseException) -> str | None:
        """Capture the job's failure once; later calls return the first event id.

        A job handler calls this itself when it must know the event id before the
        job ends (to report it); the scope then does not capture `exc` again.
        """
        if self._captured:
            if exc is not self.error:
                logger.warning(
                    "job %s: %s after the job already failed", self.job_id, type(exc).__name__
                )
            return self.event_id
        self._captured = True
        self.error = exc
        captured = capture_failure(exc, self.mechanism)
        self.event_id, self.not_sent = captured.event_id, captured.not_sent
        return self.event_id


def trace_headers() -> dict[str, str]:
    """The current trace as headers, to store with a job when it is queued."""
    headers: dict[str, str] = {}
    traceparent = sentry_sdk.get_traceparent()
    if traceparent:
        headers["sentry-trace"] = traceparent
        baggage = sentry_sdk.get_baggage()
        if baggage:
            headers["baggage"] = baggage
    return headers


def span(op: str, name: str) -> AbstractContextManager[Span | None]:
    """A child span of the current span, or nothing when no sampled span is running.

    `sentry_sdk.start_span` builds a span object even without a transaction;
    this keeps the call near free when tracing is off or the trace unsampled.
    """
    parent = sentry_sdk.get_current_span()
    if parent is None or not parent.sampled:
        return nullcontext(None)
    return sentry_sdk.start_span(op=op, name=name)


@contextmanager
def job_scope(
    kind: str,
    job_id: str,
    *,
    request_id: str | None = None,
    trace: Mapping[str, str] | None = None,
    tags: Mapping[str, object] | None = None,
    data: Callable[[], Mapping[str, Any]] | None = None,
    mechanism: str = MECHANISM,
    reraise: bool = True,
    drop_local_variables: bool = False,
) -> Iterator[JobScope]:
    """Run one job in its own scope; see the module docstring.

    `request_id` is the X-Request-ID of the request that queued the job: it is
    tagged, shown in logs and sent on outbound calls. `trace` holds the
    `sentry-trace` and `baggage` stored when the job was queued. `data` is
    called only when an event is built. `drop_local_variables` removes the
    frames' local variables from the job's events, for jobs whose variables
    hold content that must not leave the process (user text, LLM prompts).
    """
    job = JobScope(job_id, kind, mechanism)
    state = RequestState(request_id or job_id, job_id=job_id)
    with ExitStack() as stack:
        stack.callback(_current.reset, _current.set(state))
        scope = stack.enter_context(sentry_sdk.isolation_scope())
        scope.clear_breadcrumbs()
        scope.set_tag("job_id", job_id)
        scope.set_tag("job_kind", kind)
        if request_id is not None:
            scope.set_tag("request_id", request_id)
        for key, value in (tags or {}).items():
            if value is not None:
                scope.set_tag(key, str(value))
        scope.add_event_processor(_job_context(job, data))
        if drop_local_variables:
            scope.add_event_processor(_drop_local_variables)
        start_trace(scope, trace)
        transaction = stack.enter_context(_transaction(kind, trace))
        try:
            yield job
        except Exception as exc:
            job.capture(exc)
            if reraise:
                raise
        finally:
            flush_deferred_logs(state, job.error)
        # An exception that propagates sets the status itself, on the way out.
        if transaction is not None:
            transaction.set_status("internal_error" if job.error else "ok")


def _transaction(kind: str, trace: Mapping[str, str] | None) -> AbstractContextManager[Any]:
    if not has_tracing_enabled(sentry_sdk.get_client().options):
        return nullcontext(None)
    transaction = sentry_sdk.continue_trace(dict(trace or {}), op=OP, name=kind, source="task")
    return sentry_sdk.start_transaction(transaction)


def _job_context(
    job: JobScope, data: Callable[[], Mapping[str, Any]] | None
) -> Callable[[Event, Hint], Event]:
    def processor(event: Event, hint: Hint) -> Event:
        context: dict[str, Any] = {"id": job.job_id, "kind": job.kind}
        if data is not None:
            context.update(data())
        event.setdefault("contexts", {}).setdefault("job", context)
        return event

    return processor


def _drop_local_variables(event: Event, hint: Hint) -> Event:
    for kind in ("exception", "threads"):
        container: dict[str, Any] = event.get(kind) or {}  # type: ignore[assignment]
        for value in container.get("values", []):
            for frame in (value.get("stacktrace") or {}).get("frames", []):
                frame.pop("vars", None)
    return event
