"""Views with per-view control: opted out, or with their own metrics (in ``registry``)."""

import asyncio

from django.http import Http404, HttpResponse
from django.urls import path
from django.views import View
from pyrometer import CollectorRegistry
from pyrometer_django.decorators import counter, exclude_from_metrics, gauge, histogram, summary

registry = CollectorRegistry()
seen = []


def status(response):
    return "raised" if response is None else response.status_code


@counter("fn_views_total", "Function view requests.", labels={"status": status}, registry=registry)
@histogram("fn_view_seconds", "Function view time.", buckets=(1.0,), registry=registry)
def fn(request, code):
    if code == 404:
        raise Http404
    return HttpResponse(status=code)


@counter("afn_views_total", "Async function view requests.",
         labels={"status": status, "method": lambda request, response: request.method}, registry=registry)
@gauge("afn_views_in_progress", "Async function view requests in progress.", registry=registry)
async def afn(request):
    await asyncio.sleep(0)
    seen.append(registry.get_sample_value("afn_views_in_progress"))
    return HttpResponse("async")


@counter("cbv_views_total", "Class view requests.", labels={"status": status, "kind": "sync"}, registry=registry)
class Sync(View):
    def get(self, request):
        return HttpResponse("sync")

    def post(self, request):
        raise RuntimeError("post")


@summary("acbv_view_seconds", "Async class view time.", registry=registry)
@counter("acbv_views_total", "Async class view requests.", labels={"status": status}, registry=registry)
class Async(View):
    async def get(self, request):
        await asyncio.sleep(0)
        return HttpResponse("async class")


@exclude_from_metrics
def hidden(request):
    return HttpResponse("hidden")


@exclude_from_metrics
@counter("hidden_counted_total", "An opted-out view can still have its own metrics.", registry=registry)
def hidden_counted(request):
    return HttpResponse("hidden")


urlpatterns = [
    path("fn/<int:code>/", fn),
    path("afn/", afn),
    path("sync/", Sync.as_view()),
    path("async/", Async.as_view()),
    path("hidden/", hidden),
    path("hidden-counted/", hidden_counted),
]
