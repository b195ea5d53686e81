"""A small FastAPI application as a user writes it: module-level app, middleware and a business counter."""

from fastapi import FastAPI
from pyrometer import Counter
from pyrometer_fastapi import PrometheusMiddleware

app = FastAPI()
app.add_middleware(PrometheusMiddleware)
signups = Counter("shop_signups", "Sign-ups.")


@app.get("/users/{user_id}")
async def get_user(user_id: int):
    signups.inc()
    return {"id": user_id}
