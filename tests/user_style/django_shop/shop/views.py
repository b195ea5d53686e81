"""The shop's one view, with a module-level business metric as application code defines it."""

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from pyrometer import Counter

orders_placed = Counter("shop_orders_placed", "Orders placed.", ["product"])


@csrf_exempt
def place_order(request, product):
    orders_placed.labels(product).inc()
    return JsonResponse({"ok": True}, status=201)
