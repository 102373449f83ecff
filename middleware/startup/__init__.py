"""The lifespan plugin and the sdk's initialisation: where the wings are wired together."""

from middleware.startup.check import check as check_config
from middleware.startup.check import describe_config
from middleware.startup.lifespan import SentryLifespan, init_from_environment, init_sentry
from middleware.startup.options import SdkOptions

__all__ = [
    "SdkOptions",
    "SentryLifespan",
    "check_config",
    "describe_config",
    "init_from_environment",
    "init_sentry",
]
