"""Events and log lines with secrets and personal data filtered, as Sentry's server would."""

from middleware.scrub import logs as log_scrubbing
from middleware.scrub.keys import FILTERED, is_secret_key
from middleware.scrub.logs import LogPolicy, current_policy, scrub_exception, server_args
from middleware.scrub.scrubber import Scrubber
from middleware.scrub.secrets import TextScrubber

__all__ = [
    "FILTERED",
    "LogPolicy",
    "Scrubber",
    "TextScrubber",
    "current_policy",
    "is_secret_key",
    "log_scrubbing",
    "scrub_exception",
    "server_args",
]
