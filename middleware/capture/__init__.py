"""Capture of unhandled errors: exactly once, bounded by the storm guard."""

from middleware.capture import storm
from middleware.capture.deferred import (
    DeferringEventHandler,
    flush_deferred_logs,
    logging_integration,
)
from middleware.capture.exceptions import capture_error, capture_failure, capture_unhandled
from middleware.capture.stack import FrameTemplates
from middleware.capture.storm import StormGuard

__all__ = [
    "DeferringEventHandler",
    "FrameTemplates",
    "StormGuard",
    "capture_error",
    "capture_failure",
    "capture_unhandled",
    "flush_deferred_logs",
    "logging_integration",
    "storm",
]
