"""Delivery that loses nothing: envelopes in a spool on disk, sent concurrently."""

from middleware.delivery.spool import Spool, SpoolStatus, spool_status
from middleware.delivery.transport import (
    SpoolTransport,
    spool_problem,
    spool_transport,
    transport_from_settings,
)

__all__ = [
    "Spool",
    "SpoolStatus",
    "SpoolTransport",
    "spool_problem",
    "spool_status",
    "spool_transport",
    "transport_from_settings",
]
