"""Sentry logs: stdlib log records in Sentry's logs product (SENTRY_ENABLE_LOGS).

The sdk's LoggingIntegration turns each record of INFO and above into a log
item. Each item gets the request's and the job's ids, then goes through the
scrubber events go through: the sdk has no scrubbing of its own for logs, so a
log is laid onto the parts of an event that Sentry's server treats the same way
(body and template as the message, parameters as its params, the record's extra
fields as `extra`, the sdk's own metadata as tags, user attributes as the
user), scrubbed as an event, and read back.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, cast

from sentry_sdk.integrations.logging import ignore_logger_for_sentry_logs
from sentry_sdk.types import Event, Hint, Log

from middleware.context import current_state
from middleware.scrub import FILTERED, LogPolicy, Scrubber, server_args

# One line per request, holding the client's address; traces cover requests.
ACCESS_LOGGERS = ("uvicorn.access", "hypercorn.access", "granian.access")

_PARAMETER = "sentry.message.parameter."
_TEMPLATE = "sentry.message.template"
# What the sdk and this module set: names, paths, versions, ids.
_METADATA = ("sentry.", "code.", "thread.", "process.", "logger.", "server.", "os.")
# Numbers and the sdk's own constants (validated settings among them): as events'
# sdk, platform and level, they are not walked.
_UNTOUCHED = frozenset(
    {
        "sentry.origin",
        "sentry.sdk.name",
        "sentry.sdk.version",
        "sentry.environment",
        "sentry.release",
        "sentry.severity_number",
        "sentry.severity_text",
        "code.line.number",
        "thread.id",
        "process.pid",
        "process.runtime.name",
        "process.runtime.version",
    }
)
_IDS = ("request_id", "job_id")
_USER = MappingProxyType(
    {
        "user.id": "id",
        "user.name": "username",
        "user.email": "email",
        "user.ip_address": "ip_address",
    }
)


def log_options(*, enabled: bool, scrubber: Scrubber, release: str | None) -> dict[str, Any]:
    """The sdk options that turn Sentry logs on, or none when they stay off."""
    if not enabled:
        return {}
    for name in ACCESS_LOGGERS:
        ignore_logger_for_sentry_logs(name)
    return {"enable_logs": True, "before_send_log": LogHook(scrubber, release=release)}


class LogHook:
    """The sdk's `before_send_log`: add the request and job ids, then scrub."""

    def __init__(self, scrubber: Scrubber, *, release: str | None) -> None:
        self.scrubber = scrubber
        self.release = release

    def __call__(self, log: Log, hint: Hint) -> Log | None:
        attributes = dict(log["attributes"])
        # The sdk sets the release it guessed at init (git rev-parse HEAD) on its scope.
        attributes.pop("sentry.release", None)
        if self.release is not None:
            attributes["sentry.release"] = self.release
        # The hook runs in the logging call's own context, so the ids are the record's.
        state = current_state()
        if state is None:
            # RequestIdFilter marks a record made outside any request with "-".
            if attributes.get("request_id") == "-":
                del attributes["request_id"]
        else:
            attributes["request_id"] = state.request_id
            if state.job_id is not None:
                attributes["job_id"] = state.job_id
        params = sorted((k for k in attributes if k.startswith(_PARAMETER)), key=_parameter_order)
        if not self.scrubber.send_default_pii and params:
            log["body"] = _client_hidden(log["body"], attributes, params)
        untouched = {k: attributes.pop(k) for k in _UNTOUCHED.intersection(attributes)}
        scrubbed = self.scrubber.scrub_event(_as_event(log["body"], attributes, params))
        log["body"], log["attributes"] = _from_event(scrubbed, params)
        log["attributes"].update(untouched)
        return log


def _client_hidden(body: str, attributes: dict[str, Any], params: list[str]) -> str:
    """A server line's client address out, as events leave it out (send_default_pii)."""
    template = attributes.get(_TEMPLATE)
    name = str(attributes.get("logger.name", ""))
    values = tuple(attributes[k] for k in params)
    treated = server_args(name, template, values, LogPolicy(str, hide_clients=True))
    if treated is None or not isinstance(template, str):
        return body
    attributes.update(zip(params, treated, strict=True))
    try:
        return str(template % treated)
    except (TypeError, ValueError):
        return FILTERED


def _parameter_order(key: str) -> tuple[int, str]:
    name = key.removeprefix(_PARAMETER)
    return (int(name), "") if name.isdigit() else (1 << 30, name)


def _as_event(body: str, attributes: dict[str, Any], params: list[str]) -> Event:
    entry: dict[str, Any] = {"formatted": body}
    if _TEMPLATE in attributes:
        entry["message"] = attributes[_TEMPLATE]
    if params:
        entry["params"] = [attributes[k] for k in params]
    tags: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    user: dict[str, Any] = {}
    for key, value in attributes.items():
        if key == _TEMPLATE or key.startswith(_PARAMETER):
            continue
        if key in _USER:
            user[_USER[key]] = value
        elif key.startswith(_METADATA) or key in _IDS:
            tags[key] = value
        else:
            extra[key] = value
    return cast(Event, {"logentry": entry, "tags": tags, "extra": extra, "user": user})


def _from_event(event: Event, params: list[str]) -> tuple[str, dict[str, Any]]:
    """The body and attributes back from a scrubbed event; whatever it dropped stays out."""
    scrubbed = cast(dict[str, Any], event)
    entry = _dict(scrubbed.get("logentry"))
    attributes: dict[str, Any] = {}
    attributes.update(_dict(scrubbed.get("tags")))
    attributes.update(_dict(scrubbed.get("extra")))
    names = {name: key for key, name in _USER.items()}
    for name, value in _dict(scrubbed.get("user")).items():
        if name in names:
            attributes[names[name]] = value
    if "message" in entry:
        attributes[_TEMPLATE] = entry["message"]
    values = entry.get("params")
    if isinstance(values, list) and len(values) == len(params):
        attributes.update(zip(params, values, strict=True))
    body = entry.get("formatted")
    return (body if isinstance(body, str) else "", attributes)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
