"""One isolated scope per background job, and the worker as a cron monitor."""

from middleware.jobs.crons import WorkerMonitor
from middleware.jobs.scope import JobScope, job_scope, span, trace_headers

__all__ = ["JobScope", "WorkerMonitor", "job_scope", "span", "trace_headers"]
