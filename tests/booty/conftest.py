from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import respx

from tests.booty.postgres import Cluster, cluster
from tests.booty.queues import Store
from tests.booty.support import FakeApis, configure


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


@pytest.fixture
def apis(router: respx.MockRouter, monkeypatch: pytest.MonkeyPatch) -> FakeApis:
    """Booty configured against fake GitHub and LLM APIs that answer successfully."""
    configure(monkeypatch)
    return FakeApis(router)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    """One throwaway cluster for the session; each test makes its own database."""
    with cluster() as found:
        yield found


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """A fresh queue store on each backend; its queues are closed after the test."""
    if request.param == "sqlite":
        found = Store("sqlite", str(tmp_path / "q.db"))
    else:
        postgres: Cluster = request.getfixturevalue("postgres")
        found = Store("postgresql", postgres.create_database())
    yield found
    for queue in found.opened:
        await queue.close()
