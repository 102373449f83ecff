from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from middleware import SentryLifespan, instrument


async def order(request: Request) -> JSONResponse:
    order_id: int = request.path_params["order_id"]
    if order_id == 0:
        raise LookupError("order 0 was never placed")
    return JSONResponse({"order_id": order_id})


app = Starlette(routes=[Route("/orders/{order_id:int}", order)], lifespan=SentryLifespan())
instrument(app)
