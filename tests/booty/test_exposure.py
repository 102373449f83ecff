"""What booty shows a caller who has no business asking."""

from __future__ import annotations

import pytest

from booty.main import create_app
from tests.support import CapturingTransport, running

API_MAP = ("/docs", "/redoc", "/openapi.json")


@pytest.mark.parametrize("path", API_MAP)
async def test_production_publishes_no_api_map(
    monkeypatch: pytest.MonkeyPatch, capture: CapturingTransport, path: str
) -> None:
    monkeypatch.setenv("SENTRY_ENVIRONMENT", "production")
    monkeypatch.setenv("BOOTY_INTERNAL_TOKEN", "internal-token-0123456789")
    async with running(create_app(sentry_transport=capture)) as client:
        response = await client.get(path)
    assert response.status_code == 404


@pytest.mark.parametrize("path", API_MAP)
async def test_development_keeps_the_api_map(path: str) -> None:
    async with running(create_app()) as client:
        response = await client.get(path)
    assert response.status_code == 200


@pytest.mark.parametrize(
    "path", ["/internal/sentry-test/", "/internal/", "/internal/unknown", "/health/"]
)
@pytest.mark.parametrize("environment", ["production", "development"])
async def test_unknown_internal_paths_answer_404_never_a_redirect(
    monkeypatch: pytest.MonkeyPatch, capture: CapturingTransport, path: str, environment: str
) -> None:
    monkeypatch.setenv("SENTRY_ENVIRONMENT", environment)
    monkeypatch.setenv("BOOTY_INTERNAL_TOKEN", "internal-token-0123456789")
    async with running(create_app(sentry_transport=capture)) as client:
        response = await client.get(path)
    assert response.status_code == 404
    assert "location" not in response.headers
