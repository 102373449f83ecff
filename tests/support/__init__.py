"""Helpers the tests share: a capturing transport, an envelope server, ports and waits."""

from tests.support.asgi import AsgiClient, app_with, running, websocket_scope
from tests.support.processes import run_python
from tests.support.properties import examples
from tests.support.sentry import (
    FAKE_DSN,
    CapturingTransport,
    EnvelopeServer,
    SentryInit,
    items_of,
)
from tests.support.trace import INCOMING, PARENT_SPAN_ID, TRACE_ID
from tests.support.wait import answers, free_port, wait_until

__all__ = [
    "FAKE_DSN",
    "INCOMING",
    "PARENT_SPAN_ID",
    "TRACE_ID",
    "AsgiClient",
    "CapturingTransport",
    "EnvelopeServer",
    "SentryInit",
    "answers",
    "app_with",
    "examples",
    "free_port",
    "items_of",
    "run_python",
    "running",
    "wait_until",
    "websocket_scope",
]
