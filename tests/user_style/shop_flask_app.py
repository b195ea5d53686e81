"""A small Flask application as a user writes it: module-level app, FlaskMetrics and a business counter."""

from flask import Flask
from pyrometer import Counter
from pyrometer_flask import FlaskMetrics

app = Flask(__name__)
metrics = FlaskMetrics(app)
orders_placed = Counter("shop_orders_placed", "Orders placed.", ["product"])


@app.post("/orders/<product>")
def place_order(product: str):
    orders_placed.labels(product).inc()
    return {"ok": True}, 201
