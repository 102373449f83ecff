"""structlog processors: the request and job ids, as RequestIdFilter adds them, and scrubbing.

structlog stays optional: a processor is a plain callable, so nothing here imports it.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from middleware.context import current_state
from middleware.scrub import FILTERED, TextScrubber, current_policy, is_secret_key

# Nesting deeper than this is filtered whole rather than walked.
_MAX_DEPTH = 20


def add_request_ids(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """`request_id` and `job_id`, "-" outside a request or job; values bound by hand win."""
    state = current_state()
    event_dict.setdefault("request_id", "-" if state is None else state.request_id)
    job_id = None if state is None else state.job_id
    event_dict.setdefault("job_id", "-" if job_id is None else job_id)
    return event_dict


def scrub_secrets(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Scrub the event dict as stdlib log lines are: last before the renderer.

    It runs after `format_exc_info`, so the rendered traceback is scrubbed too.
    Values of secret-named keys are filtered; any string holding a configured
    secret or a secret's shape is scrubbed. Without a running SentryLifespan
    (or init_from_environment) only the shapes are known.
    """
    policy = current_policy()
    scrub = policy.scrub if policy is not None else TextScrubber()
    for key in list(event_dict):
        value = event_dict[key]
        if isinstance(key, str) and is_secret_key(key, pii=False):
            event_dict[key] = FILTERED
        else:
            event_dict[key] = _scrubbed(value, scrub, 0)
    return event_dict


def _scrubbed(value: Any, scrub: Any, depth: int) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    if depth >= _MAX_DEPTH:
        return FILTERED
    if isinstance(value, dict):
        return {
            k: FILTERED
            if isinstance(k, str) and is_secret_key(k, pii=False)
            else _scrubbed(v, scrub, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_scrubbed(v, scrub, depth + 1) for v in value]
    # Whatever else the renderer would print with str() or repr().
    return scrub(repr(value)) if not isinstance(value, BaseException) else scrub(str(value))
