from collections.abc import AsyncGenerator
from typing import Any, cast

import sentry_sdk
from quart import Quart, got_request_exception, request
from sentry_sdk.integrations.logging import ignore_logger
from starlette.types import ASGIApp

from middleware import RequestContextMiddleware, SentryLifespan, capture_error

quart_app = Quart(__name__)


@quart_app.get("/orders/<int:order_id>")
async def order(order_id: int) -> dict[str, int]:
    if order_id == 0:
        raise LookupError("order 0 was never placed")
    return {"order_id": order_id}


# Sentry starts with the server and flushes when it stops.
@quart_app.while_serving
async def sentry() -> AsyncGenerator[None, None]:
    async with SentryLifespan()(quart_app):
        yield


# Quart answers errors itself: capture them from its signal, named by the route.
async def capture_server_error(sender: Quart, exception: BaseException, **extra: Any) -> None:
    if request.url_rule is not None:
        sentry_sdk.get_current_scope().set_transaction_name(request.url_rule.rule, source="route")
    capture_error(exception, mechanism="quart")


got_request_exception.connect(capture_server_error, quart_app)
# Quart logs each error it answers on the app's logger, and a second copy when an
# after_request function fails again on the error's response: the signal has it.
ignore_logger(quart_app.logger.name)
# Wrap the whole app, so the signal fires inside the request's own scope.
app = RequestContextMiddleware(cast(ASGIApp, quart_app))
