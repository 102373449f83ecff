"""Logging for `booty serve` and a plain `uvicorn booty.main:app` alike.

uvicorn configures only its own loggers, so without this the lifespan's
warnings (and the "Sentry disabled" line) would never reach the operator.
"""

from __future__ import annotations

import copy
import logging
import sys
from typing import Any, TextIO

from middleware import RequestIdFilter

FORMAT = "%(asctime)s %(levelname)s %(name)s [request_id=%(request_id)s] %(message)s"


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever sys.stderr is at the time of the record."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def configure_logging() -> None:
    root = logging.getLogger()
    if not any(isinstance(h, _StderrHandler) for h in root.handlers):
        handler = _StderrHandler()
        handler.addFilter(RequestIdFilter())
        handler.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(handler)
    for name in ("booty", "middleware"):
        named = logging.getLogger(name)
        if named.level == logging.NOTSET:
            named.setLevel(logging.INFO)


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's own logging, with the request id at the end of each access line."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["access"]["fmt"] += " [request_id=%(request_id)s]"
    config.setdefault("filters", {})["request_id"] = {"()": RequestIdFilter}
    config["handlers"]["access"]["filters"] = ["request_id"]
    return config
