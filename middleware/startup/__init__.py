"""The lifespan plugin and the sdk's initialisation: where the wings are wired together."""

from middleware.startup.lifespan import SentryLifespan, init_from_environment, init_sentry

__all__ = ["SentryLifespan", "init_from_environment", "init_sentry"]
