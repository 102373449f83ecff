"""Who may see internal routes: the BOOTY_INTERNAL_TOKEN bearer, or anyone outside production."""

from __future__ import annotations

import hmac

from starlette.requests import Request

from booty.config import BootySettings


def internal_allowed(request: Request) -> bool:
    settings: BootySettings = request.state.settings
    token = settings.booty_internal_token
    if token is None:
        return not request.state.production
    given = request.headers.get("authorization", "")
    expected = f"Bearer {token.get_secret_value()}"
    return hmac.compare_digest(given.encode(), expected.encode())
