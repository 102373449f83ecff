"""One monitor check-in, or one run from its in-progress check-in to its last."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from sentry_sdk.crons import capture_checkin
from sentry_sdk.types import MonitorConfig

from middleware._sdk import capture_internal_exceptions


def minutes(seconds: float) -> int:
    """Whole minutes, the smallest unit of a Sentry schedule."""
    return max(1, math.ceil(seconds / 60))


def monitor_config(
    every: float, *, checkin_margin: int, max_runtime: int | None = None
) -> MonitorConfig:
    """An interval schedule; without max_runtime Sentry's own default (30 minutes) holds."""
    config: MonitorConfig = {
        "schedule": {"type": "interval", "value": minutes(every), "unit": "minute"},
        "checkin_margin": checkin_margin,
    }
    if max_runtime is not None:
        config["max_runtime"] = max_runtime
    return config


def send_checkin(
    slug: str,
    status: str,
    *,
    check_in_id: str | None = None,
    duration: float | None = None,
    config: MonitorConfig | None = None,
) -> str | None:
    with capture_internal_exceptions():
        return capture_checkin(
            monitor_slug=slug,
            check_in_id=check_in_id,
            status=status,
            duration=duration,
            monitor_config=config,
        )
    return None


@dataclass
class Run:
    slug: str
    check_in_id: str | None
    started: float

    def close(self, status: str) -> None:
        send_checkin(
            self.slug,
            status,
            check_in_id=self.check_in_id,
            duration=time.monotonic() - self.started,
        )
