"""Log records go through the events' value scrubbing before any handler writes them.

uvicorn's access line prints the query string, and its "Exception in ASGI
application" traceback prints exception messages: both reach journald as they are.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote_plus

from middleware.scrub.keys import FILTERED

Scrub = Callable[[str], str]

_WITHHELD = "(its arguments did not format and are withheld)"
_UNSCRUBBABLE = "(a log line was withheld: it could not be scrubbed)"


class ScrubbingFilter(logging.Filter):
    """On one handler: the handler writes a scrubbed copy of each record.

    The record itself is left alone: the sdk's logging integration and other
    handlers may still read it. Before Python 3.12 a filter cannot hand a handler
    another record, so this one writes the copy itself and drops the original.
    """

    def __init__(self, handler: logging.Handler, scrub: Scrub, *, hide_clients: bool) -> None:
        super().__init__()
        self.handler = handler
        self.scrub = scrub
        self.hide_clients = hide_clients

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            copy = scrubbed_record(record, self.scrub, hide_clients=self.hide_clients)
        except Exception:
            # A bug here must neither break the caller's log call nor let the line out.
            copy = logging.makeLogRecord({**record.__dict__, "args": None, "exc_info": None})
            copy.msg, copy.exc_text, copy.stack_info = _UNSCRUBBABLE, None, None
        if sys.version_info >= (3, 12):
            return copy  # type: ignore[return-value]
        for later in self._later_filters():
            if not getattr(later, "filter", later)(copy):
                return False
        self.handler.acquire()
        try:
            self.handler.emit(copy)
        finally:
            self.handler.release()
        return False

    def _later_filters(self) -> list[Any]:
        filters = self.handler.filters
        return list(filters[filters.index(self) + 1 :]) if self in filters else []


def scrubbed_record(
    record: logging.LogRecord, scrub: Scrub, *, hide_clients: bool
) -> logging.LogRecord:
    """`hide_clients`: the client's address is personal data (send_default_pii off)."""
    copy = logging.makeLogRecord(record.__dict__)
    args = record.args
    if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
        client, method, path, version, status = args
        # Behind a trusted proxy uvicorn prints the X-Forwarded-For address here.
        client = FILTERED if hide_clients else client
        copy.args = (client, method, access_path(str(path), scrub), version, status)
    else:
        try:
            message = record.getMessage()
        except Exception:
            # logging would print the raw arguments to stderr.
            message = f"{record.msg} {_WITHHELD}"
        copy.msg, copy.args = scrub(message), None
    if record.exc_info or record.exc_text:
        text = record.exc_text
        if not text and record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
        # Without exc_info no formatter can format the traceback again, unscrubbed.
        copy.exc_info, copy.exc_text = None, scrub(text or "")
    if record.stack_info:
        copy.stack_info = scrub(record.stack_info)
    return copy


def access_path(path: str, scrub: Scrub) -> str:
    """The path scrubbed, and the query with every value filtered and its keys scanned."""
    path, mark, query = path.partition("?")
    if not mark:
        return scrub(path)
    # First whole: a secret that holds "=" or "&" would straddle a key and a value.
    query = scrub(query)
    parts = []
    for part in query.split("&"):
        key, eq, value = part.partition("=")
        name = unquote_plus(key)
        if scrub(key) != key or scrub(name) != name:
            key = FILTERED
        parts.append(f"{key}{eq}{FILTERED if value else ''}")
    return f"{scrub(path)}?{'&'.join(parts)}"


def _handlers() -> Iterator[logging.Handler]:
    seen: set[int] = set()
    loggers = [logging.getLogger()] + [
        logger
        for logger in list(logging.Logger.manager.loggerDict.values())
        if isinstance(logger, logging.Logger)
    ]
    for logger in loggers:
        for handler in list(logger.handlers):
            if id(handler) not in seen:
                seen.add(id(handler))
                yield handler


def install(scrub: Scrub, *, hide_clients: bool) -> Callable[[], None]:
    """Scrub what every handler configured now writes; return the undo."""
    installed = []
    for handler in _handlers():
        if any(isinstance(f, ScrubbingFilter) for f in handler.filters):
            continue
        scrubbing = ScrubbingFilter(handler, scrub, hide_clients=hide_clients)
        handler.addFilter(scrubbing)
        installed.append(scrubbing)

    def uninstall() -> None:
        for scrubbing in installed:
            scrubbing.handler.removeFilter(scrubbing)

    return uninstall
