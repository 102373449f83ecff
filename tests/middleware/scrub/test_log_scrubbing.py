"""While the lifespan runs, what the process's log handlers write is scrubbed like events."""

from __future__ import annotations

import copy
import io
import logging
import pickle
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from logging.handlers import QueueHandler
from queue import SimpleQueue
from urllib.parse import quote, quote_plus

import pytest
from starlette.applications import Starlette

from middleware import SentryLifespan
from tests.support import running
from tests.support.corpus import CORPUS, EMAIL, INTERNAL_TOKEN, SECRET_ENV_VALUES

FILTERED = "[Filtered]"


@pytest.fixture
def written(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """A handler configured before the lifespan starts, as uvicorn's and booty's are."""
    for name, value in SECRET_ENV_VALUES.items():
        monkeypatch.setenv(name, value)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    logger = logging.getLogger("tests.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield stream
    logger.removeHandler(handler)
    logger.propagate = True


def app() -> Starlette:
    return Starlette(lifespan=SentryLifespan(secret_env=tuple(SECRET_ENV_VALUES)))


async def test_messages_arguments_and_tracebacks_are_scrubbed(written: io.StringIO) -> None:
    logger = logging.getLogger("tests.logs")
    async with running(app()):
        for planted in CORPUS:
            logger.info("rejected %s", planted.text)
            try:
                raise RuntimeError(f"bad value {planted.text}")
            except RuntimeError:
                logger.exception("failed")

    output = written.getvalue()
    assert output.count("Traceback (most recent call last)") == len(CORPUS)
    assert output.count(f"RuntimeError: bad value {FILTERED}") >= len(CORPUS) - 2
    for planted in CORPUS:
        for needle in planted.all_needles:
            assert needle not in output, planted.name


async def test_a_handler_added_after_startup_writes_scrubbed_lines(
    written: io.StringIO,
) -> None:
    stream = io.StringIO()
    late = logging.StreamHandler(stream)
    late.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("tests.logs")
    async with running(app()):
        logger.addHandler(late)
        logger.warning("token %s", INTERNAL_TOKEN)
        try:
            raise RuntimeError(f"refused {INTERNAL_TOKEN}")
        except RuntimeError:
            logger.exception("failed", stack_info=True)
        logger.removeHandler(late)

    assert INTERNAL_TOKEN not in stream.getvalue()
    assert f"token {FILTERED}" in stream.getvalue()
    assert f"RuntimeError: refused {FILTERED}" in stream.getvalue()


async def test_the_template_and_arguments_stay_for_grouping(written: io.StringIO) -> None:
    seen: list[logging.LogRecord] = []
    logger = logging.getLogger("tests.logs")

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    keep = Keep()
    async with running(app()):
        logger.addHandler(keep)
        logger.warning("token %s", INTERNAL_TOKEN)
        logger.removeHandler(keep)

    [record] = seen
    assert (record.msg, record.args) == ("token %s", (INTERNAL_TOKEN,))
    assert record.getMessage() == f"token {FILTERED}"
    assert written.getvalue() == f"tests.logs token {FILTERED}\n"


async def test_a_copied_or_queued_record_holds_only_scrubbed_text(written: io.StringIO) -> None:
    queue: SimpleQueue[logging.LogRecord] = SimpleQueue()
    handler = QueueHandler(queue)
    logger = logging.getLogger("tests.logs")
    async with running(app()):
        logger.addHandler(handler)
        try:
            raise RuntimeError(f"refused {INTERNAL_TOKEN}")
        except RuntimeError:
            logger.exception("token %s", INTERNAL_TOKEN)
        record = logging.makeLogRecord({"msg": "token %s", "args": (INTERNAL_TOKEN,)})
        copied = copy.copy(record)
        logger.removeHandler(handler)

    queued = queue.get_nowait()
    assert INTERNAL_TOKEN not in pickle.dumps(queued).decode("latin-1")
    assert f"RuntimeError: refused {FILTERED}" in queued.getMessage()
    assert INTERNAL_TOKEN not in pickle.dumps(copied).decode("latin-1")
    assert copied.getMessage() == f"token {FILTERED}"


def access_record(path: str) -> logging.LogRecord:
    return logging.getLogger("uvicorn.access").makeRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", path, "1.1", 500),
        None,
    )


def websocket_record(path: str) -> logging.LogRecord:
    return logging.getLogger("uvicorn.error").makeRecord(
        "uvicorn.error",
        logging.INFO,
        __file__,
        1,
        '%s - "WebSocket %s" %d',
        ("127.0.0.77:46011", path, 403),
        None,
    )


QUERY = f"token=SECRETVALUE123&page=2&{quote_plus(INTERNAL_TOKEN)}=1&email={quote(EMAIL)}"
QUERY_KEPT = f"token={FILTERED}&page=2&{FILTERED}={FILTERED}&email={FILTERED}"


async def test_uvicorn_access_line_keeps_what_is_no_secret(written: io.StringIO) -> None:
    logger = logging.getLogger("tests.logs")
    async with running(app()):
        logger.handle(access_record(f"/internal/sentry-test?{QUERY}&code=oauth123"))

    assert written.getvalue() == (
        f'uvicorn.access 127.0.0.1:5000 - "GET /internal/sentry-test?{QUERY_KEPT}'
        f'&code={FILTERED} HTTP/1.1" 500\n'
    )


async def test_the_client_address_is_hidden_when_local_logs_say_so(
    written: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTRY_LOCAL_LOGS_CLIENT_ADDRESS", "false")
    logger = logging.getLogger("tests.logs")
    async with running(app()):
        logger.handle(access_record("/a?page=2"))
        logger.handle(websocket_record("/ws?page=3"))

    assert written.getvalue().splitlines() == [
        f'uvicorn.access {FILTERED} - "GET /a?page=2 HTTP/1.1" 500',
        f'uvicorn.error {FILTERED} - "WebSocket /ws?page=3" 403',
    ]


async def test_uvicorn_websocket_line_is_treated_as_the_access_line(
    written: io.StringIO,
) -> None:
    logger = logging.getLogger("tests.logs")
    async with running(app()):
        logger.handle(websocket_record(f"/ws?code=oauthcode123&{QUERY}"))

    assert written.getvalue() == (
        f'uvicorn.error 127.0.0.77:46011 - "WebSocket /ws?code={FILTERED}&{QUERY_KEPT}" 403\n'
    )


@pytest.mark.parametrize(
    ("server", "fmt", "atoms"),
    [
        (
            "hypercorn.access",
            '%(h)s "%(R)s" %(s)s "%(f)s" %(q)s %({authorization}i)s',
            {
                "h": "127.0.0.1:5000",
                "R": f"GET /a?{QUERY} 1.1",
                "s": "200",
                "f": f"https://example.org/p?{QUERY}",
                "q": QUERY,
                "{authorization}i": f"Bearer {INTERNAL_TOKEN}",
            },
        ),
        (
            "granian.access",
            '%(addr)s "%(method)s %(path)s?%(query_string)s" %(status)d',
            {
                "addr": "127.0.0.1",
                "method": "GET",
                "path": "/a",
                "query_string": QUERY,
                "status": 200,
            },
        ),
    ],
)
async def test_hypercorn_and_granian_access_lines_keep_what_is_no_secret(
    written: io.StringIO, server: str, fmt: str, atoms: dict[str, object]
) -> None:
    logger = logging.getLogger("tests.logs")
    async with running(app()):
        logger.handle(logger.makeRecord(server, logging.INFO, __file__, 1, fmt, (atoms,), None))

    line = written.getvalue()
    assert INTERNAL_TOKEN not in line and "SECRETVALUE123" not in line and EMAIL not in line
    assert "127.0.0.1" in line
    assert line.count(QUERY_KEPT) == (3 if server == "hypercorn.access" else 1)


async def test_scrubbing_ends_with_a_clean_shutdown_only(written: io.StringIO) -> None:
    logger = logging.getLogger("tests.logs")
    async with running(app()):
        pass
    logger.info("token %s", INTERNAL_TOKEN)
    assert INTERNAL_TOKEN in written.getvalue()

    @asynccontextmanager
    async def failing(app: Starlette) -> AsyncIterator[None]:
        raise RuntimeError("startup failed")
        yield

    broken = Starlette(lifespan=SentryLifespan(failing, secret_env=tuple(SECRET_ENV_VALUES)))
    with pytest.raises(RuntimeError):
        async with running(broken):
            pass
    # The server logs the startup traceback after the lifespan has ended.
    logger.info("token %s", INTERNAL_TOKEN)
    assert written.getvalue().splitlines()[-1] == f"tests.logs token {FILTERED}"


async def test_a_line_that_cannot_be_scrubbed_is_withheld_not_raised(
    written: io.StringIO,
) -> None:
    class Broken:
        def __str__(self) -> str:
            raise RuntimeError(INTERNAL_TOKEN)

    logger = logging.getLogger("tests.logs")
    async with running(app()):
        logger.info("value %s", Broken())
        logger.info(Broken())

    output = written.getvalue()
    assert INTERNAL_TOKEN not in output
    assert (
        output.splitlines()[-1] == "tests.logs (a log line was withheld: it could not be scrubbed)"
    )
