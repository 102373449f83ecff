"""Events and log lines with secrets and personal data filtered, as Sentry's server would."""

from middleware.scrub import logs as log_scrubbing
from middleware.scrub.keys import FILTERED
from middleware.scrub.logs import LogPolicy, server_args
from middleware.scrub.scrubber import Scrubber
from middleware.scrub.secrets import TextScrubber

__all__ = ["FILTERED", "LogPolicy", "Scrubber", "TextScrubber", "log_scrubbing", "server_args"]
