from fastapi import FastAPI

from middleware import SentryLifespan, instrument, set_user_context

# secret_env names variables whose values never leave the process, in any
# encoding: not in events, not in the lines your log handlers write.
app = FastAPI(lifespan=SentryLifespan(secret_env=["MY_API_TOKEN"]))
instrument(app)  # request ids, one Sentry scope per request, 5xx captured once


@app.get("/orders/{order_id}")
async def order(order_id: int) -> dict[str, int]:
    set_user_context(user_id="u-42", tenant_id="acme")
    if order_id == 0:
        raise LookupError("order 0 was never placed")
    return {"order_id": order_id}
