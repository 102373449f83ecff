"""What every app of the compat matrix shares."""

from __future__ import annotations

import os

from middleware import init_from_environment


def init_without_lifespan() -> None:
    """The daphne recipe: daphne runs no lifespan, so Sentry starts at import."""
    if os.environ.get("COMPAT_INIT_AT_IMPORT") == "1":
        init_from_environment()
