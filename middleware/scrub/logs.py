"""Log records scrubbed where they are made, for every handler that will ever write them.

The stdlib's record factory makes every record, whoever configured the handlers
and whenever they were added (uvicorn, hypercorn, granian, Quart, the app's
own). A handler filter would miss the handlers added after startup, so the
factory hands out records whose message, traceback and stack are scrubbed when
read. `msg` and `args` stay as logged: Sentry groups logged errors by their
template, and its events are scrubbed on their own.

Server lines that name the client and the request (uvicorn's access and
WebSocket lines, hypercorn's and granian's access lines) keep what is not a
secret: the client address unless `hide_clients`, and the query's values but
those of secret-named keys and those that hold a secret.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any
from urllib.parse import unquote_plus

from middleware.scrub.keys import FILTERED, is_secret_key, normalize_key

Scrub = Callable[[str], str]

_UNSCRUBBABLE = "(a log line was withheld: it could not be scrubbed)"
# Query keys that carry a credential under a name no secret word catches (OAuth).
_QUERY_SECRET_KEYS = frozenset({"code", "key", "state", "ticket"})
_WEBSOCKET = '"WebSocket %s"'
# The access atoms that hold the client's address, per server.
_CLIENT_ATOMS = MappingProxyType(
    {"hypercorn.access": frozenset({"h"}), "granian.access": frozenset({"addr"})}
)
# Atoms that hold only a query string.
_QUERY_ATOMS = frozenset({"q", "query_string"})


@dataclass(frozen=True)
class LogPolicy:
    """What a log line keeps: `hide_clients` withholds client addresses."""

    scrub: Scrub
    hide_clients: bool = False


def query_values(query: str, scrub: Scrub) -> str:
    """The query with the values of secret-named keys, and any secret, filtered."""
    # First whole: a secret that holds "=" or "&" would straddle a key and a value.
    query = scrub(query)
    parts = []
    for part in query.split("&"):
        key, eq, value = part.partition("=")
        name = unquote_plus(key)
        if FILTERED in key or scrub(key) != key or scrub(name) != name:
            key, value = FILTERED, FILTERED if value else ""
        elif value and (
            is_secret_key(name, pii=False)
            or normalize_key(name) in _QUERY_SECRET_KEYS
            or scrub(unquote_plus(value)) != unquote_plus(value)
        ):
            value = FILTERED
        parts.append(f"{key}{eq}{value}")
    return "&".join(parts)


def request_target(target: str, scrub: Scrub) -> str:
    """A path (or URL) with its query: the path scrubbed, the query as `query_values`."""
    path, mark, query = target.partition("?")
    if not mark:
        return scrub(path)
    return f"{scrub(path)}?{query_values(query, scrub)}"


def request_text(text: str, scrub: Scrub) -> str:
    """A request line ("GET /p?q HTTP/1.1") or a header: each word with a query treated."""
    if "?" not in text:
        return scrub(text)
    return scrub(" ".join(request_target(w, scrub) if "?" in w else w for w in text.split(" ")))


class _Atoms(Mapping[str, Any]):
    """An access logger's atoms as they are read for the line: each one treated."""

    def __init__(self, atoms: Mapping[str, Any], clients: frozenset[str], policy: LogPolicy):
        self.atoms = atoms
        self.clients = clients
        self.policy = policy

    def __getitem__(self, key: str) -> Any:
        value = self.atoms[key]
        if key in self.clients:
            return FILTERED if self.policy.hide_clients and value else value
        if not isinstance(value, str):
            return value
        if key.startswith("{") and key.endswith(("}i", "}o")):
            name = key[1:-2]
            if is_secret_key(name, pii=self.policy.hide_clients):
                return FILTERED
        if key in _QUERY_ATOMS:
            return query_values(value, self.policy.scrub)
        return request_text(value, self.policy.scrub)

    def __iter__(self) -> Iterator[str]:
        return iter(self.atoms)

    def __len__(self) -> int:
        return len(self.atoms)


def server_args(name: str, msg: object, args: Any, policy: LogPolicy) -> Any:
    """The arguments of a server line that names a client and a request, treated; else None."""
    if isinstance(args, tuple):
        if name == "uvicorn.access" and len(args) == 5:
            client, method, path, version, status = args
            # Behind a trusted proxy uvicorn prints the X-Forwarded-For address here.
            client = FILTERED if policy.hide_clients else client
            return (client, method, request_target(str(path), policy.scrub), version, status)
        websocket = isinstance(msg, str) and _WEBSOCKET in msg
        if name.startswith("uvicorn.") and websocket and len(args) >= 2:
            client = FILTERED if policy.hide_clients else args[0]
            return (client, request_target(str(args[1]), policy.scrub), *args[2:])
        return None
    if isinstance(args, Mapping) and name in _CLIENT_ATOMS:
        return _Atoms(args, _CLIENT_ATOMS[name], policy)
    return None


