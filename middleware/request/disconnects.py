"""A client going away is no error: no event, and no traceback in the server's log."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from starlette.requests import ClientDisconnect
from starlette.websockets import WebSocketDisconnect

# A client that closes a WebSocket normally (1000) or goes away (1001, a tab
# closed) is no error; any other code (1006 abnormal, 1011 server error) is.
NORMAL_CLOSE_CODES = frozenset({1000, 1001})


def client_went_away(exc: BaseException) -> bool:
    """Whether `exc` only says the client hung up.

    Starlette raises ClientDisconnect when the client leaves while the app reads
    the body (a webhook cut halfway), and WebSocketDisconnect when a socket
    closes; an unauthenticated client can raise either at will.
    """
    if isinstance(exc, ClientDisconnect):
        return True
    return isinstance(exc, WebSocketDisconnect) and exc.code in NORMAL_CLOSE_CODES


class QuietDisconnects(logging.Filter):
    """Drops a server's "Exception in ASGI application" record about a client going away.

    The request layer re-raises the disconnect, as Starlette does (a test client
    still sees it), so the server logs it with its traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.exc_info and record.exc_info[1] and client_went_away(record.exc_info[1])
        )


def quiet_disconnects(logger_names: Iterable[str]) -> Callable[[], None]:
    """Add the filter to the servers' error loggers; return the undo."""
    quiet = QuietDisconnects()
    loggers = [logging.getLogger(name) for name in logger_names]
    for logger in loggers:
        logger.addFilter(quiet)

    def undo() -> None:
        for logger in loggers:
            logger.removeFilter(quiet)

    return undo
