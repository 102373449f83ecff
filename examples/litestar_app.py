from typing import cast

import sentry_sdk
from litestar import Litestar, get
from litestar.exceptions import HTTPException
from litestar.params import FromPath
from litestar.types import Scope
from starlette.types import ASGIApp

from middleware import RequestContextMiddleware, SentryLifespan, capture_error


@get("/orders/{order_id:int}")
async def order(order_id: FromPath[int]) -> dict[str, int]:
    if order_id == 0:
        raise LookupError("order 0 was never placed")
    return {"order_id": order_id}


# Litestar answers errors itself: capture those it answers with a 5xx from its
# hook (any other exception's status_code is not Litestar's), named by the route.
async def capture_server_error(exc: Exception, scope: Scope) -> None:
    if isinstance(exc, HTTPException) and exc.status_code < 500:
        return
    sentry_sdk.get_current_scope().set_transaction_name(scope["path_template"], source="route")
    capture_error(exc, mechanism="litestar")


litestar_app = Litestar(
    route_handlers=[order], lifespan=[SentryLifespan()], after_exception=[capture_server_error]
)
# Wrap the whole app, so the hook runs inside the request's own scope.
app = RequestContextMiddleware(cast(ASGIApp, litestar_app))
