"""While the lifespan runs, what the process's log handlers write is scrubbed like events."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from urllib.parse import quote, quote_plus

import pytest
from starlette.applications import Starlette

from middleware import SentryLifespan
from middleware.scrub.logs import ScrubbingFilter
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


async def test_the_record_itself_is_left_to_other_readers(written: io.StringIO) -> None:
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

    assert [r.getMessage() for r in seen] == [f"token {INTERNAL_TOKEN}"]
    assert written.getvalue() == f"tests.logs token {FILTERED}\n"


async def test_uvicorn_access_line_shows_the_query_with_values_filtered(
    written: io.StringIO,
) -> None:
    logger = logging.getLogger("tests.logs")
    query = f"token=SECRETVALUE123&page=2&{quote_plus(INTERNAL_TOKEN)}=1&email={quote(EMAIL)}"
    path = f"/internal/sentry-test?{query}"
    async with running(app()):
        record = logger.makeRecord(
            "uvicorn.access",
            logging.INFO,
            __file__,
            1,
            '%s - "%s %s HTTP/%s" %d',
            ("127.0.0.1:5000", "GET", path, "1.1", 500),
            None,
        )
        logger.handle(record)

    assert written.getvalue() == (
        f"uvicorn.access {FILTERED} - "
        f'"GET /internal/sentry-test?token={FILTERED}&page={FILTERED}&{FILTERED}={FILTERED}'
        f'&email={FILTERED} HTTP/1.1" 500\n'
    )


async def test_the_filter_is_removed_when_the_lifespan_ends(written: io.StringIO) -> None:
    [handler] = [
        h
        for h in logging.getLogger("tests.logs").handlers
        if isinstance(h, logging.StreamHandler) and h.stream is written
    ]
    async with running(app()):
        assert any(isinstance(f, ScrubbingFilter) for f in handler.filters)

    assert not any(isinstance(f, ScrubbingFilter) for f in handler.filters)


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
