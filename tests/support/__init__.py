"""Helpers the tests share: a capturing transport, an envelope server, ports and waits."""

from tests.support.sentry import FAKE_DSN, CapturingTransport, EnvelopeServer, items_of
from tests.support.wait import free_port, wait_until

__all__ = [
    "FAKE_DSN",
    "CapturingTransport",
    "EnvelopeServer",
    "free_port",
    "items_of",
    "wait_until",
]
