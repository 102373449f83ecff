"""A structlog processor that adds the request and job ids, as RequestIdFilter does.

structlog stays optional: a processor is a plain callable, so nothing here imports it.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from middleware.context import current_state


def add_request_ids(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """`request_id` and `job_id`, "-" outside a request or job; values bound by hand win."""
    state = current_state()
    event_dict.setdefault("request_id", "-" if state is None else state.request_id)
    job_id = None if state is None else state.job_id
    event_dict.setdefault("job_id", "-" if job_id is None else job_id)
    return event_dict