def scrubbed_message(record: logging.LogRecord, policy: LogPolicy) -> str:
    try:
        return policy.scrub(logging.LogRecord.getMessage(record))
    except Exception:
        # A bug here, or arguments that do not format, must neither break the
        # caller's log call nor let the line out.
        return _UNSCRUBBABLE


class ScrubbedRecord(logging.LogRecord):
    """A record whose message, traceback and stack read scrubbed, whoever formats them."""

    _policy: LogPolicy

    def getMessage(self) -> str:
        memo = self.__dict__.get("_message_memo")
        if memo is not None and memo[0] is self.msg and memo[1] is self.args:
            return str(memo[2])
        policy = self.__dict__.get("_policy")
        if policy is None:
            # A copy: its text was scrubbed when it was made (__getstate__).
            return super().getMessage()
        message = scrubbed_message(self, policy)
        self.__dict__["_message_memo"] = (self.msg, self.args, message)
        return message

    # Formatters cache the traceback they print in exc_text: it is scrubbed on its
    # way in, so no formatter can print it raw.
    @property
    def exc_text(self) -> str | None:
        return self._scrubbed("exc_text")

    @exc_text.setter
    def exc_text(self, value: str | None) -> None:
        self.__dict__["exc_text"] = value

    @property
    def stack_info(self) -> str | None:
        return self._scrubbed("stack_info")

    @stack_info.setter
    def stack_info(self, value: str | None) -> None:
        self.__dict__["stack_info"] = value

    def _scrubbed(self, name: str) -> str | None:
        raw = self.__dict__.get(name)
        if raw is None:
            return None
        memo = self.__dict__.get(f"_{name}_memo")
        if memo is not None and memo[0] is raw:
            return str(memo[1])
        policy = self.__dict__.get("_policy")
        if policy is None:
            return str(raw)
        text: str
        try:
            text = policy.scrub(str(raw))
        except Exception:
            text = _UNSCRUBBABLE
        self.__dict__[f"_{name}_memo"] = (raw, text)
        return text

    def __getstate__(self) -> dict[str, Any]:
        # Copied (uvicorn's access formatter) or pickled (QueueHandler), a record
        # holds only scrubbed text, and no scrubber.
        state = {k: v for k, v in self.__dict__.items() if not k.startswith("_")}
        if self.exc_info and not self.exc_text:
            self.exc_text = logging.Formatter().formatException(self.exc_info)
        state.update(exc_info=None, exc_text=self.exc_text, stack_info=self.stack_info)
        if not self.__dict__.get("_treated"):
            state.update(msg=self.getMessage(), args=None)
        return state


class ScrubbingFactory:
    """The process's record factory while scrubbing is on: the previous one, then scrubbed."""

    def __init__(self, previous: Callable[..., logging.LogRecord], policy: LogPolicy) -> None:
        self.previous = previous
        self.policy: LogPolicy | None = policy

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.previous(*args, **kwargs)
        policy = self.policy
        if policy is None:
            return record
        if record.args:
            # Server formatters read these arguments themselves (uvicorn's access
            # formatter unpacks them), so they are treated in the record.
            treated = server_args(record.name, record.msg, record.args, policy)
            if treated is not None:
                record.args = treated
                record.__dict__["_treated"] = True
        if type(record) is logging.LogRecord or isinstance(record, ScrubbedRecord):
            record.__class__ = ScrubbedRecord
            record.__dict__["_policy"] = policy
            return record
        # A record class of the app's own: its text is replaced now, the template lost.
        record.msg, record.args = scrubbed_message(record, policy), None
        return record


def scrub_exception(exc: BaseException, policy: LogPolicy) -> None:
    """Scrub an exception's arguments, and those of its causes, in place.

    For an error on its way out of the process to code that prints it without
    logging (hypercorn's worker formats the startup traceback into its own
    exception, which multiprocessing prints). Sentry has captured it already.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        # An exception that refuses new arguments keeps its own.
        with contextlib.suppress(Exception):
            current.args = tuple(
                policy.scrub(a) if isinstance(a, str) else a for a in current.args
            )
        current = current.__cause__ or current.__context__


def current_policy() -> LogPolicy | None:
    """What the process's log records are scrubbed with now; None while scrubbing is off."""
    factory = logging.getLogRecordFactory()
    return factory.policy if isinstance(factory, ScrubbingFactory) else None


def install(policy: LogPolicy) -> Callable[[], None]:
    """Scrub every log record made from now on; return the undo."""
    factory = ScrubbingFactory(logging.getLogRecordFactory(), policy)
    logging.setLogRecordFactory(factory)

    def uninstall() -> None:
        factory.policy = None
        if logging.getLogRecordFactory() is factory:
            logging.setLogRecordFactory(factory.previous)

    return uninstall
